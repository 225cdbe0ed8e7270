"""The batch quality gate: the suites of `schemas.quality_suites`, run with Great Expectations.

Each suite's batch is read with SQLAlchemy Core (the same statements on DuckDB and
PostgreSQL) into a small pandas frame and validated in a GX ephemeral context: GX's own SQL
path fails on DuckDB, and a frame keeps both backends identical. Reads stay bounded:

- fact tables: GROUP BY (batch_id, period, territory_code) in SQL, so the frame grows with
  batches x periods x territories, never with the number of records; a checked column is
  read as its per-group minimum, or only as present / absent (person keys always so).
- indicator_values: the window's rows, key and figures only (catalogue x territories x
  periods x breakdowns, independent of the facts).
- coverage: the window's stored (indicator, territory, period) cells and each feed's
  periods, both DISTINCT in SQL.
- freshness: MAX(loaded_at) per feed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Table,
    case,
    func,
    literal_column,
    select,
    text,
)

from schemas.quality_suites import (
    FACT_GROUP_KEYS,
    INDICATOR_IDS,
    OLDEST_ALLOWED_LOAD,
    PERIOD_PATTERN,
    PERSON_KEY_COLUMNS,
    SUITES,
    TERRITORY_CODES,
    Expectation,
    Parameter,
    Suite,
    View,
)
from warehouse.indicators import Indicator, load_catalogue
from warehouse.tables import FACT_TABLES, RECORD_ROWS, indicator_values, load_ledger
from warehouse.tables import territories as territory_table

EXAMPLES_PER_EXPECTATION = 5

# What one row of each view is, for the observed values in reports.
ROW_NOUNS: dict[View, str] = {
    View.FACT_GROUPS: "(batch, period, territory) groups",
    View.INDICATOR_VALUES: "values",
    View.INDICATOR_COVERAGE: "expected (indicator, territory, period) cells",
    View.FEED_FRESHNESS: "feeds",
}

_PERIOD = re.compile(PERIOD_PATTERN)


@dataclass(frozen=True)
class ExpectationOutcome:
    """The result of one expectation of one suite."""

    suite: str
    table: str
    expectation: str  # GX expectation type, e.g. "expect_column_values_to_be_between"
    column: str | None
    description: str
    success: bool
    observed: str
    examples: tuple[dict[str, Any], ...] = ()  # rows located by the suite's example columns

    def describe(self) -> str:
        """One line naming the table, column, expectation, observed value and examples."""
        where = f"{self.table}.{self.column}" if self.column else self.table
        text = f"{where}: {self.expectation} ({self.description}): observed {self.observed}"
        if self.examples:
            text += "; e.g. " + "; ".join(
                ", ".join(f"{k}={v}" for k, v in e.items()) for e in self.examples
            )
        return text


class QualityGateFailed(Exception):
    """Raised when expectations fail; the message lists each failure."""

    def __init__(self, failures: Sequence[ExpectationOutcome]) -> None:
        self.failures = tuple(failures)
        lines = [f"quality gate failed: {len(self.failures)} expectation(s) not met"]
        lines += [f"- {failure.describe()}" for failure in self.failures]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class QualityReport:
    """Every expectation's outcome, plus GX's own validation results (for Data Docs)."""

    outcomes: tuple[ExpectationOutcome, ...]
    validation_results: tuple[dict[str, Any], ...]  # GX result JSON, one per suite
    window: tuple[str, str]
    checked_at: datetime

    @property
    def success(self) -> bool:
        """True when every expectation held."""
        return all(o.success for o in self.outcomes)

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        """The expectations that did not hold."""
        return tuple(o for o in self.outcomes if not o.success)

    def raise_if_failed(self) -> None:
        """Raise `QualityGateFailed` listing every failed expectation, if any."""
        if self.failures:
            raise QualityGateFailed(self.failures)


@dataclass(frozen=True)
class _GateInputs:
    periods: tuple[str, ...]  # every month of the window
    territory_codes: tuple[str, ...]
    catalogue: tuple[Indicator, ...]
    checked_at: datetime


def check_quality(
    engine: Engine,
    *,
    window: tuple[str, str],
    territories: Collection[str] | None = None,
    max_age: timedelta,
    suites: Sequence[Suite] = SUITES,
) -> QualityReport:
    """Run the quality suites on the warehouse and return every expectation's outcome.

    `window` is the first and last period ("YYYY-MM") that indicators must cover;
    `territories` the valid territory codes (default: every code in the territories table);
    `max_age` how old each feed's newest load may be. Nothing is raised for failed
    expectations: call `raise_if_failed()` on the report to block on them.
    """
    periods = window_periods(window)
    checked_at = datetime.now(UTC)
    catalogue = tuple(load_catalogue())
    with engine.connect() as conn:
        codes = (
            territories
            if territories is not None
            else conn.execute(select(territory_table.c.code)).scalars().all()
        )
        inputs = _GateInputs(periods, tuple(sorted(codes)), catalogue, checked_at)
        frames = {suite.name: _read_view(conn, suite, inputs) for suite in suites}
    parameters = {
        TERRITORY_CODES.name: list(inputs.territory_codes),
        INDICATOR_IDS.name: sorted(i.id for i in catalogue),
        OLDEST_ALLOWED_LOAD.name: checked_at - max_age,
    }
    results = _validate(suites, frames, parameters)
    outcomes = tuple(o for suite in suites for o in _outcomes(suite, *results[suite.name]))
    return QualityReport(
        outcomes=outcomes,
        validation_results=tuple(results[suite.name][0].to_json_dict() for suite in suites),
        window=(periods[0], periods[-1]),
        checked_at=checked_at,
    )


def window_periods(window: tuple[str, str]) -> tuple[str, ...]:
    """Every month from the window's first to its last period, inclusive."""
    first, last = window
    for period in window:
        if not _PERIOD.match(period):
            raise ValueError(f"quality window: {period!r} is not a period written YYYY-MM")
    if first > last:
        raise ValueError(f"quality window: first period {first} is after last period {last}")
    year, month = int(first[:4]), int(first[5:])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(months)


