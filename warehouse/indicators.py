"""The indicator catalogue (data in indicators.toml) and its computation in the warehouse.

Each indicator's SQL gives the facts of leaf territories; warehouse.indicator_sql wraps them
so that zero-filling, population denominators, the roll-up of the territory hierarchy, the
breakdown total and the value all happen in the database, in one INSERT for all indicators.
Only the periods asked for are replaced, all indicators in one transaction.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, Engine, bindparam, select

from warehouse import block_changes, case_spells, indicator_inputs, indicator_sql, pupil_months
from warehouse.indicator_periods import PROPAGATION_RULES, periods_to_recompute
from warehouse.tables import FACT_TABLES, indicator_values

CATALOGUE_FILE = Path(__file__).parent / "indicators.toml"
SQL_DIR = Path(__file__).parent / "sql"
# Days after a referral within which a social-services case counts as its intervention.
DEFAULT_REFERRAL_WINDOW_DAYS = 30
DEFAULT_CHRONIC_THRESHOLD = 0.10


class CatalogueError(ValueError):
    """The catalogue file has a missing, unknown or inconsistent entry (message names it)."""


@dataclass(frozen=True)
class Indicator:
    """One entry of the catalogue."""

    id: str
    name_es: str
    name_en: str
    definition: str
    definition_en: str
    numerator: str
    denominator: str
    unit: str
    scale: float
    breakdown: str
    denominator_kind: Literal["population", "count"]
    min_denominator: float
    levels: tuple[str, ...]
    periodicity: str
    owner: str
    feeds: tuple[str, ...]
    propagates: Mapping[str, str] = field(hash=False)
    disclosure: str

    @property
    def sql(self) -> str:
        """The SQL that aggregates the indicator's facts at leaf territories."""
        return (SQL_DIR / f"{self.id}.sql").read_text(encoding="utf-8")

    @property
    def cross_institution(self) -> bool:
        """True when the indicator joins more than one institution's feed."""
        return len(self.feeds) > 1


def load_catalogue(path: Path = CATALOGUE_FILE) -> list[Indicator]:
    """Read and check the catalogue file."""
    entries = tomllib.loads(path.read_text(encoding="utf-8"))["indicator"]
    catalogue = []
    fields = {f.name for f in dataclasses.fields(Indicator)}
    for number, entry in enumerate(entries, start=1):
        missing, unknown = sorted(fields - set(entry)), sorted(set(entry) - fields)
        if missing or unknown:
            raise CatalogueError(
                f"{path}: indicator #{number} ({entry.get('id', 'no id')}): "
                f"missing keys {missing}, unknown keys {unknown}"
            )
        indicator = Indicator(
            **{
                **entry,
                "levels": tuple(entry["levels"]),
                "feeds": tuple(entry["feeds"]),
                "propagates": dict(entry["propagates"]),
            }
        )
        _check(indicator, path)
        catalogue.append(indicator)
    ids = [i.id for i in catalogue]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f"{path}: indicator ids repeat: {sorted(ids)}")
    return catalogue


def _check(indicator: Indicator, path: Path) -> None:
    where = f"{path}: indicator {indicator.id!r}"
    problems = []
    if not (SQL_DIR / f"{indicator.id}.sql").is_file():
        problems.append(f"no SQL file {SQL_DIR / (indicator.id + '.sql')}")
    if indicator.breakdown not in indicator_inputs.BREAKDOWN_CODES:
        problems.append(f"breakdown {indicator.breakdown!r} is not one of the code lists")
    if indicator.denominator_kind not in ("population", "count"):
        problems.append(f"denominator_kind {indicator.denominator_kind!r}")
    if set(indicator.propagates) != set(indicator.feeds):
        problems.append("propagates must name exactly the indicator's feeds")
    problems += [f"unknown feed {f!r}" for f in indicator.feeds if f not in FACT_TABLES]
    problems += [
        f"unknown propagation rule {r!r}"
        for r in indicator.propagates.values()
        if r not in PROPAGATION_RULES
    ]
    if problems:
        raise CatalogueError(f"{where}: " + "; ".join(problems))


