"""Spanish Ministry of Interior crime balance (2019, 2021, 2023, 2024) through its profile.

Expected figures are read from the files with the csv module, independently of the profile
code. Source: Ministerio del Interior, Balance de Criminalidad (reutilización libre con
atribución), via sergiovelayos/badalona_criminalidad (see ../shared/data/real/SOURCES.md).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from functools import cache

import polars as pl
import pytest

from connectors.feed_batches import CheckedBatch, QuarantinedRow, checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from connectors.territory_files import read_territory_profiles
from tests.conftest import SHARED_DATA, missing

FOLDER = SHARED_DATA / "es-mir-balance-criminalidad"
YEARS = (2019, 2021, 2023, 2024)
MUNICIPALITY = re.compile(r"^(-\s*)?Municip?i?o de |^\d{5} ")
TOTAL = re.compile(r"^(III\. )?TOTAL INFRACCIONES PENALES$")


@pytest.fixture(autouse=True)
def _real_data() -> None:
    if not FOLDER.is_dir():
        missing(f"the real data folder {FOLDER} is not there")


def _number(text: str) -> int:
    """Spanish format: '.' thousands, no decimals for counts."""
    return int(text.replace(".", ""))


@cache
def _source_rows(year: int) -> list[dict[str, str]]:
    with open(FOLDER / f"{year}_4_municipios.csv", encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def _current(year: int) -> list[dict[str, str]]:
    """Rows of municipalities for the file's own year (not the restated previous year)."""
    return [
        r
        for r in _source_rows(year)
        if MUNICIPALITY.search(r["Geografía"]) and r["Periodos:"].endswith(str(year))
    ]


@cache
def _loaded(year: int) -> CheckedBatch:
    profile = load_profile(PROFILES_DIR / "es-mir-balance-criminalidad.toml")
    [batch] = checked_batches(FOLDER / f"{year}_4_municipios.csv", profile, secret=b"k" * 16)
    return batch


def _valid(year: int) -> pl.DataFrame:
    return pl.from_arrow(_loaded(year).valid)


def test_madrid_2024_conventional_criminality_is_200749():
    rows = _current(2024)
    [source] = [
        r
        for r in rows
        if r["Geografía"] == "28079 Madrid"
        and r["Tipología penal"] == "I. CRIMINALIDAD CONVENCIONAL"
    ]
    assert _number(source["Total"]) == 200_749  # the figure quoted in the issue
    madrid = _valid(2024).filter(pl.col("territory_code") == "28079")
    conventional = madrid.filter(~pl.col("category").is_in(["cyber_fraud", "cybercrime"]))
    assert conventional["count"].sum() == 200_749
    assert set(madrid["reference_period"]) == {"2024"}
    assert set(madrid["occurred_date"].cast(pl.Utf8)) == {"2024-01-01"}


@pytest.mark.parametrize("year", YEARS)
def test_every_municipality_total_reconciles_with_the_file(year: int):
    rows = _current(year)
    totals = Counter(
        {r["Geografía"]: _number(r["Total"]) for r in rows if TOTAL.match(r["Tipología penal"])}
    )
    quarantined = sum(_number(_raw(q)["Total"]) for q in _loaded(year).quarantined)
    loaded = _valid(year).group_by("territory_code").agg(pl.col("count").sum())
    # One territory per municipality label, and the same multiset of totals.
    assert loaded.height == len(totals)
    assert loaded["count"].sum() + quarantined == sum(totals.values())
    if not _loaded(year).quarantined:
        assert Counter(loaded["count"].to_list()) == Counter(totals.values())


