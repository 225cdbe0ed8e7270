"""Real numbers for the indicator tests: the synthetic generator through the real connectors.

The three synthetic feeds are written as CSV by connectors.synthetic_feeds, read and checked
by their shipped profiles (pseudonymised keys and all), then cut into half-year batches that
the tests load in any order. Territories form a three-level tree: a region, the
municipality and its districts (the generator's comunas).
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from connectors.feed_batches import checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from connectors.synthetic_feeds import SyntheticSpec, write_synthetic_feeds
from warehouse.loads import BatchLoader, LoadResult, replace_table
from warehouse.tables import territories, territory_population

REGION, MUNICIPALITY = "05", "05001"
COMUNAS = {"01": 9_000, "02": 14_000, "03": 30_000, "04": 52_000}
DISTRICTS = [f"{MUNICIPALITY}-{c}" for c in COMUNAS]
YEARS = (2022, 2023)
WINDOW = [f"{y}-{m:02d}" for y in YEARS for m in range(1, 13)]
SPEC = SyntheticSpec(
    territories=COMUNAS,
    first_year=YEARS[0],
    last_year=YEARS[-1],
    police_rows=6_000,
    students=400,
    social_cases=1_500,
    bad_rows=2,
    seed=20_241_107,
)
PROFILES = {
    "police_incidents": "synthetic-police-incidents.toml",
    "social_cases": "synthetic-social-cases.toml",
    "school_absence": "synthetic-school-absence.toml",
}
SECRET = b"test-secret-for-synthetic-feeds"


@dataclass(frozen=True)
class Batch:
    """One file's worth of canonical rows: a feed, its source and a half year of periods."""

    feed: str
    source: str
    first_period: str
    rows: pa.Table
    content_hash: str


@functools.cache
def feed_tables() -> dict[str, pa.Table]:
    """The valid canonical rows of each synthetic feed (computed once per test session)."""
    with tempfile.TemporaryDirectory() as folder:
        paths = write_synthetic_feeds(SPEC, Path(folder))
        known = frozenset(DISTRICTS)
        tables = {}
        for feed, profile_file in PROFILES.items():
            profile = load_profile(PROFILES_DIR / profile_file)
            batches = checked_batches(paths[feed], profile, secret=SECRET, known_territories=known)
            tables[feed] = _plain_strings(pa.concat_tables([b.valid for b in batches]))
    return tables


def _plain_strings(table: pa.Table) -> pa.Table:
    """Checked rows hold polars' string views; pyarrow's filter and take want plain strings."""
    schema = pa.schema(
        f.with_type(pa.string()) if f.type == pa.string_view() else f for f in table.schema
    )
    return table.cast(schema)


def period_of(feed: str, rows: pa.Table) -> pa.Array:
    """Each row's period (YYYY-MM), as the loader assigns it."""
    if feed == "school_absence":
        return rows["period"]
    column = "occurred_date" if feed == "police_incidents" else "opened_date"
    return pc.utf8_slice_codeunits(pc.cast(rows[column], pa.string()), 0, 7)


def half_year_batches() -> list[Batch]:
    """Every feed cut into half years: disjoint periods, so load order cannot matter."""
    batches = []
    for feed, table in feed_tables().items():
        periods = period_of(feed, table)
        for year in YEARS:
            for first, last in (("01", "06"), ("07", "12")):
                inside = pc.and_(
                    pc.greater_equal(periods, f"{year}-{first}"),
                    pc.less_equal(periods, f"{year}-{last}"),
                )
                rows = table.filter(inside)
                digest = hashlib.sha256(f"{feed}{year}{first}{rows.num_rows}".encode()).hexdigest()
                batches.append(Batch(feed, f"synthetic-{feed}", f"{year}-{first}", rows, digest))
    return batches


def load_batch(engine: Engine, batch: Batch) -> LoadResult:
    """Load one batch through the warehouse's loader (a repeat is recognised and skipped)."""
    with BatchLoader(
        engine,
        feed=batch.feed,
        source=batch.source,
        file_name=f"{batch.feed}.csv",
        content_hash=batch.content_hash,
    ) as loader:
        loader.add(batch.rows, [], batch.rows.num_rows)
    return loader.result


def load_territories(engine: Engine) -> None:
    """Region -> municipality -> districts, with a population for every territory and year."""
    codes = [REGION, MUNICIPALITY, *DISTRICTS]
    replace_table(
        engine,
        territories,
        pa.table(
            {
                "code": codes,
                "name": ["Región", "Municipio", *(f"Comuna {c}" for c in COMUNAS)],
                "level": ["region", "municipality", *(["district"] * len(DISTRICTS))],
                "parent_code": [None, REGION, *([MUNICIPALITY] * len(DISTRICTS))],
                "geometry": pa.array([None] * len(codes), pa.string()),
            }
        ),
    )
    rows = {"code": [], "year": [], "population": []}
    for year in YEARS:
        # Populations grow by 1 % a year, so a year mix-up shows in the rates.
        district_pops = [round(p * (1.01 ** (year - YEARS[0]))) for p in COMUNAS.values()]
        total = sum(district_pops)
        for code, population in zip(codes, [total * 3, total, *district_pops], strict=True):
            rows["code"].append(code)
            rows["year"].append(year)
            rows["population"].append(population)
    replace_table(engine, territory_population, pa.table(rows))


def district_population(code: str, year: int) -> int:
    """The population load_territories gives a district in a year."""
    return round(COMUNAS[code[-2:]] * (1.01 ** (year - YEARS[0])))
