"""Row-level data contracts (pandera, polars backend) for the canonical tables.

Each contract lists the canonical columns of one table. Profiles map sources onto these
columns; `check_rows` splits a mapped batch into rows that honour the contract and the
reasons why the others do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandera.polars as pa
import polars as pl

from schemas.code_lists import (
    AGE_GROUP_CODES,
    FIGURE_STATUSES,
    INCIDENT_CATEGORIES,
    INTERVENTION_TYPES,
    REFERRAL_SOURCES,
    SEXES,
    TERRITORY_LEVELS,
)
from schemas.contract_screen import FRAME_RULES, screen

ROW_NUMBER = "_row"  # the source line/record number carried beside every mapped row

# The period a pre-aggregated figure covers: a year "2024", a quarter "2024-Q3", a month
# "2024-03" or a run of months of one year "2024-04/2024-12".
_MONTH = r"(0[1-9]|1[0-2])"
REFERENCE_PERIOD_PATTERN = rf"^\d{{4}}(-Q[1-4]|-{_MONTH}(/\d{{4}}-{_MONTH})?)?$"
# A school-absence period: a month "2021-03", a school year "2016/17" or a calendar year "2020".
SCHOOL_PERIOD_PATTERN = rf"^\d{{4}}(-{_MONTH}|/\d{{2}})?$"


def _isin(values) -> pa.Check:
    return pa.Check.isin(sorted(values))


def _optional(dtype, *checks: pa.Check) -> pa.Column:
    """A column added after the first contracts: nullable, and a frame may lack it."""
    return pa.Column(dtype, list(checks), nullable=True, required=False)


def _row_rule(name: str, rule) -> pa.Check:
    """A rule across the columns of a row; `rule(names)` gives a polars expression (True =
    the row honours it) built only from the columns the frame has. Nulls count as honoured:
    a missing figure is the column checks' business."""
    return pa.Check(
        lambda data: data.lazyframe.select(
            rule(set(data.lazyframe.collect_schema().names())).fill_null(True)
        ),
        name=name,
    )


def _either(names: set[str], column: str, expr: pl.Expr) -> pl.Expr:
    return expr if column in names else pl.lit(True)


POLICE_INCIDENTS = pa.DataFrameSchema(
    {
        "incident_id": pa.Column(pl.Utf8, unique=True),
        "source": pa.Column(pl.Utf8),
        "occurred_date": pa.Column(pl.Date),
        "occurred_time": pa.Column(pl.Utf8, pa.Check.str_matches(r"^\d\d:\d\d$"), nullable=True),
        "territory_code": pa.Column(pl.Utf8),
        "latitude": pa.Column(pl.Float64, pa.Check.in_range(-90, 90), nullable=True),
        "longitude": pa.Column(pl.Float64, pa.Check.in_range(-180, 180), nullable=True),
        "category": pa.Column(pl.Utf8, _isin(INCIDENT_CATEGORIES)),
        "source_label": pa.Column(pl.Utf8),
        "modality": pa.Column(pl.Utf8, nullable=True),
        "victim_sex": pa.Column(pl.Utf8, _isin(SEXES)),
        "victim_age_group": pa.Column(pl.Utf8, _isin(AGE_GROUP_CODES)),
        "minor_involved": pa.Column(pl.Boolean),
        "domestic": pa.Column(pl.Boolean),
        "person_key": pa.Column(pl.Utf8, nullable=True),
        # Records count 1; pre-aggregated rows carry the published count, which may be 0.
        "count": pa.Column(pl.Int64, pa.Check.ge(0)),
        # Set on pre-aggregated rows: the period the count covers (occurred_date is its
        # first day). Null on records, whose period is their occurred_date.
        "reference_period": _optional(pl.Utf8, pa.Check.str_matches(REFERENCE_PERIOD_PATTERN)),
    },
    checks=[
        _row_rule(
            "records_count_at_least_one",
            lambda names: _either(
                names,
                "reference_period",
                pl.col("reference_period").is_not_null() | (pl.col("count") >= 1),
            ),
        ),
        _row_rule(
            "occurred_date_in_reference_period",
            lambda names: _either(
                names,
                "reference_period",
                pl.col("reference_period").str.slice(0, 4)
                == pl.col("occurred_date").dt.year().cast(pl.Utf8),
            ),
        ),
    ],
    name="police_incidents",
)

