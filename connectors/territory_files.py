"""Territories and their population by year, from GeoJSON files or through source profiles.

GeoJSON (`read_territories`): boundaries with names, and population; the root territory (e.g.
the municipality) gets its population as the sum of its children.

Profiles (`read_territory_profiles`): any file a profile with feed `territories` or
`territory_population` can read (the INE population file, DIVIPOLA, DANE projections). Rows
that break the contract, and population rows for codes no territory file lists, are returned
as quarantined rows, never dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from connectors.errors import SourceError
from connectors.feed_batches import QuarantinedRow, checked_batches
from connectors.source_profiles import SourceProfile
from schemas.contracts import REFERENCE_CONTRACTS


@dataclass(frozen=True)
class TerritoryFiles:
    """Where a territory set comes from and which GeoJSON properties hold what."""

    root_code: str
    root_name: str
    root_level: str
    level: str
    boundaries: Path
    code_property: str
    name_property: str
    population: Path
    population_code_property: str
    population_year_property: str
    population_value_property: str
    code_width: int = 2
    code_prefix: str = ""


@dataclass
class TerritoryTables:
    """Canonical territory rows and population rows, as Arrow tables."""

    territories: pa.Table
    population: pa.Table
    # Rows left out, per profile id (profile-based reading only).
    quarantined: dict[str, list[QuarantinedRow]] = field(default_factory=dict)
    rows_skipped: dict[str, dict[str, int]] = field(default_factory=dict)


ProfiledFile = tuple[str | Path, SourceProfile]


def read_territory_profiles(
    territories: Sequence[ProfiledFile], population: Sequence[ProfiledFile] = ()
) -> TerritoryTables:
    """Territories from each (file, profile) with feed `territories`, then population.

    A code listed by two territory files raises SourceError (the tables would disagree on
    its name and parent); population rows for codes no territory file lists are quarantined.
    """
    quarantined: dict[str, list[QuarantinedRow]] = {}
    skipped: dict[str, dict[str, int]] = {}
    frames = [
        _profiled(path, profile, "territories", quarantined, skipped)
        for path, profile in territories
    ]
    places = pl.concat(frames) if frames else _empty("territories")
    repeated = places.filter(pl.col("code").is_duplicated())["code"].unique().sort().to_list()
    if repeated:
        files = ", ".join(str(path) for path, _ in territories)
        raise SourceError(
            files, None, "territory-code", f"codes listed by more than one file: {repeated[:10]}"
        )
    known = frozenset(places["code"].to_list())
    counts = [
        _profiled(path, profile, "territory_population", quarantined, skipped, known)
        for path, profile in population
    ]
    people = pl.concat(counts) if counts else _empty("territory_population")
    return TerritoryTables(
        territories=places.to_arrow(),
        population=people.to_arrow(),
        quarantined=quarantined,
        rows_skipped=skipped,
    )


def _profiled(
    path: str | Path,
    profile: SourceProfile,
    feed: str,
    quarantined: dict[str, list[QuarantinedRow]],
    skipped: dict[str, dict[str, int]],
    known: frozenset[str] | None = None,
) -> pl.DataFrame:
    """The valid rows of one file; its quarantine and skip counts go under the profile id."""
    if profile.feed != feed:
        message = f"profile {profile.id!r} loads {profile.feed}, not {feed}"
        raise SourceError(str(path), None, "profile-feed", message)
    valid: list[pl.DataFrame] = []
    rejected: list[QuarantinedRow] = []
    left_out: dict[str, int] = {}
    # Reference tables hold no person identifiers: the pseudonym key is never used.
    for batch in checked_batches(path, profile, secret=b"", known_territories=known):
        valid.append(pl.from_arrow(batch.valid))
        rejected += batch.quarantined
        for name, count in batch.rows_skipped.items():
            left_out[name] = left_out.get(name, 0) + count
    quarantined[profile.id] = rejected
    skipped[profile.id] = left_out
    return pl.concat(valid) if valid else _empty(feed)


def _empty(feed: str) -> pl.DataFrame:
    columns = REFERENCE_CONTRACTS[feed].columns
    return pl.DataFrame(schema={name: column.dtype.type for name, column in columns.items()})


def read_territories(spec: TerritoryFiles) -> TerritoryTables:
    """Read boundaries and population; every child code must have a population."""
    boundaries = _features(spec.boundaries)
    codes, names, geometries = [], [], []
    for number, feature in enumerate(boundaries, start=1):
        props = feature.get("properties") or {}
        codes.append(_code(props.get(spec.code_property), spec, spec.boundaries, number))
        names.append(str(props.get(spec.name_property, "")).strip().title())
        geometry = feature.get("geometry")
        geometries.append(json.dumps(geometry, separators=(",", ":")) if geometry else None)
    territories = pa.table(
        {
            "code": [spec.root_code, *codes],
            "name": [spec.root_name, *names],
            "level": [spec.root_level, *[spec.level] * len(codes)],
            "parent_code": pa.array([None, *[spec.root_code] * len(codes)], pa.string()),
            "geometry": pa.array([None, *geometries], pa.string()),
        }
    )
    population: dict[tuple[str, int], int] = {}
    for number, feature in enumerate(_features(spec.population), start=1):
        props = feature.get("properties") or {}
        code = _code(props.get(spec.population_code_property), spec, spec.population, number)
        year = int(float(props[spec.population_year_property]))
        population[(code, year)] = int(float(props[spec.population_value_property]))
    missing = sorted(set(codes) - {code for code, _ in population})
    if missing:
        raise SourceError(
            str(spec.population),
            None,
            "territory-population",
            f"no population for territories {missing}",
        )
    for year in sorted({year for _, year in population}):
        population[(spec.root_code, year)] = sum(
            v for (code, y), v in population.items() if y == year and code != spec.root_code
        )
    keys = sorted(population)
    return TerritoryTables(
        territories=territories,
        population=pa.table(
            {
                "code": [k[0] for k in keys],
                "year": [k[1] for k in keys],
                "population": [population[k] for k in keys],
            }
        ),
    )


def _features(path: Path) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise SourceError(
            str(path), getattr(error, "lineno", None), "geojson", str(error)
        ) from None
    return data.get("features", [])


def _code(value, spec: TerritoryFiles, path: Path, feature: int) -> str:
    if value is None:
        raise SourceError(str(path), None, "territory-code", f"feature {feature} has no code")
    text = str(int(float(value))) if str(value).replace(".", "", 1).isdigit() else str(value)
    return spec.code_prefix + text.zfill(spec.code_width)
