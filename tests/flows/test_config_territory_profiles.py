"""convive.toml can point at territory profiles: Spanish municipalities into a warehouse.

The INE municipal register (../shared/data/real/es-mir-balance-criminalidad) gives provinces,
municipalities and population through the shipped profiles; the expected figures are read
from the file with the csv module.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.feed_batches import checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from connectors.territory_files import read_territory_profiles
from flows.config import ConfigError, load_config, territory_profile_files
from tests.conftest import SHARED_DATA, missing
from warehouse.engine import open_warehouse
from warehouse.loads import replace_table
from warehouse.tables import territories, territory_population

FOLDER = SHARED_DATA / "es-mir-balance-criminalidad"
INE = FOLDER / "ine_pobmunanual_2015_2024.csv"

_CONFIG = """
[project]
name = "Convive Madrid"
publisher = "Ayuntamiento (prueba)"

[territories]
root_code = "28079"
root_name = "Madrid"
{territories}

[warehouse]
url = "duckdb:///warehouse.duckdb"

[[feeds]]
name = "balance-criminalidad"
profile = "es-mir-balance-criminalidad"
path = "{folder}/2024_4_municipios.csv"

[indicators]
first_period = "2024-01"
last_period = "2024-12"
"""

_PROFILES = f"""
[[territories.profiles]]
profile = "es-ine-provincias"
path = "{INE}"

[[territories.profiles]]
profile = "es-ine-municipios"
path = "{INE}"

[[territories.population_profiles]]
profile = "es-ine-poblacion"
path = "{INE}"
"""


def _write(folder: Path, territories_toml: str) -> Path:
    path = folder / "convive.toml"
    text = _CONFIG.format(territories=territories_toml, folder=FOLDER)
    path.write_text(text, encoding="utf-8")
    return path


def _ine_rows() -> list[dict[str, str]]:
    with open(INE, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def test_spanish_municipalities_load_into_the_warehouse_through_the_configuration(tmp_path):
    if not FOLDER.is_dir():
        missing(f"the real data folder {FOLDER} is not there")
    config = load_config(_write(tmp_path, _PROFILES))
    assert not config.territories.from_geojson
    places, people = territory_profile_files(config)
    assert [p.id for _, p in places] == ["es-ine-provincias", "es-ine-municipios"]
    tables = read_territory_profiles(places, people)
    engine = open_warehouse(config.warehouse_url)
    try:
        replace_table(engine, territories, tables.territories)
        replace_table(engine, territory_population, tables.population)
        with engine.connect() as conn:
            stored = conn.execute(select(territories)).mappings().all()
            population = conn.execute(
                select(territory_population.c.year, territory_population.c.population).where(
                    territory_population.c.code == "28079"
                )
            ).all()
    finally:
        engine.dispose()
    source = _ine_rows()
    municipalities = [t for t in stored if t["level"] == "municipality"]
    assert len(municipalities) == len({r["cod_mun"] for r in source})
    madrid = next(t for t in municipalities if t["code"] == "28079")
    assert madrid["parent_code"] == "28"
    assert dict(population) == {
        int(r["AÑO"]): int(r["POB"]) for r in source if r["cod_mun"] == "28079"
    }
    # The configured feed then finds every municipality it names among those territories.
    known = frozenset(t["code"] for t in stored)
    feed = load_profile(PROFILES_DIR / "es-mir-balance-criminalidad.toml")
    [batch] = checked_batches(
        config.path(config.feeds[0].path), feed, secret=b"", known_territories=known
    )
    assert not [q for q in batch.quarantined if "unknown territory" in " ".join(q.reasons)]


@pytest.mark.parametrize(
    ("territories_toml", "key", "problem"),
    [
        (
            '[[territories.profiles]]\nprofile = "es-mir-balance-criminalidad"\npath = "x.csv"',
            "territories.profiles.0.profile",
            "loads police_incidents, not territories",
        ),
        (
            '[[territories.profiles]]\nprofile = "es-ine-municipios"\npath = "x.csv"\n'
            '[[territories.population_profiles]]\nprofile = "es-ine-municipios"\npath = "x.csv"',
            "territories.population_profiles.0.profile",
            "loads territories, not territory_population",
        ),
        (
            '[[territories.profiles]]\nprofile = "no-such-profile"\npath = "x.csv"',
            "territories.profiles.0.profile",
            "no source profile named 'no-such-profile'",
        ),
    ],
)
def test_a_wrong_territory_profile_names_its_key(tmp_path, territories_toml, key, problem):
    path = _write(tmp_path, territories_toml)
    config = load_config(path)
    with pytest.raises(ConfigError) as caught:
        territory_profile_files(config)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: ") and message.endswith(problem)


@pytest.mark.parametrize(
    ("territories_toml", "problem"),
    [
        ("", "give GeoJSON territories (boundaries, ...) or `profiles`"),
        ('boundaries = "b.geojson"', "GeoJSON territories also need: code_property"),
    ],
)
def test_territories_need_one_complete_source(tmp_path, territories_toml, problem):
    path = _write(tmp_path, territories_toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}: territories: " in str(caught.value)
    assert problem in str(caught.value)
