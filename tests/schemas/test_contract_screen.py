"""check_rows validates only the rows its vectorised screen picks out: same outcome as pandera
validating the whole frame, on random frames full of broken rules, nulls and duplicates."""

from __future__ import annotations

import datetime as dt
import random

import pandera.polars as pa
import polars as pl
import pytest

from schemas import contracts
from schemas.contracts import CONTRACTS, REFERENCE_CONTRACTS, ROW_NUMBER, check_rows

ALL = {**CONTRACTS, **REFERENCE_CONTRACTS}

# Values that honour and values that break the contracts' rules, per column type.
_TEXT = ["F", "M", "U", "X", "theft", "other", "0-4", "65+", "unknown", "9-9", ""]
_TEXT += ["suppressed", "school", "shelter", "municipality", "comuna", "k1", "05001-01"]
_PERIODS = ["2024", "2024-03", "2024-Q3", "2024-13", "2024-04/2024-12", "2016/17", "2016/18"]
_TIMES = ["07:05", "7:05", "23:59", "24:00", "x"]
_VALUES: dict[type, list] = {
    pl.Utf8: _TEXT + _PERIODS + _TIMES,
    pl.Int64: [-1, 0, 1, 2, 5, 20, 1800, 2024, 2300],
    pl.Float64: [-200.0, -90.0, 0.0, 45.5, 91.0, 100.0, 101.0, float("nan")],
    pl.Date: [dt.date(2023, 1, 1), dt.date(2024, 3, 10), dt.date(2016, 9, 1)],
    pl.Boolean: [True, False],
}


_BASES = {
    "police_incidents": [
        {
            "incident_id": "i",
            "source": "s",
            "occurred_date": dt.date(2024, 3, 10),
            "occurred_time": "07:05",
            "territory_code": "05001-01",
            "latitude": 6.2,
            "longitude": -75.5,
            "category": "theft",
            "source_label": "HURTO",
            "victim_sex": "F",
            "victim_age_group": "25-34",
            "minor_involved": False,
            "domestic": False,
            "count": 1,
        },
        {
            "incident_id": "i",
            "source": "s",
            "occurred_date": dt.date(2024, 1, 1),
            "territory_code": "05001-01",
            "category": "theft",
            "source_label": "HURTO",
            "victim_sex": "U",
            "victim_age_group": "unknown",
            "minor_involved": False,
            "domestic": False,
            "count": 0,
            "reference_period": "2024",
        },
    ],
    "social_cases": [
        {
            "case_id": "c",
            "source": "s",
            "person_key": "k",
            "sex": "F",
            "age_group": "10-14",
            "territory_code": "05001-01",
            "opened_date": dt.date(2023, 1, 1),
            "intervention_type": "other",
            "referral_source": "school",
        },
        {
            "case_id": "c",
            "source": "s",
            "sex": "U",
            "age_group": "unknown",
            "territory_code": "05001-01",
            "opened_date": dt.date(2023, 1, 1),
            "closed_date": dt.date(2024, 3, 10),
            "intervention_type": "shelter",
            "referral_source": "unknown",
            "count": 5,
        },
    ],
    "school_absence": [
        {
            "record_id": "r",
            "source": "s",
            "student_key": "k",
            "school_code": "IE1",
            "territory_code": "05001-01",
            "period": "2024-03",
            "possible_sessions": 20,
            "absent_sessions": 5,
            "unjustified_sessions": 1,
            "enrolments": 1,
        },
        {
            "record_id": "r",
            "source": "s",
            "territory_code": "E92000001",
            "period": "2016/17",
            "enrolments": 100,
            "pupil_group": "Total",
            "chronically_absent": 20,
            "chronic_absence_pct": 20.0,
        },
    ],
    "territories": [{"code": "t", "name": "Comuna 1", "level": "municipality"}],
    "territory_population": [{"code": "t", "year": 2024, "population": 1800}],
}
_KEYS = {"incident_id", "case_id", "record_id", "code"}