SOCIAL_CASES = pa.DataFrameSchema(
    {
        "case_id": pa.Column(pl.Utf8, unique=True),
        "source": pa.Column(pl.Utf8),
        # Null only on pre-aggregated rows (see `count`).
        "person_key": pa.Column(pl.Utf8, nullable=True),
        "sex": pa.Column(pl.Utf8, _isin(SEXES)),
        "age_group": pa.Column(pl.Utf8, _isin(AGE_GROUP_CODES)),
        "territory_code": pa.Column(pl.Utf8),
        "opened_date": pa.Column(pl.Date),
        "closed_date": pa.Column(pl.Date, nullable=True),
        "intervention_type": pa.Column(pl.Utf8, _isin(INTERVENTION_TYPES)),
        "referral_source": pa.Column(pl.Utf8, _isin(REFERRAL_SOURCES)),
        # Pre-aggregated rows (e.g. a shelter census): how many cases the row stands for.
        # Null on records, which stand for one case each.
        "count": _optional(pl.Int64, pa.Check.ge(0)),
    },
    checks=[
        pa.Check(
            lambda data: data.lazyframe.select(
                pl.col("closed_date").is_null() | (pl.col("closed_date") >= pl.col("opened_date"))
            ),
            name="closed_not_before_opened",
        ),
        _row_rule(
            "records_have_a_person",
            lambda names: (
                pl.col("person_key").is_not_null()
                | (pl.col("count").is_not_null() if "count" in names else pl.lit(False))
            ),
        ),
    ],
    name="social_cases",
)


def _school_year_consecutive(column: str) -> pl.Expr:
    """A school year "2016/17" must name two consecutive years (not "2016/18")."""
    period = pl.col(column)
    first = period.str.slice(0, 4).cast(pl.Int64, strict=False)
    second = period.str.slice(5, 2).cast(pl.Int64, strict=False)
    is_school_year = period.str.contains(r"^\d{4}/\d{2}$")
    return (~is_school_year | ((first + 1) % 100 == second)).fill_null(True)


_SCHOOL_FIGURES = ("absent_sessions", "chronically_absent", "chronic_absence_pct")


def _absent_figures_explained(names: set[str]) -> pl.Expr:
    """An aggregate row (no student) must carry a figure, or say why it has none."""
    figures = [pl.col(c).is_not_null() for c in _SCHOOL_FIGURES if c in names]
    if "figure_status" in names:
        figures.append(pl.col("figure_status").is_not_null())
    return pl.col("student_key").is_not_null() | pl.any_horizontal(figures)


