"""`convive status` and `convive quarantine` on a run with known quarantined rows."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from flows.cli import _generate, app
from flows.config import load_config
from tests.conftest import write_demo_config

runner = CliRunner()
PLANTED = 3  # malformed rows the synthetic generator plants per feed


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The demo's feeds (small) loaded without publishing: steps only, no Prefect."""
    from flows import steps
    from warehouse.engine import open_warehouse

    folder = tmp_path_factory.mktemp("status")
    path = write_demo_config(
        folder,
        **{
            "police_rows = 240000": "police_rows = 2000",
            "students = 2000": "students = 60",
            "social_cases = 6000": "social_cases = 300",
        },
    )
    config = load_config(path)
    _generate(config)
    engine = open_warehouse(config.warehouse_url)
    steps.prepare_warehouse(config, engine)
    reports = {f.name: steps.ingest_feed(config, engine, f, secret=b"s" * 16) for f in config.feeds}
    engine.dispose()
    return path, reports


def test_status_shows_each_feeds_last_batch_and_open_quarantine(loaded):
    path, reports = loaded
    result = runner.invoke(app, ["status", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    status = {f["feed"]: f for f in json.loads(result.output)["feeds"]}
    assert set(status) == set(reports)
    for name, report in reports.items():
        [batch] = status[name]["batches"]
        assert batch["batch_id"] == report.batch_id
        assert batch["rows_loaded"] == report.rows_loaded
        assert status[name]["quarantined_open"] == report.rows_quarantined
        assert status[name]["fresh"] is True
    assert status["ausentismo-sintetico"]["quarantined_open"] == PLANTED
    table = runner.invoke(app, ["status", "--config", str(path)])
    assert "Last publication: never" in table.output
    for report in reports.values():
        assert f"{report.rows_loaded:,}" in table.output


def test_quarantine_lists_every_row_with_its_reasons_and_exports_it(loaded, tmp_path):
    path, reports = loaded
    listed = runner.invoke(app, ["quarantine", "list", "--config", str(path), "--json"])
    entries = json.loads(listed.output)
    assert len(entries) == sum(r.rows_quarantined for r in reports.values()) == 3 * PLANTED
    by_feed = {}
    for entry in entries:
        by_feed.setdefault(entry["feed"], []).append(entry)
        assert entry["reasons"]
    reasons = [r for e in by_feed["servicios-sociales-sintetico"] for r in e["reasons"]]
    assert any("'31/02/2021'" in r for r in reasons)
    # Person identifiers never appear as received: only their pseudonyms.
    assert not any("SYN-" in e["raw"].get("DOCUMENTO", "") for e in entries)

    out = tmp_path / "quarantine.csv"
    exported = runner.invoke(
        app,
        ["quarantine", "export", str(out), "--config", str(path), "--feed", "policia-sintetico"],
    )
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == PLANTED
    assert {int(r["_source_row"]) for r in rows} == {
        e["source_row"] for e in by_feed["policia-sintetico"]
    }
    assert any(r["DELITO"] == "ABIGEATO LUNAR" for r in rows)


def test_corrected_rows_are_reingested_and_leave_quarantine(loaded, tmp_path):
    path, reports = loaded
    out = tmp_path / "cases.csv"
    runner.invoke(
        app,
        [
            "quarantine",
            "export",
            str(out),
            "--config",
            str(path),
            "--feed",
            "servicios-sociales-sintetico",
        ],
    )
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert all(r["DOCUMENTO"].startswith("pseudonym:") for r in rows)
    # Correct two of the three rows as a person would; leave the third wrong.
    fixed = 0
    for row in rows:
        if row["FECHA_APERTURA"] == "31/02/2021":
            # The planted date replaced the real one: the case is still open.
            row["FECHA_APERTURA"], row["FECHA_CIERRE"], fixed = "28/02/2021", "", fixed + 1
        elif row["COMUNA"] == "77":
            row["COMUNA"], fixed = "07", fixed + 1
    assert fixed == 2
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    done = runner.invoke(
        app,
        [
            "quarantine",
            "reingest",
            str(out),
            "--feed",
            "servicios-sociales-sintetico",
            "--config",
            str(path),
        ],
        env={"CONVIVE_PSEUDONYM_KEY": "s" * 16},
    )
    assert done.exit_code == 0, done.output
    assert "2 rows loaded, 1 quarantined again" in done.output
    left = json.loads(
        runner.invoke(
            app,
            [
                "quarantine",
                "list",
                "--config",
                str(path),
                "--feed",
                "servicios-sociales-sintetico",
                "--json",
            ],
        ).output
    )
    assert len(left) == 1 and any("DESCONOCIDO" in r for r in left[0]["reasons"])
    from sqlalchemy import text

    from warehouse.engine import open_warehouse

    engine = open_warehouse(load_config(path).warehouse_url)
    with engine.connect() as conn:
        cases = conn.execute(text("SELECT COUNT(*) FROM social_cases")).scalar()
        # The corrected rows joined the original person keys (not a hash of a hash).
        joined = conn.execute(
            text(
                "SELECT COUNT(*) FROM social_cases s JOIN school_absence a "
                "ON a.student_key = s.person_key"
            )
        ).scalar()
    engine.dispose()
    assert cases == reports["servicios-sociales-sintetico"].rows_loaded + 2
    assert joined > 0
