"""One indicator's computation as a single INSERT ... SELECT around its own SQL.

An indicator's SQL (warehouse/sql/<id>.sql) only aggregates facts at leaf territories.
`insert_values` wraps it so that everything else happens in the database, in one statement:

- every leaf territory x period x breakdown category gets a row (zeros where no facts);
- population denominators come from territory_population by year;
- rows are summed into every ancestor of the hierarchy (calc_ancestors), so each parent is
  exactly the sum of its children, and the breakdown total 'all' is the sum of categories;
- value = numerator / denominator * scale, left empty (with a flag) when the denominator is
  missing, zero or below the indicator's minimum.

It reads the tables staged by warehouse.indicator_inputs (and, for the indicators that use
them, warehouse.pupil_months and warehouse.case_spells).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import Connection, bindparam, text

from warehouse.indicator_periods import shift_period

# Lists an indicator's SQL may filter fact tables with (`period IN :periods`). Literal lists,
# unlike a sub-select of calc_periods, let PostgreSQL estimate the rows and use its indexes.
PERIOD_LISTS = ("periods", "previous_periods", "year_earlier_periods")


def period_params(periods: Iterable[str]) -> dict[str, object]:
    """The period values an indicator's SQL may use: the lists above, the last period and
    the first period's first day."""
    periods = sorted(set(periods))
    return {
        "periods": periods,
        "previous_periods": [shift_period(p, -1) for p in periods],
        "year_earlier_periods": [shift_period(p, -12) for p in periods],
        "last_period": periods[-1],
        "first_day": date(int(periods[0][:4]), int(periods[0][5:7]), 1),
    }


def insert_values(
    conn: Connection,
    *,
    indicator_id: str,
    periods: list[str],
    facts_sql: str,
    breakdown: str,
    denominator_kind: str,
    scale: float,
    min_denominator: float,
    levels: Iterable[str],
    params: dict[str, object],
) -> int:
    """Compute one indicator for the staged periods, insert its rows, return how many."""
    population = denominator_kind == "population"
    statement = text(
        _VALUES_SQL.format(
            facts=facts_sql.strip().rstrip(";"),
            leaf_denominator="pop.population" if population else "COALESCE(f.denominator, 0)",
            population_join=_POPULATION_JOIN if population else "",
            totals=_TOTALS_SQL.format(total="MAX" if population else "SUM")
            if breakdown != "all"
            else "",
        )
    ).bindparams(
        bindparam("levels", expanding=True),
        *(bindparam(name, expanding=True) for name in PERIOD_LISTS if f":{name}" in facts_sql),
    )
    result = conn.execute(
        statement,
        {
            **{
                name: value
                for name, value in (params | period_params(periods)).items()
                if f":{name}" in facts_sql
            },
            "indicator_id": indicator_id,
            "breakdown_list": breakdown,
            "scale": float(scale),
            "min_denominator": float(min_denominator),
            "small_flag": "small_population" if population else "small_denominator",
            "levels": list(levels),
        },
    )
    return result.rowcount


_POPULATION_JOIN = "LEFT JOIN territory_population pop ON pop.code = l.code AND pop.year = p.year"

# Population is shared by every category of a breakdown, so the total keeps it (MAX);
# count denominators (sessions, earlier incidents, persons) add up (SUM).
_TOTALS_SQL = """
    UNION ALL
    SELECT territory_code, territory_level, period, 'all' AS breakdown,
           SUM(units) AS units, SUM(numerator) AS numerator,
           CASE WHEN COUNT(denominator) = COUNT(*) THEN {total}(denominator) END AS denominator
    FROM cells
    GROUP BY territory_code, territory_level, period
"""

_VALUES_SQL = """
INSERT INTO indicator_values (indicator_id, territory_code, territory_level, period,
                              breakdown, units, numerator, denominator, value, flags)
WITH facts AS (
{facts}
), leaf_cells AS (
    SELECT l.code AS territory_code, p.period, b.code AS breakdown,
           COALESCE(f.units, 0) AS units, COALESCE(f.numerator, 0) AS numerator,
           {leaf_denominator} AS denominator
    FROM calc_leaves l
    CROSS JOIN calc_periods p
    CROSS JOIN (SELECT code FROM calc_codes WHERE list = :breakdown_list) b
    LEFT JOIN facts f
        ON f.territory_code = l.code AND f.period = p.period AND f.breakdown = b.code
    {population_join}
), cells AS (
    -- A missing denominator anywhere below makes the parent's missing too (never a partial sum).
    SELECT a.code AS territory_code, a.level AS territory_level, c.period, c.breakdown,
           SUM(c.units) AS units, SUM(c.numerator) AS numerator,
           CASE WHEN COUNT(c.denominator) = COUNT(*) THEN SUM(c.denominator) END AS denominator
    FROM leaf_cells c
    JOIN calc_ancestors a ON a.leaf_code = c.territory_code
    WHERE a.level IN :levels
    GROUP BY a.code, a.level, c.period, c.breakdown
), all_cells AS (
    SELECT territory_code, territory_level, period, breakdown, units, numerator, denominator
    FROM cells
    {totals}
)
SELECT :indicator_id, territory_code, territory_level, period, breakdown,
       CAST(units AS DOUBLE PRECISION), CAST(numerator AS DOUBLE PRECISION),
       CAST(denominator AS DOUBLE PRECISION),
       CASE WHEN denominator > 0 AND denominator >= :min_denominator
            THEN CAST(numerator AS DOUBLE PRECISION) * :scale / denominator END,
       CASE WHEN denominator IS NULL OR denominator = 0 THEN 'no_denominator'
            WHEN denominator < :min_denominator THEN :small_flag END
FROM all_cells
"""
