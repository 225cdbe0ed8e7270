"""Every indicator's computation in one INSERT ... SELECT around the indicators' own SQL.

An indicator's SQL (warehouse/sql/<id>.sql) only aggregates facts at leaf territories.
`replace_values` puts the facts of every indicator computed side by side (UNION ALL) and
wraps them so that everything else happens in the database, in one statement:

- every leaf territory x period x breakdown category gets a row (zeros where no facts);
- population denominators come from territory_population by year;
- rows are summed into every ancestor of the hierarchy (calc_ancestors), so each parent is
  exactly the sum of its children, and the breakdown total 'all' is the sum of categories;
- value = numerator / denominator * scale, left empty (with a flag) when the denominator is
  missing, zero or below the indicator's minimum.

One statement, not one per indicator, as long as they compute few months (MONTHS_PER_STATEMENT):
on DuckDB planning such a query costs about as much as running it over a month of facts, so
an incremental update paid mostly for planning.

It reads the tables staged by warehouse.indicator_inputs (and, for the indicators that use
them, warehouse.pupil_months and warehouse.case_spells) and the indicators' own settings,
staged here (calc_indicators, calc_indicator_levels, calc_targets).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Protocol

from sqlalchemy import Connection, bindparam, text

from warehouse.indicator_inputs import analyze_staged, create_staged, insert_staged
from warehouse.indicator_periods import shift_period

# Lists an indicator's SQL may filter fact tables with (`period IN :periods`). Literal lists,
# unlike a sub-select of calc_periods, let PostgreSQL estimate the rows and use its indexes.
PERIOD_LISTS = ("periods", "previous_periods", "year_earlier_periods")
# A parameter of an indicator's SQL (not a PostgreSQL cast `::type`, not a time `12:00`).
_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


class IndicatorQuery(Protocol):
    """What the computation needs of a catalogue entry (warehouse.indicators.Indicator)."""

    id: str
    breakdown: str
    denominator_kind: str
    scale: float
    min_denominator: float
    levels: tuple[str, ...]

    @property
    def sql(self) -> str:
        """The SQL of the indicator's facts at leaf territories."""
        ...


def period_params(periods: Iterable[str]) -> dict[str, object]:
    """The period values an indicator's SQL may use: the lists above, the first and last
    period and the first period's first day."""
    periods = sorted(set(periods))
    return {
        "periods": periods,
        "previous_periods": [shift_period(p, -1) for p in periods],
        "year_earlier_periods": [shift_period(p, -12) for p in periods],
        "first_period": periods[0],
        "last_period": periods[-1],
        "first_day": date(int(periods[0][:4]), int(periods[0][5:7]), 1),
    }


def replace_values(
    conn: Connection,
    indicators: Sequence[IndicatorQuery],
    periods: Mapping[str, list[str]],
    params: Mapping[str, object],
) -> dict[str, int]:
    """Replace the values of each indicator for its periods; rows written per indicator.

    `periods` maps each indicator's id to its periods (all staged in calc_periods);
    `params` holds the settings the indicators' SQL may use (chronic_threshold, ...).
    """
    _stage_targets(conn, indicators, periods)
    conn.exec_driver_sql(_DELETE_SQL)
    for batch in _batches(indicators, periods):
        facts, values, expanding = _facts_union(batch, periods, params)
        statement = text(_VALUES_SQL.format(facts=facts)).bindparams(
            bindparam("indicator_ids", expanding=True),
            *(bindparam(name, expanding=True) for name in expanding),
        )
        conn.execute(statement, values | {"indicator_ids": [i.id for i in batch]})
    counts = dict(conn.exec_driver_sql(_COUNT_SQL).all())
    return {i.id: counts.get(i.id, 0) for i in indicators}


# Indicator-months one statement may compute. Batching saves DuckDB's planning, which only
# weighs when little is computed (an incremental update: a month or two per indicator);
# over many months one statement per indicator keeps the peak memory down (DuckDB builds
# the hash tables of every indicator in a statement before it probes any of them).
MONTHS_PER_STATEMENT = 60


