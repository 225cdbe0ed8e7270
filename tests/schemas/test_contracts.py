"""Row-level contracts: good rows pass, bad rows come back with every reason."""

from __future__ import annotations

import polars as pl

from schemas.contracts import SCHOOL_ABSENCE, SOCIAL_CASES, check_rows


def _absence(**changes) -> dict:
    row = {
        "record_id": "r1",
        "source": "s",
        "student_key": "k1",
        "school_code": "IE1",
        "territory_code": "05001-01",
        "period": "2021-03",
        "possible_sessions": 20,
        "absent_sessions": 4,
        "unjustified_sessions": 1,
        "enrolments": 1,
        "_row": 2,
    }
    return {**row, **changes}


def test_good_rows_pass_and_bad_rows_get_every_reason():
    frame = pl.DataFrame(
        [
            _absence(),
            _absence(record_id="r2", period="2021-13", absent_sessions=30, _row=3),
            _absence(record_id="r3", territory_code="05001-77", _row=4),
        ]
    )
    result = check_rows(frame, SCHOOL_ABSENCE, known_territories=frozenset({"05001-01"}))
    assert result.valid["record_id"].to_list() == ["r1"]
    assert set(result.reasons) == {3, 4}
    assert any(r.startswith("period:") for r in result.reasons[3])
    assert "row: absent_within_possible" in result.reasons[3]
    assert result.reasons[4] == ["territory_code: unknown territory '05001-77'"]


def test_parse_failures_from_the_profile_are_kept_without_a_duplicate_null_reason():
    import datetime as dt

    frame = pl.DataFrame(
        {
            "case_id": ["c1"],
            "source": ["s"],
            "person_key": ["k"],
            "sex": ["F"],
            "age_group": ["10-14"],
            "territory_code": ["05001-01"],
            "opened_date": pl.Series([None], dtype=pl.Date),
            "closed_date": [dt.date(2021, 1, 1)],
            "intervention_type": ["other"],
            "referral_source": ["school"],
            "_row": [7],
        }
    )
    earlier = {7: ["opened_date: cannot read as date: '31/02/2021' (column 'F')"]}
    result = check_rows(frame, SOCIAL_CASES, earlier_reasons=earlier)
    assert result.valid.height == 0
    assert result.reasons[7] == earlier[7]