def _read_view(conn: Connection, suite: Suite, inputs: _GateInputs) -> pd.DataFrame:
    match suite.view:
        case View.FACT_GROUPS:
            return _fact_groups(conn, FACT_TABLES[suite.table], suite.expectations)
        case View.INDICATOR_VALUES:
            return _indicator_values(conn, inputs)
        case View.INDICATOR_COVERAGE:
            return _indicator_coverage(conn, inputs)
        case View.FEED_FRESHNESS:
            return _feed_freshness(conn, inputs.checked_at)
    raise ValueError(f"suite {suite.name}: unknown view {suite.view!r}")


def _frame(result: CursorResult) -> pd.DataFrame:
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _fact_groups(conn: Connection, table: Table, rules: Sequence[Expectation]) -> pd.DataFrame:
    """One row per batch, period and territory (see `View.FACT_GROUPS`)."""
    reads_minimum: dict[str, bool] = {}
    for rule in rules:
        name = rule.column
        if name is None or name in FACT_GROUP_KEYS:
            continue
        if name not in table.c:
            raise ValueError(f"quality suite {table.name}: the table has no column {name!r}")
        reads_minimum[name] = reads_minimum.get(name, False) | _reads_group_minimum(
            table.name, rule
        )
    keys = [table.c[k] for k in FACT_GROUP_KEYS]
    checked = []
    for name, minimum in reads_minimum.items():
        column = table.c[name]
        value = func.min(column) if minimum else literal_column("1")
        # NULL when any row of the group is NULL, so not-null rules still see it.
        checked.append(case((func.count() > func.count(column), None), else_=value).label(name))
    # Record rows only: aggregate rows were checked row by row by their contract at ingest,
    # and their periods ("2024", "2016/17") and empty keys are not what these suites expect.
    query = (
        select(*keys, func.count().label("row_count"), *checked)
        .where(text(RECORD_ROWS[table.name]))
        .group_by(*keys)
    )
    return _frame(conn.execute(query))


