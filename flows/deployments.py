"""`convive serve`: the chain's deployments, their triggers and schedules, and recovery.

One deployment per stage, named after the configuration's instance (a slug of the project
name), chained by events:

- ingest: on `convive.feed.arrived` (feed and file from the event), and on each feed's cron
  `schedule` (its configured path);
- indicators: on `convive.feed.loaded`. The trigger fires on the first load, schedules the
  run `window` seconds later and ignores further loads within that window: the run computes
  every batch owed when it starts, so several feeds arriving together cause one run;
- quality gate and publish: on `convive.indicators.updated`.

Serving: this process runs the flow runs (each in a subprocess) while it polls the server.
On start it takes over runs a killed predecessor left Running or Pending: they are set back to
Scheduled and run again, and their tasks' persisted results let them resume. Events that arrive
while nothing serves create runs on the server that wait until serving resumes.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from flows import events
from flows.config import Config, load_config
from flows.stages import PORTAL_LIMIT

log = logging.getLogger("convive.serve")
INTERRUPTED_STATES = ("RUNNING", "PENDING")


class ServeError(RuntimeError):
    """Serving cannot start (no server configured, or another server holds this instance)."""


@dataclass(frozen=True)
class ServeOptions:
    """How the chain is served."""

    window_seconds: float = 10.0  # loads within this window share one indicator run
    partition_mb: float = 256  # files above this are checked in parts on Dask (0: never)
    limit: int = 4  # flow runs at once in this process
    portal_slots: int = 1  # CKAN publications at once, over every machine
    demo: bool = False  # allow the well-known demo pseudonymisation key
    watch: bool = True  # also watch the feeds' inboxes
    poll_seconds: float = 1.0  # inbox poll interval


def arrival_trigger(instance: str):
    """Ingest each arrived file of this instance."""
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        name=f"{instance}: ingest arrived files",
        expect={events.FEED_ARRIVED},
        match={events.INSTANCE_LABEL: instance},
        parameters={
            "feed": "{{ event.resource['" + events.FEED_LABEL + "'] }}",
            "file": "{{ event.resource['" + events.FILE_LABEL + "'] }}",
        },
    )


def loaded_trigger(instance: str, window_seconds: float):
    """One indicator run per window of loads, started when the window closes."""
    from prefect.events import DeploymentEventTrigger

    window = timedelta(seconds=window_seconds)
    return DeploymentEventTrigger(
        name=f"{instance}: indicators after loads",
        expect={events.FEED_LOADED},
        match={events.INSTANCE_LABEL: instance},
        within=window,
        schedule_after=window,
        parameters={"after_batch": "{{ event.resource['" + events.BATCH_LABEL + "'] }}"},
    )


def updated_trigger(instance: str):
    """Gate and publish after each indicator update."""
    from prefect.events import DeploymentEventTrigger

    return DeploymentEventTrigger(
        name=f"{instance}: gate and publish updated indicators",
        expect={events.INDICATORS_UPDATED},
        match={events.INSTANCE_LABEL: instance},
        parameters={"periods": "{{ event.payload.label }}"},
    )


def feed_schedules(config: Config) -> list:
    """A cron schedule per feed that has one: poll its configured path."""
    from prefect.schedules import Cron

    return [Cron(f.schedule, parameters={"feed": f.name}) for f in config.feeds if f.schedule]


def chain_deployments(config: Config, options: ServeOptions) -> list:
    """The three stage deployments of a configuration, with triggers and schedules."""
    from prefect.deployments.runner import EntrypointType

    from flows.stages import indicators_stage, ingest_stage, publish_stage

    instance = events.instance_name(config.project.name)
    config_path = str(config.source_file)
    common = {"name": instance, "entrypoint_type": EntrypointType.MODULE_PATH}
    tags = ["convive", instance]
    return [
        ingest_stage.to_deployment(
            **common,
            parameters={
                "config_path": config_path,
                "partition_mb": options.partition_mb,
                "demo": options.demo,
            },
            triggers=[arrival_trigger(instance)],
            schedules=feed_schedules(config),
            tags=tags,
            description="Load one file of one feed; emits convive.feed.loaded.",
        ),
        indicators_stage.to_deployment(
            **common,
            parameters={"config_path": config_path},
            triggers=[loaded_trigger(instance, options.window_seconds)],
            tags=tags,
            description="Compute the indicators every owed batch touches.",
        ),
        publish_stage.to_deployment(
            **common,
            parameters={"config_path": config_path},
            triggers=[updated_trigger(instance)],
            tags=tags,
            description="Quality gate, then publish; emits convive.dataset.published.",
        ),
    ]


async def reschedule_interrupted_runs(deployment_ids: list[UUID]) -> list[str]:
    """Set runs of these deployments left Running or Pending back to Scheduled.

    Only safe because one `convive serve` runs these deployments (the serve lock): a run in
    those states was started by a predecessor that is gone. Its subflow runs (partitioned
    ingestion) are marked Crashed; the re-run starts new ones, which reuse cached parts.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterParentFlowRunId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.states import Crashed, Scheduled

    interrupted = FlowRunFilterState(type=FlowRunFilterStateType(any_=list(INTERRUPTED_STATES)))
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=deployment_ids), state=interrupted
            )
        )
        if not runs:
            return []
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[r.id for r in runs]),
                state=interrupted,
            )
        )
        for child in children:
            await client.set_flow_run_state(
                child.id, Crashed(message="its serving process died"), force=True
            )
        for run in runs:
            await client.set_flow_run_state(
                run.id, Scheduled(message="restarted: its serving process died"), force=True
            )
    return [run.name for run in runs]


