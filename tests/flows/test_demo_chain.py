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
# The demo's configuration on a shorter window and fewer synthetic rows, to keep the suite
# fast: the chain is the same, only the volume differs.
SMALLER = {
    'first_period = "2018-01"': 'first_period = "2022-07"',
    "police_rows = 240000": "police_rows = 30000",
    "students = 2000": "students = 800",
}


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
        config = load_config(write_demo_config(tmp_path_factory.mktemp(name), **SMALLER))
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
    from flows.steps import window_periods

    assert len(rows) == 21 * len(window_periods(config))
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
    from warehouse.indicators import load_catalogue

    # One dataset per indicator of the catalogue, plus the record-level incidents.
    assert len(datasets) == len(load_catalogue()) + 1
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


def test_every_dataset_carries_its_disclosure_report(demo_run):
    _, result = demo_run[0]
    root = result.index.parent
    folders = [p for p in root.iterdir() if p.is_dir()]
    assert folders
    for folder in folders:
        report = json.loads((folder / "informe-revelacion.json").read_text(encoding="utf-8"))
        assert report["dataset"] == folder.name
        assert report["aggregate_tables"] or report["record_level_tables"]
        assert (folder / "informe-revelacion.txt").read_text(encoding="utf-8").strip()


def test_attacker_cannot_narrow_any_suppressed_cell_of_any_published_table(demo_run):
    """The LP attacker, given the published pattern, margins AND the hidden counts' totals."""
    import pandas as pd

    from publish.disclosure_audit import audit_table
    from publish.small_cells import SmallCellRule
    from warehouse.engine import open_warehouse

    config, result = demo_run[0]
    engine = open_warehouse(config.warehouse_url)
    with engine.connect() as conn:
        units = pd.read_sql(
            text(
                "SELECT indicator_id, territory_code, period, breakdown, units "
                "FROM indicator_values"
            ),
            conn,
        )
        parents = dict(
            conn.execute(
                text("SELECT code, parent_code FROM territories WHERE parent_code IS NOT NULL")
            ).all()
        )
    engine.dispose()
    keys = ["territory_code", "period", "breakdown"]
    audited = 0
    for csv_path in sorted(result.index.parent.glob("convive-*/convive-*.csv")):
        published = pd.read_csv(
            csv_path, dtype={"period": str, "territory_code": str}, keep_default_na=False
        )
        if "status" not in published.columns:
            continue  # record-level: checked below
        indicator = csv_path.parent.name.removeprefix("convive-05001-").replace("-", "_")
        cells = published[keys + ["status"]].merge(
            units[units["indicator_id"] == indicator], on=keys, how="left"
        )
        assert cells["units"].notna().all(), csv_path.name
        cells["units"] = cells["units"].astype("Int64").mask(cells["status"] == "[c]")
        hierarchies = {"territory_code": parents}
        breakdowns = set(cells["breakdown"]) - {"all"}
        if breakdowns:
            hierarchies["breakdown"] = {b: "all" for b in breakdowns}
        findings = audit_table(
            cells.drop(columns=["status", "indicator_id"]),
            count="units",
            dimensions=keys,
            hierarchies=hierarchies,
            rule=SmallCellRule.below_5(),
            table=csv_path.name,
        )
        assert findings == [], [f.message() for f in findings[:5]]
        audited += 1
    assert audited >= 4


def test_record_level_incidents_are_k_anonymous_and_never_sensitive(demo_run):
    import pandas as pd

    from schemas.code_lists import SENSITIVE_CATEGORIES

    _, result = demo_run[0]
    folder = result.index.parent / "convive-05001-incidentes-registros"
    records = pd.read_csv(folder / f"{folder.name}.csv", dtype=str, keep_default_na=False)
    report = json.loads((folder / "informe-revelacion.json").read_text(encoding="utf-8"))
    table = report["record_level_tables"][folder.name]
    assert len(records) == table["rows_published"] > 0
    assert not set(records["category"]) & SENSITIVE_CATEGORIES
    for column in ("incident_id", "person_key", "latitude", "longitude", "occurred_date"):
        assert column not in records.columns
    # Linkage: anyone matching a published row on the quasi-identifiers matches >= k rows.
    sizes = records.groupby(table["quasi_identifiers"]).size()
    assert sizes.min() >= 5


def test_report_and_index_render_in_a_real_browser(demo_run):
    from tests.conftest import REPO, missing
    from tests.fixtures.headless_browser import chromium_path, headless_chromium

    if chromium_path() is None:
        missing("chromium is not installed (make test installs Debian's chromium)")
    _, result = demo_run[0]
    root = result.index.parent
    [report] = root.glob("informe-coordinacion-*.html")
    artifacts = REPO / "test-artifacts"
    with headless_chromium() as browser:
        browser.open(report)
        drawn = browser.evaluate("""(() => {
            const size = e => { const b = e.getBBox(); return b.width * b.height > 0; };
            return {
              charts: [...document.querySelectorAll('svg.chart')].length,
              charts_drawn: [...document.querySelectorAll('svg.chart')].filter(
                  s => [...s.querySelectorAll('.series, .bar')].some(size)).length,
              areas: [...document.querySelectorAll('#map path.area')].filter(size).length,
              suppressed_as_zero: [...document.querySelectorAll('.suppressed')].filter(
                  e => e.textContent.trim() === '0').length,
            };
        })()""")
        browser.screenshot(artifacts / "coordination-report.png")
        assert browser.run.console_errors == [] and browser.run.failed_requests == []
        assert drawn["charts"] > 0 and drawn["charts_drawn"] == drawn["charts"]
        assert drawn["areas"] == 21  # every comuna and corregimiento drawn
        assert drawn["suppressed_as_zero"] == 0
    with headless_chromium() as browser:
        browser.open(root / "index.html")
        links = browser.evaluate(
            "[...document.querySelectorAll('a')].map(a => a.getAttribute('href'))"
        )
        browser.screenshot(artifacts / "catalogue-index.png")
        assert browser.run.console_errors == [] and browser.run.failed_requests == []
    datasets = [p.name for p in root.iterdir() if p.is_dir()]
    for name in datasets:
        assert f"{name}/{name}.csv" in links
    assert report.name in links
