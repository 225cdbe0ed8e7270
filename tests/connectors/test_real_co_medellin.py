"""Medellín homicides: the monthly per-comuna file (pre-aggregated) against the record file.

Source: SISC / MEData, Alcaldía de Medellín, via jprm610/CrimenesMedellin (MIT); see
../shared/data/real/SOURCES.md. Expected figures come from the files via the csv module.
"""

from __future__ import annotations

import csv
from collections import Counter

import polars as pl
import pytest

from connectors.feed_batches import checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from tests.conftest import SHARED_DATA, missing

FOLDER = SHARED_DATA / "co-medellin-homicidios"
MONTHLY = FOLDER / "homicidios_comuna_mes_2018_2023.csv"
RECORDS = FOLDER / "homicidios_medellin_2003_2023.csv"
COMUNAS = frozenset(f"05001-{c:02d}" for c in [*range(1, 17), 50, 60, 70, 80, 90])


@pytest.fixture(autouse=True)
def _real_data() -> None:
    if not FOLDER.is_dir():
        missing(f"the real data folder {FOLDER} is not there")


def _csv(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _monthly() -> pl.DataFrame:
    profile = load_profile(PROFILES_DIR / "co-medellin-homicidios-comuna-mes.toml")
    batches = list(checked_batches(MONTHLY, profile, secret=b"k", known_territories=COMUNAS))
    assert not any(b.quarantined for b in batches)
    return pl.concat([pl.from_arrow(b.valid) for b in batches])


def test_every_comuna_month_loads_with_its_count():
    source = _csv(MONTHLY)
    loaded = _monthly()
    assert loaded.height == len(source)
    expected = {
        (f"05001-{int(r['CODIGO']):02d}", f"{r['AÑO']}-{int(r['MES']):02d}"): int(
            r["TOTAL_HOMICIDIOS"]
        )
        for r in source
    }
    got = {
        (code, period): n
        for code, period, n in loaded.select(
            "territory_code", "reference_period", "count"
        ).iter_rows()
    }
    assert got == expected
    first_days = loaded["occurred_date"].cast(pl.Utf8).str.slice(0, 7)
    assert (first_days == loaded["reference_period"]).all()
    assert (loaded["occurred_date"].dt.day() == 1).all()
    assert loaded["incident_id"].n_unique() == loaded.height


def test_city_totals_per_month_equal_the_record_file_in_2018_and_2019():
    """The derived file was built from an earlier extract: its 2018-2019 months match the
    records exactly; from 2020 the records were revised (a handful more each year), so only
    the derived file's own totals are checked there (previous test)."""
    records = Counter(
        r["FECHA_HECHO"][:7] for r in _csv(RECORDS) if r["FECHA_HECHO"][:4] in ("2018", "2019")
    )
    loaded = _monthly().filter(pl.col("reference_period").str.slice(0, 4).is_in(["2018", "2019"]))
    per_month = dict(loaded.group_by("reference_period").agg(pl.col("count").sum()).iter_rows())
    assert len(per_month) == 24
    assert per_month == dict(records)
