"""Mapping computes each distinct source value once and spreads the result over the rows:
the checked batches are the ones computing every row gives (valid rows, quarantine, reasons)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from connectors import profile_mapping
from connectors.feed_batches import checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from tests.conftest import CASES, SHARED_DATA, missing

POLICE = """DATOS SINTÉTICOS
ID_INCIDENTE,FECHA,HORA,COMUNA,DELITO,SEXO_VICTIMA,EDAD_VICTIMA,DOC_MENOR,VIF
P1,2023-03-10,07:05,10,HURTO A PERSONAS,MUJER,34,,NO
P2, 2023-03-10 ,7:05, 10 ,hurto a personas ,mujer,34 , D1 , si 
P3,2023-02-30,24:00,1O,ABIGEATO,OTRO,-3,D1,quizá
P4,,,,,,,,
P5,2023-03-10,07:05,10,HURTO A PERSONAS,MUJER,34,,NO
P6,10/03/2023,0705,5001,HOMICIDIO,HOMBRE,17.0,D2,SI
P7,2024-02-29,23:59,07,VIOLENCIA INTRAFAMILIAR,NO REPORTA,,D2,
P8,2023-03-10,07:05,10,HURTO A PERSONAS,MUJER,34,,NO
P9,2023-13-01,12:60,99,DELITOS SEXUALES,MUJER,999999999999999999999,D3,x
P10,2023-03-10,07:05,10,HURTO A PERSONAS,MUJER,34,,NO
"""

# Steps chained on one column (extract, then map, then parse) and a template. (Sentinels are
# in the bad-input corpus and the real feeds below.)
STEPS_PROFILE = """
id = "steps"
feed = "police_incidents"
title = "Steps"
publisher = "Convive tests"
synthetic = true

[read]
format = "csv"
delimiter = ","

[columns]
incident_id = { template = "{ZONE}-{N}" }
source_label = { from = "WHAT" }
category = { from = "WHAT", map = { "HURTO" = "theft", "HOMICIDIO" = "homicide" } }
victim_sex = { from = "SEX", map = { "F" = "F", "M" = "M" }, default = "U" }
victim_age_group = { from = "AGE", parse = "age_group" }
minor_involved = { from = "AGE", parse = "minor" }
domestic = { from = "VIF", parse = "boolean" }
count = { value = 1 }

[columns.occurred_date]
from = "WHEN"
extract = '(\\S+)$'
parse = "date"
formats = ["%Y-%m-%d", "%d/%m/%Y"]

[columns.territory_code]
from = "ZONE"
extract = '^Z(\\w+)'
map = { "1" = "1", "x" = "7", "NINE" = "99" }
parse = "code"
width = 2
prefix = "05001-"
"""
STEPS_ROWS = """ZONE,N,WHEN,WHAT,SEX,AGE,VIF
Z1,1,on 2023-03-10,HURTO,F,34,no
Z1,2,on 10/03/2023,HURTO,F,34,no
Q1,3,on 2023-03-10,HURTO,F,34,no
Z9,4,on 2023-03-10,HURTO,F,34,no
ZX,5,2023-03-10,HURTO, F ,-1,si
ZNINE,5b,on 2023-03-10,HURTO,F,-1,no
ZNINE,6,on 2023-02-30,ROBO,X,abc,tal vez
Z1,7,,HURTO,F,17,
Z1,8,on 2023-03-10,HURTO,F,34,no
Zx,9,on 2023-03-10, homicidio ,M,-1,SI
"""

REAL = [
    (
        "co-medellin-homicidios/homicidios_comuna_mes_2018_2023.csv",
        "co-medellin-homicidios-comuna-mes",
    ),
    ("co-medellin-homicidios/homicidios_medellin_2003_2023.csv", "co-medellin-homicidios"),
    ("es-mir-balance-criminalidad/2024_4_municipios.csv", "es-mir-balance-criminalidad"),
    ("es-mir-balance-criminalidad/ine_pobmunanual_2015_2024.csv", "es-ine-poblacion"),
    (
        "uk-dfe-absence-exclusions/absence_natcharacteristics_201617.csv",
        "uk-dfe-absence-characteristics",
    ),
    (
        "us-ct-chronic-absenteeism/chronic_absenteeism_by_grade_2012-2020.csv",
        "us-ct-chronic-absenteeism",
    ),
    ("us-nyc-dhs-shelter-by-area/DHS_shelter_2020_puma.csv", "us-nyc-dhs-shelter-puma"),
]


def _outcome(path: Path, profile_path: Path, *, batch_rows: int = 131_072) -> list:
    """Checked batches, mapped per distinct value however few the repeats."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(profile_mapping, "MIN_REPEATS", 0)
        return _checked(path, profile_path, batch_rows)


