"""The chain's steps as plain functions (no Prefect): ingest, compute, publish.

`flows.chain` wraps them in Prefect tasks and flows; tests may call them directly.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
from sqlalchemy import Engine, select

from connectors.feed_batches import CheckedBatch, checked_batches
from connectors.prefetch import prefetched
from connectors.source_profiles import SourceProfile, find_profile, load_profile
from connectors.territory_files import TerritoryFiles, read_territories
from flows.config import Config, FeedConfig
from publish.ckan_target import CkanReport, publish_to_ckan
from publish.coordination_report import ReportIndicator, load_territories, render_report
from publish.dcat import Publisher
from publish.incident_records import incident_records_package
from publish.indicator_datasets import (
    COMPARED_WITH,
    indicator_package,
    withhold_revealing_values,
)
from publish.local_catalogue import write_catalogue
from publish.package import DatasetPackage
from publish.package_files import RenderedFile
from publish.record_level import RecordPolicy
from publish.small_cells import SmallCellRule
from schemas.code_lists import INCIDENT_CATEGORIES
from warehouse.indicators import (
    Indicator,
    affected_periods,
    compute_indicators,
    load_catalogue,
)
from warehouse.loads import BatchLoader, LoadResult, find_loaded, replace_table
from warehouse.quality_gate import QualityReport
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
        load_batches(loader, checked_batches(path, profile, secret=secret,
                                             known_territories=known))
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


def load_batches(loader: BatchLoader, batches: Iterator[CheckedBatch]) -> None:
    """Load checked batches, checking the next one while the previous one is inserted."""
    for batch in prefetched(batches):
        loader.add(batch.valid, [asdict(q) for q in batch.quarantined], batch.rows_read)


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


def disclosure_rule(config: Config) -> SmallCellRule:
    """The configured small-cell rule (preset, optionally with another rounding base)."""
    presets = {"ons-10-5": SmallCellRule.ons_10_5, "below-5": SmallCellRule.below_5}
    rule = presets[config.disclosure.preset]()
    if config.disclosure.rounding_base:
        rule = replace(rule, rounding_base=config.disclosure.rounding_base)
    return rule


def build_packages(config: Config, engine: Engine) -> list[tuple[Indicator, DatasetPackage]]:
    """Protect and package every indicator of the catalogue."""
    rule = disclosure_rule(config)
    profiles = [feed_profile(config, f) for f in config.feeds]
    packages = []
    for indicator in load_catalogue():
        used = [p for p in profiles if p.feed in indicator.feeds]
        package = indicator_package(
            engine,
            indicator,
            rule=rule,
            periods=(config.indicators.first_period, config.indicators.last_period),
            root=(config.territories.root_code, config.territories.root_name),
            synthetic=any(p.synthetic for p in used),
            sources=sorted(f"{p.title} ({p.publisher})" for p in used),
        )
        if indicator.id in COMPARED_WITH:
            base_id, months = COMPARED_WITH[indicator.id]
            base = next(p for i, p in packages if i.id == base_id)
            package.table, withheld = withhold_revealing_values(package.table, base.table,
                                                                months)
            package.disclosure["comparison_values_withheld"] = withheld
        packages.append((indicator, package))
    return packages


def incident_records(config: Config, engine: Engine) -> DatasetPackage:
    """The k-anonymous record-level police incidents of the window."""
    profiles = [p for p in map(lambda f: feed_profile(config, f), config.feeds)
                if p.feed == "police_incidents"]
    return incident_records_package(
        engine,
        periods=(config.indicators.first_period, config.indicators.last_period),
        root=(config.territories.root_code, config.territories.root_name),
        synthetic=any(p.synthetic for p in profiles),
        sources=sorted(f"{p.title} ({p.publisher})" for p in profiles),
        policy=RecordPolicy(k=config.disclosure.k, l=config.disclosure.l),
    )


def coordination_report(
    config: Config, engine: Engine, packages: list[tuple[Indicator, DatasetPackage]]
) -> RenderedFile:
    """The coordination report for the root territory and the last period, as a file."""
    period = config.indicators.last_period
    root = config.territories.root_code
    html = render_report(
        [
            ReportIndicator(
                id=indicator.id,
                name=indicator.name_es,
                unit=indicator.unit,
                owner=indicator.owner,
                definition=indicator.definition,
                table=package.table,
                cross_institution=len(indicator.feeds) > 1,
            )
            for indicator, package in packages
        ],
        load_territories(engine, int(period[:4])),
        root_code=root,
        period=period,
        title=config.project.name,
        synthetic=any(package.synthetic for _, package in packages),
    )
    return RenderedFile(
        f"informe-coordinacion-{root}-{period}.html",
        f"Informe de coordinación — {config.territories.root_name}, {period}",
        "text/html",
        html.encode("utf-8"),
    )


def publisher_of(config: Config) -> Publisher:
    """The catalogue's publisher, from the configuration."""
    project = config.project
    return Publisher(
        name=project.publisher,
        url=project.publisher_url,
        email=project.contact_email,
        licence=project.licence,
        language=project.language,
        base_uri=project.base_uri,
        dir3_code=project.dir3_code,
        publisher_type=project.publisher_type,
        spatial_uri=project.spatial_uri,
    )


