"""The chain's steps as plain functions (no Prefect): ingest, compute, publish.

`flows.chain` wraps them in Prefect tasks and flows; tests may call them directly.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
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
from flows.progress_bars import ProgressCallback, Step, current_reporter, expected_rows
from publish.ckan_target import CkanReport, publish_to_ckan
from publish.coordination_report import (
    ReportIndicator,
    load_territories,
    render_report,
    report_dataset,
)
from publish.dcat import Publisher
from publish.disclosure_cache import DisclosureCache
from publish.incident_records import incident_records_package
from publish.indicator_datasets import (
    COMPARED_WITH,
    indicator_package,
    withhold_revealing_values,
)
from publish.local_catalogue import write_catalogue
from publish.package import DatasetPackage
from publish.package_files import DocumentDataset, RenderedFile
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

    @classmethod
    def loaded(cls, feed: str, result: LoadResult) -> FeedReport:
        """The report of a batch just loaded."""
        return cls(
            feed,
            result.batch_id,
            False,
            result.rows_read,
            result.rows_loaded,
            result.rows_quarantined,
            result.periods,
        )

    @classmethod
    def unchanged(cls, feed: str, batch_id: str) -> FeedReport:
        """The report of a file whose bytes were loaded before, as `batch_id`."""
        return cls(feed, batch_id, True, 0, 0, 0, [])


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


def ingest_feed(
    config: Config, engine: Engine, feed: FeedConfig, *, secret: bytes, step: Step | None = None
) -> FeedReport:
    """Load one feed file: skip it if this content was loaded before, else replace its periods.

    Progress (rows read) goes to `step`, or to a new step of the current reporter.
    """
    profile = feed_profile(config, feed)
    path = config.path(feed.path)
    content_hash, lines = file_sha256_and_lines(path)
    total = expected_rows(path, profile.read.format, profile.read.skip_rows, lines)
    step = step or current_reporter().step(f"ingest {feed.name}", total=total, unit="rows")
    earlier = find_loaded(engine, profile.feed, profile.id, content_hash)
    if earlier:
        step.finish(f"{feed.name}: unchanged, already loaded as batch {earlier}")
        return FeedReport.unchanged(feed.name, earlier)
    with engine.connect() as conn:
        known = frozenset(conn.execute(select(territories.c.code)).scalars())
    with BatchLoader(
        engine, feed=profile.feed, source=profile.id, file_name=path.name, content_hash=content_hash
    ) as loader:
        load_batches(
            loader,
            checked_batches(path, profile, secret=secret, known_territories=known),
            progress=step.update,
        )
        check_rejected_share(feed, path, loader.result)
    result = loader.result
    step.finish(
        f"{feed.name}: {result.rows_read:,} rows read, {result.rows_loaded:,} loaded, "
        f"{result.rows_quarantined:,} quarantined"
    )
    return FeedReport.loaded(feed.name, result)


def load_batches(
    loader: BatchLoader,
    batches: Iterator[CheckedBatch],
    progress: ProgressCallback | None = None,
) -> None:
    """Load checked batches, checking the next one while the previous one is inserted.

    `progress(rows_read_so_far, None)` after each batch (None: the total stays as estimated).
    """
    read = 0
    for batch in prefetched(batches):
        loader.add(batch.valid, [asdict(q) for q in batch.quarantined], batch.rows_read)
        read += batch.rows_read
        if progress is not None:
            progress(read, None)


def check_rejected_share(feed: FeedConfig, path: Path | str, result: LoadResult) -> None:
    """Raise RejectedShareError when a batch quarantined more rows than its feed allows.

    Called inside the load's transaction (whole or partitioned), so nothing is kept then.
    """
    share = result.rows_quarantined / result.rows_read if result.rows_read else 0.0
    if share > feed.max_rejected_share:
        raise RejectedShareError(
            f"{path}: feed {feed.name} rejected {result.rows_quarantined} of {result.rows_read} "
            f"rows ({share:.1%}), above its limit of {feed.max_rejected_share:.1%}; "
            "the batch was not loaded"
        )


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in chunks."""
    return file_sha256_and_lines(path)[0]