def _batches(
    indicators: Sequence[IndicatorQuery], periods: Mapping[str, list[str]]
) -> list[list[IndicatorQuery]]:
    """The indicators in catalogue order, cut into statements of at most
    MONTHS_PER_STATEMENT indicator-months (an indicator with more is a statement alone)."""
    batches: list[list[IndicatorQuery]] = []
    months = 0
    for indicator in indicators:
        own = len(set(periods[indicator.id]))
        if not batches or months + own > MONTHS_PER_STATEMENT:
            batches.append([])
            months = 0
        batches[-1].append(indicator)
        months += own
    return batches


def _stage_targets(
    conn: Connection, indicators: Sequence[IndicatorQuery], periods: Mapping[str, list[str]]
) -> None:
    """Stage each indicator's settings, levels and periods for the wrapping statement."""
    create_staged(
        conn,
        "calc_indicators",
        "indicator_id VARCHAR, breakdown_list VARCHAR, population BOOLEAN, "
        "scale DOUBLE PRECISION, min_denominator DOUBLE PRECISION, small_flag VARCHAR",
    )
    insert_staged(
        conn,
        "calc_indicators",
        [
            (
                i.id,
                i.breakdown,
                i.denominator_kind == "population",
                float(i.scale),
                float(i.min_denominator),
                "small_population" if i.denominator_kind == "population" else "small_denominator",
            )
            for i in indicators
        ],
    )
    create_staged(conn, "calc_indicator_levels", "indicator_id VARCHAR, level VARCHAR")
    insert_staged(
        conn, "calc_indicator_levels", [(i.id, level) for i in indicators for level in i.levels]
    )
    create_staged(conn, "calc_targets", "indicator_id VARCHAR, period VARCHAR, year INTEGER")
    insert_staged(
        conn,
        "calc_targets",
        [(i.id, p, int(p[:4])) for i in indicators for p in sorted(set(periods[i.id]))],
    )
    analyze_staged(conn, "calc_targets")


def _facts_union(
    indicators: Sequence[IndicatorQuery],
    periods: Mapping[str, list[str]],
    params: Mapping[str, object],
) -> tuple[str, dict[str, object], list[str]]:
    """The indicators' facts as one UNION ALL, its parameter values and expanding names.

    Each indicator's parameters are numbered (`:periods` -> `:periods_3`): the same name
    holds other periods for another indicator.
    """
    parts, values, expanding = [], {}, []
    for number, indicator in enumerate(indicators):
        facts = indicator.sql.strip().rstrip(";")
        own = {**params, **period_params(periods[indicator.id])}
        for name in sorted(set(_PARAMETER.findall(facts))):
            values[f"{name}_{number}"] = own[name]
            if name in PERIOD_LISTS:
                expanding.append(f"{name}_{number}")
        values[f"indicator_{number}"] = indicator.id
        # Population indicators' facts have no denominator: territory_population gives it.
        # (Typed: PostgreSQL would take two untyped NULLs in a row for text.)
        denominator = (
            "f.denominator" if indicator.denominator_kind == "count" else "CAST(NULL AS BIGINT)"
        )
        numbered = _PARAMETER.sub(rf":\1_{number}", facts)
        parts.append(
            f"SELECT CAST(:indicator_{number} AS VARCHAR) AS indicator_id, f.territory_code, "
            f"f.period, f.breakdown, f.units, f.numerator, {denominator} AS denominator\n"
            f"FROM (\n{numbered}\n) f"
        )
    return "\nUNION ALL\n".join(parts), values, expanding


_DELETE_SQL = """
DELETE FROM indicator_values
WHERE EXISTS (
    SELECT 1 FROM calc_targets t
    WHERE t.indicator_id = indicator_values.indicator_id AND t.period = indicator_values.period
)
"""

