"""Territories from GeoJSON files: boundaries (with names) and population by year.

The root territory (e.g. the municipality) gets its population as the sum of its children.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from connectors.errors import SourceError


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
