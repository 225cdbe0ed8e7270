"""Progress of a run in process (`convive run`, `convive demo`): what the steps report, and
how the command line shows it.

The steps (`flows.steps`) report to the current `Reporter`: one `Step` per feed ingested and
per publication phase, updated with (done, total). Library functions (connectors, publish)
never see this module: steps hand them a plain `(done, total)` callable (`Step.update`).

The command line installs a `ConsoleReporter` for the duration of a run: progress bars on
stderr when stderr is a terminal, and one log line per finished step (bars or not). With
`--quiet` or `--json` it installs nothing, so the null reporter prints nothing. The reporter
is process-wide, not per call, because the steps run inside Prefect tasks, whose parameters
are recorded by the API and cannot carry a callable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# What library functions accept: called with (done, total) after each unit of work; a total
# of None keeps the one already known (estimates, e.g. rows of a file not read yet).
ProgressCallback = Callable[[int, int | None], None]


class Step(Protocol):
    """One piece of work with a progress bar: a feed, the packages, the portal uploads."""

    def update(self, done: int, total: int | None = None) -> None:
        """`done` units of `total` (None keeps the known total; unknown totals pulse)."""

    def finish(self, summary: str) -> None:
        """The step is over: remove its bar and log `summary` as one line."""


class Reporter(Protocol):
    """Makes steps; installed for a run with `reporting`."""

    def step(self, description: str, *, total: int | None, unit: str) -> Step:
        """Start a step of `total` `unit`s (None when unknown)."""


class _NullStep:
    def update(self, done: int, total: int | None = None) -> None:
        """Nothing to show."""

    def finish(self, summary: str) -> None:
        """Nothing to show."""


class NullReporter:
    """Reports nothing: the default, and what `--quiet` and `--json` get."""

    def step(self, description: str, *, total: int | None, unit: str) -> Step:
        """A step that shows nothing."""
        return _NullStep()


_lock = threading.Lock()
_current: Reporter = NullReporter()


def current_reporter() -> Reporter:
    """The reporter installed for this run (the null one outside `reporting`)."""
    return _current


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Install `reporter` for the steps run inside the block (tasks run in other threads)."""
    global _current
    with _lock:
        previous, _current = _current, reporter
    try:
        yield reporter
    finally:
        with _lock:
            _current = previous


class _ConsoleStep:
    def __init__(self, reporter: ConsoleReporter, task: TaskID | None, unit: str) -> None:
        self.reporter, self.task, self.unit = reporter, task, unit

    def update(self, done: int, total: int | None = None) -> None:
        """Move the bar (there is none when stderr is not a terminal)."""
        progress = self.reporter.progress
        if progress is not None and self.task is not None:
            # Drawn now, not at the next tick: updates come per batch or dataset, rarely.
            if total is None:
                progress.update(self.task, completed=done, refresh=True)
            else:
                progress.update(self.task, completed=done, total=total, refresh=True)

    def finish(self, summary: str) -> None:
        """Drop the bar and print the summary line above the remaining bars."""
        progress = self.reporter.progress
        if progress is not None and self.task is not None:
            progress.remove_task(self.task)
        self.reporter.console.print(f"[green]✓[/] {escape(summary)}", highlight=False)


class ConsoleReporter:
    """Bars (on a terminal) and one line per finished step, on the given console."""

    def __init__(self, console: Console, *, bars: bool) -> None:
        self.console = console
        self.progress: Progress | None = None
        if bars:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )

    def step(self, description: str, *, total: int | None, unit: str) -> Step:
        """A new bar (when bars are on)."""
        task = None
        if self.progress is not None:
            task = self.progress.add_task(description, total=total, unit=unit)
        return _ConsoleStep(self, task, unit)

    def __enter__(self) -> ConsoleReporter:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


@contextmanager
def console_progress(console: Console, *, enabled: bool) -> Iterator[Reporter]:
    """Report the run on `console` (stderr) unless disabled; bars only on a terminal."""
    if not enabled:
        yield NullReporter()
        return
    with ConsoleReporter(console, bars=console.is_terminal) as reporter, reporting(reporter):
        yield reporter


def expected_rows(path: Path, file_format: str, skip_rows: int, lines: int) -> int | None:
    """About how many records a feed file holds, to size its bar; None when unknown.

    Text formats: its lines less the title and header lines (quoted line breaks and blank
    lines make it an estimate; the bar ends when the file does). Parquet: its metadata.
    """
    if file_format in ("csv", "ndjson"):
        header = 1 if file_format == "csv" else 0
        # No line feed at all (old Mac line ends, one line): unknown rather than zero.
        return max(lines - skip_rows - header, 0) if lines else None
    if file_format == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return None  # JSON documents and spreadsheets: the bar shows the count without a total
