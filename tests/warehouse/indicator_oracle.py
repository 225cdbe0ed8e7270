"""The catalogue's definitions written again in plain Python, row by row, as a test oracle.

Deliberately naive (loops over the source rows, brute-force date checks), sharing nothing
with the warehouse SQL, so that the two can only agree if both follow the definitions.
Each function returns {(district, period, breakdown): (units, numerator, denominator)} for
the districts that have facts; the caller fills zeros and population denominators.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta

Cells = dict[tuple[str, str, str], tuple[int, int, int]]


def month_of(day: date) -> str:
    """YYYY-MM of a date."""
    return f"{day.year:04d}-{day.month:02d}"


def month_end(period: str) -> date:
    """The last day of a YYYY-MM month."""
    year, month = int(period[:4]), int(period[5:])
    return date(year, month, calendar.monthrange(year, month)[1])


def shifted(period: str, months: int) -> str:
    """The month `months` away from `period`."""
    year, month = int(period[:4]), int(period[5:]) + months
    while month < 1:
        year, month = year - 1, month + 12
    while month > 12:
        year, month = year + 1, month - 12
    return f"{year:04d}-{month:02d}"


def _counts(rows, key: Callable, amount: Callable = lambda r: 1) -> dict:
    counts: dict = defaultdict(int)
    for row in rows:
        k = key(row)
        if k is not None:
            counts[k] += amount(row)
    return counts


def incident_counts(police: list[dict], *, minors_only: bool = False) -> dict:
    """(district, period, category) -> incidents (records x count)."""
    return _counts(
        (r for r in police if r["minor_involved"] or not minors_only),
        key=lambda r: (r["territory_code"], month_of(r["occurred_date"]), r["category"]),
        amount=lambda r: r["count"],
    )


def incidents_against(police: list[dict], periods: list[str], months_back: int) -> Cells:
    """Incidents of each month (units, numerator) against `months_back` months earlier."""
    counts = incident_counts(police)
    cells = {}
    for territory, _, category in {(t, p, c) for t, p, c in counts}:
        for period in periods:
            now = counts.get((territory, period, category), 0)
            before = counts.get((territory, shifted(period, -months_back), category), 0)
            if now or before:
                cells[(territory, period, category)] = (now, now, before)
    return cells


def open_cases(social: list[dict], periods: list[str]) -> Cells:
    """Cases open on the last day of each month."""
    cells: dict = defaultdict(int)
    for period in periods:
        end = month_end(period)
        for case in social:
            if case["opened_date"] <= end and (
                case["closed_date"] is None or case["closed_date"] > end
            ):
                cells[(case["territory_code"], period, "all")] += 1
    return {k: (n, n, 0) for k, n in cells.items()}


def new_cases(social: list[dict], column: str) -> Cells:
    """Cases opened in each month, by `column` (intervention_type or referral_source)."""
    counts = _counts(
        social, key=lambda r: (r["territory_code"], month_of(r["opened_date"]), r[column])
    )
    return {k: (n, n, 0) for k, n in counts.items()}


def sessions(school: list[dict], column: str) -> Cells:
    """Pupils on roll (enrolments), `column` sessions and possible sessions per month."""
    cells: dict = defaultdict(lambda: [0, 0, 0])
    for row in school:
        cell = cells[(row["territory_code"], row["period"], "all")]
        cell[0] += row["enrolments"]
        cell[1] += row[column]
        cell[2] += row["possible_sessions"]
    return {k: tuple(v) for k, v in cells.items()}


def pupil_months(school: list[dict], threshold: float) -> dict[tuple[str, str], dict]:
    """(student_key, period) -> territory, chronic (year to date) and first_chronic."""
    by_pupil: dict = defaultdict(lambda: defaultdict(list))
    for row in school:
        if row["student_key"] is not None:
            by_pupil[row["student_key"]][row["period"]].append(row)
    months: dict[tuple[str, str], dict] = {}
    for key, periods in by_pupil.items():
        absent = possible = 0
        year, seen_chronic = None, False
        for period in sorted(periods):
            if period[:4] != year:
                year, absent, possible, seen_chronic = period[:4], 0, 0, False
            rows = periods[period]
            absent += sum(r["absent_sessions"] for r in rows)
            possible += sum(r["possible_sessions"] for r in rows)
            chronic = possible > 0 and absent >= threshold * possible
            months[(key, period)] = {
                "territory": min(r["territory_code"] for r in rows),
                "chronic": chronic,
                "first_chronic": chronic and not seen_chronic,
            }
            seen_chronic = seen_chronic or chronic
    return months


def chronic_share(months: dict) -> Cells:
    """Pupils on roll each month, and how many are chronically absent."""
    cells: dict = defaultdict(lambda: [0, 0])
    for (_, period), month in months.items():
        cell = cells[(month["territory"], period, "all")]
        cell[0] += month["chronic"]
        cell[1] += 1
    return {k: (n, n, d) for k, (n, d) in cells.items()}


def open_on(cases: list[dict], day: date) -> bool:
    """Whether any of the cases is open at the end of `day`."""
    return any(
        c["opened_date"] <= day and (c["closed_date"] is None or c["closed_date"] > day)
        for c in cases
    )


def open_within(cases: list[dict], first: date, days: int) -> bool:
    """Whether any of the cases is open at some time from `first` to `first + days`."""
    last = first + timedelta(days=days)
    return any(
        c["opened_date"] <= last and (c["closed_date"] is None or c["closed_date"] >= first)
        for c in cases
    )


def cases_by_person(social: list[dict]) -> dict[str, list[dict]]:
    """Every case of each person key."""
    cases: dict = defaultdict(list)
    for case in social:
        cases[case["person_key"]].append(case)
    return cases


def _share(marked: list[tuple[str, str, bool]]) -> Cells:
    cells: dict = defaultdict(lambda: [0, 0])
    for territory, period, hit in marked:
        cells[(territory, period, "all")][0] += hit
        cells[(territory, period, "all")][1] += 1
    return {k: (n, n, d) for k, (n, d) in cells.items()}


def chronic_with_open_case(months: dict, cases: dict) -> Cells:
    """Chronically absent pupils each month, and how many have a case open at its end."""
    return _share(
        [
            (m["territory"], period, open_on(cases.get(key, []), month_end(period)))
            for (key, period), m in months.items()
            if m["chronic"]
        ]
    )


def minors(police: list[dict]) -> dict[tuple[str, str], dict]:
    """(person_key, period) -> lowest incident territory and the incident days, for minors."""
    found: dict = {}
    for row in police:
        if row["minor_involved"] and row["person_key"] is not None:
            key = (row["person_key"], month_of(row["occurred_date"]))
            entry = found.setdefault(key, {"territory": row["territory_code"], "days": set()})
            entry["territory"] = min(entry["territory"], row["territory_code"])
            entry["days"].add(row["occurred_date"])
    return found


def minors_chronically_absent(found: dict, months: dict) -> Cells:
    """Minors in incidents each month, and how many are chronic as of their latest school month."""
    marked = []
    for (key, period), minor in found.items():
        school_months = [p for (k, p) in months if k == key and p[:4] == period[:4] and p <= period]
        chronic = bool(school_months) and months[(key, max(school_months))]["chronic"]
        marked.append((minor["territory"], period, chronic))
    return _share(marked)


def minors_with_open_case(found: dict, cases: dict) -> Cells:
    """Minors in incidents each month, and how many had a case open on an incident day."""
    return _share(
        [
            (m["territory"], period, any(open_on(cases.get(key, []), d) for d in m["days"]))
            for (key, period), m in found.items()
        ]
    )


def school_referrals(months: dict, cases: dict, window_days: int) -> Cells:
    """First chronic month of each pupil's year, and how many got a case within the window."""
    return _share(
        [
            (
                m["territory"],
                period,
                open_within(cases.get(key, []), month_end(period), window_days),
            )
            for (key, period), m in months.items()
            if m["first_chronic"]
        ]
    )


