"""`convive run` output: bars and step lines on stderr; `--json` and `--quiet` print neither.

The chain is replaced by a stand-in that reports through the real reporter machinery (the
steps' own reports are tested in test_progress_bars.py), and stderr is a console forced to
behave as a terminal, so that bars would be drawn wherever the CLI lets them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from flows import cli
from flows.chain import ChainResult
from flows.progress_bars import current_reporter
from flows.steps import FeedReport
from tests.conftest import write_demo_config

runner = CliRunner()
BAR_CHARACTERS = ("━", "╸", "╺")


def _stand_in_chain(index: Path):
    def run_chain(config, *, demo: bool = False) -> ChainResult:
        step = current_reporter().step("ingest policia", total=3, unit="rows")
        for done in (1, 2, 3):
            step.update(done)
        step.finish("policia: 3 rows read, 3 loaded, 0 quarantined")
        feed = FeedReport("policia", "batch-1", False, 3, 3, 0, ["2023-11"])
        return ChainResult(territories=22, feeds=[feed], indicator_rows={"x": 5}, index=index)

    return run_chain


@pytest.fixture
def terminal_stderr(monkeypatch, tmp_path):
    """stderr as a terminal (captured), the stand-in chain, and a pseudonym key."""
    monkeypatch.setattr("flows.chain.run_chain", _stand_in_chain(tmp_path / "index.html"))
    monkeypatch.setenv("CONVIVE_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    captured = io.StringIO()
    monkeypatch.setattr(cli, "errors", Console(file=captured, force_terminal=True, width=100))
    return write_demo_config(tmp_path), captured


def test_plain_run_draws_bars_and_logs_each_step_on_stderr(terminal_stderr):
    config, stderr = terminal_stderr
    result = runner.invoke(cli.app, ["run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert any(c in stderr.getvalue() for c in BAR_CHARACTERS)
    assert "3/3" in stderr.getvalue()
    assert "policia: 3 rows read, 3 loaded, 0 quarantined" in stderr.getvalue()
    assert "Catalogue:" in result.stdout and "3/3" not in result.stdout  # bars: stderr only


def test_json_prints_only_the_json_document(terminal_stderr):
    config, stderr = terminal_stderr
    result = runner.invoke(cli.app, ["run", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert stderr.getvalue() == ""
    document = json.loads(result.stdout)  # nothing else on stdout
    assert document["feeds"][0]["rows_read"] == 3 and document["indicator_rows"] == {"x": 5}


def test_quiet_prints_nothing_on_success(terminal_stderr):
    config, stderr = terminal_stderr
    result = runner.invoke(cli.app, ["run", "--config", str(config), "--quiet"])
    assert result.exit_code == 0, result.output
    assert stderr.getvalue() == "" and result.stdout == ""


def test_quiet_still_prints_errors(terminal_stderr, monkeypatch):
    config, stderr = terminal_stderr
    monkeypatch.delenv("CONVIVE_PSEUDONYM_KEY")
    result = runner.invoke(cli.app, ["run", "--config", str(config), "--quiet"])
    assert result.exit_code == 1
    assert result.stdout == "" and "CONVIVE_PSEUDONYM_KEY" in stderr.getvalue()
