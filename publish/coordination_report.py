"""The coordination report: one self-contained HTML page per territory and period.

It reads only PROTECTED tables (what is published), so a suppressed value is shown as
suppressed, never as zero; small populations are flagged, never ranked. Charts and the map
are inline SVG: the page needs no network.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine, select

from publish.package import DatasetPackage
from publish.package_files import DocumentDataset, RenderedFile
from publish.svg_charts import MapArea, bar_chart, choropleth, line_chart, simplify_ring
from schemas.code_lists import INCIDENT_CATEGORIES
from warehouse.indicator_periods import shift_period
from warehouse.tables import territories, territory_population

SERIES_MONTHS = 24
MAP_TOLERANCE = 40.0  # map units (metres in projected boundaries) between kept vertices


@dataclass(frozen=True)
class ReportIndicator:
    """An indicator as the report needs it: its catalogue text and its protected table."""

    id: str
    name: str
    unit: str
    owner: str
    definition: str
    table: pd.DataFrame  # territory_code, period, breakdown, value, status (published columns)
    cross_institution: bool = False
    # (territory_code, period, breakdown) -> (value, status): the report looks up hundreds of
    # cells per indicator, and filtering the table for each took seconds.
    cells: dict[tuple[str, str, str], tuple[float | None, object]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        t = self.table
        keys = zip(t["territory_code"], t["period"], t["breakdown"], strict=True)
        cells = zip(t["value"], t["status"], strict=True)
        object.__setattr__(self, "cells", dict(zip(keys, cells, strict=True)))


@dataclass(frozen=True)
class ReportTerritory:
    """A territory with its population in the report's year and its boundary."""

    code: str
    name: str
    level: str
    parent_code: str | None
    population: int | None
    geometry: dict | None = field(default=None, repr=False)


def render_report(
    indicators: list[ReportIndicator],
    territories: list[ReportTerritory],
    *,
    root_code: str,
    period: str,
    title: str,
    synthetic: bool,
    small_population: int = 20_000,
) -> str:
    """The report as one HTML string."""
    root = next(t for t in territories if t.code == root_code)
    districts = sorted((t for t in territories if t.parent_code == root_code), key=lambda t: t.code)
    sections: dict[str, list[dict]] = {}
    for indicator in indicators:
        card = _card(indicator, root_code, period)
        card["districts"] = _district_rows(indicator, districts, period, small_population)
        card["categories"] = _categories_chart(indicator, root_code, period)
        sections.setdefault(indicator.owner, []).append(card)
    mapped = next((i for i in indicators if i.id == "incidents_per_10k"), indicators[0])
    environment = Environment(
        loader=PackageLoader("publish", "templates"), autoescape=select_autoescape()
    )
    return environment.get_template("report.html.j2").render(
        title=title,
        root=root,
        period=period,
        synthetic=synthetic,
        headline=[_card(i, root_code, period) for i in indicators],
        sections=sections,
        small_population=small_population,
        map_svg=_map(mapped, districts, period, small_population),
        map_title=f"{mapped.name}, {period}",
        cross=[c for cards in sections.values() for c in cards if c["cross_institution"]],
    )


def _value(
    indicator: ReportIndicator, code: str, period: str, breakdown: str = "all"
) -> float | None:
    """The published value of a cell; None when absent, protected or empty."""
    value, status = indicator.cells.get((code, period, breakdown), (None, None))
    if status or value is None or pd.isna(value):
        return None
    return float(value)


def _status(indicator: ReportIndicator, code: str, period: str) -> str:
    if (code, period, "all") not in indicator.cells:
        return "sin datos"
    return "suprimido" if indicator.cells[(code, period, "all")][1] else ""


def _change(now: float | None, before: float | None) -> dict:
    if now is None or before is None:
        return {"text": "no disponible", "direction": "none"}
    if before == 0:
        return {"text": "sin base (0 antes)", "direction": "none"}
    change = (now - before) / before * 100
    direction = "up" if change > 0.5 else "down" if change < -0.5 else "flat"
    return {"text": f"{change:+.1f} %", "direction": direction}


def _card(indicator: ReportIndicator, code: str, period: str) -> dict:
    now = _value(indicator, code, period)
    months = [shift_period(period, -k) for k in range(SERIES_MONTHS - 1, -1, -1)]
    return {
        "id": indicator.id,
        "name": indicator.name,
        "unit": indicator.unit,
        "owner": indicator.owner,
        "definition": indicator.definition,
        "cross_institution": indicator.cross_institution,
        "value": now,
        "status": _status(indicator, code, period),
        "vs_previous": _change(now, _value(indicator, code, shift_period(period, -1))),
        "vs_year_ago": _change(now, _value(indicator, code, shift_period(period, -12))),
        "series_svg": line_chart(
            [m[2:] for m in months],
            [_value(indicator, code, m) for m in months],
            title=f"{indicator.name}: últimos {SERIES_MONTHS} meses",
        ),
    }


