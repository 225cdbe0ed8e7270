"""Small inline SVG charts for the coordination report: no scripts, no CDN, deterministic.

Suppressed values are drawn as gaps (line charts) or hatched bars, never as zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

HATCH = (
    '<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eef0f3"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#9aa5b1" stroke-width="2"/></pattern>'
)
PALETTE = ("#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d")


def _number(value: float) -> str:
    return f"{value:,.1f}".replace(",", " ")


def line_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    width: int = 520,
    height: int = 170,
) -> str:
    """A line chart of a time series; None (suppressed or missing) breaks the line."""
    known = [v for v in values if v is not None]
    if not known:  # nothing publishable to draw: say so rather than draw an empty axis
        return (
            f'<p class="chart-empty" role="note">{escape(title)}: sin valores '
            "publicables en el periodo (suprimidos o sin datos).</p>"
        )
    top = max(known)
    top = top * 1.1 if top > 0 else 1.0
    left, bottom, right, upper = 44, 24, 8, 12
    plot_w, plot_h = width - left - right, height - bottom - upper
    step = plot_w / max(len(values) - 1, 1)

    def point(i: int, v: float) -> str:
        return f"{left + i * step:.1f},{upper + plot_h * (1 - v / top):.1f}"

    segments, current = [], []
    for i, value in enumerate(values):
        if value is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(point(i, value))
    if current:
        segments.append(current)
    lines = "".join(
        f'<polyline class="series" fill="none" stroke="#2b6cb0" stroke-width="2" '
        f'points="{" ".join(s)}"/>'
        if len(s) > 1
        else f'<circle class="series" cx="{s[0].split(",")[0]}" cy="{s[0].split(",")[1]}" r="2.5" '
        f'fill="#2b6cb0"/>'
        for s in segments
    )
    ticks = "".join(
        f'<text x="{left + i * step:.1f}" y="{height - 6}" font-size="10" '
        f'text-anchor="middle">{escape(labels[i])}</text>'
        for i in range(0, len(labels), max(1, len(labels) // 6))
    )
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{left}" y1="{upper + plot_h}" x2="{width - right}" y2="{upper + plot_h}" '
        f'stroke="#8895a7"/>'
        f'<text x="{left - 4}" y="{upper + 4}" font-size="10" text-anchor="end">'
        f"{_number(top)}</text>"
        f'<text x="{left - 4}" y="{upper + plot_h}" font-size="10" text-anchor="end">0</text>'
        f"{lines}{ticks}</svg>"
    )


def bar_chart(
    labels: Sequence[str], values: Sequence[float | None], *, title: str, width: int = 520
) -> str:
    """Horizontal bars; a suppressed value is a hatched bar labelled as suppressed."""
    row, left = 22, 190
    height = row * len(labels) + 10
    known = [v for v in values if v is not None]
    top = max(known) if known and max(known) > 0 else 1.0
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 5 + i * row
        bars.append(
            f'<text x="{left - 6}" y="{y + 14}" font-size="11" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        if value is None:
            bars.append(
                f'<rect class="bar suppressed" x="{left}" y="{y + 3}" width="60" '
                f'height="14" fill="url(#hatch)"/><text x="{left + 66}" y="{y + 14}" '
                f'font-size="11">suprimido</text>'
            )
        else:
            length = (width - left - 70) * value / top
            bars.append(
                f'<rect class="bar" x="{left}" y="{y + 3}" width="{length:.1f}" '
                f'height="14" fill="#2b8cbe"/><text x="{left + length + 4:.1f}" '
                f'y="{y + 14}" font-size="11">{_number(value)}</text>'
            )
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><defs>{HATCH}</defs>{''.join(bars)}</svg>"
    )


@dataclass(frozen=True)
class MapArea:
    """One territory on the map: its rings (planar coordinates), value and flags."""

    code: str
    name: str
    rings: list[list[tuple[float, float]]]
    value: float | None
    small_population: bool


def choropleth(areas: Sequence[MapArea], *, title: str, width: int = 520, height: int = 440) -> str:
    """A choropleth in quintile classes; suppressed areas hatched, small ones outlined."""
    xs = [x for a in areas for r in a.rings for x, _ in r]
    ys = [y for a in areas for r in a.rings for _, y in r]
    if not xs:
        return ""
    # Bounds computed once: the real boundaries have tens of thousands of points.
    left, top = min(xs), max(ys)
    scale = min((width - 20) / (max(xs) - left), (height - 60) / (top - min(ys)))
    breaks = _quantile_breaks([a.value for a in areas if a.value is not None])
    paths = []
    for area in areas:
        d = " ".join(
            "M"
            + " L".join(
                f"{10 + (x - left) * scale:.1f},{10 + (top - y) * scale:.1f}" for x, y in ring
            )
            + " Z"
            for ring in area.rings
        )
        fill = "url(#hatch)" if area.value is None else PALETTE[_class_of(area.value, breaks)]
        dash = ' stroke-dasharray="4 2"' if area.small_population else ""
        label = "suprimido" if area.value is None else _number(area.value)
        paths.append(
            f'<path class="area" data-code="{escape(area.code)}" d="{d}" '
            f'fill="{fill}" stroke="#333" stroke-width="0.8"{dash}>'
            f"<title>{escape(area.name)}: {label}</title></path>"
        )
    legend = "".join(
        f'<rect x="{10 + i * 60}" y="{height - 40}" width="18" height="12" fill="{c}" '
        f'stroke="#333" stroke-width="0.5"/><text x="{32 + i * 60}" y="{height - 30}" '
        f'font-size="10">{_legend_label(breaks, i)}</text>'
        for i, c in enumerate(PALETTE[: len(breaks) + 1])
    )
    legend += (
        f'<rect x="10" y="{height - 20}" width="18" height="12" fill="url(#hatch)"/>'
        f'<text x="32" y="{height - 10}" font-size="10">suprimido</text>'
        f'<rect x="110" y="{height - 20}" width="18" height="12" fill="none" '
        f'stroke="#333" stroke-dasharray="4 2"/><text x="132" y="{height - 10}" '
        f'font-size="10">población pequeña (no se ordena)</text>'
    )
    return (
        f'<svg class="map" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><defs>{HATCH}</defs>{''.join(paths)}{legend}</svg>"
    )


def _quantile_breaks(values: list[float]) -> list[float]:
    if not values:
        return []
    ordered = sorted(values)
    cuts = {ordered[min(len(ordered) - 1, math.floor(len(ordered) * q / 5))] for q in (1, 2, 3, 4)}
    return sorted(cuts)


def _class_of(value: float, breaks: list[float]) -> int:
    return sum(value >= b for b in breaks)


def _legend_label(breaks: list[float], index: int) -> str:
    if not breaks:
        return ""
    if index == 0:
        return f"&lt; {_number(breaks[0])}"
    return f"≥ {_number(breaks[index - 1])}"


def simplify_ring(ring: Sequence[Sequence[float]], tolerance: float) -> list[tuple[float, float]]:
    """Drop vertices closer than `tolerance` to the last kept one (maps need no more)."""
    kept = [tuple(ring[0][:2])]
    for x, y, *_ in ring[1:]:
        last = kept[-1]
        if abs(x - last[0]) + abs(y - last[1]) >= tolerance:
            kept.append((x, y))
    return kept if len(kept) >= 3 else [tuple(p[:2]) for p in ring]