def _random_frame(contract: pa.DataFrameSchema, rng: random.Random, rows: int) -> pl.DataFrame:
    """Mostly rows that honour the contract; some with a column or two broken or null, some
    repeating a key; optional columns sometimes absent."""
    bases = _BASES[contract.name]
    records = []
    for _ in range(rows):
        row = dict(rng.choice(bases))
        for key in _KEYS & contract.columns.keys():
            row[key] = f"k{rng.randrange(2 * rows)}"
        if rng.random() < 0.4:
            for name in rng.sample(list(contract.columns), rng.choice([1, 2])):
                pool = _VALUES[contract.columns[name].dtype.type]
                row[name] = None if rng.random() < 0.3 else rng.choice(pool)
        records.append(row)
    types = {name: column.dtype.type for name, column in contract.columns.items()}
    frame = pl.DataFrame(records, schema=types, strict=False)
    absent = [n for n, c in contract.columns.items() if not c.required and rng.random() < 0.3]
    rows_column = pl.Series(ROW_NUMBER, rng.sample(range(2, 10 * rows), rows), pl.Int64)
    return frame.drop(absent).with_columns(rows_column)


@pytest.mark.parametrize("name", sorted(ALL))
def test_the_random_frames_start_from_rows_that_honour_the_contract(name):
    contract = ALL[name]
    types = {n: c.dtype.type for n, c in contract.columns.items()}
    bases = [
        {**base, next(iter(_KEYS & types.keys())): f"k{n}", ROW_NUMBER: n}
        for n, base in enumerate(_BASES[name])
    ]
    frame = pl.DataFrame(bases, schema={**types, ROW_NUMBER: pl.Int64})
    assert check_rows(frame, contract).reasons == {}


def _earlier(frame: pl.DataFrame, contract, rng: random.Random) -> dict[int, list[str]]:
    """Parse failures as the profile reports them, for some rows and columns."""
    reasons: dict[int, list[str]] = {}
    for row in frame[ROW_NUMBER].to_list():
        if rng.random() < 0.2:
            column = rng.choice(list(contract.columns))
            reasons[row] = [f"{column}: cannot read as text: 'x' (column 'X')"]
    return reasons


def _whole_frame(monkeypatch):
    monkeypatch.setattr(
        contracts, "_rows_to_validate", lambda frame, contract, reasons: (frame, contract)
    )


def _picked(frame, contract, reasons):
    """The rows the screen hands to pandera."""
    return contracts._rows_to_validate(frame, contract, reasons)[0]


def _outcome(frame, contract, earlier, known):
    try:
        result = check_rows(
            frame,
            contract,
            earlier_reasons=earlier,
            known_territories=known,
            territory_column="code" if "code" in frame.columns else "territory_code",
        )
    except pa.errors.SchemaError as error:
        return ("raised", type(error).__name__)
    return result.valid, list(result.reasons.items())


@pytest.mark.parametrize("name", sorted(ALL))
def test_screened_check_gives_the_reasons_of_a_whole_frame_validation(name, monkeypatch):
    contract = ALL[name]
    rng = random.Random(f"screen-{name}")
    for _ in range(12):
        frame = _random_frame(contract, rng, rows=rng.choice([1, 5, 40, 200]))
        earlier = _earlier(frame, contract, rng)
        known = frozenset(rng.sample(_TEXT, 4)) if rng.random() < 0.5 else None
        screened = _outcome(frame, contract, earlier, known)
        with monkeypatch.context() as patch:
            _whole_frame(patch)
            reference = _outcome(frame, contract, earlier, known)
        assert screened[1] == reference[1]
        if isinstance(screened[0], str):
            assert reference[0] == screened[0] == "raised"
        else:
            assert screened[0].equals(reference[0])


def _police_row(**changes) -> dict:
    row = {
        "incident_id": "i1",
        "source": "s",
        "occurred_date": dt.date(2024, 3, 10),
        "occurred_time": "07:05",
        "territory_code": "05001-01",
        "latitude": 6.2,
        "longitude": -75.5,
        "category": "theft",
        "source_label": "HURTO",
        "modality": None,
        "victim_sex": "F",
        "victim_age_group": "25-34",
        "minor_involved": False,
        "domestic": False,
        "person_key": None,
        "count": 1,
        "reference_period": None,
        ROW_NUMBER: 2,
    }
    return {**row, **changes}