def _district_rows(
    indicator: ReportIndicator, districts: list[ReportTerritory], period: str, small_population: int
) -> list[dict]:
    # Ordered by code, never by value: no ranking of neighbourhoods.
    return [
        {
            "code": d.code,
            "name": d.name,
            "value": _value(indicator, d.code, period),
            "status": _status(indicator, d.code, period),
            "small": d.population is not None and d.population < small_population,
        }
        for d in districts
    ]


def _categories_chart(indicator: ReportIndicator, code: str, period: str) -> str:
    categories = sorted(b for b in indicator.table["breakdown"].unique() if b != "all")
    if not categories:
        return ""
    names = [INCIDENT_CATEGORIES.get(c, {"es": c})["es"] for c in categories]
    return bar_chart(
        names,
        [_value(indicator, code, period, c) for c in categories],
        title=f"{indicator.name} por categoría, {period}",
    )


def _map(
    indicator: ReportIndicator, districts: list[ReportTerritory], period: str, small_population: int
) -> str:
    areas = []
    for district in districts:
        if not district.geometry:
            continue
        geometry = district.geometry
        polygons = (
            geometry["coordinates"]
            if geometry["type"] == "MultiPolygon"
            else [geometry["coordinates"]]
        )
        rings = [simplify_ring(ring, MAP_TOLERANCE) for polygon in polygons for ring in polygon]
        areas.append(
            MapArea(
                code=district.code,
                name=district.name,
                rings=rings,
                value=_value(indicator, district.code, period),
                small_population=district.population is not None
                and district.population < small_population,
            )
        )
    return choropleth(areas, title=f"{indicator.name}, {period}")


def territory_geometry(text: str | None) -> dict | None:
    """Parse a stored GeoJSON geometry."""
    return json.loads(text) if text else None


def load_territories(engine: Engine, year: int) -> list[ReportTerritory]:
    """Territories with their population in `year` (or the nearest earlier year)."""
    with engine.connect() as conn:
        rows = conn.execute(select(territories)).mappings().all()
        population = (
            conn.execute(
                select(territory_population)
                .where(territory_population.c.year <= year)
                .order_by(territory_population.c.year)
            )
            .mappings()
            .all()
        )
    latest = {p["code"]: p["population"] for p in population}  # later years overwrite
    return [
        ReportTerritory(
            code=r["code"],
            name=r["name"],
            level=r["level"],
            parent_code=r["parent_code"],
            population=latest.get(r["code"]),
            geometry=territory_geometry(r["geometry"]),
        )
        for r in rows
    ]


def report_dataset(
    report: RenderedFile, *, root: tuple[str, str], period: str, synthetic: bool, sources: list[str]
) -> DocumentDataset:
    """The report as its own portal dataset, `convive-<root>-informe-coordinacion`.

    The latest resource is `informe-coordinacion-<root>.html` (a stable download URL); each
    release adds the dated `informe-coordinacion-<root>-<period>.html`, the local file's name.
    Its own dataset because it covers every indicator, not one, and has no table.
    """
    code, name = root
    first = shift_period(period, -(SERIES_MONTHS - 1))
    end_day = calendar.monthrange(int(period[:4]), int(period[5:]))[1]
    description = (
        f"Informe de coordinación de seguridad y convivencia de {name}: los indicadores del "
        f"último mes, su evolución en {SERIES_MONTHS} meses, el mapa por territorio y los "
        "indicadores entre instituciones. Página HTML autocontenida, calculada solo con los "
        "datos ya protegidos que se publican (un valor suprimido aparece como suprimido)."
    )
    if synthetic:
        description += " AVISO: incluye DATOS SINTÉTICOS de demostración."
    package = DatasetPackage(
        name=f"convive-{code}-informe-coordinacion",
        title=f"Informe de coordinación — {name}",
        title_en=f"Coordination report — {name}",
        description=description,
        keywords=["convivencia", "seguridad", "informe", name],
        theme="security",
        frequency="monthly",
        temporal_start=f"{first}-01",
        temporal_end=f"{period}-{end_day:02d}",
        spatial_code=code,
        spatial_name=name,
        synthetic=synthetic,
        table=pd.DataFrame(),
        fields=[],
        disclosure={},
        sources=sources,
    )
    latest = RenderedFile(
        f"informe-coordinacion-{code}.html", report.title, report.media_type, report.content
    )
    return DocumentDataset(package=package, files=[latest])
