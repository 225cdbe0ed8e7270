"""The served stages of the chain, one Prefect flow each, chained by events.

ingest (one file of one feed) -> `convive.feed.loaded` -> indicators (every batch still
owed) -> `convive.indicators.updated` -> quality gate and publish -> `convive.dataset.published`.

Each stage takes only the configuration's path and strings, so a worker on any machine can
run it. Stages read their work from the warehouse (`flows.progress`), not from the event
that started them, and mark it done afterwards: a stage re-run after a crash finds exactly
what is still owed. Tasks cache their results per flow run (inputs + run id, persisted), so
a crashed run that is started again skips the tasks it had finished. Only I/O errors are
retried (`flows.recovery`).
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, task
from prefect.cache_policies import DEFAULT, NO_CACHE
from sqlalchemy import Engine, select

from flows import events, progress, steps
from flows.config import Config, FeedConfig, load_config
from flows.recovery import io_retries
from flows.warehouse_lock import duckdb_file, file_lock, warehouse_lock
from schemas.person_keys import secret_from_environment
from warehouse.engine import open_warehouse
from warehouse.tables import territories

if TYPE_CHECKING:  # a type only: importing the quality gate's module is not free
    from warehouse.quality_gate import QualityReport

PORTAL_LIMIT = "convive-portal"  # global concurrency limit around portal (CKAN) calls
_RESUMABLE = {"cache_policy": DEFAULT, "persist_result": True}


@contextmanager
def locked_warehouse(config: Config) -> Iterator[Engine]:
    """The configured warehouse under its writer lock, with the progress table in place."""
    with warehouse_lock(config.warehouse_url):
        engine = open_warehouse(config.warehouse_url)
        try:
            progress.ensure_progress_table(engine)
            yield engine
        finally:
            engine.dispose()


@contextmanager
def warehouse_snapshot(config: Config) -> Iterator[str]:
    """The URL of a consistent view for long reads (gate, packaging) that needs no lock.

    DuckDB: a copy of the database file taken under the writer lock (a reader holding the
    file would keep every load waiting for the whole publication). PostgreSQL: the database
    itself, whose readers never block writers.
    """
    with ExitStack() as stack:
        with warehouse_lock(config.warehouse_url):  # copied under the lock, kept after it
            snapshot = stack.enter_context(duckdb_copy(config.warehouse_url))
        yield snapshot


@contextmanager
def duckdb_copy(url: str) -> Iterator[str]:
    """A private copy of a DuckDB warehouse (its URL) until the block ends; other URLs as
    they are. DuckDB lets only one process open a file: two processes reading one snapshot
    each need their own."""
    database = duckdb_file(url)
    if database is None:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix=".snapshot-", dir=database.parent) as folder:
        for name in (database.name, database.name + ".wal"):
            if (database.parent / name).exists():
                shutil.copy2(database.parent / name, Path(folder) / name)
        yield f"duckdb:///{Path(folder) / database.name}"


def reading(config: Config, warehouse_url: str) -> Config:
    """The configuration, reading from another warehouse URL (a snapshot)."""
    warehouse = config.warehouse.model_copy(update={"url": warehouse_url})
    return config.model_copy(update={"warehouse": warehouse})


def feed_named(config: Config, name: str) -> FeedConfig:
    """The configured feed called `name` (a clear error for an unknown one)."""
    for feed in config.feeds:
        if feed.name == name:
            return feed
    known = ", ".join(f.name for f in config.feeds)
    raise ValueError(f"{config.source_file}: no feed named {name!r} (feeds: {known})")


# -- ingest ---------------------------------------------------------------------------------


@task(task_run_name="prepare territories if missing", cache_policy=NO_CACHE, **io_retries())
def prepare_if_missing_task(config_path: str) -> int:
    """Load territories, population and code lists into a warehouse that has none yet."""
    config = load_config(config_path)
    with locked_warehouse(config) as engine:
        with engine.connect() as conn:
            present = conn.execute(select(territories.c.code).limit(1)).first()
        return 0 if present else steps.prepare_warehouse(config, engine)


@task(task_run_name="load {feed} from {file}", **_RESUMABLE, **io_retries())
def ingest_file_task(config_path: str, feed: str, file: str, demo: bool) -> steps.FeedReport:
    """Load one file as one batch (skipped when the same bytes were loaded before)."""
    config = load_config(config_path)
    feed_config = feed_named(config, feed).model_copy(update={"path": Path(file)})
    # The secret is read here, never passed as a parameter: parameters are recorded.
    secret = secret_from_environment(allow_demo=demo)
    with locked_warehouse(config) as engine:
        return steps.ingest_feed(config, engine, feed_config, secret=secret)


@task(task_run_name="stage of batch {batch_id}", cache_policy=NO_CACHE, **io_retries())
def batch_stage_task(config_path: str, batch_id: str) -> str | None:
    """How far a batch has gone: loaded, indicated or published."""
    with locked_warehouse(load_config(config_path)) as engine:
        return progress.batch_stage(engine, batch_id)


def allowed_source(config: Config, feed: FeedConfig, file: str) -> Path:
    """The file to ingest: `file` if it is in the feed's inbox, else the configured path.

    Events carry the path, and anyone who can emit events to the server could name any
    file the worker can read; only the feed's own inbox and path are ever read.
    """
    configured = config.path(feed.path)
    if not file or Path(file).resolve() == configured.resolve():
        return configured
    source = Path(file).resolve()
    inbox = config.path(feed.inbox).resolve() if feed.inbox is not None else None
    if inbox is None or inbox not in source.parents:
        where = f"its inbox {inbox}" if inbox else "no inbox (set feeds.inbox)"
        raise ValueError(
            f"{file}: feed {feed.name} reads only its configured path {configured} or files "
            f"in {where}"
        )
    return source


def _ingest_run_name() -> str:
    from prefect.runtime import flow_run

    parameters = flow_run.parameters
    file = Path(parameters.get("file") or "").name or "its configured source"
    return f"ingest {parameters['feed']} from {file}"


@flow(name="convive-ingest", flow_run_name=_ingest_run_name, persist_result=False)
def ingest_stage(
    config_path: str, feed: str, file: str = "", partition_mb: float = 0, demo: bool = False
) -> dict[str, Any]:
    """Load one file of one feed (its configured path when `file` is empty), then say so.

    Files larger than `partition_mb` (0: never) are checked in partitions on Dask.
    The batch is announced (`convive.feed.loaded`) unless indicators already include it, so
    a re-run after a crash between loading and announcing still moves the chain on.
    """
    config = load_config(config_path)
    source = allowed_source(config, feed_named(config, feed), file)
    prepare_if_missing_task(config_path)
    parts = 1
    if partition_mb and source.stat().st_size > partition_mb * (1 << 20):
        # Imported only for large files: it brings Dask in.
        from flows.partitions import partitions_for

        parts = partitions_for(config, feed, source, partition_mb)
    if parts > 1:
        from flows.partitions import ingest_partitioned

        report = ingest_partitioned(config_path, feed, str(source), parts, demo)
    else:
        report = ingest_file_task(config_path, feed, str(source), demo)
    if batch_stage_task(config_path, report.batch_id) == "loaded":
        events.emit_feed_loaded(
            events.instance_name(config.project.name),
            feed,
            report.batch_id,
            report.periods,
            report.rows_loaded,
            report.skipped,
        )
    return asdict(report)


# -- indicators -----------------------------------------------------------------------------


def indicator_periods(config: Config, batches: list[progress.LedgerBatch]) -> dict[str, list[str]]:
    """The periods of each indicator that these batches change (within the window)."""
    touched: dict[str, set[str]] = {}
    for batch in batches:
        touched.setdefault(batch.feed, set()).update(batch.periods)
    return steps.indicator_periods(config, touched)


@task(task_run_name="batches owed to indicators", cache_policy=NO_CACHE, **io_retries())
def batches_to_compute_task(config_path: str) -> list[progress.LedgerBatch]:
    """Loaded batches no indicator computation has included yet."""
    with locked_warehouse(load_config(config_path)) as engine:
        return progress.batches_to_compute(engine)


@task(task_run_name="compute indicators", **_RESUMABLE, **io_retries())
def compute_task(
    config_path: str, batch_ids: list[str], periods: dict[str, list[str]]
) -> dict[str, int]:
    """Recompute each indicator for its periods (batch ids key the cached result)."""
    config = load_config(config_path)
    with locked_warehouse(config) as engine:
        return steps.compute_periods(config, engine, periods)


@task(task_run_name="mark indicated", cache_policy=NO_CACHE, **io_retries())
def mark_indicated_task(config_path: str, batch_ids: list[str]) -> None:
    """Record that the indicators include these batches."""
    with locked_warehouse(load_config(config_path)) as engine:
        progress.mark_indicated(engine, batch_ids)


@task(task_run_name="batches owed to the publication", cache_policy=NO_CACHE, **io_retries())
def batches_to_publish_task(config_path: str) -> list[str]:
    """Batches in the indicators that no publication has included yet."""
    with locked_warehouse(load_config(config_path)) as engine:
        return [b.batch_id for b in progress.batches_to_publish(engine)]


def rename_current_run(name: str) -> None:
    """Give the running flow run a name that says what it turned out to do."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, name=name)


