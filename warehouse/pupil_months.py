"""The pupil-months building block of the school indicators, kept up to date incrementally.

The table pupil_months holds one row per pupil (pseudonymised student_key) and month on roll,
with the school year (the calendar year) to date. A month's figures depend on the earlier
months of its year only, so a batch that touches month M of year Y changes, for the pupils
with records in M (before or after the batch), their rows from M to the end of Y, and the
`next_period` of their last row before M; nothing else. `refresh_pupil_months` recomputes
the rows from M to the end of Y of every pupil (nearly all have records in M) from the fact
table and each pupil's last row before M, and that row with its new `next_period`.

The indicators read the temporary view calc_pupil_months (`stage_pupil_months`), which adds
whether each pupil is chronically absent for the computation's threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sqlalchemy import Connection, text

from warehouse.block_changes import PendingChanges, pending_changes, record_refreshed
from warehouse.indicator_inputs import analyze_staged, create_staged, create_staged_view

PUPIL_MONTHS = "calc_pupil_months"
BLOCK = "pupil_months"
FEEDS = ("school_absence",)


def refresh_pupil_months(conn: Connection, *, rebuild: bool = False) -> PendingChanges:
    """Bring pupil_months up to date with the loaded batches (all from scratch if `rebuild`)."""
    changes = pending_changes(conn, BLOCK, FEEDS, rebuild=rebuild)
    touched = {p for p in changes.periods["school_absence"] if _is_month(p)}
    first = {int(p[:4]): p for p in sorted(touched, reverse=True)}  # each year's first
    if changes.rebuild:
        conn.exec_driver_sql("TRUNCATE pupil_months")
        # A year at a time: the rows of a year stay together, so that a refresh or a reading
        # of one year skips the others' row groups on DuckDB (by their zone maps).
        for year in sorted(first):
            conn.execute(
                text(_INSERT_SQL.format(source=_ALL_PUPIL_MONTHS)),
                {"from_0": f"{year:04d}-01", "to_0": f"{year:04d}-12"},
            )
    elif first:
        _refresh(conn, first)
    record_refreshed(conn, changes)
    analyze_staged(conn, "pupil_months")
    return changes


def _is_month(period: str) -> bool:
    """True for the periods pupil months are made of: YYYY-01 to YYYY-12 (as text)."""
    year = period[:4]
    return year.isdigit() and f"{year}-01" <= period <= f"{year}-12"


def stage_pupil_months(conn: Connection, periods: Iterable[str], chronic_threshold: float) -> None:
    """Define calc_pupil_months: pupil_months of the years of `periods`, up to the last one.

    Columns: student_key, year, period, territory_code (the lowest of the month's schools:
    each pupil counts once a month), chronic (1 when absent sessions >= threshold x possible
    sessions over all their schools in the school year to date) and next_period (so that
    "chronic as of month M" is one range test).
    """
    if not math.isfinite(chronic_threshold):
        raise ValueError(f"chronic threshold {chronic_threshold!r} is not a finite number")
    periods = sorted(set(periods))
    # Literals, not parameters: a view has none (years are integers; quotes are doubled).
    last = periods[-1].replace("'", "''")
    ranges = " OR ".join(
        f"period BETWEEN '{year:04d}-01' AND '{min(f'{year:04d}-12', last)}'"
        for year in sorted({int(p[:4]) for p in periods})
    )
    # repr() of a float reads back as the same double, as the parameter used to be.
    threshold = f"CAST({float(chronic_threshold)!r} AS DOUBLE PRECISION)"
    create_staged_view(
        conn,
        PUPIL_MONTHS,
        "SELECT student_key, year, period, territory_code, "
        f"CASE WHEN possible_to_date > 0 AND absent_to_date >= {threshold} * possible_to_date "
        "THEN 1 ELSE 0 END AS chronic, next_period "
        f"FROM pupil_months WHERE {ranges}",
    )


def _refresh(conn: Connection, first: dict[int, str]) -> None:
    """Recompute every pupil's rows from each year's first touched month on (`first`),
    carrying on from their last row before it, which is rewritten with its new next month."""
    # Every pupil, not only those with records in the touched months: nearly every pupil
    # has a record every school month, and ranges of months alone let DuckDB skip the other
    # row groups by their zone maps. The base rows are deleted and inserted again rather
    # than updated: an UPDATE that joins costs more than carrying them through the insert.
    bounds, base, later = {}, [], []
    for number, (year, period) in enumerate(sorted(first.items())):
        bounds |= {
            f"year_{number}": f"{year:04d}-01",
            f"from_{number}": period,
            f"to_{number}": f"{year:04d}-12",
        }
        base.append(
            f"(m.period >= :year_{number} AND m.period < :from_{number}"
            f" AND (m.next_period IS NULL OR m.next_period >= :from_{number}))"
        )
        later.append(f"(m.period BETWEEN :from_{number} AND :to_{number})")
    base, later = " OR ".join(base), " OR ".join(later)
    create_staged(
        conn,
        "calc_pupil_base",
        "student_key VARCHAR, year INTEGER, period VARCHAR, territory_code VARCHAR, "
        "absent BIGINT, possible BIGINT",
    )
    conn.execute(text(_BASE_SQL.format(base=base)), bounds)
    conn.execute(text(f"DELETE FROM pupil_months AS m WHERE {base} OR {later}"), bounds)
    changed = _CHANGED_PUPIL_MONTHS.format(later=later.replace("m.", "s."))
    conn.execute(text(_INSERT_SQL.format(source=changed)), bounds)


# Each pupil's last row before the year's first touched month: the one whose next month is
# not earlier than it (the rows of a pupil and year are chained by next_period).
_BASE_SQL = """
INSERT INTO calc_pupil_base
SELECT m.student_key, m.year, m.period, m.territory_code, m.absent_to_date, m.possible_to_date
FROM pupil_months m
WHERE {base}
"""

# Every pupil month of one year, from scratch.
_ALL_PUPIL_MONTHS = """
    SELECT student_key, CAST(SUBSTR(period, 1, 4) AS INTEGER) AS year, period,
           MIN(territory_code) AS territory_code,
           SUM(absent_sessions) AS absent, SUM(possible_sessions) AS possible
    FROM school_absence
    WHERE student_key IS NOT NULL AND period BETWEEN :from_0 AND :to_0
    GROUP BY student_key, period