class PublicationError(RuntimeError):
    """Publication could not start: a missing portal setting (names what to set)."""


@dataclass
class Publication:
    """What one publication did."""

    index: Path
    quality_docs: Path
    ckan: CkanReport | None


def quality_gate(config: Config, engine: Engine) -> tuple[QualityReport, Path]:
    """Run the quality suites on the warehouse and write the Data Docs (before judging)."""
    from warehouse.data_docs import write_data_docs
    from warehouse.quality_gate import check_quality

    report = check_quality(
        engine,
        window=(config.indicators.first_period, config.indicators.last_period),
        max_age=timedelta(days=config.quality.max_feed_age_days),
    )
    docs = write_data_docs(report, config.path(config.quality.data_docs_dir))
    return report, docs


def publish(config: Config, engine: Engine, *, ckan: bool = False) -> Publication:
    """Quality gate, then protect, package, report and publish to every configured target.

    A failing quality suite raises QualityGateFailed before anything is published.
    """
    report, docs = quality_gate(config, engine)
    report.raise_if_failed()
    packages = build_packages(config, engine)
    attachments = [coordination_report(config, engine, packages)]
    datasets = [package for _, package in packages]
    if config.disclosure.record_level:
        datasets.append(incident_records(config, engine))
    index = write_catalogue(
        datasets,
        config.path(config.publish.catalogue_dir),
        publisher_of(config),
        title=config.project.name,
        attachments=attachments,
    )
    ckan_report = None
    if ckan or config.publish.ckan.enabled or os.environ.get("CONVIVE_PUBLISH_CKAN") == "1":
        ckan_report = publish_ckan(config, datasets)
    return Publication(index=index, quality_docs=docs, ckan=ckan_report)


def publish_ckan(config: Config, packages: list[DatasetPackage]) -> CkanReport:
    """Publish the packages to the CKAN portal named by the configured environment variables."""
    import ckanapi

    settings = config.publish.ckan
    missing = [name for name in (settings.url_env, settings.token_env) if not os.environ.get(name)]
    if missing:
        raise PublicationError(
            f"publishing to CKAN needs the environment variable(s) {', '.join(missing)} "
            "(the portal URL and an API token; see docs/publishing.md)"
        )
    client = ckanapi.RemoteCKAN(
        os.environ[settings.url_env], apikey=os.environ[settings.token_env], user_agent="convive"
    )
    return publish_to_ckan(
        packages,
        client,
        organization=settings.organization,
        publisher=publisher_of(config),
        release=config.indicators.last_period,
    )


def publish_local(config: Config, engine: Engine) -> Path:
    """Publish to the configured targets; return the local catalogue's index page."""
    return publish(config, engine).index
