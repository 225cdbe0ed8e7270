"""Latency from a file landing in an inbox to its data being published, served end to end.

A local Prefect server (SQLite) and `convive serve` (PREFECT_RUNNER_POLL_FREQUENCY=1) on a
small demo-like configuration. After a warm-up (the three feeds, published once), files land
one at a time: each a revision of the police feed for one month, renamed into the inbox;
latency is from the rename to the moment its batch is recorded as published (after the
catalogue switched). Prints p50 and max (goal: p50 <= 30 s) and where the time went.

Usage: python bench/latency.py [--files 10] [--window 5] [--rows 3000]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL_P50_SECONDS = 30.0
MONTHS = [f"2023-{m:02d}" for m in range(1, 13)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--window", type=float, default=5.0, help="indicator trigger window")
    parser.add_argument("--rows", type=int, default=3000, help="police rows of the feed")
    args = parser.parse_args()

    from tests.flows import served_chain as sc

    # A SIGTERM (a timeout, `kill`) ends the bench through its `finally`: server and serve
    # processes are stopped, not left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with tempfile.TemporaryDirectory(prefix="convive-latency-") as folder:
        root = Path(folder)
        server = sc.PrefectServer.start(root / "server")
        serving = None
        try:
            config = sc.write_served_config(_mkdir(root / "project"), "Convive latency bench")
            files = sc.generate_feeds(config)
            serving = sc.start_serving(server, config, root / "serve", window=args.window)
            inbox = config.parent / "inbox"
            for feed, file in files.items():
                sc.drop(file, inbox / feed)
            _published(sc, config, 3, timeout=600)
            print(f"warm-up published; {args.files} files, one at a time", flush=True)
            latencies, landings = [], []
            for index in range(args.files):
                month = MONTHS[index % len(MONTHS)]
                revision = sc.revised_police_file(
                    files["policia-sintetico"], root / "revisions" / str(index), (month,)
                )
                name = f"{index:02d}-{revision.name}"
                landed = time.time()
                sc.drop(revision, inbox / "policia-sintetico", name=name)
                published = _published(sc, config, 4 + index, timeout=600)
                latency = max(published.values()) - landed
                latencies.append(latency)
                landings.append((name, landed, max(published.values())))
                print(f"file {index + 1:2d} ({month}): {latency:5.1f} s", flush=True)
            _report(latencies, _stage_seconds(server, landings))
        finally:
            if serving is not None:
                serving.stop()
            server.stop()
    return 0


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _published(sc, config: Path, count: int, *, timeout: float) -> dict[str, float]:
    def enough() -> dict[str, float]:
        published = sc.published_batches(config)
        return published if len(published) >= count else {}

    return sc.poll_until(enough, timeout=timeout, what=f"{count} published batches")


SEGMENTS = (
    "landing -> ingest run created (watcher, event, trigger)",
    "ingest run created -> running (runner poll, process start)",
    "ingest running",
    "ingest done -> indicators running (window, process start)",
    "indicators running",
    "indicators done -> publish running (event, trigger, process start)",
    "quality gate and publish running",
    "publish done -> batch recorded published",
)


def _stage_seconds(server, landings: list[tuple[str, float, float]]) -> list[list[float]]:
    """Per file, the seconds spent in each segment of the chain (SEGMENTS)."""
    import asyncio

    from prefect.client.orchestration import get_client

    async def runs() -> list:
        async with get_client() as client:
            return sorted(await client.read_flow_runs(limit=200), key=lambda r: r.created)

    with server.settings():
        every = asyncio.run(runs())
    per_file = []
    for name, landed, published in landings:
        ingest = next(r for r in every if r.parameters.get("file", "").endswith(name))
        started = [r for r in every if r.start_time is not None and r.end_time is not None]
        indicators = next(
            r
            for r in started
            if r.name.startswith("indicators 20") and r.start_time > ingest.start_time
        )
        publish = next(
            r
            for r in started
            if r.name.startswith("gate and publish") and r.start_time > indicators.start_time
        )
        marks = [
            landed,
            ingest.created.timestamp(),
            ingest.start_time.timestamp(),
            ingest.end_time.timestamp(),
            indicators.start_time.timestamp(),
            indicators.end_time.timestamp(),
            publish.start_time.timestamp(),
            publish.end_time.timestamp(),
            published,
        ]
        per_file.append([b - a for a, b in zip(marks, marks[1:], strict=False)])
    return per_file


def _report(latencies: list[float], segments: list[list[float]]) -> None:
    p50, worst = statistics.median(latencies), max(latencies)
    verdict = "meets" if p50 <= GOAL_P50_SECONDS else "misses"
    print(f"landing -> published over {len(latencies)} files: p50 {p50:.1f} s, max {worst:.1f} s")
    print(f"goal p50 <= {GOAL_P50_SECONDS:.0f} s: {verdict} it")
    print("where the time went (median seconds per file):")
    for index, segment in enumerate(SEGMENTS):
        print(f"  {statistics.median(s[index] for s in segments):5.1f}  {segment}")


if __name__ == "__main__":
    sys.exit(main())