def file_sha256_and_lines(path: Path) -> tuple[str, int]:
    """Content hash and line count of a file, in one pass (the count sizes progress bars)."""
    digest, lines = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
    return digest.hexdigest(), lines


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
    """Recompute each indicator for the periods the loaded batches touched.

    Each indicator gets the periods touched per feed (feed -> periods), so its propagation
    rule for one feed never applies to months only another feed touched.
    """
    touched_by_feed: dict[str, set[str]] = {}
    for report in reports:
        feed = feed_profile(config, _feed(config, report.feed)).feed
        touched_by_feed.setdefault(feed, set()).update(report.periods)
    step = current_reporter().step("compute indicators", total=None, unit="indicators")
    written = compute_periods(config, engine, indicator_periods(config, touched_by_feed))
    step.finish(f"indicators: {sum(written.values()):,} values of {len(written)} indicators")
    return written


def indicator_periods(config: Config, touched_by_feed: dict[str, set[str]]) -> dict[str, list[str]]:
    """The periods of each indicator that these touched periods (canonical feed ->) change.

    Only periods inside the configured window count; each feed of an indicator says how far
    a change in it reaches, so one feed's rule never applies to another feed's months.
    """
    known = window_periods(config)
    window = set(known)
    touched = {f: {p for p in ps if p in window} for f, ps in touched_by_feed.items()}
    periods = {}
    for indicator in load_catalogue():
        changed = {f: touched[f] for f in indicator.feeds if touched.get(f)}
        if changed:
            periods[indicator.id] = affected_periods(
                indicator, changed, known,
                referral_window_days=config.indicators.referral_window_days,
            )  # fmt: skip
    return periods