_COUNT_SQL = """
SELECT v.indicator_id, COUNT(*)
FROM indicator_values v
JOIN calc_targets t ON t.indicator_id = v.indicator_id AND t.period = v.period
GROUP BY v.indicator_id
"""

# Population is shared by every category of a breakdown, so its total keeps it (MAX);
# count denominators (sessions, earlier incidents, persons) add up (SUM).
_VALUES_SQL = """
INSERT INTO indicator_values (indicator_id, territory_code, territory_level, period,
                              breakdown, units, numerator, denominator, value, flags)
WITH facts AS (
{facts}
), leaf_cells AS (
    SELECT t.indicator_id, l.code AS territory_code, t.period, b.code AS breakdown,
           COALESCE(f.units, 0) AS units, COALESCE(f.numerator, 0) AS numerator,
           CASE WHEN i.population THEN pop.population
                ELSE COALESCE(f.denominator, 0) END AS denominator
    FROM calc_targets t
    JOIN calc_indicators i ON i.indicator_id = t.indicator_id
    JOIN calc_codes b ON b.list = i.breakdown_list
    CROSS JOIN calc_leaves l
    LEFT JOIN facts f
        ON f.indicator_id = t.indicator_id AND f.territory_code = l.code
       AND f.period = t.period AND f.breakdown = b.code
    LEFT JOIN territory_population pop
        ON i.population AND pop.code = l.code AND pop.year = t.year
    WHERE t.indicator_id IN :indicator_ids
), cells AS (
    -- A missing denominator anywhere below makes the parent's missing too (never a partial sum).
    SELECT c.indicator_id, a.code AS territory_code, a.level AS territory_level, c.period,
           c.breakdown, SUM(c.units) AS units, SUM(c.numerator) AS numerator,
           CASE WHEN COUNT(c.denominator) = COUNT(*) THEN SUM(c.denominator) END AS denominator
    FROM leaf_cells c
    JOIN calc_ancestors a ON a.leaf_code = c.territory_code
    JOIN calc_indicator_levels v ON v.indicator_id = c.indicator_id AND v.level = a.level
    GROUP BY c.indicator_id, a.code, a.level, c.period, c.breakdown
), totals AS (
    SELECT c.indicator_id, c.territory_code, c.territory_level, c.period, 'all' AS breakdown,
           SUM(c.units) AS units, SUM(c.numerator) AS numerator,
           CASE WHEN COUNT(c.denominator) = COUNT(*) THEN
                CASE WHEN i.population THEN MAX(c.denominator) ELSE SUM(c.denominator) END
           END AS denominator
    FROM cells c
    JOIN calc_indicators i ON i.indicator_id = c.indicator_id
    WHERE i.breakdown_list <> 'all'
    GROUP BY c.indicator_id, c.territory_code, c.territory_level, c.period, i.population
), all_cells AS (
    SELECT indicator_id, territory_code, territory_level, period, breakdown,
           units, numerator, denominator
    FROM cells
    UNION ALL
    SELECT indicator_id, territory_code, territory_level, period, breakdown,
           units, numerator, denominator
    FROM totals
)
SELECT c.indicator_id, c.territory_code, c.territory_level, c.period, c.breakdown,
       CAST(c.units AS DOUBLE PRECISION), CAST(c.numerator AS DOUBLE PRECISION),
       CAST(c.denominator AS DOUBLE PRECISION),
       CASE WHEN c.denominator > 0 AND c.denominator >= i.min_denominator
            THEN CAST(c.numerator AS DOUBLE PRECISION) * i.scale / c.denominator END,
       CASE WHEN c.denominator IS NULL OR c.denominator = 0 THEN 'no_denominator'
            WHEN c.denominator < i.min_denominator THEN i.small_flag END
FROM all_cells c
JOIN calc_indicators i ON i.indicator_id = c.indicator_id
"""
