"""The command line: clear errors (no traceback), and the generator writes feeds of any size."""

from __future__ import annotations

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import write_demo_config

runner = CliRunner()


def test_wrong_config_value_is_a_one_line_error_not_a_traceback(tmp_path):
    path = write_demo_config(tmp_path, **{'preset = "below-5"': 'preset = "nope"'})
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "disclosure.preset" in result.output and "Traceback" not in result.output


def test_run_refuses_without_a_pseudonym_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVIVE_PSEUDONYM_KEY", raising=False)
    result = runner.invoke(app, ["run", "--config", str(write_demo_config(tmp_path))])
    assert result.exit_code == 1
    assert "CONVIVE_PSEUDONYM_KEY" in result.output and "Traceback" not in result.output


def test_generate_writes_the_requested_number_of_police_rows(tmp_path):
    config = write_demo_config(tmp_path)
    result = runner.invoke(
        app,
        ["generate", "--config", str(config), "--rows", "3000", "--out", str(tmp_path / "feeds")],
    )
    assert result.exit_code == 0, result.output
    police = (tmp_path / "feeds" / "synthetic_police_incidents.csv").read_text(encoding="utf-8")
    assert len(police.splitlines()) == 3000 + 2  # title row + header