def check_referral_window(days: int) -> None:
    """Refuse a referral window that is not a whole number of days, 0 or more."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"referral window must be a whole number of days >= 0, not {days!r}")


def affected_periods(
    indicator: Indicator,
    touched: Iterable[str] | Mapping[str, Iterable[str]],
    known: Iterable[str],
    *,
    referral_window_days: int = DEFAULT_REFERRAL_WINDOW_DAYS,
) -> list[str]:
    """The periods to recompute for `indicator` when batches touched `touched`.

    Pass `touched` as feed -> periods for the least work; a plain set of periods is taken as
    touched in every feed of the indicator. `referral_window_days` is the configured window
    (`indicators.referral_window_days`), the same compute_indicators is given.
    """
    check_referral_window(referral_window_days)
    return periods_to_recompute(
        indicator.propagates, touched, known, referral_window_days=referral_window_days
    )


def compute_indicators(
    engine: Engine,
    catalogue: list[Indicator],
    periods_by_indicator: Mapping[str, Iterable[str]],
    *,
    chronic_threshold: float = DEFAULT_CHRONIC_THRESHOLD,
    referral_window_days: int = DEFAULT_REFERRAL_WINDOW_DAYS,
    rebuild_blocks: bool = False,
) -> dict[str, int]:
    """Recompute each indicator for its periods, in one transaction; rows written per id.

    The building blocks the indicators read (warehouse.pupil_months, warehouse.case_spells)
    are first brought up to date with the batches loaded since they were last refreshed, or
    rebuilt from the fact tables when `rebuild_blocks` (after fact rows were changed other
    than through the loader; the results are the same either way). `referral_window_days`
    must be the window the periods were chosen with (`affected_periods`).
    """
    check_referral_window(referral_window_days)
    todo = {
        i.id: sorted(set(periods_by_indicator.get(i.id, ())))
        for i in catalogue
        if periods_by_indicator.get(i.id)
    }
    if not todo:
        return {}
    params = {"chronic_threshold": chronic_threshold, "referral_window_days": referral_window_days}
    with engine.begin() as conn:
        _stage_inputs(conn, catalogue, todo, chronic_threshold, rebuild_blocks)
        indicator_inputs.stage_periods(conn, {p for periods in todo.values() for p in periods})
        computed = [i for i in catalogue if i.id in todo]
        written = indicator_sql.replace_values(conn, computed, todo, params)
        indicator_inputs.drop_staged(conn)
    return written


def _stage_inputs(
    conn: Connection,
    catalogue: list[Indicator],
    todo: dict[str, list[str]],
    chronic_threshold: float,
    rebuild_blocks: bool,
) -> None:
    indicator_inputs.tune_session(conn)
    indicator_inputs.stage_territories(conn)
    indicator_inputs.stage_codes(conn)
    # Building blocks shared by several indicators: refreshed only when some indicator reads
    # them (the batches they have not taken in wait for the next computation that does).
    pupil_periods = _periods_reading(pupil_months.PUPIL_MONTHS, catalogue, todo)
    spell_periods = _periods_reading(case_spells.CASE_SPELLS, catalogue, todo)
    if pupil_periods or spell_periods:
        block_changes.lock_blocks(conn)
    if pupil_periods:
        pupil_months.refresh_pupil_months(conn, rebuild=rebuild_blocks)
        pupil_months.stage_pupil_months(conn, pupil_periods, chronic_threshold)
    if spell_periods:
        case_spells.refresh_case_spells(conn, rebuild=rebuild_blocks)
        case_spells.stage_case_spells(conn)


def _periods_reading(table: str, catalogue: list[Indicator], todo: dict[str, list[str]]) -> set:
    return {p for i in catalogue if i.id in todo and table in i.sql for p in todo[i.id]}


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
