"""The intervention-spells building block of the cross-institution indicators.

For the persons the cross-institution indicators may ask about (pupils and minors in police
incidents: case_spell_persons; pseudonymised keys only) the warehouse keeps their
social-services cases (case_spell_cases) and those cases merged into spells of intervention
(case_spells). A person's spells depend on their own cases only, so a refresh recomputes the
persons whose cases a batch changed (cases of a touched month, before or after it) and the
persons a batch brought in, from their few kept cases. A person no longer in any feed keeps
their spells: they are only ever read by joining from the persons asked about.

The indicators read the temporary view calc_case_spells (`stage_case_spells`).
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, text

from warehouse.block_changes import PendingChanges, pending_changes, record_refreshed
from warehouse.indicator_inputs import analyze_staged, create_staged, create_staged_view

CASE_SPELLS = "calc_case_spells"
BLOCK = "case_spells"
FEEDS = ("police_incidents", "school_absence", "social_cases")


def refresh_case_spells(conn: Connection, *, rebuild: bool = False) -> PendingChanges:
    """Bring case_spells up to date with the loaded batches (all from scratch if `rebuild`)."""
    changes = pending_changes(conn, BLOCK, FEEDS, rebuild=rebuild)
    create_staged(conn, "calc_spell_persons", "person_key VARCHAR")
    if changes.rebuild:
        for table in ("case_spell_persons", "case_spell_cases", "case_spells"):
            conn.exec_driver_sql(f"TRUNCATE {table}")
        _add_persons(conn, police=None, school=None)
        conn.exec_driver_sql(_SPELLS_SQL.format(persons="case_spell_persons"))
    elif not changes.empty:
        _add_persons(conn, changes.periods["police_incidents"], changes.periods["school_absence"])
        _replace_cases(conn, changes.periods["social_cases"])
        analyze_staged(conn, "calc_spell_persons")
        conn.exec_driver_sql(
            "DELETE FROM case_spells "
            "WHERE person_key IN (SELECT person_key FROM calc_spell_persons)"
        )
        conn.exec_driver_sql(_SPELLS_SQL.format(persons="calc_spell_persons"))
    record_refreshed(conn, changes)
    analyze_staged(conn, "case_spells")
    return changes


def stage_case_spells(conn: Connection) -> None:
    """Define calc_case_spells: person_key, opened_date, closed_date (9999-12-31 while open).

    Overlapping or touching cases of one person are one spell, so that "had a case open at
    D" or "had a case open at some time from D to D + N days" is one range test per spell.
    """
    create_staged_view(
        conn, CASE_SPELLS, "SELECT person_key, opened_date, closed_date FROM case_spells"
    )


def _add_persons(conn: Connection, police: set[str] | None, school: set[str] | None) -> None:
    """Keep the persons of the touched periods (every period when None) not kept yet, and
    their cases; they are the first persons whose spells to compute (calc_spell_persons)."""
    parts, params = [], {}
    for name, sql, periods in (("police", _POLICE_PERSONS, police), ("school", _PUPILS, school)):
        if periods is None:
            parts.append(sql.format(where=""))
        elif periods:
            parts.append(sql.format(where=f"AND period IN :{name}"))
            params[name] = sorted(periods)
    if not parts:
        return
    # UNION ALL: EXCEPT returns distinct rows anyway, and deduplicating before it too
    # costs a third more on DuckDB.
    statement = text(
        "INSERT INTO calc_spell_persons "
        + " UNION ALL ".join(parts)
        + " EXCEPT SELECT person_key FROM case_spell_persons"
    ).bindparams(*(bindparam(name, expanding=True) for name in params))
    if conn.execute(statement, params).rowcount:
        conn.exec_driver_sql(
            "INSERT INTO case_spell_persons SELECT person_key FROM calc_spell_persons"
        )
        conn.exec_driver_sql(_CASES_OF_NEW_PERSONS)


_POLICE_PERSONS = (
    "SELECT person_key FROM police_incidents "
    "WHERE minor_involved AND person_key IS NOT NULL {where}"
)
_PUPILS = "SELECT student_key FROM school_absence WHERE student_key IS NOT NULL {where}"

# The cases of the persons just kept (every case of the feed is read: new persons are rare
# after the first load).
_CASES_OF_NEW_PERSONS = """
INSERT INTO case_spell_cases
SELECT s.person_key, s.period, s.opened_date, s.closed_date
FROM social_cases s
JOIN calc_spell_persons p ON p.person_key = s.person_key
"""


def _replace_cases(conn: Connection, periods: set[str]) -> None:
    """Replace the kept cases of the touched months; their persons' spells are to redo."""
    if not periods:
        return
    params = {"periods": sorted(periods)}
    for sql in (_PERSONS_OF_OLD_CASES, _DELETE_OLD_CASES, _INSERT_NEW_CASES, _PERSONS_OF_NEW_CASES):
        conn.execute(text(sql).bindparams(bindparam("periods", expanding=True)), params)


# The persons of the kept cases of the touched months, before and after: their spells are
# to redo. (The kept persons' cases of those months are replaced; those of persons kept just
# now were copied whole, these months included, and are copied again.)
_PERSONS_OF_OLD_CASES = """
INSERT INTO calc_spell_persons
SELECT person_key FROM case_spell_cases WHERE period IN :periods
EXCEPT SELECT person_key FROM calc_spell_persons
"""
_DELETE_OLD_CASES = "DELETE FROM case_spell_cases WHERE period IN :periods"
_INSERT_NEW_CASES = """
INSERT INTO case_spell_cases
SELECT s.person_key, s.period, s.opened_date, s.closed_date
FROM social_cases s
JOIN case_spell_persons p ON p.person_key = s.person_key
WHERE s.period IN :periods
"""
_PERSONS_OF_NEW_CASES = _PERSONS_OF_OLD_CASES

# Gaps and islands: a case starts a new spell when it opens after every earlier case of the
# person has closed; the spells are the runs between such starts.
_SPELLS_SQL = """
INSERT INTO case_spells
WITH cases AS (
    -- A join, not IN (...): the persons are distinct, and DuckDB probes a join's hash table
    -- about twice as fast.
    SELECT s.person_key, s.opened_date,
           COALESCE(s.closed_date, DATE '9999-12-31') AS closed_date
    FROM case_spell_cases s
    JOIN {persons} p ON p.person_key = s.person_key
), reached AS (
    SELECT person_key, opened_date, closed_date,
           MAX(closed_date) OVER (PARTITION BY person_key COLLATE "C"
                                  ORDER BY opened_date, closed_date
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM cases
), numbered AS (
    SELECT person_key, opened_date, closed_date,
           SUM(CASE WHEN reach IS NULL OR opened_date > reach THEN 1 ELSE 0 END) OVER (
               PARTITION BY person_key COLLATE "C" ORDER BY opened_date, closed_date
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS spell
    FROM reached
)
SELECT person_key, MIN(opened_date), MAX(closed_date)
FROM numbered
GROUP BY person_key, spell
"""
