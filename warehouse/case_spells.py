"""The intervention-spells building block of the cross-institution indicators.

calc_case_spells: each person's social-services cases merged into spells of intervention,
for the persons the cross-institution indicators ask about (pseudonymised keys only).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import Connection, text

from warehouse.indicator_inputs import analyze_staged, create_staged
from warehouse.pupil_months import PUPIL_MONTHS

CASE_SPELLS = "calc_case_spells"


def stage_case_spells(
    conn: Connection, periods: Iterable[str], referral_window_days: int, *, with_pupils: bool
) -> None:
    """Stage each person's social-services cases merged into spells of intervention.

    Overlapping or touching cases of one person become one spell [opened_date, closed_date]
    (closed_date 9999-12-31 while open), so that "had a case open at D" or "had a case open
    at some time from D to D + N days" is one range test per spell instead of one per case.
    Only the persons the cross-institution indicators ask about are staged: the chronically
    absent pupils of calc_pupil_months (`with_pupils`: it is staged) and the minors in police
    incidents of those months. Cases that ended before the first month, or began after the
    last month's end plus the referral window, cannot answer either question and are left out.
    """
    periods = sorted(set(periods))
    first = date(int(periods[0][:4]), int(periods[0][5:7]), 1)
    last_year, last_month = int(periods[-1][:4]), int(periods[-1][5:7])
    last = date(last_year, last_month, calendar.monthrange(last_year, last_month)[1])
    create_staged(conn, "calc_persons", "person_key VARCHAR")
    pupils = (
        f"UNION SELECT student_key FROM {PUPIL_MONTHS} WHERE chronic = 1" if with_pupils else ""
    )
    conn.execute(
        text(
            "INSERT INTO calc_persons SELECT DISTINCT person_key FROM police_incidents "
            "WHERE minor_involved AND person_key IS NOT NULL "
            f"AND period BETWEEN :first_period AND :last_period {pupils}"
        ),
        {"first_period": periods[0], "last_period": periods[-1]},
    )
    analyze_staged(conn, "calc_persons")
    create_staged(conn, CASE_SPELLS, "person_key VARCHAR, opened_date DATE, closed_date DATE")
    conn.execute(
        text(_CASE_SPELLS_SQL),
        {"first_day": first, "last_day": last + timedelta(days=max(referral_window_days, 0))},
    )
    analyze_staged(conn, CASE_SPELLS)


# Gaps and islands: a case starts a new spell when it opens after every earlier case of the
# person has closed; the spells are the runs between such starts.
_CASE_SPELLS_SQL = """
INSERT INTO calc_case_spells
WITH cases AS (
    -- A join, not IN (...): calc_persons is distinct, and DuckDB probes a join's hash table
    -- about twice as fast.
    SELECT s.person_key, s.opened_date,
           COALESCE(s.closed_date, DATE '9999-12-31') AS closed_date
    FROM social_cases s
    JOIN calc_persons p ON p.person_key = s.person_key
    WHERE (s.closed_date IS NULL OR s.closed_date >= :first_day) AND s.opened_date <= :last_day
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
