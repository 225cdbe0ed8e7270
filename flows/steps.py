"""The chain's steps as plain functions (no Prefect): ingest, compute, publish.

`flows.chain` wraps them in Prefect tasks and flows; tests may call them directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
from sqlalchemy import Engine, select

from connectors.feed_batches import checked_batches
from connectors.source_profiles import SourceProfile, find_profile, load_profile
from connectors.territory_files import TerritoryFiles, read_territories
from flows.config import Config, FeedConfig
from publish.dcat import Publisher
from publish.indicator_datasets import indicator_package
from publish.local_catalogue import write_catalogue
from publish.small_cells import SmallCellRule
from schemas.code_lists import INCIDENT_CATEGORIES
from warehouse.indicators import affected_periods, compute_indicators, load_catalogue
from warehouse.loads import BatchLoader, LoadResult, find_loaded, replace_table
from warehouse.tables import code_list_values, territories, territory_population


class RejectedShareError(RuntimeError):
    """A batch rejected more rows than its feed allows: nothing of it was loaded."""


@dataclass
class FeedReport:
    """What ingesting one feed did (printed by the CLI, returned by the flow)."""

    feed: str
    batch_id: str
    skipped: bool
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    periods: list[str]


def territory_files(config: Config) -> TerritoryFiles:
    """Where the configured territories come from, with paths resolved."""
    spec = config.territories
    return TerritoryFiles(
        root_code=spec.root_code,
        root_name=spec.root_name,
        root_level=spec.root_level,
        level=spec.level,
        boundaries=config.path(spec.boundaries),
        code_property=spec.code_property,
        name_property=spec.name_property,
        population=config.path(spec.population),
        population_code_property=spec.population_code_property,
        population_year_property=spec.population_year_property,
        population_value_property=spec.population_value_property,
        code_width=spec.code_width,
        code_prefix=spec.code_prefix,
    )


def prepare_warehouse(config: Config, engine: Engine) -> int:
    """Load the territories, population and code lists; return the number of territories."""
    tables = read_territories(territory_files(config))
    replace_table(engine, territories, tables.territories)
    replace_table(engine, territory_population, tables.population)
    codes = sorted(INCIDENT_CATEGORIES)
    replace_table(
        engine,
        code_list_values,
        pa.table({"list": ["incident_category"] * len(codes), "code": codes}),
    )
    return tables.territories.num_rows


def feed_profile(config: Config, feed: FeedConfig) -> SourceProfile:
    """The validated profile of a feed (shipped, or a path next to the configuration)."""
    return load_profile(find_profile(feed.profile, [config.folder / "profiles"]))


def ingest_feed(config: Config, engine: Engine, feed: FeedConfig, *, secret: bytes) -> FeedReport:
    """Load one feed file: skip it if this content was loaded before, else replace its periods."""
    profile = feed_profile(config, feed)
    path = config.path(feed.path)
    content_hash = file_sha256(path)
    earlier = find_loaded(engine, profile.feed, profile.id, content_hash)
    if earlier:
        return FeedReport(feed.name, earlier, True, 0, 0, 0, [])
    with engine.connect() as conn:
        known = frozenset(conn.execute(select(territories.c.code)).scalars())
    with BatchLoader(
        engine, feed=profile.feed, source=profile.id, file_name=path.name, content_hash=content_hash
    ) as loader:
        for batch in checked_batches(path, profile, secret=secret, known_territories=known):
            loader.add(batch.valid, [asdict(q) for q in batch.quarantined], batch.rows_read)
        _check_rejected_share(feed, path, loader.result)
    result = loader.result
    return FeedReport(
        feed.name,
        result.batch_id,
        False,
        result.rows_read,
        result.rows_loaded,
        result.rows_quarantined,
        result.periods,
    )


def _check_rejected_share(feed: FeedConfig, path: Path, result: LoadResult) -> None:
    share = result.rows_quarantined / result.rows_read if result.rows_read else 0.0
    if share > feed.max_rejected_share:
        raise RejectedShareError(
            f"{path}: feed {feed.name} rejected {result.rows_quarantined} of {result.rows_read} "
            f"rows ({share:.1%}), above its limit of {feed.max_rejected_share:.1%}; "
            "the batch was not loaded"
        )


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def window_periods(config: Config) -> list[str]:
    """Every month of the configured indicator window."""
    first, last = config.indicators.first_period, config.indicators.last_period
    year, month = int(first[:4]), int(first[5:])
    periods = []
    while f"{year:04d}-{month:02d}" <= last:
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return periods


def compute(config: Config, engine: Engine, reports: list[FeedReport]) -> dict[str, int]:
    """Recompute each indicator for the periods the loaded batches touched."""
    known = window_periods(config)
    window = set(known)
    touched_by_feed: dict[str, set[str]] = {}
    for report in reports:
        feed = feed_profile(config, _feed(config, report.feed)).feed
        touched_by_feed.setdefault(feed, set()).update(p for p in report.periods if p in window)
    catalogue = load_catalogue()
    periods = {
        ind.id: affected_periods(
            ind, set().union(*(touched_by_feed.get(f, set()) for f in ind.feeds)), known
        )
        for ind in catalogue
    }
    return compute_indicators(
        engine, catalogue, periods, chronic_threshold=config.indicators.chronic_absence_threshold
    )


def _feed(config: Config, name: str) -> FeedConfig:
    return next(f for f in config.feeds if f.name == name)


def publish_local(config: Config, engine: Engine) -> Path:
    """Protect and package every indicator; write the local catalogue; return its index."""
    rule = (
        SmallCellRule.ons_10_5()
        if config.disclosure.preset == "ons-10-5"
        else SmallCellRule.below_5()
    )
    if config.disclosure.rounding_base:
        rule = SmallCellRule(
            threshold=rule.threshold,
            protection=rule.protection,
            rounding_base=config.disclosure.rounding_base,
        )
    profiles = {f.name: feed_profile(config, f) for f in config.feeds}
    packages = []
    for indicator in load_catalogue():
        used = [p for p in profiles.values() if p.feed in indicator.feeds]
        packages.append(
            indicator_package(
                engine,
                indicator,
                rule=rule,
                periods=(config.indicators.first_period, config.indicators.last_period),
                root=(config.territories.root_code, config.territories.root_name),
                synthetic=any(p.synthetic for p in used),
                sources=sorted(f"{p.title} ({p.publisher})" for p in used),
            )
        )
    project = config.project
    publisher = Publisher(
        name=project.publisher,
        url=project.publisher_url,
        email=project.contact_email,
        licence=project.licence,
        language=project.language,
        base_uri=project.base_uri,
    )
    return write_catalogue(
        packages, config.path(config.publish.catalogue_dir), publisher, title=project.name
    )