def test_the_negative_count_in_2023_is_quarantined_with_its_line_and_rule():
    rows = _source_rows(2023)
    negative = [
        (number, r)
        for number, r in enumerate(rows, start=2)  # line 1 is the header
        if r["Periodos:"].endswith("2023")
        and MUNICIPALITY.search(r["Geografía"])
        and r["Total"].startswith("-")
        and not r["Periodos:"].startswith("Vari")
    ]
    assert len(negative) == 1  # Sant Cugat del Vallès, attempted homicides: -1
    [(line, row)] = negative
    [bad] = _loaded(2023).quarantined
    assert bad.source_row == line
    assert _raw(bad)["Geografía"] == row["Geografía"]
    assert bad.reasons == (f"count: greater_than_or_equal_to(0) (got '{row['Total']}')",)


@pytest.mark.parametrize("year", YEARS)
def test_typology_labels_of_every_year_map_onto_categories(year: int):
    """Items are numbered and named differently across years ("1.-Homicidios", "1. Homicidios";
    item 5 renamed in 2023) but load as the same category."""
    rows = _current(year)

    def source_sum(number: int) -> int:
        label = re.compile(rf"^{number}\.-?\s*[^\d\s]")  # not a sub-item such as 5.1
        return sum(_number(r["Total"]) for r in rows if label.match(r["Tipología penal"]))

    loaded = dict(_valid(year).group_by("category").agg(pl.col("count").sum()).iter_rows())
    assert loaded["homicide"] == source_sum(1)
    assert loaded["theft"] == source_sum(8)
    assert loaded["drug_offence"] == source_sum(10)
    assert loaded["sexual_offence"] == source_sum(5)  # renamed in 2023
    assert ("cyber_fraud" in loaded) == (year >= 2023)


@pytest.mark.parametrize("year", YEARS)
def test_rows_left_out_are_counted_by_rule(year: int):
    rows = _source_rows(year)
    skipped = _loaded(year).rows_skipped
    changes = sum(r["Periodos:"].startswith("Variaci") for r in rows)
    assert skipped["percentage change between the two years (not a count)"] == changes
    loaded_or_rejected = _loaded(year).valid.num_rows + len(_loaded(year).quarantined)
    restated = "year_to_date.years = latest: earlier years (restated for comparison)"
    assert skipped[restated] == loaded_or_rejected  # one restated row per current row
    assert sum(skipped.values()) + loaded_or_rejected == len(rows)  # nothing lost silently


def test_ine_population_and_municipalities_cover_every_loaded_municipality():
    path = FOLDER / "ine_pobmunanual_2015_2024.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        source = list(csv.DictReader(handle, delimiter=";"))
    tables = read_territory_profiles(
        [
            (path, load_profile(PROFILES_DIR / "es-ine-provincias.toml")),
            (path, load_profile(PROFILES_DIR / "es-ine-municipios.toml")),
        ],
        [(path, load_profile(PROFILES_DIR / "es-ine-poblacion.toml"))],
    )
    places = pl.from_arrow(tables.territories)
    people = pl.from_arrow(tables.population)
    assert not any(tables.quarantined.values())
    assert people.height == len(source)
    madrid = {int(r["AÑO"]): int(r["POB"]) for r in source if r["cod_mun"] == "28079"}
    got = dict(people.filter(pl.col("code") == "28079").select("year", "population").iter_rows())
    assert got == madrid
    municipalities = places.filter(pl.col("level") == "municipality")
    assert municipalities.height == len({r["cod_mun"] for r in source})
    assert set(municipalities["parent_code"]) == set(
        places.filter(pl.col("level") == "province")["code"]
    )
    latest = {r["cod_mun"]: r["NOMBRE"] for r in source if r["AÑO"] == "2024"}
    assert municipalities.filter(pl.col("code") == "03009")["name"].item() == latest["03009"]
    known = frozenset(places["code"].to_list())
    profile = load_profile(PROFILES_DIR / "es-mir-balance-criminalidad.toml")
    for year in YEARS:
        [batch] = checked_batches(
            FOLDER / f"{year}_4_municipios.csv", profile, secret=b"k", known_territories=known
        )
        assert not [q for q in batch.quarantined if "unknown territory" in " ".join(q.reasons)]


def _raw(row: QuarantinedRow) -> dict[str, str]:
    return json.loads(row.raw)
