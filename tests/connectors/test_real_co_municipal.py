"""Colombian municipal crime table, DIVIPOLA and DANE population through their profiles.

Sources: Policía Nacional / DANE via ustadistica/Datos-abiertos-Seguridad-y-Convivencia and
datos.gov.co gdxc-w37w (see ../shared/data/real/SOURCES.md). Expected figures come from the
files through pyarrow and the csv module.
"""

from __future__ import annotations

import csv
from functools import cache

import polars as pl
import pyarrow.parquet as pq
import pytest

from connectors.feed_batches import checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from connectors.territory_files import TerritoryTables, read_territory_profiles
from tests.conftest import SHARED_DATA, missing

FOLDER = SHARED_DATA / "co-municipal-delitos-poblacion-2018-2024"
DIVIPOLA = FOLDER / "divipola_gdxc-w37w.csv"
POPULATION = FOLDER / "poblacion_dane.parquet"
CRIMES = ["homicidio_intencional", "lesiones_personales", "delitos_sexuales"]
CRIMES += ["violencia_intrafamiliar", "hurto_a_personas", "hurto_a_residencias"]
CRIMES += ["hurto_a_comercio", "hurto_automotores", "hurto_motocicletas"]


@pytest.fixture(autouse=True)
def _real_data() -> None:
    if not FOLDER.is_dir():
        missing(f"the real data folder {FOLDER} is not there")


@cache
def _territories() -> TerritoryTables:
    return read_territory_profiles(
        [
            (DIVIPOLA, load_profile(PROFILES_DIR / "co-divipola-departamentos.toml")),
            (DIVIPOLA, load_profile(PROFILES_DIR / "co-divipola-municipios.toml")),
        ],
        [
            (
                FOLDER / "poblacion_dane.parquet",
                load_profile(PROFILES_DIR / "co-dane-poblacion.toml"),
            )
        ],
    )


def _divipola() -> list[dict[str, str]]:
    with open(DIVIPOLA, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_divipola_gives_every_municipality_under_its_department():
    source = _divipola()
    places = pl.from_arrow(_territories().territories)
    municipalities = places.filter(pl.col("level") == "municipality")
    departments = places.filter(pl.col("level") == "region")
    assert municipalities.height == len({r["cod_mpio"] for r in source}) == len(source)
    assert departments.height == len({r["cod_dpto"] for r in source})
    assert set(municipalities["parent_code"]) == set(departments["code"])
    medellin = municipalities.filter(pl.col("code") == "05001").row(0, named=True)
    assert medellin["name"] == "MEDELLÍN" and medellin["parent_code"] == "05"


def test_population_of_a_code_outside_divipola_is_quarantined_not_lost():
    source = pq.read_table(POPULATION).to_pylist()
    known = {r["cod_mpio"] for r in _divipola()}
    outside = [r for r in source if r["COD_MPIO"] not in known]
    assert {r["COD_MPIO"] for r in outside} == {"94663"}  # Mapiripana, not in this extract
    tables = _territories()
    people = pl.from_arrow(tables.population)
    rejected = tables.quarantined["co-dane-poblacion"]
    assert people.height + len(rejected) == len(source)
    assert len(rejected) == len(outside)
    assert {q.reasons for q in rejected} == {("code: unknown territory '94663'",)}
    medellin = {r["ANIO"]: int(r["pob_total"]) for r in source if r["COD_MPIO"] == "05001"}
    got = dict(people.filter(pl.col("code") == "05001").select("year", "population").iter_rows())
    assert got == medellin


def test_crime_counts_per_municipality_and_year_add_up_to_the_total_load():
    """The nine loaded crimes sum to n_carga_total for every municipality and year."""
    source = pq.read_table(FOLDER / "tabla_maestra_h3.parquet").to_pylist()
    known = frozenset(pl.from_arrow(_territories().territories)["code"].to_list())
    profile = load_profile(PROFILES_DIR / "co-delitos-municipales.toml")
    batches = list(
        checked_batches(
            FOLDER / "tabla_maestra_h3.parquet", profile, secret=b"k", known_territories=known
        )
    )
    loaded = pl.concat([pl.from_arrow(b.valid) for b in batches])
    quarantined = [q for b in batches for q in b.quarantined]
    assert sum(b.rows_read for b in batches) == len(source)
    outside = [r for r in source if r["cod_mpio"] not in known]
    assert len(quarantined) == len(outside) * len(CRIMES)  # one per crime column of the row
    assert {q.reasons for q in quarantined} == {("territory_code: unknown territory '94663'",)}
    assert loaded.height == (len(source) - len(outside)) * len(CRIMES)
    expected = {
        (r["cod_mpio"], str(r["anio"])): r["n_carga_total"] for r in source if r not in outside
    }
    totals = loaded.group_by("territory_code", "reference_period").agg(pl.col("count").sum())
    assert {(c, p): n for c, p, n in totals.iter_rows()} == expected
    medellin_2018 = loaded.filter(
        (pl.col("territory_code") == "05001") & (pl.col("reference_period") == "2018")
    )
    [row] = [r for r in source if r["cod_mpio"] == "05001" and r["anio"] == 2018]
    by_category = dict(medellin_2018.group_by("category").agg(pl.col("count").sum()).iter_rows())
    assert by_category["theft_vehicle"] == row["n_hurto_automotores"] + row["n_hurto_motocicletas"]
    assert by_category["domestic_violence"] == row["n_violencia_intrafamiliar"]
    domestic = medellin_2018.filter(pl.col("domestic"))
    assert domestic["category"].to_list() == ["domestic_violence"]