SCHOOL_ABSENCE = pa.DataFrameSchema(
    {
        "record_id": pa.Column(pl.Utf8, unique=True),
        "source": pa.Column(pl.Utf8),
        "student_key": pa.Column(pl.Utf8, nullable=True),
        # Null on rows above school level (a district's or a country's figures).
        "school_code": pa.Column(pl.Utf8, nullable=True),
        "territory_code": pa.Column(pl.Utf8),
        "period": pa.Column(
            pl.Utf8,
            [
                pa.Check.str_matches(SCHOOL_PERIOD_PATTERN),
                pa.Check(
                    lambda data: data.lazyframe.select(_school_year_consecutive(data.key)),
                    name="school_year_consecutive",
                ),
            ],
        ),
        # Session counts and enrolments are required on pupil records (see the row rule
        # `records_complete`) and may be absent from published aggregates.
        "possible_sessions": pa.Column(pl.Int64, pa.Check.ge(0), nullable=True),
        "absent_sessions": pa.Column(pl.Int64, pa.Check.ge(0), nullable=True),
        "unjustified_sessions": pa.Column(pl.Int64, pa.Check.ge(0), nullable=True),
        "enrolments": pa.Column(pl.Int64, pa.Check.ge(1), nullable=True),
        # Aggregates: the pupils the row describes ("Grade 1", "State-funded primary / Total").
        "pupil_group": _optional(pl.Utf8),
        # Aggregates: pupils missing at least 10% of their possible sessions, as a count ...
        "chronically_absent": _optional(pl.Int64, pa.Check.ge(0)),
        # ... and as the published percentage of enrolled pupils.
        "chronic_absence_pct": _optional(pl.Float64, pa.Check.in_range(0, 100)),
        # Why figures of the row are absent (null: as published).
        "figure_status": _optional(pl.Utf8, _isin(FIGURE_STATUSES)),
    },
    checks=[
        _row_rule(
            "absent_within_possible",
            lambda names: pl.col("absent_sessions") <= pl.col("possible_sessions"),
        ),
        _row_rule(
            "unjustified_within_absent",
            lambda names: pl.col("unjustified_sessions") <= pl.col("absent_sessions"),
        ),
        _row_rule(
            "chronically_absent_within_enrolments",
            lambda names: _either(
                names, "chronically_absent", pl.col("chronically_absent") <= pl.col("enrolments")
            ),
        ),
        _row_rule(
            "records_complete",
            lambda names: (
                pl.col("student_key").is_null()
                | pl.all_horizontal(
                    pl.col(c).is_not_null()
                    for c in (
                        "possible_sessions",
                        "absent_sessions",
                        "unjustified_sessions",
                        "enrolments",
                        "school_code",
                    )
                )
            ),
        ),
        _row_rule("absent_figures_explained", _absent_figures_explained),
    ],
    name="school_absence",
)

TERRITORIES = pa.DataFrameSchema(
    {
        "code": pa.Column(pl.Utf8, unique=True),
        "name": pa.Column(pl.Utf8),
        "level": pa.Column(pl.Utf8, _isin(TERRITORY_LEVELS)),
        "parent_code": pa.Column(pl.Utf8, nullable=True),
        "geometry": pa.Column(pl.Utf8, nullable=True),  # GeoJSON geometry, when known
    },
    name="territories",
)

TERRITORY_POPULATION = pa.DataFrameSchema(
    {
        "code": pa.Column(pl.Utf8),
        "year": pa.Column(pl.Int64, pa.Check.in_range(1800, 2200)),
        "population": pa.Column(pl.Int64, pa.Check.ge(0)),
    },
    unique=["code", "year"],
    name="territory_population",
)

CONTRACTS: dict[str, pa.DataFrameSchema] = {
    "police_incidents": POLICE_INCIDENTS,
    "social_cases": SOCIAL_CASES,
    "school_absence": SCHOOL_ABSENCE,
}

# Reference tables a profile may load (through `connectors.territory_files`), not feeds.
REFERENCE_CONTRACTS: dict[str, pa.DataFrameSchema] = {
    "territories": TERRITORIES,
    "territory_population": TERRITORY_POPULATION,
}


@dataclass
class RowCheck:
    """The outcome of checking one batch: good rows, and reasons per rejected row number."""

    valid: pl.DataFrame
    reasons: dict[int, list[str]] = field(default_factory=dict)


def check_rows(
    frame: pl.DataFrame,
    contract: pa.DataFrameSchema,
    *,
    known_territories: frozenset[str] | None = None,
    earlier_reasons: dict[int, list[str]] | None = None,
    territory_column: str = "territory_code",
) -> RowCheck:
    """Validate every row of `frame` against `contract`.

    `frame` carries the canonical columns plus `_row`. Rows that break a rule (or that the
    profile already flagged in `earlier_reasons`, keyed by `_row`) are left out of `valid`;
    every reason is kept. With `known_territories`, a `territory_column` value outside it is
    a reason too. A missing or mistyped column is not a row problem and raises
    `pandera.errors.SchemaError` for the caller to report against the whole batch.

    pandera validates only the rows a vectorised screen of the same rules picks out
    (`_rows_to_validate`): the reasons are the ones validating the whole frame gives.
    """
    reasons: dict[int, list[str]] = {k: list(v) for k, v in (earlier_reasons or {}).items()}
    suspects, judged_by = _rows_to_validate(frame, contract, reasons)
    if suspects.height:
        _add_contract_reasons(frame, suspects, judged_by, reasons)
    if known_territories is not None and territory_column in frame.columns:
        unknown = frame.filter(~pl.col(territory_column).is_in(list(known_territories)))
        for row, code in unknown.select(ROW_NUMBER, territory_column).iter_rows():
            reasons.setdefault(row, []).append(f"{territory_column}: unknown territory {code!r}")
    bad = list(reasons)
    valid = frame.filter(~pl.col(ROW_NUMBER).is_in(bad)) if bad else frame
    return RowCheck(valid=valid, reasons=reasons)


