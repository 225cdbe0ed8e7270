"""The quality gate on a small warehouse loaded through the real load path, on both backends.

A clean warehouse passes; each fault injected afterwards (a negative count, a 140 % rate, a
missing territory-period, a stale feed, ...) fails with a message naming the expectation,
the table and the column.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from sqlalchemy import Engine, text

from schemas.code_lists import INCIDENT_CATEGORIES
from schemas.quality_suites import SUITES, Expectation, Suite, View
from warehouse.indicators import affected_periods, compute_indicators, load_catalogue
from warehouse.loads import BatchLoader, replace_table
from warehouse.quality_gate import QualityGateFailed, QualityReport, check_quality, window_periods
from warehouse.tables import code_list_values, territories, territory_population

WINDOW = ("2023-01", "2023-03")
MAX_AGE = timedelta(days=30)
ROOT, NORTH, SOUTH = "T", "T-N", "T-S"

# (incident_id, occurred_date, territory, category, count)
POLICE = [
    ("p1", dt.date(2023, 1, 5), NORTH, "theft_person", 1),
    ("p2", dt.date(2023, 1, 20), SOUTH, "injury", 2),
    ("p3", dt.date(2023, 2, 3), NORTH, "homicide", 1),
    ("p4", dt.date(2023, 3, 9), SOUTH, "theft_home", 1),
    ("p5", dt.date(2023, 3, 30), NORTH, "other", 3),
]
# (case_id, person_key, territory, opened, closed)
SOCIAL = [
    ("c1", "pk-4f1c9a0e", NORTH, dt.date(2023, 1, 10), None),
    ("c2", "pk-b7e2d813", SOUTH, dt.date(2023, 2, 5), dt.date(2023, 3, 1)),
]
# (record_id, student_key, territory, period, possible, absent, unjustified)
SCHOOL = [
    ("s1", "pk-4f1c9a0e", NORTH, "2023-02", 40, 10, 5),
    ("s2", "pk-4f1c9a0e", NORTH, "2023-03", 40, 2, 0),
    ("s3", "pk-0d93c6aa", SOUTH, "2023-02", 38, 1, 1),
    ("s4", "pk-0d93c6aa", SOUTH, "2023-03", 42, 0, 0),
]
PERSON_KEYS = {r[1] for r in SOCIAL} | {r[1] for r in SCHOOL}


def _police() -> pa.Table:
    n = len(POLICE)
    return pa.table(
        {
            "incident_id": [r[0] for r in POLICE],
            "source": ["test-police"] * n,
            "occurred_date": [r[1] for r in POLICE],
            "occurred_time": pa.array([None] * n, pa.string()),
            "territory_code": [r[2] for r in POLICE],
            "latitude": pa.array([None] * n, pa.float64()),
            "longitude": pa.array([None] * n, pa.float64()),
            "category": [r[3] for r in POLICE],
            "source_label": [r[3].upper() for r in POLICE],
            "modality": pa.array([None] * n, pa.string()),
            "victim_sex": ["U"] * n,
            "victim_age_group": ["unknown"] * n,
            "minor_involved": [False] * n,
            "domestic": [False] * n,
            "person_key": pa.array([None] * n, pa.string()),
            "count": [r[4] for r in POLICE],
        }
    )


def _social() -> pa.Table:
    n = len(SOCIAL)
    return pa.table(
        {
            "case_id": [r[0] for r in SOCIAL],
            "source": ["test-social"] * n,
            "person_key": [r[1] for r in SOCIAL],
            "sex": ["F"] * n,
            "age_group": ["10-14"] * n,
            "territory_code": [r[2] for r in SOCIAL],
            "opened_date": [r[3] for r in SOCIAL],
            "closed_date": pa.array([r[4] for r in SOCIAL], pa.date32()),
            "intervention_type": ["family_support"] * n,
            "referral_source": ["school"] * n,
        }
    )


def _school() -> pa.Table:
    n = len(SCHOOL)
    return pa.table(
        {
            "record_id": [r[0] for r in SCHOOL],
            "source": ["test-school"] * n,
            "student_key": [r[1] for r in SCHOOL],
            "school_code": ["SCH-1"] * n,
            "territory_code": [r[2] for r in SCHOOL],
            "period": [r[3] for r in SCHOOL],
            "possible_sessions": [r[4] for r in SCHOOL],
            "absent_sessions": [r[5] for r in SCHOOL],
            "unjustified_sessions": [r[6] for r in SCHOOL],
            "enrolments": [1] * n,
        }
    )


def _load(engine: Engine, feed: str, rows: pa.Table) -> list[str]:
    with BatchLoader(
        engine,
        feed=feed,
        source=f"test-{feed}",
        file_name=f"{feed}.csv",
        content_hash=feed.encode().hex().ljust(64, "0"),
    ) as loader:
        loader.add(rows, [], rows.num_rows)
    return loader.result.periods


def build_warehouse(engine: Engine) -> None:
    """Territories, the three feeds and every indicator, loaded the way the pipeline does."""
    replace_table(
        engine,
        territories,
        pa.table(
            {
                "code": [ROOT, NORTH, SOUTH],
                "name": ["Town", "North", "South"],
                "level": ["municipality", "district", "district"],
                "parent_code": [None, ROOT, ROOT],
                "geometry": pa.array([None] * 3, pa.string()),
            }
        ),
    )
    replace_table(
        engine,
        territory_population,
        pa.table(
            {"code": [ROOT, NORTH, SOUTH], "year": [2023] * 3, "population": [30000, 10000, 20000]}
        ),
    )
    categories = sorted(INCIDENT_CATEGORIES)
    replace_table(
        engine,
        code_list_values,
        pa.table({"list": ["incident_category"] * len(categories), "code": categories}),
    )
    touched = {
        "police_incidents": _load(engine, "police_incidents", _police()),
        "social_cases": _load(engine, "social_cases", _social()),
        "school_absence": _load(engine, "school_absence", _school()),
    }
    catalogue = load_catalogue()
    known = list(window_periods(WINDOW))
    periods = {
        i.id: affected_periods(i, set().union(*(touched[f] for f in i.feeds)), known)
        for i in catalogue
    }
    compute_indicators(engine, catalogue, periods, chronic_threshold=0.1)


def _execute(engine: Engine, statement: str, **params) -> None:
    with engine.begin() as conn:
        assert conn.execute(text(statement), params).rowcount >= 1


def _gate(engine: Engine) -> QualityReport:
    return check_quality(engine, window=WINDOW, max_age=MAX_AGE)


def _only_failure(report: QualityReport):
    assert len(report.failures) == 1, [f.describe() for f in report.failures]
    return report.failures[0]


def _outcome(report: QualityReport, suite: str, column: str, expectation: str):
    return next(
        o
        for o in report.outcomes
        if (o.suite, o.column, o.expectation) == (suite, column, expectation)
    )


def test_a_clean_warehouse_passes(engine):
    build_warehouse(engine)
    report = check_quality(engine, window=WINDOW, territories=[ROOT, NORTH, SOUTH], max_age=MAX_AGE)
    assert report.success, [f.describe() for f in report.failures]
    report.raise_if_failed()
    assert len(report.outcomes) == sum(len(s.expectations) for s in SUITES)
    assert len(report.validation_results) == len(SUITES)
    # Fact tables are validated as (batch, period, territory) groups, not row by row.
    groups = len({(r[1].strftime("%Y-%m"), r[2]) for r in POLICE})
    count_rule = _outcome(report, "police_incidents", "count", "expect_column_values_to_be_between")
    assert count_rule.observed.startswith(f"0 of {groups} (batch, period, territory) groups")
    # Cells the window needs: each indicator's periods with feed data x its 3 territories.
    feed_periods = {
        "police_incidents": {"2023-01", "2023-02", "2023-03"},
        "social_cases": {"2023-01", "2023-02"},
        "school_absence": {"2023-02", "2023-03"},
    }
    cells = sum(3 * len(set().union(*(feed_periods[f] for f in i.feeds))) for i in load_catalogue())
    coverage = _outcome(
        report, "indicator_values_coverage", "period", "expect_column_values_to_not_be_null"
    )
    assert coverage.observed.startswith(f"0 of {cells} expected")


def test_a_negative_count_fails(engine):
    build_warehouse(engine)
    _execute(engine, 'UPDATE police_incidents SET "count" = -2 WHERE incident_id = :id', id="p3")
    report = _gate(engine)
    failure = _only_failure(report)
    assert (failure.table, failure.column, failure.expectation) == (
        "police_incidents",
        "count",
        "expect_column_values_to_be_between",
    )
    assert "values -2" in failure.observed
    assert failure.examples[0]["period"] == "2023-02"
    assert failure.examples[0]["territory_code"] == NORTH
    with pytest.raises(
        QualityGateFailed,
        match=r"police_incidents\.count: "
        r"expect_column_values_to_be_between \(count is never negative\)",
    ):
        report.raise_if_failed()


def test_a_rate_of_140_percent_fails(engine):
    build_warehouse(engine)
    _execute(
        engine,
        "UPDATE indicator_values SET value = 140 WHERE indicator_id = :i "
        "AND territory_code = :t AND period = :p",
        i="school_absence_rate",
        t=NORTH,
        p="2023-02",
    )
    report = _gate(engine)
    failure = _only_failure(report)
    assert (failure.table, failure.column, failure.expectation) == (
        "indicator_values",
        "value",
        "expect_column_values_to_be_between",
    )
    assert "values 140" in failure.observed
    assert failure.examples[0] == {
        "value": 140.0,
        "indicator_id": "school_absence_rate",
        "territory_code": NORTH,
        "period": "2023-02",
        "breakdown": "all",
    }
    with pytest.raises(
        QualityGateFailed,
        match=r"indicator_values\.value: "
        r"expect_column_values_to_be_between \(a value in % lies within",
    ):
        report.raise_if_failed()


def test_a_missing_territory_period_fails(engine):
    build_warehouse(engine)
    _execute(
        engine,
        "DELETE FROM indicator_values WHERE indicator_id = :i "
        "AND territory_code = :t AND period = :p",
        i="incidents_per_10k",
        t=SOUTH,
        p="2023-03",
    )
    report = _gate(engine)
    failure = _only_failure(report)
    assert (failure.table, failure.column, failure.expectation) == (
        "indicator_values",
        "period",
        "expect_column_values_to_not_be_null",
    )
    assert failure.observed.startswith("1 of ")
    assert failure.examples == (
        {
            "period": None,
            "indicator_id": "incidents_per_10k",
            "territory_code": SOUTH,
            "expected_period": "2023-03",
        },
    )
    with pytest.raises(
        QualityGateFailed,
        match=r"indicator_values\.period: "
        r"expect_column_values_to_not_be_null \(every indicator has a value",
    ):
        report.raise_if_failed()


def test_a_stale_feed_and_a_feed_never_loaded_fail(engine):
    build_warehouse(engine)
    stale = datetime.now(UTC) - timedelta(days=40)
    _execute(
        engine, "UPDATE load_ledger SET loaded_at = :t WHERE feed = :f", t=stale, f="social_cases"
    )
    _execute(engine, "DELETE FROM load_ledger WHERE feed = :f", f="school_absence")
    report = _gate(engine)
    missing, too_old = report.failures
    assert (too_old.table, too_old.column, too_old.expectation) == (
        "load_ledger",
        "loaded_at",
        "expect_column_values_to_be_between",
    )
    assert too_old.examples[0]["feed"] == "social_cases"
    assert too_old.examples[0]["age_days"] == pytest.approx(40.0, abs=0.1)
    assert (missing.table, missing.column, missing.expectation) == (
        "load_ledger",
        "loaded_at",
        "expect_column_values_to_not_be_null",
    )
    assert missing.examples == ({"loaded_at": None, "feed": "school_absence", "age_days": None},)
    with pytest.raises(
        QualityGateFailed,
        match=r"(?s)2 expectation.*load_ledger\.loaded_at: "
        r"expect_column_values_to_not_be_null \(every feed has been loaded.*"
        r"load_ledger\.loaded_at: expect_column_values_to_be_between "
        r"\(each feed's newest load",
    ):
        report.raise_if_failed()


def test_failures_never_show_person_keys(engine):
    build_warehouse(engine)
    _execute(
        engine,
        "UPDATE social_cases SET territory_code = :t WHERE case_id = :c",
        t="T-UNKNOWN",
        c="c2",
    )
    report = _gate(engine)
    failure = _only_failure(report)
    assert (failure.table, failure.column, failure.expectation) == (
        "social_cases",
        "territory_code",
        "expect_column_values_to_be_in_set",
    )
    assert failure.examples[0]["territory_code"] == "T-UNKNOWN"
    published = json.dumps(report.validation_results, default=str) + str(
        QualityGateFailed(report.failures)
    )
    assert not [key for key in PERSON_KEYS if key in published]


def test_a_rule_that_would_read_person_keys_is_refused(engine):
    peek = Suite(
        name="peek",
        table="social_cases",
        view=View.FACT_GROUPS,
        example_columns=(),
        expectations=(
            Expectation(
                "ExpectColumnValuesToBeBetween", {"column": "person_key", "min_value": "a"}, "x"
            ),
        ),
    )
    with pytest.raises(ValueError, match="ExpectColumnValuesToBeBetween on person_key"):
        check_quality(engine, window=WINDOW, max_age=MAX_AGE, suites=(peek,))


def test_window_periods_and_bad_windows():
    assert window_periods(("2022-11", "2023-02")) == ("2022-11", "2022-12", "2023-01", "2023-02")
    with pytest.raises(ValueError, match="'2023-13' is not a period"):
        window_periods(("2023-01", "2023-13"))
    with pytest.raises(ValueError, match="first period 2023-03 is after last period 2023-01"):
        window_periods(("2023-03", "2023-01"))


def test_an_empty_warehouse_fails_only_for_its_missing_loads(engine):
    failure = _only_failure(_gate(engine))
    assert (failure.table, failure.column, failure.expectation) == (
        "load_ledger",
        "loaded_at",
        "expect_column_values_to_not_be_null",
    )
    assert failure.observed == "3 of 3 feeds unexpected"
    assert [e["feed"] for e in failure.examples] == [
        "police_incidents",
        "social_cases",
        "school_absence",
    ]


def test_great_expectations_says_nothing_below_a_warning(engine, caplog):
    # GX announces each ephemeral context at INFO ("Created temporary directory ... for
    # ephemeral docs site"), which landed in the middle of the CLI's progress output.
    with caplog.at_level(logging.INFO):
        _gate(engine)
    chatter = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("great_expectations") and r.levelno < logging.WARNING
    ]
    assert chatter == []