@flow(
    name="convive-indicators",
    flow_run_name="indicators after batch {after_batch}",
    persist_result=False,
)
def indicators_stage(config_path: str, after_batch: str = "") -> dict[str, Any]:
    """Compute the indicators for every batch still owed, then hand over to publication.

    A trigger window lets one run follow several loads: the run reads what is owed when it
    starts, not what the event that scheduled it named.
    """
    config = load_config(config_path)
    pending = batches_to_compute_task(config_path)
    batch_ids = sorted(b.batch_id for b in pending)
    periods = indicator_periods(config, pending)
    written: dict[str, int] = {}
    if pending:
        rename_current_run(
            f"indicators {events.periods_label(periods)} for {len(batch_ids)} batch(es)"
        )
        written = compute_task(config_path, batch_ids, periods)
        mark_indicated_task(config_path, batch_ids)
    if pending or _rerun_or_by_hand(after_batch):
        # A re-run (after a crash between marking and announcing) or a run started by hand
        # announces whatever is owed; a triggered run that found nothing leaves it to the
        # run that computed it, which announced it already.
        owed = batches_to_publish_task(config_path)
        if owed:
            instance = events.instance_name(config.project.name)
            events.emit_indicators_updated(instance, owed, periods)
    return {"batches": batch_ids, "periods": periods, "rows": written}


