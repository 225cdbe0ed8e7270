"""Progress of a run: what the steps report, and how the console shows it (flows.progress_bars)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from flows.cli import _generate
from flows.config import load_config
from flows.progress_bars import (
    ConsoleReporter,
    NullReporter,
    current_reporter,
    expected_rows,
    reporting,
)
from tests.conftest import write_demo_config

POLICE_ROWS = 2000


class RecordingStep:
    """A step that keeps every update and the summary."""

    def __init__(self, description: str, total: int | None, unit: str) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.updates: list[tuple[int, int | None]] = []
        self.summaries: list[str] = []

    def update(self, done: int, total: int | None = None) -> None:
        self.updates.append((done, total))

    def finish(self, summary: str) -> None:
        self.summaries.append(summary)


class RecordingReporter:
    """A reporter that hands out recording steps."""

    def __init__(self) -> None:
        self.steps: list[RecordingStep] = []

    def step(self, description: str, *, total: int | None, unit: str) -> RecordingStep:
        self.steps.append(RecordingStep(description, total, unit))
        return self.steps[-1]


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """The demo configuration with small synthetic feeds, and an empty prepared warehouse."""
    from flows import steps
    from warehouse.engine import open_warehouse

    path = write_demo_config(
        tmp_path_factory.mktemp("progress"),
        **{
            "police_rows = 240000": f"police_rows = {POLICE_ROWS}",
            "students = 2000": "students = 60",
            "social_cases = 6000": "social_cases = 300",
        },
    )
    config = load_config(path)
    _generate(config)
    engine = open_warehouse(config.warehouse_url)
    steps.prepare_warehouse(config, engine)
    yield config, engine
    engine.dispose()


def test_ingesting_a_feed_reports_its_rows_against_the_file_estimate(small_demo):
    from flows import steps

    config, engine = small_demo
    feed = next(f for f in config.feeds if f.name == "policia-sintetico")
    reporter = RecordingReporter()
    with reporting(reporter):
        report = steps.ingest_feed(config, engine, feed, secret=b"s" * 16)
    (step,) = reporter.steps
    assert step.description == "ingest policia-sintetico" and step.unit == "rows"
    # The generated file: a title line, the header, one line per row.
    assert step.total == POLICE_ROWS == report.rows_read
    done = [d for d, _ in step.updates]
    assert done == sorted(done) and done[-1] == report.rows_read
    assert step.summaries == [
        f"policia-sintetico: {POLICE_ROWS:,} rows read, {report.rows_loaded:,} loaded, "
        f"{report.rows_quarantined:,} quarantined"
    ]
    # The same bytes again: skipped, and said so.
    again = RecordingReporter()
    with reporting(again):
        steps.ingest_feed(config, engine, feed, secret=b"s" * 16)
    assert again.steps[0].updates == []
    assert again.steps[0].summaries == [
        f"policia-sintetico: unchanged, already loaded as batch {report.batch_id}"
    ]


def test_expected_rows_by_format(tmp_path):
    assert expected_rows(tmp_path / "a.csv", "csv", 1, 102) == 100  # title + header
    assert expected_rows(tmp_path / "a.ndjson", "ndjson", 0, 7) == 7
    assert expected_rows(tmp_path / "a.csv", "csv", 0, 0) is None  # "\r" line ends only
    assert expected_rows(tmp_path / "a.xlsx", "xlsx", 0, 0) is None
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": list(range(42))}), tmp_path / "a.parquet")
    assert expected_rows(tmp_path / "a.parquet", "parquet", 0, 0) == 42


def test_reporting_installs_a_reporter_for_the_block_only():
    reporter = RecordingReporter()
    assert isinstance(current_reporter(), NullReporter)
    with reporting(reporter):
        assert current_reporter() is reporter
    assert isinstance(current_reporter(), NullReporter)


@pytest.mark.parametrize("terminal", [True, False])
def test_console_reporter_draws_bars_only_on_a_terminal_and_always_logs_lines(terminal):
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=100)
    with ConsoleReporter(console, bars=console.is_terminal) as reporter:
        step = reporter.step("protect datasets", total=4, unit="datasets")
        for done in range(1, 5):
            step.update(done)
        step.finish("4 indicator datasets protected in [work]/catalogue")
    text = out.getvalue()
    assert "4 indicator datasets protected in [work]/catalogue" in text  # not rich markup
    assert ("━" in text) is terminal
    assert ("4/4" in text) is terminal
