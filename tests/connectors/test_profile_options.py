"""Profile options on small case files: the numbers each option must produce."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from connectors.errors import SourceError
from connectors.feed_batches import checked_batches
from connectors.source_profiles import load_profile
from connectors.year_to_date import period_label
from tests.conftest import CASES

FOLDER = CASES / "profiles"


def _valid(source: Path, profile: Path) -> pl.DataFrame:
    batches = list(checked_batches(source, load_profile(profile), secret=b"k"))
    return pl.concat([pl.from_arrow(b.valid) for b in batches])


def test_year_to_date_quarters_become_figures_per_period():
    loaded = _valid(FOLDER / "ytd_quarters.csv", FOLDER / "ytd.toml").sort(
        "territory_code", "occurred_date"
    )
    rows = loaded.select("territory_code", "reference_period", "occurred_date", "count")
    assert [(c, p, str(d), n) for c, p, d, n in rows.iter_rows()] == [
        # Only Q1 and Q3 for 08019 (padded from "8019"): Q3 covers April to September.
        ("08019", "2024-Q1", "2024-01-01", 10),
        ("08019", "2024-04/2024-09", "2024-04-01", 40 - 10),
        ("28079", "2024-Q1", "2024-01-01", 100),
        ("28079", "2024-Q2", "2024-04-01", 250 - 100),
        ("28079", "2024-Q3", "2024-07-01", 1300 - 250),
        ("28079", "2024-Q4", "2024-10-01", 1400 - 1300),
    ]


def test_years_latest_drops_the_restated_year_and_counts_it(tmp_path: Path):
    source = tmp_path / "balance.csv"
    source.write_text(
        "territorio;delito;periodo;acumulado\n"
        "28079;Hurtos;enero-diciembre 2023;1.000\n"
        "28079;Hurtos;enero-diciembre 2024;1.200\n",
        encoding="utf-8",
    )
    profile = tmp_path / "latest.toml"
    text = (FOLDER / "ytd.toml").read_text(encoding="utf-8")
    profile.write_text(text.replace("[year_to_date]\n", '[year_to_date]\nyears = "latest"\n'))
    [batch] = checked_batches(source, load_profile(profile), secret=b"k")
    loaded = pl.from_arrow(batch.valid)
    assert loaded.select("reference_period", "count").rows() == [("2024", 1200)]
    restated = "year_to_date.years = latest: earlier years (restated for comparison)"
    assert batch.rows_skipped == {restated: 1}


@pytest.mark.parametrize(
    ("first", "last", "label"),
    [(1, 12, "2024"), (4, 6, "2024-Q2"), (3, 3, "2024-03"), (2, 4, "2024-02/2024-04")],
)
def test_period_labels(first: int, last: int, label: str):
    assert period_label(2024, first, last) == label


def test_sentinels_set_the_status_and_keep_published_zeros():
    loaded = _valid(FOLDER / "aggregates.csv", FOLDER / "aggregates.toml")
    rows = {
        (r["territory_code"], r["pupil_group"]): r
        for r in loaded.select(
            "territory_code", "pupil_group", "enrolments", "chronically_absent", "figure_status"
        ).iter_rows(named=True)
    }
    assert rows[("D-0012", "Grade 1")]["chronically_absent"] == 14
    assert rows[("D-0012", "Grade 1")]["figure_status"] is None
    both = rows[("D-0012", "Grade 2")]  # "*" in both figures
    assert (both["enrolments"], both["chronically_absent"]) == (None, None)
    assert both["figure_status"] == "suppressed"
    assert rows[("D-0012", "Grade 3")]["figure_status"] == "missing"  # -6666
    assert rows[("D-0012", "Grade 3")]["enrolments"] == 100
    # The state row is kept (first rule) as territory ST, though "other totals" would skip it.
    assert rows[("ST", "Grade 1")]["enrolments"] == 900
    assert set(loaded["period"]) == {"2019/20"}


def test_unpivot_makes_one_row_per_column_with_its_name_and_scale(tmp_path: Path):
    loaded = _valid(FOLDER / "unpivot.csv", FOLDER / "unpivot.toml").sort("case_id")
    assert loaded.select("case_id", "count").rows() == [
        ("A-2018", 1500),  # 1.5 thousand people
        ("A-2020", 2000),
        ("B-2018", 250),
    ]
    assert loaded.filter(pl.col("case_id") == "A-2020")["opened_date"].cast(pl.Utf8).item() == (
        "2020-03-31"
    )


@pytest.mark.parametrize(("keep", "name"), [("first", "Old name"), ("last", "New name")])
def test_deduplicate_keeps_one_row_per_key_and_counts_the_rest(tmp_path: Path, keep, name):
    source = tmp_path / "places.csv"
    source.write_text("code;name;year\n1;Old name;2020\n2;Other;2020\n1;New name;2024\n")
    profile = tmp_path / "places.toml"
    profile.write_text(
        'id = "places"\nfeed = "territories"\ntitle = "t"\npublisher = "p"\n'
        '[read]\ndelimiter = ";"\n'
        f'[deduplicate]\non = ["code"]\nkeep = "{keep}"\n'
        '[columns]\ncode = { from = "code", parse = "code", width = 3 }\n'
        'name = { from = "name" }\nlevel = { value = "municipality" }\n'
    )
    [batch] = checked_batches(source, load_profile(profile), secret=b"")
    loaded = pl.from_arrow(batch.valid)
    assert dict(loaded.select("code", "name").iter_rows()) == {"001": name, "002": "Other"}
    assert batch.rows_skipped == {"deduplicate on code": 1}


def test_map_file_and_inline_map_merge_and_must_agree(tmp_path: Path):
    (tmp_path / "areas.csv").write_text("# source: tests\nfrom,to\nNorth,N1\nSouth,S1\n")
    base = (FOLDER / "bad_regex.toml").read_text(encoding="utf-8")
    base = base[: base.index("[[rows]]")] + base[base.index("[columns]") :]
    merged = base.replace(
        'territory_code = { from = "area" }',
        'territory_code = { from = "area", map_file = "areas.csv", map = { East = "E1" } }',
    )
    (tmp_path / "merged.toml").write_text(merged)
    spec = load_profile(tmp_path / "merged.toml").columns["territory_code"]
    assert spec.map == {"North": "N1", "South": "S1", "East": "E1"}
    (tmp_path / "clash.toml").write_text(merged.replace('East = "E1"', 'North = "N9"'))
    with pytest.raises(SourceError, match=r"'map' and 'map_file' disagree on \['North'\]"):
        load_profile(tmp_path / "clash.toml")