def _rerun_or_by_hand(after_batch: str) -> bool:
    from prefect.runtime import flow_run

    return flow_run.run_count > 1 or not after_batch


# -- quality gate and publication -----------------------------------------------------------


def gate_in_child(config_path: str, warehouse_url: str) -> tuple[QualityReport, str]:
    """Run the quality suites and write the Data Docs (in the process `gate_alongside` starts).

    Returns the report unjudged: the caller raises QualityGateFailed from it.
    """
    config = reading(load_config(config_path), warehouse_url)
    engine = open_warehouse(warehouse_url)
    try:
        report, docs = steps.quality_gate(config, engine)
    finally:
        engine.dispose()
    return report, str(docs)


@contextmanager
def gate_alongside(config_path: str, warehouse_url: str) -> Iterator[Callable[[], str]]:
    """Run the quality gate in another process while this one prepares the publication.

    Importing and running Great Expectations takes seconds, and so does disclosure control:
    on two cores they overlap. Yields the verdict: call it before writing anything; it waits
    for the gate, raises QualityGateFailed on a failure and returns the Data Docs' path.
    """
    spawn = multiprocessing.get_context("spawn")  # no fork of a process running threads
    with (
        duckdb_copy(warehouse_url) as own_url,
        ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool,
    ):
        gate = pool.submit(gate_in_child, config_path, own_url)

        def verdict() -> str:
            report, docs = gate.result()
            report.raise_if_failed()
            return docs

        try:
            yield verdict
        except Exception as error:
            # Data the gate refuses can also break the packaging: the gate's verdict says
            # more (and raises the error the stage reports as convive.quality.failed).
            if gate.exception() is None and gate.result()[0].failures:
                raise _gate_failure(gate.result()[0]) from error
            raise


def _gate_failure(report: QualityReport) -> Exception:
    from warehouse.quality_gate import QualityGateFailed

    return QualityGateFailed(report.failures)


@task(task_run_name="quality gate and publish", cache_policy=NO_CACHE, **io_retries())
def publish_task(config_path: str, warehouse_url: str) -> tuple[str, list[str]]:
    """Quality gate (alongside), protect and package every dataset, then, if the gate passed,
    write the local catalogue and the portal (`steps.write_publication`, the same publication
    as `convive run`). A failed gate raises QualityGateFailed before anything is written.

    Portal calls hold a slot of the `convive-portal` global concurrency limit, so that no
    more publications than it allows talk to CKAN at once, from any machine.
    """
    from prefect.concurrency.sync import concurrency

    config = reading(load_config(config_path), warehouse_url)
    with gate_alongside(config_path, warehouse_url) as verdict:
        engine = open_warehouse(warehouse_url)
        try:
            written = steps.write_publication(
                config,
                engine,
                portal_slot=lambda: concurrency(PORTAL_LIMIT, occupy=1),
                before_writing=verdict,
            )
        finally:
            engine.dispose()
    return str(written.index), sorted(package.name for package in written.datasets)


@task(task_run_name="mark published", cache_policy=NO_CACHE, **io_retries())
def mark_published_task(config_path: str, batch_ids: list[str]) -> None:
    """Record that the publication includes these batches."""
    with locked_warehouse(load_config(config_path)) as engine:
        progress.mark_published(engine, batch_ids)


@flow(name="convive-publish", flow_run_name="gate and publish {periods}", persist_result=False)
def publish_stage(config_path: str, periods: str = "") -> dict[str, Any]:
    """Quality gate, then publish every dataset, if any batch is still owed a publication.

    A failed gate publishes nothing, emits `convive.quality.failed` and fails the run; the
    batches stay owed and the next publication includes them. The local catalogue is written
    on the machine that runs this stage (with workers: give the publish queue one machine,
    or put the catalogue on shared storage).
    """
    from warehouse.quality_gate import QualityGateFailed

    config = load_config(config_path)
    instance = events.instance_name(config.project.name)
    catalogue = config.path(config.publish.catalogue_dir)
    # One publication at a time: an older snapshot must never overwrite a newer catalogue.
    with file_lock(catalogue.with_name(catalogue.name + ".lock")):
        owed = batches_to_publish_task(config_path)
        if not owed:
            return {"batches": [], "datasets": []}
        # The gate and the packages read one snapshot: what is published is what passed.
        with warehouse_snapshot(config) as snapshot:
            try:
                index, datasets = publish_task(config_path, snapshot)
            except QualityGateFailed as failed:
                failures = [f.describe() for f in failed.failures]
                events.emit_quality_failed(instance, owed, failures)
                raise
        mark_published_task(config_path, owed)
    events.emit_dataset_published(instance, datasets, owed, Path(index))
    return {"batches": owed, "datasets": datasets, "catalogue": index}