async def ensure_portal_limit(slots: int) -> None:
    """Create or update the global concurrency limit around portal calls."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(PORTAL_LIMIT, slots)


@contextmanager
def serve_lock(instance: str) -> Iterator[None]:
    """One `convive serve` per instance on this machine (it takes over interrupted runs)."""
    from prefect.settings import PREFECT_HOME

    home = Path(PREFECT_HOME.value())
    home.mkdir(parents=True, exist_ok=True)
    with open(home / f"convive-serve-{instance}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServeError(
                f"another `convive serve` already serves {instance!r} on this machine "
                f"(lock {handle.name})"
            ) from None
        yield


def api_url() -> str:
    """The Prefect server to serve against; ServeError when none is configured."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ServeError(
            "serving needs a Prefect server: start one (`prefect server start`) and set "
            "PREFECT_API_URL, e.g. http://127.0.0.1:4200/api (docs/operations.md)"
        )
    return url


def serve_chain(config_path: Path, options: ServeOptions) -> None:
    """Register the deployments, take over interrupted runs, then serve (and watch) until
    stopped (SIGTERM or Ctrl-C: runs in progress are left to finish)."""
    import asyncio

    config = load_config(config_path)
    instance = events.instance_name(config.project.name)
    log.info("serving %s against %s", instance, api_url())
    with serve_lock(instance):
        # Built before the event loop: in one, Prefect turns to_deployment into a coroutine.
        deployments = chain_deployments(config, options)
        asyncio.run(_serve(config, deployments, options))


async def _serve(config: Config, deployments: list, options: ServeOptions) -> None:
    import anyio
    from prefect.runner import Runner

    from flows.inbox import watch_inboxes

    instance = events.instance_name(config.project.name)
    runner = Runner(name=f"convive-{instance}", pause_on_shutdown=False, limit=options.limit)
    ids = [await runner.aadd_deployment(d) for d in deployments]
    await ensure_portal_limit(options.portal_slots)
    restarted = await reschedule_interrupted_runs(ids)
    if restarted:
        log.info("restarting interrupted runs: %s", ", ".join(restarted))
    async with anyio.create_task_group() as group:
        if options.watch:
            group.start_soon(lambda: watch_inboxes(config, interval=options.poll_seconds))
        await runner.start()
        group.cancel_scope.cancel()