def _police(rows: list[dict]) -> pl.DataFrame:
    schema = {n: c.dtype.type for n, c in contracts.POLICE_INCIDENTS.columns.items()}
    return pl.DataFrame(rows, schema={**schema, ROW_NUMBER: pl.Int64})


def test_a_clean_frame_is_not_validated_row_by_row():
    frame = _police([_police_row(incident_id=f"i{n}", **{ROW_NUMBER: n}) for n in range(2, 50)])
    assert _picked(frame, contracts.POLICE_INCIDENTS, {}).height == 0
    assert check_rows(frame, contracts.POLICE_INCIDENTS).valid.equals(frame)


def test_the_screen_picks_each_broken_rule_and_both_rows_of_a_duplicate():
    frame = _police(
        [
            _police_row(),
            _police_row(incident_id="i2", occurred_time="7:05", **{ROW_NUMBER: 3}),
            _police_row(incident_id="i3", latitude=91.0, **{ROW_NUMBER: 4}),
            _police_row(incident_id="i4", category="arson", **{ROW_NUMBER: 5}),
            _police_row(incident_id="i5", count=0, **{ROW_NUMBER: 6}),
            _police_row(incident_id="i5", **{ROW_NUMBER: 7}),
            _police_row(incident_id="i6", latitude=float("nan"), **{ROW_NUMBER: 8}),
            _police_row(incident_id="i7", source=None, **{ROW_NUMBER: 9}),
            _police_row(incident_id="i8", occurred_time="24:00", **{ROW_NUMBER: 10}),
            _police_row(incident_id="i9", latitude=None, **{ROW_NUMBER: 11}),
        ]
    )
    # A NaN latitude is out of range for pandera (a null is allowed); 24:00 has the shape.
    broken = [3, 4, 5, 6, 7, 8, 9]
    picked = _picked(frame, contracts.POLICE_INCIDENTS, {})
    assert picked[ROW_NUMBER].to_list() == broken
    result = check_rows(frame, contracts.POLICE_INCIDENTS)
    assert sorted(result.reasons) == broken
    assert result.valid[ROW_NUMBER].to_list() == [2, 10, 11]


def test_pandera_validates_only_the_columns_with_a_broken_rule():
    frame = _police(
        [
            _police_row(),
            _police_row(incident_id="i2", category="arson", **{ROW_NUMBER: 3}),
            _police_row(incident_id="i2", **{ROW_NUMBER: 4}),
        ]
    )
    judged_by = contracts._rows_to_validate(frame, contracts.POLICE_INCIDENTS, {})[1]
    assert list(judged_by.columns) == ["incident_id", "category"]
    assert judged_by.checks == []
    # A cross-column rule reads any column: then the whole contract judges.
    broken = _police([_police_row(reference_period="2023", count=5)])
    whole = contracts._rows_to_validate(broken, contracts.POLICE_INCIDENTS, {})[1]
    assert whole is contracts.POLICE_INCIDENTS


def test_a_null_the_profile_already_explained_needs_no_validation():
    frame = _police(
        [_police_row(), _police_row(incident_id="i2", category=None, **{ROW_NUMBER: 3})]
    )
    earlier = {3: ["category: not in the profile's value map: 'ABIGEATO' (column 'DELITO')"]}
    assert _picked(frame, contracts.POLICE_INCIDENTS, earlier).height == 0
    result = check_rows(frame, contracts.POLICE_INCIDENTS, earlier_reasons=earlier)
    assert result.reasons == earlier
    # Explained under another column, the same null is news, and pandera reports it.
    other = {3: ["victim_sex: not in the profile's value map: 'X' (column 'SEXO')"]}
    assert _picked(frame, contracts.POLICE_INCIDENTS, other).height == 1
    result = check_rows(frame, contracts.POLICE_INCIDENTS, earlier_reasons=other)
    assert result.reasons[3][1].startswith("category: not_nullable")


def test_a_mistyped_column_still_fails_the_whole_batch():
    frame = _police([_police_row()]).with_columns(pl.col("count").cast(pl.Utf8))
    assert _picked(frame, contracts.POLICE_INCIDENTS, {}).height == 1
    with pytest.raises(pa.errors.SchemaError):
        check_rows(frame, contracts.POLICE_INCIDENTS)
