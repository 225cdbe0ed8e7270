"""NYC DHS shelter census (31 March 2018 and 2020) as pre-aggregated social-services rows.

Source: NYC Department of Homeless Services via NYCPlanning/db-equitable-development-tool
(MIT; NYC Open Data ur7y-ziyb), see ../shared/data/real/SOURCES.md. Expected figures come
from the files through the csv module.
"""

from __future__ import annotations

import csv
from collections import Counter

import polars as pl
import pytest

from connectors.feed_batches import checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from tests.conftest import SHARED_DATA, missing

FOLDER = SHARED_DATA / "us-nyc-dhs-shelter-by-area"
YEARS = (2018, 2020)
# PUMA code prefixes by borough county GEOID (Bronx 037xx, Manhattan 038xx, ...).
BOROUGH_OF_PUMA = {"037": "36005", "038": "36061", "039": "36085", "040": "36047", "041": "36081"}


@pytest.fixture(autouse=True)
def _real_data() -> None:
    if not FOLDER.is_dir():
        missing(f"the real data folder {FOLDER} is not there")


def _source(year: int, level: str) -> dict[str, float]:
    with open(FOLDER / f"DHS_shelter_{year}_{level}.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [level, f"DHS_shelter_{year}"]
    return {key: float(value) for key, value in rows[1:]}


def _loaded(year: int, level: str) -> pl.DataFrame:
    profile = load_profile(PROFILES_DIR / f"us-nyc-dhs-shelter-{level}.toml")
    [batch] = checked_batches(FOLDER / f"DHS_shelter_{year}_{level}.csv", profile, secret=b"")
    assert batch.quarantined == []
    return pl.from_arrow(batch.valid)


@pytest.mark.parametrize("year", YEARS)
@pytest.mark.parametrize("level", ["puma", "borough", "citywide"])
def test_each_file_loads_whole_as_counts_on_the_census_day(year: int, level: str):
    source = _source(year, level)
    loaded = _loaded(year, level)
    assert loaded.height == len(source)
    assert loaded["count"].sum() == sum(source.values())
    assert set(loaded["opened_date"].cast(pl.Utf8)) == {f"{year}-03-31"}
    assert (loaded["closed_date"] == loaded["opened_date"]).all()
    assert loaded["person_key"].null_count() == loaded.height
    assert set(loaded["intervention_type"]) == {"shelter"}


@pytest.mark.parametrize("year", YEARS)
def test_levels_reconcile(year: int):
    """Boroughs add up to the city; each borough's PUMAs stay within the borough (the PUMA
    file does not place every person: about four in five)."""
    citywide = _loaded(year, "citywide")["count"].item()
    boroughs = dict(_loaded(year, "borough").select("territory_code", "count").iter_rows())
    assert sum(boroughs.values()) == citywide == _source(year, "citywide")["citywide"]
    pumas = Counter()
    for code, count in _loaded(year, "puma").select("territory_code", "count").iter_rows():
        assert code.startswith("36") and len(code) == 7  # state FIPS + 5-digit PUMA
        pumas[BOROUGH_OF_PUMA[code[2:5]]] += count
    assert set(pumas) == set(boroughs)
    assert all(pumas[b] <= boroughs[b] for b in boroughs)
    assert sum(pumas.values()) == sum(_source(year, "puma").values())