def _checked(path: Path, profile_path: Path, batch_rows: int) -> list:
    batches = checked_batches(
        path, load_profile(profile_path), secret=b"k" * 16, batch_rows=batch_rows
    )
    return [
        (batch.valid, [vars(q) for q in batch.quarantined], batch.rows_read, batch.rows_skipped)
        for batch in batches
    ]


def _every_row(monkeypatch) -> None:
    monkeypatch.setattr(profile_mapping, "_distinct", lambda raw: None)


def _assert_same(by_distinct: list, by_row: list) -> None:
    assert len(by_distinct) == len(by_row)
    for (valid, *rest), (expected, *expected_rest) in zip(by_distinct, by_row, strict=True):
        assert valid.equals(expected)
        assert rest == expected_rest


def test_tricky_police_rows_map_the_same_per_distinct_value(tmp_path, monkeypatch):
    path = tmp_path / "police.csv"
    path.write_text(POLICE, encoding="utf-8")
    profile = PROFILES_DIR / "synthetic-police-incidents.toml"
    by_distinct = _outcome(path, profile, batch_rows=4)
    with monkeypatch.context() as patch:
        _every_row(patch)
        by_row = _outcome(path, profile, batch_rows=4)
    _assert_same(by_distinct, by_row)
    quarantined = {q["source_row"] for _, rows, _, _ in by_distinct for q in rows}
    assert quarantined == {5, 6, 8, 11}  # P3, P4, P6, P9: the rule breakers are compared too


def test_chained_steps_map_the_same_per_distinct_value(tmp_path, monkeypatch):
    profile = tmp_path / "steps.toml"
    profile.write_text(STEPS_PROFILE, encoding="utf-8")
    path = tmp_path / "steps.csv"
    path.write_text(STEPS_ROWS, encoding="utf-8")
    by_distinct = _outcome(path, profile)
    with monkeypatch.context() as patch:
        _every_row(patch)
        by_row = _outcome(path, profile)
    _assert_same(by_distinct, by_row)
    reasons = {q["source_row"]: q["reasons"] for _, rows, _, _ in by_distinct for q in rows}
    # Q1: extract fails; Z9: extracted, not mapped; ROBO and 2023-02-30 and more; no date.
    assert sorted(reasons) == [4, 5, 8, 9]
    assert reasons[4] == ("territory_code: no match for extract '^Z(\\w+)': 'Q1' (column 'ZONE')",)
    assert reasons[5] == ("territory_code: not in the profile's value map: 'Z9' (column 'ZONE')",)


CORPUS = [
    case
    for case in tomllib.loads((CASES / "profiles" / "cases.toml").read_text(encoding="utf-8"))[
        "case"
    ]
    if case["kind"] not in ("profile", "source")
]


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c["name"])
def test_bad_input_corpus_maps_the_same_per_distinct_value(case, monkeypatch):
    folder = CASES / "profiles"
    by_distinct = _outcome(folder / case["input"], folder / case["profile"])
    with monkeypatch.context() as patch:
        _every_row(patch)
        by_row = _outcome(folder / case["input"], folder / case["profile"])
    _assert_same(by_distinct, by_row)


@pytest.mark.parametrize(("file", "profile"), REAL, ids=[p for _, p in REAL])
def test_real_feeds_map_the_same_per_distinct_value(file, profile, monkeypatch):
    path = SHARED_DATA / file
    if not path.exists():
        missing(f"shared data file {path} is missing")
    by_distinct = _outcome(path, PROFILES_DIR / f"{profile}.toml")
    with monkeypatch.context() as patch:
        _every_row(patch)
        by_row = _outcome(path, PROFILES_DIR / f"{profile}.toml")
    _assert_same(by_distinct, by_row)
