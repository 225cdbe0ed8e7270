"""The inbox watcher: complete files only, each content announced once, across restarts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from flows import events
from flows.config import load_config
from flows.inbox import STATE_FILE, InboxWatcher
from tests.flows.served_chain import write_served_config

FEED = "policia-sintetico"


def _watcher(tmp_path: Path) -> tuple[InboxWatcher, Path]:
    config = load_config(write_served_config(tmp_path, "Convive inbox test"))
    return InboxWatcher(config), tmp_path / "inbox" / FEED


def _names(arrivals) -> list[str]:
    return [a.path.name for a in arrivals]


def test_a_file_is_taken_only_once_its_size_held_for_a_poll(tmp_path):
    watcher, inbox = _watcher(tmp_path)
    inbox.mkdir(parents=True)
    assert watcher.poll() == []
    file = inbox / "export.csv"
    with open(file, "wb") as writer:
        writer.write(b"title\nA,B\n1,2\n")
        writer.flush()
        assert watcher.poll() == []  # first sighting
        writer.write(b"3,4\n")
        writer.flush()
        assert watcher.poll() == []  # grew since: still being written
    arrivals = watcher.poll()
    assert _names(arrivals) == ["export.csv"]
    assert arrivals[0].feed == FEED
    assert arrivals[0].sha256 == hashlib.sha256(file.read_bytes()).hexdigest()
    assert arrivals[0].sighting.size == len(b"title\nA,B\n1,2\n3,4\n")


def test_partial_names_are_ignored_until_renamed_into_place(tmp_path):
    watcher, inbox = _watcher(tmp_path)
    inbox.mkdir(parents=True)
    for name in (".export.csv", "export.csv.part", "export.csv.tmp", "export.csv~"):
        (inbox / name).write_bytes(b"A\n1\n")
    assert watcher.poll() == [] and watcher.poll() == [] and watcher.poll() == []
    (inbox / "export.csv.part").replace(inbox / "export.csv")
    assert watcher.poll() == []
    assert _names(watcher.poll()) == ["export.csv"]


def test_an_unconfirmed_arrival_comes_back_and_a_confirmed_one_does_not(tmp_path):
    watcher, inbox = _watcher(tmp_path)
    inbox.mkdir(parents=True)
    (inbox / "export.csv").write_bytes(b"A\n1\n")
    watcher.poll()
    first = watcher.poll()
    assert _names(first) == ["export.csv"]
    assert _names(watcher.poll()) == ["export.csv"]  # the event was never confirmed
    watcher.announced(first[0])
    assert watcher.poll() == []


def test_same_bytes_are_announced_once_and_new_bytes_again_even_after_a_restart(tmp_path):
    watcher, inbox = _watcher(tmp_path)
    inbox.mkdir(parents=True)
    file = inbox / "export.csv"
    file.write_bytes(b"A\n1\n")
    watcher.poll()
    (arrival,) = watcher.poll()
    watcher.announced(arrival)
    assert (inbox / STATE_FILE).is_file()

    restarted, _ = _watcher(tmp_path)
    stat = file.stat()
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched only
    assert restarted.poll() == [] and restarted.poll() == []
    file.write_bytes(b"A\n2\n")  # same size, new bytes
    restarted.poll()
    (changed,) = restarted.poll()
    assert changed.sha256 == hashlib.sha256(b"A\n2\n").hexdigest()


def test_the_arrival_event_names_the_feed_the_file_and_its_content(tmp_path):
    watcher, inbox = _watcher(tmp_path)
    inbox.mkdir(parents=True)
    (inbox / "export.csv").write_bytes(b"A\n1\n")
    watcher.poll()
    (arrival,) = watcher.poll()
    event = watcher.event(arrival)
    assert event.event == events.FEED_ARRIVED
    labels = dict(event.resource.items())
    assert labels[events.INSTANCE_LABEL] == "convive-inbox-test"
    assert labels[events.FEED_LABEL] == FEED
    assert labels[events.FILE_LABEL] == str(inbox / "export.csv")
    assert labels[events.SHA256_LABEL] == hashlib.sha256(b"A\n1\n").hexdigest()
    assert event.related[0].role == "file"
