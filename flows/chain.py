"""Prefect flows: ingest each feed, compute the touched indicators, publish. Thin wrappers.

Run in process with no server (`convive demo`, `convive run`): Prefect starts a temporary
local API for the run. Tasks take only serialisable parameters (the configuration) and open
their own warehouse connection, so they can run anywhere a worker runs. Contract errors are
never retried; they are data problems.

The event-driven, served version of the same chain (one deployment per stage) is in
`flows.stages`; `flows.deployments` serves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Engine

from flows import progress, steps
from flows.config import Config, FeedConfig
from flows.warehouse_lock import warehouse_lock
from schemas.person_keys import secret_from_environment
from warehouse.engine import open_warehouse


@dataclass
class ChainResult:
    """What a whole run did."""

    territories: int
    feeds: list[steps.FeedReport]
    indicator_rows: dict[str, int]
    index: Path


@contextmanager
def warehouse(config: Config) -> Iterator[Engine]:
    """The configured warehouse, closed on exit (DuckDB: under its writer lock)."""
    with warehouse_lock(config.warehouse_url):
        engine = open_warehouse(config.warehouse_url)
        try:
            yield engine
        finally:
            engine.dispose()


@task(task_run_name="prepare territories", cache_policy=NO_CACHE)
def prepare_task(config: Config) -> int:
    """Load territories, population and code lists."""
    with warehouse(config) as engine:
        return steps.prepare_warehouse(config, engine)


@task(task_run_name="ingest {feed.name}", cache_policy=NO_CACHE)
def ingest_feed_task(config: Config, feed: FeedConfig, demo: bool) -> steps.FeedReport:
    """Ingest one feed file (one batch)."""
    # The secret is read here, never passed as a parameter: parameters are recorded.
    secret = secret_from_environment(allow_demo=demo)
    with warehouse(config) as engine:
        return steps.ingest_feed(config, engine, feed, secret=secret)


@task(task_run_name="compute indicators", cache_policy=NO_CACHE)
def compute_task(config: Config, reports: list[steps.FeedReport]) -> dict[str, int]:
    """Recompute the indicators for the touched periods."""
    with warehouse(config) as engine:
        return steps.compute(config, engine, reports)


@task(task_run_name="publish local catalogue", cache_policy=NO_CACHE)
def publish_task(config: Config) -> Path:
    """Protect, package and write the local catalogue."""
    with warehouse(config) as engine:
        return steps.publish_local(config, engine)


@task(task_run_name="record batches as published", cache_policy=NO_CACHE)
def mark_published_task(config: Config, reports: list[steps.FeedReport]) -> None:
    """Tell the served stages (flows.progress) that this run computed and published these."""
    loaded = [r.batch_id for r in reports if not r.skipped]
    with warehouse(config) as engine:
        progress.ensure_progress_table(engine)
        progress.mark_indicated(engine, loaded)
        progress.mark_published(engine, loaded)


@flow(name="convive-chain", flow_run_name="chain {config.project.name}", persist_result=False)
def run_chain(config: Config, *, demo: bool = False) -> ChainResult:
    """Ingest every feed, compute the indicators they touch, and publish."""
    territory_count = prepare_task(config)
    reports = [ingest_feed_task(config, feed, demo) for feed in config.feeds]
    written = compute_task(config, reports)
    index = publish_task(config)
    mark_published_task(config, reports)
    return ChainResult(territory_count, reports, written, index)
