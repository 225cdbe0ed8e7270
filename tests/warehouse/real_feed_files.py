"""The real files whose profiles map onto a feed, checked once and loaded into a warehouse.

Connector work (reading, mapping, checking) is cached per file, so each backend only pays
for the loads. Loading goes through `BatchLoader`, as `convive run` does.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import Engine

from connectors.feed_batches import CheckedBatch, checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from tests.conftest import SHARED_DATA
from warehouse.loads import BatchLoader, LoadResult

ES_MIR = SHARED_DATA / "es-mir-balance-criminalidad"
MEDELLIN = SHARED_DATA / "co-medellin-homicidios"
CO_MUNICIPAL = SHARED_DATA / "co-municipal-delitos-poblacion-2018-2024"
CT = SHARED_DATA / "us-ct-chronic-absenteeism"
UK_DFE = SHARED_DATA / "uk-dfe-absence-exclusions" / "absence_natcharacteristics_201617.csv"
NYC = SHARED_DATA / "us-nyc-dhs-shelter-by-area"
ES_YEARS = (2019, 2021, 2023, 2024)
NYC_YEARS = (2018, 2020)

# (profile id, file) for every real feed file; NYC loads two levels (distinct sources).
REAL_FEED_FILES: tuple[tuple[str, Path], ...] = (
    *(("es-mir-balance-criminalidad", ES_MIR / f"{y}_4_municipios.csv") for y in ES_YEARS),
    ("co-medellin-homicidios", MEDELLIN / "homicidios_medellin_2003_2023.csv"),
    ("co-medellin-homicidios-comuna-mes", MEDELLIN / "homicidios_comuna_mes_2018_2023.csv"),
    ("co-delitos-municipales", CO_MUNICIPAL / "tabla_maestra_h3.parquet"),
    ("us-ct-chronic-absenteeism", CT / "chronic_absenteeism_by_grade_2012-2020.csv"),
    ("us-ct-chronic-absenteeism-edsight", CT / "raw_chronic-absenteeism__2019-20_grade.csv"),
    ("uk-dfe-absence-characteristics", UK_DFE),
    *(
        (f"us-nyc-dhs-shelter-{level}", NYC / f"DHS_shelter_{y}_{level}.csv")
        for y in NYC_YEARS
        for level in ("borough", "citywide")
    ),
)


@functools.cache
def checked(profile_id: str, path: Path) -> tuple[CheckedBatch, ...]:
    """The file's checked batches (no territory check: these tests are about the tables)."""
    profile = load_profile(PROFILES_DIR / f"{profile_id}.toml")
    return tuple(checked_batches(path, profile, secret=b"k" * 16))


def load_file(engine: Engine, profile_id: str, path: Path) -> LoadResult:
    """Load one file into the warehouse through BatchLoader, as the ingest step does."""
    profile = load_profile(PROFILES_DIR / f"{profile_id}.toml")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with BatchLoader(
        engine, feed=profile.feed, source=profile.id, file_name=path.name, content_hash=digest
    ) as loader:
        for batch in checked(profile_id, path):
            loader.add(batch.valid, [asdict(q) for q in batch.quarantined], batch.rows_read)
    return loader.result


def csv_rows(path: Path, delimiter: str = ",", skip: int = 0) -> list[dict[str, str]]:
    """The file's rows as dictionaries (after `skip` title lines), with the csv module."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for _ in range(skip):
            next(handle)
        return list(csv.DictReader(handle, delimiter=delimiter))


def spanish_integer(text: str) -> int:
    """'200.749' -> 200749 (the Ministry writes thousands with dots)."""
    return int(text.replace(".", ""))
