"""`convive watch`: announce each complete new or changed file in each feed's inbox.

Complete-file convention (docs/operations.md):
- a writer that can rename writes to a hidden or partial name in the inbox (`.name`,
  `name.part`, `name.tmp`, `name.partial`, `name.crdownload`, `name~`) and renames it into
  place when done: a rename within one file system is atomic, so the file appears whole;
- any other file is taken once its size and modification time are the same on two polls in
  a row (a writer that pauses longer than one poll interval mid-file must rename instead).

A file is announced once per content: a changed file is announced again only when its bytes
(SHA-256) differ from what was announced. What was announced is kept in
`<inbox>/.convive-announced.json`, so a restarted watcher does not announce it again. The
event (`convive.feed.arrived`) is confirmed by the server before the file is recorded; a
watcher that dies in between announces the file again and ingestion skips the same bytes.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from flows import events
from flows.config import Config
from flows.steps import file_sha256

STATE_FILE = ".convive-announced.json"
PARTIAL_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", "~")

log = logging.getLogger("convive.watch")


@dataclass(frozen=True)
class Sighting:
    """What a file looked like on one poll."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Arrival:
    """A complete file to announce for a feed."""

    feed: str
    path: Path
    sha256: str
    sighting: Sighting


def is_partial(path: Path) -> bool:
    """Whether the name says the file is still being written (or is ours)."""
    return path.name.startswith(".") or path.name.endswith(PARTIAL_SUFFIXES)


class InboxWatcher:
    """Polls the inboxes of a configuration; `poll()` returns the files now complete."""

    def __init__(self, config: Config) -> None:
        self.instance = events.instance_name(config.project.name)
        self.inboxes = {
            feed.name: config.path(feed.inbox) for feed in config.feeds if feed.inbox is not None
        }
        self._seen: dict[Path, Sighting] = {}  # last poll's sighting of each candidate
        self._announced = {feed: _read_state(folder) for feed, folder in self.inboxes.items()}

    def poll(self) -> list[Arrival]:
        """Files whose size and time held since the last poll and whose bytes are new."""
        arrivals, seen = [], {}
        for feed, folder in self.inboxes.items():
            for path, sighting in _candidates(folder):
                seen[path] = sighting
                if self._seen.get(path) != sighting:
                    continue  # new or still changing: look again next poll
                arrival = self._arrival(feed, path, sighting)
                if arrival is not None:
                    arrivals.append(arrival)
        self._seen = seen
        return arrivals

    def _arrival(self, feed: str, path: Path, sighting: Sighting) -> Arrival | None:
        known = self._announced[feed].get(path.name)
        if known and (known["size"], known["mtime_ns"]) == (sighting.size, sighting.mtime_ns):
            return None
        sha256 = file_sha256(path)
        if known and known["sha256"] == sha256:
            self._record(feed, path.name, sighting, sha256)  # touched, same bytes
            return None
        return Arrival(feed, path, sha256, sighting)

    def announced(self, arrival: Arrival) -> None:
        """Record an arrival whose event the server confirmed."""
        self._record(arrival.feed, arrival.path.name, arrival.sighting, arrival.sha256)

    def _record(self, feed: str, name: str, sighting: Sighting, sha256: str) -> None:
        self._announced[feed][name] = {
            "size": sighting.size,
            "mtime_ns": sighting.mtime_ns,
            "sha256": sha256,
        }
        _write_state(self.inboxes[feed], self._announced[feed])

    def event(self, arrival: Arrival):
        """The `convive.feed.arrived` event of an arrival."""
        from prefect.events import Event

        return Event(
            event=events.FEED_ARRIVED,
            resource=events.feed_resource(
                self.instance, arrival.feed, arrival.path, arrival.sha256
            ),
            related=[events.file_resource(arrival.path, arrival.sha256)],
            payload={"size": arrival.sighting.size},
        )


def _candidates(folder: Path) -> list[tuple[Path, Sighting]]:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        path = Path(entry.path)
        if is_partial(path) or not entry.is_file():
            continue
        stat = entry.stat()
        found.append((path, Sighting(stat.st_size, stat.st_mtime_ns)))
    return sorted(found)


def _read_state(folder: Path) -> dict[str, dict]:
    try:
        return json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _write_state(folder: Path, state: dict[str, dict]) -> None:
    # Write then rename: a crash never leaves half a state file.
    partial = folder / f"{STATE_FILE}.part"
    partial.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    partial.replace(folder / STATE_FILE)


async def watch_inboxes(config: Config, *, interval: float = 1.0, polls: int | None = None) -> None:
    """Poll every `interval` seconds and announce complete files (forever, or `polls` times)."""
    import anyio
    from prefect.events.clients import get_events_client

    watcher = InboxWatcher(config)
    for folder in watcher.inboxes.values():
        folder.mkdir(parents=True, exist_ok=True)
    count = 0
    while polls is None or count < polls:
        count += 1
        try:
            arrivals = await anyio.to_thread.run_sync(watcher.poll)
            if arrivals:
                # checkpoint_every=1: the server confirms each event before it is recorded.
                async with get_events_client(checkpoint_every=1) as client:
                    for arrival in arrivals:
                        await client.emit(watcher.event(arrival))
                        watcher.announced(arrival)
                        log.info("announced %s for feed %s", arrival.path, arrival.feed)
        except Exception as error:  # noqa: BLE001 - keep watching; unconfirmed files come back
            log.error("inbox poll failed (will retry): %s: %s", type(error).__name__, error)
        await anyio.sleep(interval)