def _reads_group_minimum(table: str, rule: Expectation) -> bool:
    """Whether a fact-table rule needs the column's group minimum (else only its presence)."""
    if rule.type == "ExpectColumnValuesToNotBeNull":
        return False
    if (
        rule.type == "ExpectColumnValuesToBeBetween"
        and rule.kwargs.get("max_value") is None
        and rule.column not in PERSON_KEY_COLUMNS
    ):
        return True
    raise ValueError(
        f"quality suite {table}: {rule.type} on {rule.column} cannot be checked on "
        f"per-group minima (fact tables allow not-null rules, lower bounds, and any rule on "
        f"{', '.join(FACT_GROUP_KEYS)})"
    )


def _indicator_values(conn: Connection, inputs: _GateInputs) -> pd.DataFrame:
    c = indicator_values.c
    query = select(
        c.indicator_id, c.territory_code, c.period, c.breakdown, c.numerator, c.denominator, c.value
    ).where(c.period.between(inputs.periods[0], inputs.periods[-1]))
    frame = _frame(conn.execute(query))
    frame["unit"] = frame["indicator_id"].map({i.id: i.unit for i in inputs.catalogue})
    return frame


def _indicator_coverage(conn: Connection, inputs: _GateInputs) -> pd.DataFrame:
    """Every expected (indicator, territory, period) cell and whether a value is stored."""
    first, last, window = inputs.periods[0], inputs.periods[-1], set(inputs.periods)
    levels = dict(
        conn.execute(select(territory_table.c.code, territory_table.c.level)).tuples().all()
    )
    feed_periods = {
        feed: window
        & set(
            conn.execute(
                select(table.c.period).where(table.c.period.between(first, last)).distinct()
            )
            .scalars()
            .all()
        )
        for feed, table in FACT_TABLES.items()
    }
    c = indicator_values.c
    stored = set(
        conn.execute(
            select(c.indicator_id, c.territory_code, c.period)
            .where(c.period.between(first, last))
            .distinct()
        )
        .tuples()
        .all()
    )
    rows = []
    for indicator in inputs.catalogue:
        periods = sorted(set().union(*(feed_periods.get(f, set()) for f in indicator.feeds)))
        for code in inputs.territory_codes:
            if levels.get(code) not in indicator.levels:
                continue
            for period in periods:
                cell = (indicator.id, code, period)
                rows.append((*cell, period if cell in stored else None))
    return pd.DataFrame(
        rows, columns=["indicator_id", "territory_code", "expected_period", "period"]
    )


def _feed_freshness(conn: Connection, checked_at: datetime) -> pd.DataFrame:
    ledger = load_ledger.c
    newest = dict(
        conn.execute(select(ledger.feed, func.max(ledger.loaded_at)).group_by(ledger.feed))
        .tuples()
        .all()
    )
    feeds = list(FACT_TABLES)
    loaded_at = pd.to_datetime(pd.Series([newest.get(f) for f in feeds], dtype=object), utc=True)
    age = (pd.Timestamp(checked_at) - loaded_at).dt.total_seconds() / 86400
    return pd.DataFrame({"feed": feeds, "loaded_at": loaded_at, "age_days": age.round(1)})


def ephemeral_context() -> tuple[Any, Any]:
    """Great Expectations (2-3 s to import: only when needed) and an ephemeral context.

    GX logs hundreds of INFO lines as it imports and one per context ("Created temporary
    directory ... for ephemeral docs site"): no news to the user, and they landed in the
    middle of the progress output. Warnings and errors still come through.
    """
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    # GX sets some of its loggers to INFO itself as it imports: those need telling again.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations."):
            logger = logging.getLogger(name)
            if logger.level != logging.NOTSET and logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)
    return gx, gx.get_context(mode="ephemeral")


