"""The indicator catalogue (data in indicators.toml) and its computation in the warehouse.

Each indicator's SQL gives leaf-territory rows; this module stages the periods to compute,
rolls results up the territory hierarchy, adds the breakdown total and derives the value.
Only the periods asked for are replaced, in one transaction.
"""

from __future__ import annotations

import calendar
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, Engine, bindparam, insert, select, text

from warehouse.tables import indicator_values, territories

CATALOGUE_FILE = Path(__file__).parent / "indicators.toml"
SQL_DIR = Path(__file__).parent / "sql"


@dataclass(frozen=True)
class Indicator:
    """One entry of the catalogue."""

    id: str
    name_es: str
    name_en: str
    definition: str
    numerator: str
    denominator: str
    unit: str
    scale: float
    breakdown: str
    levels: tuple[str, ...]
    periodicity: str
    owner: str
    feeds: tuple[str, ...]
    propagates: Literal["same", "year", "onwards"]
    disclosure: str

    @property
    def sql(self) -> str:
        """The SQL that computes the indicator's leaf rows."""
        return (SQL_DIR / f"{self.id}.sql").read_text(encoding="utf-8")


def load_catalogue(path: Path = CATALOGUE_FILE) -> list[Indicator]:
    """Read the catalogue file."""
    entries = tomllib.loads(path.read_text(encoding="utf-8"))["indicator"]
    return [
        Indicator(**{**e, "levels": tuple(e["levels"]), "feeds": tuple(e["feeds"])})
        for e in entries
    ]


def affected_periods(
    indicator: Indicator, touched: Iterable[str], known: Iterable[str]
) -> list[str]:
    """The periods to recompute for `indicator` when a batch touched `touched`."""
    touched, known = set(touched), sorted(set(known))
    if not touched:
        return []
    if indicator.propagates == "same":
        return sorted(touched & set(known) | touched)
    first = min(touched)
    if indicator.propagates == "onwards":
        return [p for p in known if p >= first] or sorted(touched)
    return sorted({p for p in known for t in touched if p >= t and p[:4] == t[:4]} | touched)


def compute_indicators(
    engine: Engine,
    catalogue: list[Indicator],
    periods_by_indicator: dict[str, list[str]],
    *,
    chronic_threshold: float,
) -> dict[str, int]:
    """Recompute each indicator for its periods; return rows written per indicator."""
    written: dict[str, int] = {}
    with engine.begin() as conn:
        _stage_leaves(conn)
        for indicator in catalogue:
            periods = periods_by_indicator.get(indicator.id, [])
            if not periods:
                continue
            _stage_periods(conn, periods)
            conn.execute(
                indicator_values.delete().where(
                    indicator_values.c.indicator_id == indicator.id,
                    indicator_values.c.period.in_(periods),
                )
            )
            written[indicator.id] = _compute_one(conn, indicator, chronic_threshold)
        conn.exec_driver_sql("DROP TABLE IF EXISTS calc_periods")
        conn.exec_driver_sql("DROP TABLE IF EXISTS calc_leaves")
    return written


def _stage_leaves(conn: Connection) -> None:
    conn.exec_driver_sql("DROP TABLE IF EXISTS calc_leaves")
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE calc_leaves AS SELECT code FROM territories WHERE code NOT IN "
        "(SELECT parent_code FROM territories WHERE parent_code IS NOT NULL)"
    )


def _stage_periods(conn: Connection, periods: list[str]) -> None:
    conn.exec_driver_sql("DROP TABLE IF EXISTS calc_periods")
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE calc_periods "
        "(period VARCHAR, year INTEGER, period_start DATE, period_end DATE)"
    )
    rows = []
    for period in periods:
        year, month = int(period[:4]), int(period[5:7])
        end = date(year, month, calendar.monthrange(year, month)[1])
        rows.append({"period": period, "year": year, "start": date(year, month, 1), "end": end})
    conn.execute(text("INSERT INTO calc_periods VALUES (:period, :year, :start, :end)"), rows)


def _compute_one(conn: Connection, indicator: Indicator, chronic_threshold: float) -> int:
    query = text(indicator.sql)
    params = (
        {"chronic_threshold": chronic_threshold} if ":chronic_threshold" in indicator.sql else {}
    )
    leaf_rows = [dict(r._mapping) for r in conn.execute(query, params)]
    levels = {
        r.code: (r.level, r.parent_code)
        for r in conn.execute(
            select(territories.c.code, territories.c.level, territories.c.parent_code)
        )
    }
    cells = _roll_up(leaf_rows, levels)
    if indicator.breakdown != "all":
        cells = _with_breakdown_total(cells)
    records = []
    for (code, period, breakdown), (units, numerator, denominator) in sorted(cells.items()):
        value = None
        if numerator is not None and denominator:
            value = numerator / denominator * indicator.scale
        records.append(
            {
                "indicator_id": indicator.id,
                "territory_code": code,
                "territory_level": levels[code][0],
                "period": period,
                "breakdown": breakdown,
                "units": units,
                "numerator": numerator,
                "denominator": denominator,
                "value": value,
            }
        )
    if records:
        conn.execute(insert(indicator_values), records)
    return len(records)


Cell = tuple[str, str, str]
Sums = tuple[float | None, float | None, float | None]


def _add(a: Sums, b: Sums) -> Sums:
    return tuple(None if x is None or y is None else x + y for x, y in zip(a, b, strict=True))  # type: ignore


def _roll_up(rows: list[dict], levels: dict[str, tuple[str, str | None]]) -> dict[Cell, Sums]:
    """Sum leaf cells into every ancestor territory (numerators and denominators add up)."""
    cells: dict[Cell, Sums] = {}
    for row in rows:
        sums: Sums = (_num(row["units"]), _num(row["numerator"]), _num(row["denominator"]))
        code = row["territory_code"]
        while code is not None:
            key = (code, row["period"], row["breakdown"])
            cells[key] = _add(cells[key], sums) if key in cells else sums
            code = levels[code][1]
    return cells


def _with_breakdown_total(cells: dict[Cell, Sums]) -> dict[Cell, Sums]:
    """Add breakdown 'all' as the sum over the breakdown's categories.

    Denominators (population) do not add over categories: the total keeps the category's.
    """
    totals: dict[Cell, Sums] = {}
    for (code, period, _), (units, numerator, denominator) in cells.items():
        key = (code, period, "all")
        if key in totals:
            t_units, t_num, _ = totals[key]
            totals[key] = (_sum(t_units, units), _sum(t_num, numerator), denominator)
        else:
            totals[key] = (units, numerator, denominator)
    return {**cells, **totals}


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _num(value) -> float | None:
    return None if value is None else float(value)


def read_indicator(engine: Engine, indicator_id: str) -> list[dict]:
    """Every stored value of one indicator, ordered by territory, period and breakdown."""
    query = (
        select(indicator_values)
        .where(indicator_values.c.indicator_id == bindparam("id"))
        .order_by(
            indicator_values.c.territory_code,
            indicator_values.c.period,
            indicator_values.c.breakdown,
        )
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query, {"id": indicator_id})]
