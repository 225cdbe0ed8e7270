"""The pupil-months building block of the school indicators, kept up to date incrementally.

The table pupil_months holds one row per pupil (pseudonymised student_key) and month on roll,
with the school year (the calendar year) to date. A month's figures depend on the earlier
months of its year only, so a batch that touches month M of year Y changes, for the pupils
with records in M (before or after the batch), their rows from M to the end of Y, and the
`next_period` of their last row before M; nothing else. `refresh_pupil_months` recomputes
exactly that from the fact table and the rows before M.

The indicators read the temporary view calc_pupil_months (`stage_pupil_months`), which adds
whether each pupil is chronically absent for the computation's threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, text

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
                text(_insert_sql(_ALL_PUPIL_MONTHS, with_base=False)),
                {"from_0": f"{year:04d}-01", "to_0": f"{year:04d}-12"},
            )
    elif first:
        _refresh(conn, first, touched)
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


def _refresh(conn: Connection, first: dict[int, str], touched: set[str]) -> None:
    """Recompute the rows of the pupils with records in `touched` months, from each year's
    first touched month on (`first`), carrying on from their last row before it."""
    create_staged(conn, "calc_refresh_years", "year INTEGER, first_period VARCHAR")
    conn.execute(
        text("INSERT INTO calc_refresh_years VALUES (:year, :first)"),
        [{"year": y, "first": p} for y, p in first.items()],
    )
    create_staged(conn, "calc_refresh_pupils", "student_key VARCHAR, year INTEGER")
    conn.execute(
        text(_REFRESH_PUPILS_SQL).bindparams(bindparam("touched", expanding=True)),
        {"touched": sorted(touched)},
    )
    analyze_staged(conn, "calc_refresh_pupils")
    create_staged(
        conn,
        "calc_pupil_base",
        "student_key VARCHAR, year INTEGER, period VARCHAR, "
        "absent_to_date BIGINT, possible_to_date BIGINT",
    )
    # Period bounds per year, so that each statement reads only the touched years' rows.
    bounds, earlier, later, whole = {}, [], [], []
    for number, (year, period) in enumerate(sorted(first.items())):
        bounds |= {
            f"year_{number}": f"{year:04d}-01",
            f"from_{number}": period,
            f"to_{number}": f"{year:04d}-12",
        }
        earlier.append(f"(m.period >= :year_{number} AND m.period < :from_{number})")
        later.append(f"(m.period BETWEEN :from_{number} AND :to_{number})")
        whole.append(f"(m.period BETWEEN :year_{number} AND :to_{number})")
    earlier, later, whole = (" OR ".join(c) for c in (earlier, later, whole))
    conn.execute(text(_BASE_SQL.format(earlier=earlier)), bounds)
    conn.execute(text(_DELETE_SQL.format(later=later)), bounds)
    # The new rows go through a staged table, from which the base rows are relinked.
    create_staged(
        conn,
        "calc_pupil_new",
        "student_key VARCHAR, year INTEGER, period VARCHAR, territory_code VARCHAR, "
        "absent_to_date BIGINT, possible_to_date BIGINT, next_period VARCHAR",
    )
    changed = _CHANGED_PUPIL_MONTHS.format(later=later.replace("m.", "s."))
    conn.execute(text(_insert_sql(changed, with_base=True, into="calc_pupil_new")), bounds)
    conn.exec_driver_sql("INSERT INTO pupil_months SELECT * FROM calc_pupil_new")
    conn.execute(text(_RELINK_SQL.format(whole=whole)), bounds)


# A pupil's rows to redo: records in a touched month now, or rows for it before the batch.
_REFRESH_PUPILS_SQL = """
INSERT INTO calc_refresh_pupils
SELECT student_key, CAST(SUBSTR(period, 1, 4) AS INTEGER)
FROM school_absence
WHERE period IN :touched AND student_key IS NOT NULL
UNION
SELECT student_key, year FROM pupil_months WHERE period IN :touched
"""

# The last row before the year's first touched month: the one whose next month is not
# earlier than it (the rows of a pupil and year are chained by next_period).
_BASE_SQL = """
INSERT INTO calc_pupil_base
SELECT m.student_key, m.year, m.period, m.absent_to_date, m.possible_to_date
FROM pupil_months m
JOIN calc_refresh_pupils r ON r.student_key = m.student_key AND r.year = m.year
JOIN calc_refresh_years y ON y.year = m.year
WHERE ({earlier}) AND m.period < y.first_period
  AND (m.next_period IS NULL OR m.next_period >= y.first_period)
"""

_DELETE_SQL = """
DELETE FROM pupil_months AS m
WHERE ({later}) AND EXISTS (
    SELECT 1 FROM calc_refresh_pupils r JOIN calc_refresh_years y ON y.year = r.year
    WHERE r.student_key = m.student_key AND r.year = m.year AND m.period >= y.first_period
)
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

# The pupil months of the pupils to redo, from their year's first touched month on. The
# ranges (bounds by year) let DuckDB skip the older row groups by their zone maps.
_CHANGED_PUPIL_MONTHS = """
    SELECT s.student_key, r.year, s.period, MIN(s.territory_code) AS territory_code,
           SUM(s.absent_sessions) AS absent, SUM(s.possible_sessions) AS possible
    FROM school_absence s
    JOIN calc_refresh_pupils r
      ON r.student_key = s.student_key AND r.year = CAST(SUBSTR(s.period, 1, 4) AS INTEGER)
    WHERE {later}
    GROUP BY s.student_key, r.year, s.period
"""


def _insert_sql(source: str, *, with_base: bool, into: str = "pupil_months") -> str:
    """INSERT the rows of `source` (monthly sums) with their year to date, carrying on from
    calc_pupil_base's row of the pupil and year when `with_base`."""
    if not with_base:
        return _INSERT_SQL.format(
            into=into, source=source, absent="t.absent", possible="t.possible", base=""
        )
    # Both null stays null, as SUM over rows that are all null would.
    carried = (
        "CASE WHEN t.{c} IS NULL AND b.{c}_to_date IS NULL THEN NULL "
        "ELSE COALESCE(t.{c}, 0) + COALESCE(b.{c}_to_date, 0) END"
    )
    return _INSERT_SQL.format(
        into=into,
        source=source,
        absent=carried.format(c="absent"),
        possible=carried.format(c="possible"),
        base="LEFT JOIN calc_pupil_base b ON b.student_key = t.student_key AND b.year = t.year",
    )


# The year to date: running sums over the months, plus the base row's sums (if any).
_INSERT_SQL = """
INSERT INTO {into}
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
SELECT t.student_key, t.year, t.period, t.territory_code,
       {absent}, {possible}, t.next_period
FROM to_date t {base}
"""

# The base rows' next month: the first of the new rows (none: the pupil left in between).
# Equality joins only: PostgreSQL hashes them (a range in the join made it loop for minutes).
_RELINK_SQL = """
UPDATE pupil_months AS m
SET next_period = f.next_period
FROM (
    SELECT b.student_key, b.year, b.period, MIN(n.period) AS next_period
    FROM calc_pupil_base b
    LEFT JOIN calc_pupil_new n ON n.student_key = b.student_key AND n.year = b.year
    GROUP BY b.student_key, b.year, b.period
) f
WHERE ({whole}) AND m.student_key = f.student_key AND m.year = f.year AND m.period = f.period
"""
