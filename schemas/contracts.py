"""Row-level data contracts (pandera, polars backend) for the canonical tables.

Each contract lists the canonical columns of one table. Profiles map sources onto these
columns; `check_rows` splits a mapped batch into rows that honour the contract and the
reasons why the others do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl

from schemas.code_lists import (
    AGE_GROUP_CODES,
    INCIDENT_CATEGORIES,
    INTERVENTION_TYPES,
    REFERRAL_SOURCES,
    SEXES,
)

ROW_NUMBER = "_row"  # the source line/record number carried beside every mapped row


def _isin(values) -> pa.Check:
    return pa.Check.isin(sorted(values))


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
        "count": pa.Column(pl.Int64, pa.Check.ge(1)),
    },
    name="police_incidents",
)

SOCIAL_CASES = pa.DataFrameSchema(
    {
        "case_id": pa.Column(pl.Utf8, unique=True),
        "source": pa.Column(pl.Utf8),
        "person_key": pa.Column(pl.Utf8),
        "sex": pa.Column(pl.Utf8, _isin(SEXES)),
        "age_group": pa.Column(pl.Utf8, _isin(AGE_GROUP_CODES)),
        "territory_code": pa.Column(pl.Utf8),
        "opened_date": pa.Column(pl.Date),
        "closed_date": pa.Column(pl.Date, nullable=True),
        "intervention_type": pa.Column(pl.Utf8, _isin(INTERVENTION_TYPES)),
        "referral_source": pa.Column(pl.Utf8, _isin(REFERRAL_SOURCES)),
    },
    checks=[
        pa.Check(
            lambda data: data.lazyframe.select(
                pl.col("closed_date").is_null() | (pl.col("closed_date") >= pl.col("opened_date"))
            ),
            name="closed_not_before_opened",
        )
    ],
    name="social_cases",
)

SCHOOL_ABSENCE = pa.DataFrameSchema(
    {
        "record_id": pa.Column(pl.Utf8, unique=True),
        "source": pa.Column(pl.Utf8),
        "student_key": pa.Column(pl.Utf8, nullable=True),
        "school_code": pa.Column(pl.Utf8),
        "territory_code": pa.Column(pl.Utf8),
        "period": pa.Column(pl.Utf8, pa.Check.str_matches(r"^\d{4}-(0[1-9]|1[0-2])$")),
        "possible_sessions": pa.Column(pl.Int64, pa.Check.ge(0)),
        "absent_sessions": pa.Column(pl.Int64, pa.Check.ge(0)),
        "unjustified_sessions": pa.Column(pl.Int64, pa.Check.ge(0)),
        "enrolments": pa.Column(pl.Int64, pa.Check.ge(1)),
    },
    checks=[
        pa.Check(
            lambda data: data.lazyframe.select(
                pl.col("absent_sessions") <= pl.col("possible_sessions")
            ),
            name="absent_within_possible",
        ),
        pa.Check(
            lambda data: data.lazyframe.select(
                pl.col("unjustified_sessions") <= pl.col("absent_sessions")
            ),
            name="unjustified_within_absent",
        ),
    ],
    name="school_absence",
)

CONTRACTS: dict[str, pa.DataFrameSchema] = {
    "police_incidents": POLICE_INCIDENTS,
    "social_cases": SOCIAL_CASES,
    "school_absence": SCHOOL_ABSENCE,
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
) -> RowCheck:
    """Validate every row of `frame` against `contract`.

    `frame` carries the canonical columns plus `_row`. Rows that break a rule (or that the
    profile already flagged in `earlier_reasons`, keyed by `_row`) are left out of `valid`;
    every reason is kept. A missing or mistyped column is not a row problem and raises
    `pandera.errors.SchemaError` for the caller to report against the whole batch.
    """
    reasons: dict[int, list[str]] = {k: list(v) for k, v in (earlier_reasons or {}).items()}
    rows = frame[ROW_NUMBER].to_list()
    try:
        contract.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        for case in cases.iter_rows(named=True):
            if case["index"] is None:
                raise pa.errors.SchemaError(contract, frame, str(case)) from errors
            row_reasons = reasons.setdefault(rows[case["index"]], [])
            # A value the profile could not parse is already explained; its null is no news.
            if case["check"] == "not_nullable" and any(
                r.startswith(f"{case['column']}:") for r in row_reasons
            ):
                continue
            row_reasons.append(_describe(case))
    if known_territories is not None and "territory_code" in frame.columns:
        unknown = frame.filter(~pl.col("territory_code").is_in(list(known_territories)))
        for row, code in unknown.select(ROW_NUMBER, "territory_code").iter_rows():
            reasons.setdefault(row, []).append(f"territory_code: unknown territory {code!r}")
    bad = list(reasons)
    valid = frame.filter(~pl.col(ROW_NUMBER).is_in(bad)) if bad else frame
    return RowCheck(valid=valid, reasons=reasons)


def _describe(case: dict) -> str:
    if case["schema_context"] == "DataFrameSchema":  # a rule across columns of the row
        return f"row: {case['check']}"
    return f"{case['column']}: {case['check']} (got {case['failure_case']!r})"
