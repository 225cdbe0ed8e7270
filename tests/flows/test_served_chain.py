"""The served chain end to end: a real local Prefect server (SQLite), `convive serve`, inboxes.

Files dropped into the inboxes must reach a published catalogue with no other action; a
revision must recompute only its periods; a serving process killed mid-chain and started
again must finish the chain with no duplicated rows and no lost batch, including a file that
arrived while nothing was serving. One server and one served configuration for the module.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flows import events
from flows.steps import file_sha256
from tests.flows import served_chain as sc
from warehouse.indicators import affected_periods, load_catalogue
from warehouse.loads import batch_id_for

WINDOW = 5.0  # seconds of loads that share one indicator run
CHAIN_TIMEOUT = 300.0  # a deadline for failing, not an expected duration
PROJECT = "Convive served chain test"
INSTANCE = events.instance_name(PROJECT)


@dataclass
class Served:
    """The module's served configuration and what was dropped into it."""

    server: sc.PrefectServer
    config: Path
    home: Path
    files: dict[str, Path]
    serving: sc.Process

    def inbox(self, feed: str) -> Path:
        return self.config.parent / "inbox" / feed

    def restart(self) -> None:
        self.serving = sc.start_serving(self.server, self.config, self.home, window=WINDOW)


def _wait_published(config: Path, count: int) -> dict[str, float]:
    return sc.poll_until(
        lambda: (
            (published := sc.published_batches(config)) and len(published) >= count and published
        ),
        timeout=CHAIN_TIMEOUT,
        what=f"{count} published batches",
    )


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory) -> Iterator[sc.PrefectServer]:
    """A real `prefect server start` on SQLite, for this module only."""
    server = sc.PrefectServer.start(tmp_path_factory.mktemp("prefect-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served(prefect_server, tmp_path_factory) -> Iterator[Served]:
    """Serve a small configuration and drop its three feeds at once; wait for publication."""
    folder = tmp_path_factory.mktemp("served")
    config = sc.write_served_config(folder, PROJECT)
    files = sc.generate_feeds(config)
    home = folder / "serve-home"
    state = Served(prefect_server, config, home, files, sc.Process(home / "serve.pid", home))
    state.restart()
    try:
        for feed, file in files.items():
            sc.drop(file, state.inbox(feed))
        _wait_published(config, 3)
        yield state
    finally:
        state.serving.stop()
        print("\n".join(sc.run_timeline(prefect_server)))  # shown when a test fails


def test_dropped_files_are_published_with_no_other_action(served):
    published = sc.published_batches(served.config)
    ledger = dict(sc.query(served.config, "SELECT batch_id, file_name FROM load_ledger"))
    assert sorted(published) == sorted(ledger)
    assert sorted(ledger.values()) == sorted(f.name for f in served.files.values())
    # The published figures are the source file's: incidents by district and month.
    police = served.files["policia-sintetico"]
    expected = sc.police_counts(police)
    months = tuple(sorted({period for _, period in expected}))
    assert sc.incident_numerators(served.config, months) == expected
    catalogue = served.config.parent / "work" / "catalogue"
    graph = json.loads((catalogue / "catalog.jsonld").read_text(encoding="utf-8"))["@graph"]
    datasets = [n for n in graph if n.get("@type") == "dcat:Dataset"]
    # One dataset per indicator and the record-level incidents, as `convive run` publishes.
    assert len(datasets) == len(load_catalogue()) + 1


def test_feeds_arriving_together_cause_one_indicator_run(served):
    runs = sc.flow_runs(served.server, "convive-indicators", INSTANCE)
    computing = [r.name for r in runs if not r.name.startswith("indicators after batch")]
    # Named by what they did: the first computation covered all three batches at once.
    assert computing[0] == "indicators 2022-01..2023-12 for 3 batch(es)"
    ingests = sc.flow_runs(served.server, "convive-ingest", INSTANCE)
    assert sorted(r.name for r in ingests[:3]) == sorted(
        f"ingest {feed} from {file.name}" for feed, file in served.files.items()
    )


def test_a_revision_recomputes_only_its_periods(served):
    original = served.files["policia-sintetico"]
    months = ("2023-11", "2023-12")
    revision = sc.revised_police_file(original, served.config.parent / "revisions", months)
    sc.drop(revision, served.inbox("policia-sintetico"))
    # Its publication follows (the next test waits for it): here, the recomputation.
    batch = batch_id_for("synthetic-police-incidents", file_sha256(revision))

    def update_with_the_revision() -> list:
        updates = sc.read_events(served.server, events.INDICATORS_UPDATED, INSTANCE)
        return [u for u in updates if batch in u.payload["batches"]]

    (update,) = sc.poll_until(
        update_with_the_revision, timeout=CHAIN_TIMEOUT, what="the revision's indicators"
    )
    # Only what the catalogue says these two months of police data change was recomputed.
    window = [f"{y}-{m:02d}" for y in (2022, 2023) for m in range(1, 13)]
    expected_periods = {
        indicator.id: affected_periods(indicator, {"police_incidents": months}, window)
        for indicator in load_catalogue()
        if "police_incidents" in indicator.feeds
    }
    assert update.payload["periods"] == expected_periods
    assert expected_periods["incidents_per_10k"] == list(months)
    assert sc.incident_numerators(served.config, months) == sc.police_counts(revision)
    untouched = ("2023-09", "2023-10")
    expected = {k: v for k, v in sc.police_counts(original).items() if k[1] in untouched}
    assert sc.incident_numerators(served.config, untouched) == expected


def test_killed_serving_resumes_without_duplicates_or_lost_batches(served):
    before = len(sc.query(served.config, "SELECT batch_id FROM load_ledger"))
    original = served.files["policia-sintetico"]
    revisions = served.config.parent / "revisions"
    june = sc.revised_police_file(original, revisions, ("2023-06",))
    sc.drop(june, served.inbox("policia-sintetico"))

    def june_ingest_running():
        runs = sc.flow_runs(served.server, "convive-ingest", INSTANCE)
        return [r for r in runs if _file_of(r) == june.name and r.state_type.value == "RUNNING"]

    # Polled closely: the ingestion runs for well under a second, and the kill must land
    # while it is still running.
    interrupted = sc.poll_until(
        june_ingest_running, timeout=120, what="the June ingestion", every=0.02
    )[0]
    served.serving.kill_group()  # the serving process and its flow runs, mid-chain

    # While nothing serves: a file arrives and the (real) watcher announces it.
    july = sc.revised_police_file(original, revisions, ("2023-07",))
    sc.drop(july, served.inbox("policia-sintetico"))
    _announce_once(served)
    sc.poll_until(
        lambda: [
            r
            for r in sc.flow_runs(served.server, "convive-ingest", INSTANCE)
            if _file_of(r) == july.name and r.state_type.value == "SCHEDULED"
        ],
        timeout=60,
        what="a run for the July file, queued while nothing serves",
    )

    served.restart()
    _wait_published(served.config, before + 2)

    runs = {r.id: r for r in sc.flow_runs(served.server, "convive-ingest", INSTANCE)}
    assert runs[interrupted.id].state_type.value == "COMPLETED"
    assert runs[interrupted.id].run_count >= 2  # it ran again after the kill
    files = [f for (f,) in sc.query(served.config, "SELECT file_name FROM load_ledger")]
    assert sorted(files).count(june.name) == 1 and files.count(july.name) == 1
    duplicated = sc.query(
        served.config,
        "SELECT COUNT(*) - COUNT(DISTINCT incident_id) FROM police_incidents",
    )
    assert duplicated == [(0,)]
    # June and July hold the revisions' rows, May still the original's.
    expected = {k: v for k, v in sc.police_counts(original).items() if k[1] == "2023-05"}
    expected |= sc.police_counts(june) | sc.police_counts(july)
    months = ("2023-05", "2023-06", "2023-07")
    assert sc.incident_numerators(served.config, months) == expected


def _file_of(run) -> str:
    """The file an ingest run is for (its name says so only once it has started)."""
    return Path(run.parameters.get("file", "")).name


def _announce_once(served: Served) -> None:
    """Run the inbox watcher of `convive watch` here for two polls (a file needs two)."""
    from flows.config import load_config
    from flows.inbox import watch_inboxes

    with served.server.settings():
        asyncio.run(watch_inboxes(load_config(served.config), interval=0.2, polls=2))


def test_a_large_file_checked_in_parts_on_dask_loads_like_the_whole_file(
    prefect_server, tmp_path, monkeypatch
):
    from prefect.events.worker import EventsWorker

    from flows import steps
    from flows.config import load_config
    from flows.stages import feed_named, ingest_stage, locked_warehouse

    monkeypatch.setenv("CONVIVE_PSEUDONYM_KEY", sc.TEST_KEY)
    feed = "policia-sintetico"
    rows = 3000  # about 210 kB: three parts of at most 0.08 MB
    whole, parts = (
        load_config(sc.write_served_config(_folder(tmp_path / name), name, police_rows=rows))
        for name in ("whole", "parts")
    )
    source = sc.generate_feeds(whole.source_file)[feed]
    with locked_warehouse(whole) as engine:
        steps.prepare_warehouse(whole, engine)
        plain = steps.ingest_feed(
            whole,
            engine,
            feed_named(whole, feed).model_copy(update={"path": source}),
            secret=sc.TEST_KEY.encode(),
        )
    landed = sc.drop(source, parts.source_file.parent / "inbox" / feed)
    with prefect_server.settings():
        cut = ingest_stage(str(parts.source_file), feed, str(landed), partition_mb=0.08)
        EventsWorker.drain_all()  # its convive.feed.loaded, while the server is set

    (subflow,) = sc.flow_runs(prefect_server, "convive-ingest-partitioned", None)
    assert subflow.name == f"ingest {feed} in 3 parts"
    assert subflow.state_type.value == "COMPLETED"
    assert (cut["batch_id"], cut["rows_read"], cut["rows_loaded"], cut["periods"]) == (
        plain.batch_id,
        plain.rows_read,
        plain.rows_loaded,
        plain.periods,
    )
    assert cut["rows_quarantined"] == plain.rows_quarantined == 3  # the planted rows
    for sql in (
        "SELECT * FROM police_incidents ORDER BY incident_id",
        "SELECT batch_id, source_row, raw, reasons FROM quarantine ORDER BY source_row",
    ):
        assert sc.query(parts.source_file, sql) == sc.query(whole.source_file, sql)


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path