"""

# The monthly sums of the touched years from their first touched month on, after each
# pupil's base row: its sums to date are the opening balance of the running sums below,
# which give it back unchanged (and its next month).
_CHANGED_PUPIL_MONTHS = """
    SELECT student_key, year, period, territory_code, absent, possible FROM calc_pupil_base
    UNION ALL
    SELECT s.student_key, CAST(SUBSTR(s.period, 1, 4) AS INTEGER) AS year, s.period,
           MIN(s.territory_code) AS territory_code,
           SUM(s.absent_sessions) AS absent, SUM(s.possible_sessions) AS possible
    FROM school_absence s
    WHERE s.student_key IS NOT NULL AND ({later})
    GROUP BY s.student_key, s.period
"""


# The year to date: running sums over the months; each pupil's next month in the year.
_INSERT_SQL = """
INSERT INTO pupil_months
WITH monthly AS ({source}
), to_date AS (
    SELECT student_key, year, period, territory_code,
           SUM(absent) OVER so_far AS absent, SUM(possible) OVER so_far AS possible,
           LEAD(period) OVER (PARTITION BY student_key COLLATE "C", year
                              ORDER BY period COLLATE "C") AS next_period
    FROM monthly
    WINDOW so_far AS (PARTITION BY student_key COLLATE "C", year ORDER BY period COLLATE "C"
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT student_key, year, period, territory_code, absent, possible, next_period
FROM to_date
"""