def compute_periods(
    config: Config, engine: Engine, periods: dict[str, list[str]]
) -> dict[str, int]:
    """Recompute each indicator for its periods with the configured settings."""
    return compute_indicators(
        engine,
        load_catalogue(),
        periods,
        chronic_threshold=config.indicators.chronic_absence_threshold,
        referral_window_days=config.indicators.referral_window_days,
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
    """Protect and package every indicator of the catalogue.

    Periods whose values did not change since the last publication reuse their stored
    suppression pattern and audit verdict (`disclosure_cache`): same output, much less work.
    """
    rule = disclosure_rule(config)
    profiles = [feed_profile(config, f) for f in config.feeds]
    cache = disclosure_cache(config)
    catalogue = load_catalogue()
    step = current_reporter().step("protect datasets", total=len(catalogue), unit="datasets")
    packages = []
    for indicator in catalogue:
        used = [p for p in profiles if p.feed in indicator.feeds]
        package = indicator_package(
            engine,
            indicator,
            rule=rule,
            periods=(config.indicators.first_period, config.indicators.last_period),
            root=(config.territories.root_code, config.territories.root_name),
            synthetic=any(p.synthetic for p in used),
            sources=sorted(f"{p.title} ({p.publisher})" for p in used),
            cache=cache,
        )
        if indicator.id in COMPARED_WITH:
            base_id, months = COMPARED_WITH[indicator.id]
            base = next(p for i, p in packages if i.id == base_id)
            package.table, withheld = withhold_revealing_values(package.table, base.table, months)
            package.disclosure["comparison_values_withheld"] = withheld
        packages.append((indicator, package))
        step.update(len(packages))
    step.finish(f"{len(packages)} indicator datasets protected")
    cache.prune()  # what this publication did not use belongs to replaced values
    return packages


def disclosure_cache(config: Config) -> DisclosureCache:
    """The cache of suppression patterns, beside (never inside) the local catalogue.

    Its entries are named by hashes of unprotected counts: keep it as private as the
    warehouse.
    """
    catalogue = config.path(config.publish.catalogue_dir)
    return DisclosureCache(catalogue.with_name(f".{catalogue.name}-disclosure-cache"))


def incident_records(config: Config, engine: Engine) -> DatasetPackage:
    """The k-anonymous record-level police incidents of the window."""
    profiles = [
        p
        for p in map(lambda f: feed_profile(config, f), config.feeds)
        if p.feed == "police_incidents"
    ]
    step = current_reporter().step("protect record-level incidents", total=None, unit="")
    package = incident_records_package(
        engine,
        periods=(config.indicators.first_period, config.indicators.last_period),
        root=(config.territories.root_code, config.territories.root_name),
        synthetic=any(p.synthetic for p in profiles),
        sources=sorted(f"{p.title} ({p.publisher})" for p in profiles),
        policy=RecordPolicy(k=config.disclosure.k, l=config.disclosure.l),
    )
    step.finish(f"record-level incidents: {len(package.table):,} records, k-anonymous")
    return package


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


def report_document(
    config: Config, report: RenderedFile, datasets: list[DatasetPackage]
) -> DocumentDataset:
    """The coordination report as its own portal dataset (publish.coordination_report)."""
    return report_dataset(
        report,
        root=(config.territories.root_code, config.territories.root_name),
        period=config.indicators.last_period,
        synthetic=any(d.synthetic for d in datasets),
        sources=sorted({source for d in datasets for source in d.sources}),
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


def ckan_enabled(config: Config, *, requested: bool = False) -> bool:
    """Whether a publication also goes to the CKAN portal: asked for by the caller, by the
    configuration, or for one run by CONVIVE_PUBLISH_CKAN=1."""
    return requested or config.publish.ckan.enabled or os.environ.get("CONVIVE_PUBLISH_CKAN") == "1"


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
    current_reporter().step("quality gate", total=None, unit="").finish("quality gate passed")
    written = write_publication(config, engine, ckan=ckan)
    return Publication(index=written.index, quality_docs=docs, ckan=written.ckan)


@dataclass
class Written:
    """What `write_publication` wrote: the catalogue's index page, the datasets, the portal."""

    index: Path
    datasets: list[DatasetPackage]
    ckan: CkanReport | None


def write_publication(
    config: Config,
    engine: Engine,
    *,
    ckan: bool = False,
    portal_slot: Callable[[], AbstractContextManager] = nullcontext,
    before_writing: Callable[[], object] | None = None,
) -> Written:
    """Protect, package and report; write the local catalogue, then the portal if enabled.

    The same publication for `convive run` and the served publish stage, which holds a
    `portal_slot` (a global concurrency limit) around its portal calls and waits, through
    `before_writing`, for the quality gate it ran alongside (raising stops everything).
    """
    packages = build_packages(config, engine)
    report_file = coordination_report(config, engine, packages)
    datasets = [package for _, package in packages]
    if config.disclosure.record_level:
        datasets.append(incident_records(config, engine))
    if before_writing is not None:
        before_writing()
    step = current_reporter().step("write catalogue", total=len(datasets), unit="datasets")
    index = write_catalogue(
        datasets,
        config.path(config.publish.catalogue_dir),
        publisher_of(config),
        title=config.project.name,
        attachments=[report_file],
        progress=step.update,
    )
    step.finish(f"local catalogue: {len(datasets)} datasets and the report in {index.parent}")
    ckan_report = None
    if ckan_enabled(config, requested=ckan):
        document = report_document(config, report_file, datasets)
        with portal_slot():
            ckan_report = publish_ckan(config, datasets, report=document)
    return Written(index=index, datasets=datasets, ckan=ckan_report)


def publish_ckan(
    config: Config, packages: list[DatasetPackage], *, report: DocumentDataset | None = None
) -> CkanReport:
    """Publish the packages (and the coordination report's dataset, when given) to the CKAN
    portal named by the configured environment variables."""
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
    documents = [report] if report is not None else []
    step = current_reporter().step(
        "publish to CKAN", total=len(packages) + len(documents), unit="datasets"
    )
    result = publish_to_ckan(
        packages,
        client,
        organization=settings.organization,
        publisher=publisher_of(config),
        release=config.indicators.last_period,
        documents=documents,
        progress=step.update,
    )
    step.finish(
        f"CKAN: {len(result.created)} created, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged; {result.uploads} files uploaded"
    )
    return result


def publish_local(config: Config, engine: Engine) -> Path:
    """Publish to the configured targets; return the local catalogue's index page."""
    return publish(config, engine).index
