"""End to end: the demo chain on embedded defaults, checked against the source files."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from flows.config import load_config
from tests.conftest import DEMO_DIR

HOMICIDES = DEMO_DIR / "data" / "homicidios_medellin_2003_2023.csv"


def _homicides_by_comuna_month() -> Counter:
    with open(HOMICIDES, encoding="utf-8", newline="") as handle:
        return Counter(
            (f"05001-{int(r['CODIGO_COMUNA']):02d}", r["FECHA_HECHO"][:7])
            for r in csv.DictReader(handle)
        )


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _row_counts(url: str) -> dict[str, int]:
    from warehouse.engine import open_warehouse

    engine = open_warehouse(url)
    tables = [
        "police_incidents",
        "social_cases",
        "school_absence",
        "quarantine",
        "indicator_values",
        "load_ledger",
        "territories",
    ]
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in tables}
    engine.dispose()
    return counts


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, prefect_harness):
    """Run the demo chain twice, each time in a fresh folder."""
    from flows.chain import run_chain
    from flows.cli import _generate
    from tests.conftest import write_demo_config

    runs = []
    for name in ("first", "second"):
        config = load_config(write_demo_config(tmp_path_factory.mktemp(name)))
        _generate(config)
        runs.append((config, run_chain(config, demo=True)))
    return runs


def test_homicides_per_comuna_and_month_equal_the_source(demo_run):
    config, _ = demo_run[0]
    expected = _homicides_by_comuna_month()
    from warehouse.engine import open_warehouse

    engine = open_warehouse(config.warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT territory_code, period, numerator FROM indicator_values "
                "WHERE indicator_id = 'incidents_per_10k' AND breakdown = 'homicide' "
                "AND territory_level = 'district'"
            )
        ).fetchall()
    engine.dispose()
    assert len(rows) == 21 * 72
    for code, period, numerator in rows:
        assert numerator == expected.get((code, period), 0), (code, period)
    # Spot check a month from the file: comuna 10 (La Candelaria), May 2019.
    assert expected[("05001-10", "2019-05")] > 0


def test_malformed_rows_are_quarantined_with_reasons_and_the_run_goes_on(demo_run):
    config, result = demo_run[0]
    by_feed = {r.feed: r for r in result.feeds}
    # The generator plants 3 malformed rows in each synthetic feed; the real file has none.
    assert by_feed["homicidios-medellin"].rows_quarantined == 0
    for name in ("policia-sintetico", "servicios-sociales-sintetico", "ausentismo-sintetico"):
        report = by_feed[name]
        assert report.rows_quarantined == 3
        assert report.rows_loaded == report.rows_read - 3
    from warehouse.engine import open_warehouse

    engine = open_warehouse(config.warehouse_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT reasons FROM quarantine")).scalars()
        reasons = [json.loads(r) for r in stored]
    engine.dispose()
    flat = " | ".join(r for rs in reasons for r in rs)
    assert "unknown territory '05001-77'" in flat
    assert "'ABIGEATO LUNAR'" in flat
    assert "'31/02/2021'" in flat
    assert "absent_within_possible" in flat


def test_catalogue_lists_every_dataset_with_files(demo_run):
    _, result = demo_run[0]
    index = result.index.read_text(encoding="utf-8")
    catalogue = json.loads((result.index.parent / "catalog.jsonld").read_text(encoding="utf-8"))
    datasets = [n for n in catalogue["@graph"] if n.get("@type") == "dcat:Dataset"]
    assert len(datasets) == 4
    for dataset in datasets:
        name = dataset["@id"].rsplit("/", 1)[1]
        assert f'href="{name}/{name}.csv"' in index
        assert (result.index.parent / name / f"{name}.parquet").is_file()


def test_second_run_gives_identical_files_and_row_counts(demo_run):
    (first_config, first), (second_config, second) = demo_run
    assert _files(first.index.parent) == _files(second.index.parent)
    assert _row_counts(first_config.warehouse_url) == _row_counts(second_config.warehouse_url)


def test_rerun_on_same_warehouse_skips_every_feed(demo_run, prefect_harness):
    from flows.chain import run_chain

    config, first = demo_run[0]
    before = _row_counts(config.warehouse_url)
    again = run_chain(config, demo=True)
    assert all(r.skipped for r in again.feeds)
    assert _row_counts(config.warehouse_url) == before
    assert _files(again.index.parent) == _files(first.index.parent)
