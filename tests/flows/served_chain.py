"""A real served chain for tests and the latency bench: a local Prefect server on SQLite,
`convive serve` processes, small demo-like configurations with one inbox per feed.

Processes are started as `sh -c 'echo $$ > pidfile; exec ...'` in their own session, so the
pid file names the process itself and a kill of its process group takes its flow runs too.
Waiting is polling against a deadline, never sleeping for a fixed time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "demo"
VENV_BIN = Path(sys.executable).parent
TEST_KEY = "convive-test-key-0123456789"  # not the demo key: served runs refuse that
FEED_FILES = {  # config feed name -> (generator feed, file name)
    "policia-sintetico": ("police_incidents", "synthetic_police_incidents.csv"),
    "servicios-sociales-sintetico": ("social_cases", "synthetic_social_cases.csv"),
    "ausentismo-sintetico": ("school_absence", "synthetic_school_absence.csv"),
}
T = TypeVar("T")


def poll_until(check: Callable[[], T], *, timeout: float, what: str, every: float = 0.5) -> T:
    """Call `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)  # a poll interval, not a wait for an outcome


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Process:
    """A process started in its own session, known by its pid file."""

    pid_file: Path
    log: Path
    popen: subprocess.Popen | None = None  # when this process started it (to reap it)

    @property
    def pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None  # also reaps it: no zombie left
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, ValueError, FileNotFoundError):
            return False
        return True

    def kill_group(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the process and everything it started (its session's process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL if it has not ended by the deadline."""
        if not self.pid_file.exists() or not self.alive():
            return
        self.kill_group(signal.SIGTERM)
        try:
            poll_until(lambda: not self.alive(), timeout=timeout, what="process to stop", every=0.2)
        except TimeoutError:
            self.kill_group(signal.SIGKILL)


def _end_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM when the starting process dies.

    A test run or bench killed by a timeout then leaves no server behind (the new session
    puts the child out of reach of a signal sent to the parent's process group).
    """
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_process(command: list[str], *, pid_file: Path, log: Path, env: dict) -> Process:
    """Start `command` in a new session; its pid file names the process itself."""
    pid_file.unlink(missing_ok=True)
    script = 'echo $$ > "$0"; exec "$@"'
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            ["sh", "-c", script, str(pid_file), *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_end_with_parent if sys.platform == "linux" else None,
        )
    poll_until(pid_file.exists, timeout=10, what=f"pid file {pid_file}", every=0.05)
    poll_until(lambda: pid_file.read_text().strip(), timeout=10, what="pid", every=0.05)
    return Process(pid_file, log, popen)


def base_environment(home: Path) -> dict[str, str]:
    """Environment of every process: telemetry off, Prefect state in `home`."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        }
    )
    env.pop("PREFECT_API_URL", None)
    return env


@dataclass
class PrefectServer:
    """A local `prefect server start` on SQLite in its own PREFECT_HOME."""

    home: Path
    port: int
    process: Process

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @classmethod
    def start(cls, home: Path, *, timeout: float = 90) -> PrefectServer:
        """Start the server and wait until it answers its health check."""
        import httpx

        home.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = base_environment(home)
        env["PREFECT_SERVER_UI_ENABLED"] = "false"
        command = [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1"]
        process = start_process(
            [*command, "--port", str(port), "--no-ui"],
            pid_file=home / "server.pid",
            log=home / "server.log",
            env=env,
        )
        server = cls(home, port, process)

        def healthy() -> bool:
            if not process.alive():
                raise RuntimeError(f"prefect server exited: see {process.log}")
            try:
                return httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        poll_until(healthy, timeout=timeout, what="the Prefect server to answer")
        return server

    def stop(self) -> None:
        self.process.stop()

    def settings(self):
        """Settings context pointing this process's Prefect client at the server."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        return temporary_settings(updates={PREFECT_API_URL: self.api_url})


def serve_environment(server: PrefectServer, home: Path) -> dict[str, str]:
    """Environment of a `convive serve` (or watch) process talking to `server`."""
    env = base_environment(home)
    env.update(
        {
            "PREFECT_API_URL": server.api_url,
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "CONVIVE_PSEUDONYM_KEY": TEST_KEY,
        }
    )
    return env


def start_serving(
    server: PrefectServer, config: Path, home: Path, *, window: float, extra: list[str] = ()
) -> Process:
    """Start `convive serve` for a configuration (deployments, triggers, inbox watcher)."""
    home.mkdir(parents=True, exist_ok=True)
    command = [str(VENV_BIN / "convive"), "serve", "--config", str(config)]
    return start_process(
        [*command, "--window", str(window), "--poll", "0.5", *extra],
        pid_file=home / "serve.pid",
        log=home / "serve.log",
        env=serve_environment(server, home),
    )


# -- configuration and feed files -----------------------------------------------------------


def write_served_config(folder: Path, project: str, *, police_rows: int = 3000) -> Path:
    """The demo's configuration, small: three synthetic feeds (2022-2023), one inbox each.

    Two years, so that year-on-year indicators have values to publish.
    """
    demo = tomllib.loads((DEMO_DIR / "convive.toml").read_text(encoding="utf-8"))
    demo["project"]["name"] = project
    for key in ("boundaries", "population"):
        demo["territories"][key] = str(DEMO_DIR / demo["territories"][key])
    demo["warehouse"] = {"url": "duckdb:///work/warehouse.duckdb"}
    feeds = []
    for feed in demo["feeds"]:
        if feed["name"] in FEED_FILES:
            name = FEED_FILES[feed["name"]][1]
            feeds.append({**feed, "inbox": f"inbox/{feed['name']}", "path": f"work/{name}"})
    demo["feeds"] = feeds
    demo["indicators"].update(first_period="2022-01", last_period="2023-12")
    demo["synthetic"] = {
        **demo.get("synthetic", {}),
        "police_rows": police_rows,
        "students": max(50, police_rows // 15),
        "social_cases": max(50, police_rows // 10),
        "folder": "staging",
    }
    path = folder / "convive.toml"
    path.write_text(to_toml(demo), encoding="utf-8")
    return path


def to_toml(document: dict[str, Any]) -> str:
    """TOML for a configuration: tables of scalars and lists, arrays of tables."""
    lines: list[str] = []

    def table(prefix: str, values: dict[str, Any], header: str) -> None:
        lines.append(header)
        nested = []
        for key, value in values.items():
            if isinstance(value, dict):
                nested.append((key, value))
            else:
                lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        lines.append("")
        for key, value in nested:
            table(f"{prefix}.{key}", value, f"[{prefix}.{key}]")

    for key, value in document.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                table(key, item, f"[[{key}]]")
        elif isinstance(value, dict):
            table(key, value, f"[{key}]")
    return "\n".join(lines)


def generate_feeds(config_path: Path, *, seed: int | None = None) -> dict[str, Path]:
    """Write the configuration's synthetic feeds into its staging folder, by config feed."""
    from flows.cli import _generate
    from flows.config import load_config

    written = _generate(load_config(config_path), seed=seed)
    return {feed: written[generator] for feed, (generator, _) in FEED_FILES.items()}


def drop(file: Path, inbox: Path, name: str | None = None) -> Path:
    """Move a finished file into an inbox the atomic way: write aside, then rename."""
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / (name or file.name)
    partial = inbox / f"{target.name}.part"
    partial.write_bytes(file.read_bytes())
    partial.replace(target)
    return target


def revised_police_file(original: Path, folder: Path, months: tuple[str, ...]) -> Path:
    """A revision of the police file covering only `months`, with every third row removed."""
    lines = original.read_text(encoding="utf-8").splitlines(keepends=True)
    title, header, rows = lines[0], lines[1], lines[2:]
    kept = [r for r in rows if r.split(",")[1][:7] in months]
    revised = [r for i, r in enumerate(kept) if i % 3]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"police-revision-{'-'.join(months)}.csv"
    path.write_text(title + header + "".join(revised), encoding="utf-8")
    return path


# -- reading the warehouse and the server -----------------------------------------------------


def query(config_path: Path, sql: str) -> list[tuple]:
    """Rows of a query on the configuration's warehouse, under its writer lock."""
    from sqlalchemy import text

    from flows.config import load_config
    from flows.warehouse_lock import warehouse_lock
    from warehouse.engine import open_warehouse

    config = load_config(config_path)
    with warehouse_lock(config.warehouse_url):
        engine = open_warehouse(config.warehouse_url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql))]
        finally:
            engine.dispose()


def published_batches(config_path: Path) -> dict[str, float]:
    """Published batch ids and when (epoch seconds); empty before the first publication."""
    from sqlalchemy.exc import DBAPIError

    try:
        rows = query(
            config_path,
            "SELECT batch_id, published_at FROM chain_progress WHERE published_at IS NOT NULL",
        )
    except DBAPIError:  # no progress table yet
        return {}
    return {batch: at.timestamp() for batch, at in rows}


def flow_runs(server: PrefectServer, flow_name: str, deployment_name: str | None) -> list:
    """Every run of a flow's deployment (None: of the flow), oldest first."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowFilter,
        FlowFilterName,
    )

    async def read() -> list:
        async with get_client() as client:
            deployments = (
                DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name]))
                if deployment_name
                else None
            )
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                deployment_filter=deployments,
            )
            return sorted(runs, key=lambda r: r.created)

    with server.settings():
        return asyncio.run(read())


def read_events(server: PrefectServer, event: str, instance: str) -> list:
    """Stored events of one name for one instance, oldest first."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    async def read() -> list:
        async with get_client() as client:
            page = await client.read_events(
                filter=EventFilter(
                    event=EventNameFilter(name=[event]),
                    resource=EventResourceFilter(labels={"convive.instance": instance}),
                ),
                limit=50,  # the server's maximum page
            )
            return sorted(page.events, key=lambda e: e.occurred)

    with server.settings():
        return asyncio.run(read())


def police_counts(path: Path) -> dict[tuple[str, str], int]:
    """Valid police rows of a synthetic file by (territory code, period), from its text.

    The generator's planted bad rows (unknown comuna 77, an impossible date, an unknown
    label) are the rows the contract quarantines; every other row counts once.
    """
    from datetime import date

    from connectors.synthetic_feeds import POLICE_LABELS

    counts: dict[tuple[str, str], int] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[1].split(",")
    column = {name: i for i, name in enumerate(header)}
    for line in lines[2:]:
        fields = line.split(",")
        comuna, day, label = (fields[column[c]] for c in ("COMUNA", "FECHA", "DELITO"))
        try:
            date.fromisoformat(day)
        except ValueError:
            continue
        if comuna == "77" or label not in POLICE_LABELS:
            continue
        key = (f"05001-{comuna}", day[:7])
        counts[key] = counts.get(key, 0) + 1
    return counts


def incident_numerators(config_path: Path, periods: tuple[str, ...]) -> dict[tuple[str, str], int]:
    """Published-to-be incident counts (all categories) by district and period."""
    listed = ", ".join(f"'{p}'" for p in periods)
    rows = query(
        config_path,
        "SELECT territory_code, period, numerator FROM indicator_values "
        "WHERE indicator_id = 'incidents_per_10k' AND breakdown = 'all' "
        f"AND territory_level = 'district' AND period IN ({listed})",
    )
    return {(code, period): int(value) for code, period, value in rows if value}


def run_timeline(server: PrefectServer) -> list[str]:
    """Every flow run's states with seconds since the first run was created (diagnostics)."""
    import asyncio

    from prefect.client.orchestration import get_client

    async def read() -> list[str]:
        async with get_client() as client:
            runs = sorted(await client.read_flow_runs(limit=200), key=lambda r: r.created)
            if not runs:
                return []
            start = runs[0].created
            lines = []
            for run in runs:
                states = await client.read_flow_run_states(run.id)
                steps = ", ".join(
                    f"{s.name} {(s.timestamp - start).total_seconds():.1f}" for s in states
                )
                lines.append(f"{run.name}: {steps}")
            return lines

    with server.settings():
        return asyncio.run(read())