def warm_up(contract: pa.DataFrameSchema) -> None:
    """Pay the first-use costs of `check_rows` on an empty frame.

    pandera loads its polars backend (and with it hypothesis) on first use, and polars
    compiles the checks' expressions: about a tenth of a second that a caller can spend while
    it reads its first rows. Never raises: a real check reports whatever goes wrong here.
    """
    schema = {name: column.dtype.type for name, column in contract.columns.items()}
    empty = pl.DataFrame(schema={**schema, ROW_NUMBER: pl.Int64})
    try:
        check_rows(empty, contract)
        contract.validate(empty, lazy=True)  # what a batch with a broken row goes through
    except Exception:  # noqa: BLE001 - an optimisation only
        return


def _add_contract_reasons(
    frame: pl.DataFrame,
    suspects: pl.DataFrame,
    contract: pa.DataFrameSchema,
    reasons: dict[int, list[str]],
) -> None:
    """Validate `suspects` (rows of `frame`) with pandera; add a reason per failure case."""
    rows = suspects[ROW_NUMBER].to_list()
    try:
        contract.validate(suspects, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        for case in cases.iter_rows(named=True):
            if case["index"] is None:
                raise pa.errors.SchemaError(contract, frame, str(case)) from errors
            row_reasons = reasons.setdefault(rows[case["index"]], [])
            # A value the profile could not parse is already explained; its null is no news.
            if case["check"] == "not_nullable" and _explained(row_reasons, case["column"]):
                continue
            row_reasons.append(_describe(case))


def _explained(row_reasons: list[str], column: str) -> bool:
    return any(r.startswith(f"{column}:") for r in row_reasons)


def _rows_to_validate(
    frame: pl.DataFrame, contract: pa.DataFrameSchema, reasons: dict[int, list[str]]
) -> tuple[pl.DataFrame, pa.DataFrameSchema]:
    """The rows of `frame` whose validation by pandera could add a reason, and the contract
    narrowed to the rules some row broke (pandera's cost is per column and check, not row).

    A row that passes every rule of the screen (`contract_screen`) gives pandera nothing to
    report; repeats of a key all fail, so uniqueness comes out the same on the rows picked
    out. A null in a non-nullable column whose value the profile could not read is left out
    too: its only failure case would be skipped as already explained. When the screen
    cannot judge, the whole frame is validated.
    """
    found = screen(frame, contract)
    if found is None:
        return frame, contract
    suspect = found.other
    rows = frame[ROW_NUMBER].to_numpy()
    for column, nulls in found.nulls.items():
        if nulls.any():
            explained = [row for row, items in reasons.items() if _explained(items, column)]
            suspect = suspect | (nulls & ~np.isin(rows, explained))
    if not suspect.any():
        return frame.clear(), contract
    return frame.filter(pl.Series(suspect)), _narrowed(contract, found.failing)


def _narrowed(contract: pa.DataFrameSchema, failing: set[str | None]) -> pa.DataFrameSchema:
    """`contract` with only the columns in `failing`, or whole when a cross-column rule failed
    (its checks read any column). Leaving out rules no row broke changes no failure case."""
    if FRAME_RULES in failing:
        return contract
    narrowed = contract.select_columns([name for name in contract.columns if name in failing])
    narrowed.checks, narrowed.unique = [], None
    return narrowed


def _describe(case: dict) -> str:
    if case["schema_context"] == "DataFrameSchema":  # a rule across columns of the row
        return f"row: {case['check']}"
    return f"{case['column']}: {case['check']} (got {case['failure_case']!r})"
