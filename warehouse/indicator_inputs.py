"""Tables staged for one computation of indicators: territories, categories, periods.

compute_indicators stages them once per transaction as temporary tables, which every
indicator's SQL may read: calc_leaves (leaf territories), calc_ancestors (each leaf with
itself and every ancestor, and their level), calc_codes (each breakdown's categories) and
calc_periods (the months computed for any of the indicators, with their dates and compared
months; only each indicator's own months are kept, and its SQL may keep to them with
`period IN :periods` so as not to compute the others). The building
blocks of the school and cross-institution indicators are persistent tables, refreshed and
exposed as views (calc_pupil_months, calc_case_spells) by warehouse.pupil_months and
warehouse.case_spells.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import Connection, select, text

from schemas.code_lists import INCIDENT_CATEGORIES, INTERVENTION_TYPES, REFERRAL_SOURCES
from warehouse.indicator_periods import shift_period
from warehouse.tables import territories

# Breakdown name in the catalogue -> its categories. 'all' has a single category: 'all'.
BREAKDOWN_CODES: dict[str, tuple[str, ...]] = {
    "all": ("all",),
    "category": tuple(sorted(INCIDENT_CATEGORIES)),
    "intervention_type": tuple(sorted(INTERVENTION_TYPES)),
    "referral_source": tuple(sorted(REFERRAL_SOURCES)),
}


# Memory for each sort or hash of the computing transaction on PostgreSQL. The default
# (4 MB) sends the school-year windows and person groupings of millions of rows to disk.
POSTGRES_WORK_MEM = "256MB"


def tune_session(conn: Connection) -> None:
    """Settings for this transaction only (SET LOCAL ends with it).

    On PostgreSQL: more memory per sort, and no JIT compilation, which costs 15-130 ms per
    statement and repays it only on scans far longer than an incremental update's.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{POSTGRES_WORK_MEM}'")
        conn.exec_driver_sql("SET LOCAL jit = off")


class TerritoryHierarchyError(ValueError):
    """The territories table does not form a tree (unknown parent, or a cycle)."""


def stage_territories(conn: Connection) -> None:
    """Stage leaf territories and each leaf's ancestors (itself included) with their level."""
    rows = conn.execute(select(territories.c.code, territories.c.level, territories.c.parent_code))
    levels: dict[str, str] = {}
    parents: dict[str, str | None] = {}
    for code, level, parent in rows:
        levels[code], parents[code] = level, parent
    has_children = {p for p in parents.values() if p is not None}
    ancestors = []
    for leaf in sorted(set(parents) - has_children):
        for code in _lineage(leaf, parents):
            ancestors.append((leaf, code, levels[code]))
    create_staged(conn, "calc_ancestors", "leaf_code VARCHAR, code VARCHAR, level VARCHAR")
    insert_staged(conn, "calc_ancestors", ancestors)
    create_staged(conn, "calc_leaves", "code VARCHAR")
    conn.exec_driver_sql("INSERT INTO calc_leaves SELECT DISTINCT leaf_code FROM calc_ancestors")


def _lineage(leaf: str, parents: dict[str, str | None]) -> list[str]:
    chain, code = [], leaf
    while code is not None:
        if code not in parents:
            raise TerritoryHierarchyError(
                f"territories: {chain[-1]!r} has parent_code {code!r}, which is not a territory"
            )
        if code in chain:
            raise TerritoryHierarchyError(f"territories: parent_code loops through {code!r}")
        chain.append(code)
        code = parents[code]
    return chain


def stage_codes(conn: Connection) -> None:
    """Stage every breakdown's categories (from the canonical code lists in `schemas`)."""
    create_staged(conn, "calc_codes", "list VARCHAR, code VARCHAR")
    rows = [(name, c) for name, codes in BREAKDOWN_CODES.items() for c in codes]
    insert_staged(conn, "calc_codes", rows)


def stage_periods(conn: Connection, periods: Iterable[str]) -> None:
    """Stage the months to compute, with their dates and the months they compare against."""
    create_staged(
        conn,
        "calc_periods",
        "period VARCHAR, year INTEGER, period_start DATE, period_end DATE, "
        "previous_period VARCHAR, year_earlier_period VARCHAR",
    )
    rows = []
    for period in sorted(set(periods)):
        year, month = int(period[:4]), int(period[5:7])
        rows.append(
            (
                period,
                year,
                date(year, month, 1),
                date(year, month, calendar.monthrange(year, month)[1]),
                shift_period(period, -1),
                shift_period(period, -12),
            )
        )
    insert_staged(conn, "calc_periods", rows)
    analyze_staged(conn, "calc_periods")


STAGED_TABLES = (
    "calc_periods",
    "calc_leaves",
    "calc_ancestors",
    "calc_codes",
    # The indicators computed, their settings and periods (warehouse.indicator_sql).
    "calc_indicators",
    "calc_indicator_levels",
    "calc_targets",
    # Working tables of the building blocks' refreshes.
    "calc_pupil_base",
    "calc_spell_persons",
)
# Views over the persistent building blocks, for this computation's parameters.
STAGED_VIEWS = ("calc_pupil_months", "calc_case_spells")


def drop_staged(conn: Connection) -> None:
    """Drop every staged table and view (temporary; this frees them before commit)."""
    for name in STAGED_VIEWS:
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
    for name in STAGED_TABLES:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def create_staged(conn: Connection, name: str, columns: str) -> None:
    """(Re)create an empty temporary table."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({columns})")


# Rows per INSERT of insert_staged: under PostgreSQL's limit of 65,535 parameters.
_ROWS_PER_INSERT = 2000


def insert_staged(conn: Connection, name: str, rows: Sequence[tuple]) -> None:
    """Insert `rows` (tuples in column order) into a staged table, many rows per statement."""
    # Not one statement per row (executemany): each costs about a millisecond on DuckDB.
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        placeholders = ", ".join(
            "(" + ", ".join(f":v{r}_{c}" for c in range(len(row))) + ")"
            for r, row in enumerate(chunk)
        )
        values = {f"v{r}_{c}": v for r, row in enumerate(chunk) for c, v in enumerate(row)}
        conn.execute(text(f"INSERT INTO {name} VALUES {placeholders}"), values)


def create_staged_view(conn: Connection, name: str, query: str) -> None:
    """(Re)create a temporary view (no parameters: a view cannot hold them)."""
    conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
    conn.exec_driver_sql(f"CREATE TEMPORARY VIEW {name} AS {query}")


def analyze_staged(conn: Connection, name: str) -> None:
    """Give PostgreSQL statistics on a staged or just refreshed table (no-op on DuckDB)."""
    # PostgreSQL never analyses temporary tables by itself, and autovacuum gets round to a
    # refreshed one too late; without statistics it guesses the rows of the new months and
    # may pick nested loops over millions of rows.
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {name}")