def _validate(
    suites: Sequence[Suite], frames: dict[str, pd.DataFrame], parameters: dict[str, Any]
) -> dict[str, tuple[Any, dict[str, Expectation]]]:
    """Run each suite on its frame in one GX ephemeral context.

    Returns, by suite name, GX's validation result and the suite's rules by GX expectation id.
    """
    gx, context = ephemeral_context()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("convive_warehouse")
    results = {}
    for suite in suites:
        rules = [_gx_expectation(gx, rule, parameters) for rule in suite.expectations]
        batch = source.add_dataframe_asset(suite.name).add_batch_definition_whole_dataframe(
            suite.name
        )
        gx_suite = context.suites.add(gx.ExpectationSuite(name=suite.name, expectations=rules))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
        )
        result = definition.run(
            batch_parameters={"dataframe": frames[suite.name]},
            result_format={
                "result_format": "SUMMARY",
                "partial_unexpected_count": EXAMPLES_PER_EXPECTATION,
                "unexpected_index_column_names": list(suite.example_columns),
            },
        )
        # GX assigns each expectation an id when the suite is stored: match results by it.
        rule_by_id = {
            e.id: rule for e, rule in zip(gx_suite.expectations, suite.expectations, strict=True)
        }
        results[suite.name] = (result, rule_by_id)
    return results


def _gx_expectation(gx: Any, rule: Expectation, parameters: dict[str, Any]) -> Any:
    kwargs = {
        k: parameters[v.name] if isinstance(v, Parameter) else v for k, v in rule.kwargs.items()
    }
    return getattr(gx.expectations, rule.type)(**kwargs, description=rule.description)


def _outcomes(
    suite: Suite, result: Any, rule_by_id: dict[str, Expectation]
) -> list[ExpectationOutcome]:
    outcomes = []
    for checked in result.results:
        config = checked.expectation_config
        rule = rule_by_id[config.id]
        outcomes.append(
            ExpectationOutcome(
                suite=suite.name,
                table=suite.table,
                expectation=config.type,
                column=rule.column,
                description=rule.description,
                success=bool(checked.success),
                observed=_observed(suite, checked.result or {}, checked.exception_info or {}),
                examples=_examples(checked.result or {}) if not checked.success else (),
            )
        )
    return outcomes


def _observed(suite: Suite, result: dict[str, Any], errors: dict[str, Any]) -> str:
    error = _error_message(errors)
    if error:
        return f"an error: {error}"
    if "observed_value" in result:
        return str(result["observed_value"])
    if "unexpected_count" not in result:
        return "nothing to check"
    text = (
        f"{result['unexpected_count']:,} of {result['element_count']:,} "
        f"{ROW_NOUNS[suite.view]} unexpected"
    )
    values = [_plain(c["value"]) for c in result.get("partial_unexpected_counts", [])]
    values = [v for v in values if v is not None]
    if values and result["unexpected_count"]:
        text += f", values {', '.join(str(v) for v in values)}"
    return text


def _error_message(errors: dict[str, Any]) -> str | None:
    """GX nests exception info by metric on some failures and not on others."""
    if errors.get("raised_exception"):
        return str(errors.get("exception_message"))
    for nested in errors.values():
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return str(nested.get("exception_message"))
    return None


def _examples(result: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    rows = result.get("partial_unexpected_index_list") or []
    return tuple(
        {k: _plain(v) for k, v in row.items() if k not in PERSON_KEY_COLUMNS}
        for row in rows[:EXAMPLES_PER_EXPECTATION]
    )


def _plain(value: Any) -> Any:
    """A report value: None for pandas' NaN / NaT, ISO text for times, Python numbers."""
    if isinstance(value, list | tuple | dict):
        return value
    if pd.isna(value):
        return None
    if isinstance(value, datetime):  # pandas Timestamps are datetimes too
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value