def police_referrals(police: list[dict], cases: dict, window_days: int) -> Cells:
    """One referral per minor and incident day, and how many got a case within the window."""
    days: dict = {}
    for row in police:
        if row["minor_involved"] and row["person_key"] is not None:
            key = (row["person_key"], row["occurred_date"])
            days[key] = min(days.get(key, row["territory_code"]), row["territory_code"])
    return _share(
        [
            (territory, month_of(day), open_within(cases.get(key, []), day, window_days))
            for (key, day), territory in days.items()
        ]
    )


def expected_leaf_cells(
    feeds: dict[str, list[dict]], periods: list[str], threshold: float, window_days: int
) -> dict[str, Cells]:
    """Every indicator's expected leaf cells (districts with facts only)."""
    police, social, school = (
        feeds["police_incidents"],
        feeds["social_cases"],
        feeds["school_absence"],
    )
    months = pupil_months(school, threshold)
    cases = cases_by_person(social)
    found = minors(police)
    counts = {k: (n, n, 0) for k, n in incident_counts(police).items()}
    minor_counts = {k: (n, n, 0) for k, n in incident_counts(police, minors_only=True).items()}
    return {
        "incidents_per_10k": counts,
        "incidents_vs_previous_month": incidents_against(police, periods, 1),
        "incidents_vs_year_earlier": incidents_against(police, periods, 12),
        "incidents_involving_minors_per_10k": minor_counts,
        "open_social_cases_per_1k": open_cases(social, periods),
        "new_referrals_per_1k_by_intervention": new_cases(social, "intervention_type"),
        "new_referrals_per_1k_by_source": new_cases(social, "referral_source"),
        "school_absence_rate": sessions(school, "absent_sessions"),
        "unjustified_absence_rate": sessions(school, "unjustified_sessions"),
        "chronic_absentee_share": chronic_share(months),
        "chronic_absent_with_open_case": chronic_with_open_case(months, cases),
        "minors_in_incidents_chronically_absent": minors_chronically_absent(found, months),
        "minors_in_incidents_with_open_case": minors_with_open_case(found, cases),
        "school_referrals_with_intervention": school_referrals(months, cases, window_days),
        "police_referrals_with_intervention": police_referrals(police, cases, window_days),
    }
