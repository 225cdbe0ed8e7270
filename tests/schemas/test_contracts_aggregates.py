"""Contract additions for published aggregates: each rule rejects what it should, and frames
without the new columns (older callers) still validate."""

from __future__ import annotations

import datetime as dt

import polars as pl

from schemas.contracts import (
    POLICE_INCIDENTS,
    SCHOOL_ABSENCE,
    SOCIAL_CASES,
    TERRITORY_POPULATION,
    check_rows,
)


def _absence(**changes) -> dict:
    row = {
        "record_id": "r1",
        "source": "s",
        "student_key": None,
        "school_code": None,
        "territory_code": "E92000001",
        "period": "2016/17",
        "possible_sessions": None,
        "absent_sessions": None,
        "unjustified_sessions": None,
        "enrolments": 100,
        "pupil_group": "Total / Total",
        "chronically_absent": 10,
        "chronic_absence_pct": 10.0,
        "figure_status": None,
        "_row": 2,
    }
    return {**row, **changes}


def _typed(rows: list[dict], contract) -> pl.DataFrame:
    """Rows as a frame with the contract's column types (all-null columns included)."""
    types = {name: column.dtype.type for name, column in contract.columns.items()}
    return pl.DataFrame(rows, schema_overrides=types)


def test_school_aggregates_pass_and_each_rule_rejects_its_case():
    frame = _typed(
        [
            _absence(),
            _absence(record_id="r2", period="2016/18", _row=3),
            _absence(record_id="r3", chronically_absent=101, _row=4),
            _absence(record_id="r4", chronically_absent=None, chronic_absence_pct=None, _row=5),
            _absence(
                record_id="r5",
                chronically_absent=None,
                chronic_absence_pct=None,
                figure_status="suppressed",
                _row=6,
            ),
            _absence(record_id="r6", student_key="k1", school_code="S1", _row=7),
            _absence(record_id="r7", figure_status="hidden", _row=8),
        ],
        SCHOOL_ABSENCE,
    )
    result = check_rows(frame, SCHOOL_ABSENCE)
    assert sorted(result.valid["record_id"].to_list()) == ["r1", "r5"]
    assert result.reasons[3] == ["period: school_year_consecutive (got '2016/18')"]
    assert result.reasons[4] == ["row: chronically_absent_within_enrolments"]
    assert result.reasons[5] == ["row: absent_figures_explained"]
    assert result.reasons[7] == ["row: records_complete"]  # a pupil record needs its sessions
    assert result.reasons[8][0].startswith("figure_status: isin")


def test_police_aggregates_need_a_reference_period_in_the_year_of_occurred_date():
    base = {
        "incident_id": "i1",
        "source": "s",
        "occurred_date": dt.date(2024, 1, 1),
        "occurred_time": None,
        "territory_code": "28079",
        "latitude": None,
        "longitude": None,
        "category": "theft",
        "source_label": "8. Hurtos",
        "modality": None,
        "victim_sex": "U",
        "victim_age_group": "unknown",
        "minor_involved": False,
        "domestic": False,
        "person_key": None,
        "count": 0,
        "reference_period": "2024",
        "_row": 2,
    }
    rows = [
        base,
        {**base, "incident_id": "i2", "reference_period": None, "_row": 3},  # a record of 0
        {**base, "incident_id": "i3", "reference_period": "2023", "_row": 4},
        {**base, "incident_id": "i4", "reference_period": "2024-13", "_row": 5},
        {**base, "incident_id": "i5", "reference_period": "2024-04/2024-12", "_row": 6},
    ]
    result = check_rows(_typed(rows, POLICE_INCIDENTS), POLICE_INCIDENTS)
    assert sorted(result.valid["incident_id"].to_list()) == ["i1", "i5"]
    assert result.reasons[3] == ["row: records_count_at_least_one"]
    assert result.reasons[4] == ["row: occurred_date_in_reference_period"]
    assert result.reasons[5][0].startswith("reference_period: str_matches")


def test_social_aggregates_have_a_count_instead_of_a_person():
    base = {
        "case_id": "c1",
        "source": "s",
        "person_key": None,
        "sex": "U",
        "age_group": "unknown",
        "territory_code": "3603701",
        "opened_date": dt.date(2018, 3, 31),
        "closed_date": dt.date(2018, 3, 31),
        "intervention_type": "shelter",
        "referral_source": "unknown",
        "count": 385,
        "_row": 2,
    }
    no_person = {**base, "case_id": "c2", "count": None, "_row": 3}
    result = check_rows(_typed([base, no_person], SOCIAL_CASES), SOCIAL_CASES)
    assert result.valid["case_id"].to_list() == ["c1"]
    assert result.reasons == {3: ["row: records_have_a_person"]}


def test_population_is_unique_per_code_and_year():
    frame = pl.DataFrame(
        {
            "code": ["28079", "28079", "28079"],
            "year": [2023, 2024, 2024],
            "population": [3332035, 3416771, 1],
            "_row": [2, 3, 4],
        }
    )
    result = check_rows(frame, TERRITORY_POPULATION)
    assert result.valid["year"].to_list() == [2023]
    assert set(result.reasons) == {3, 4}
