"""The pupil-months building block of the school indicators, staged once per computation.

calc_pupil_months: one row per pupil (pseudonymised student_key) and month on roll, with the
school year to date and whether the pupil is chronically absent. Read by the chronic-absence
indicators and the cross-institution ones that ask about chronic absence.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

from warehouse.indicator_inputs import analyze_staged, create_staged

PUPIL_MONTHS = "calc_pupil_months"


def stage_pupil_months(conn: Connection, periods: Iterable[str], chronic_threshold: float) -> None:
    """Stage one row per pupil and month on roll, with the pupil's school year to date.

    Covers every month of the years of `periods` up to the last of them, since a month's
    status depends on the earlier ones. Columns: student_key, year, period, territory_code
    (the lowest of the month's schools: each pupil counts once a month), chronic (1 when
    absent sessions >= threshold x possible sessions over all their schools in the school
    year, the calendar year, to date) and next_period (the pupil's next month with a record,
    so that "chronic as of month M" is one range test).
    """
    periods = sorted(set(periods))
    years = sorted({p[:4] for p in periods})
    ranges = " OR ".join(f"period BETWEEN :first_{y} AND :last_{y}" for y in years)
    params: dict[str, object] = {"threshold": chronic_threshold}
    for year in years:
        params[f"first_{year}"] = f"{year}-01"
        params[f"last_{year}"] = min(f"{year}-12", periods[-1])
    create_staged(
        conn,
        PUPIL_MONTHS,
        "student_key VARCHAR, year INTEGER, period VARCHAR, territory_code VARCHAR, "
        "chronic INTEGER, next_period VARCHAR",
    )
    conn.execute(text(_PUPIL_MONTHS_SQL.format(ranges=ranges)), params)
    analyze_staged(conn, PUPIL_MONTHS)


# COLLATE "C": PostgreSQL sorts millions of keys several times faster by bytes than by a
# locale (the order of keys within a partition does not matter); DuckDB compares bytes anyway.
_PUPIL_MONTHS_SQL = """
INSERT INTO calc_pupil_months
WITH monthly AS (
    SELECT student_key, CAST(SUBSTR(period, 1, 4) AS INTEGER) AS year, period,
           MIN(territory_code) AS territory_code,
           SUM(absent_sessions) AS absent, SUM(possible_sessions) AS possible
    FROM school_absence
    WHERE student_key IS NOT NULL AND ({ranges})
    GROUP BY student_key, period
), to_date AS (
    SELECT student_key, year, period, territory_code,
           SUM(absent) OVER so_far AS absent, SUM(possible) OVER so_far AS possible,
           LEAD(period) OVER (PARTITION BY student_key COLLATE "C", year
                              ORDER BY period COLLATE "C") AS next_period
    FROM monthly
    WINDOW so_far AS (PARTITION BY student_key COLLATE "C", year ORDER BY period COLLATE "C"
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT student_key, year, period, territory_code,
       CASE WHEN possible > 0 AND absent >= :threshold * possible THEN 1 ELSE 0 END,
       next_period
FROM to_date
"""
