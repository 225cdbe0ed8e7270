"""DfE pupil absence by characteristic (England, 2012/13-2016/17) as school_absence aggregates.

Source: Department for Education via dfe-analytical-services/explore-education-statistics,
OGL v3.0 (see ../shared/data/real/SOURCES.md). Expected figures come from the csv module.
"""

from __future__ import annotations

import csv

import polars as pl
import pytest

from connectors.feed_batches import checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from tests.conftest import SHARED_DATA, missing

PATH = SHARED_DATA / "uk-dfe-absence-exclusions" / "absence_natcharacteristics_201617.csv"
TYPES = ("State-funded primary", "State-funded secondary", "Special")


@pytest.fixture(autouse=True)
def _real_data() -> None:
    if not PATH.is_file():
        missing(f"the real data file {PATH} is not there")


def _source() -> list[dict[str, str]]:
    with open(PATH, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _loaded() -> pl.DataFrame:
    profile = load_profile(PROFILES_DIR / "uk-dfe-absence-characteristics.toml")
    [batch] = checked_batches(PATH, profile, secret=b"")
    assert batch.quarantined == [] and batch.rows_skipped == {}
    return pl.from_arrow(batch.valid)


def test_every_row_loads_with_its_figures_per_school_year():
    source = _source()
    loaded = _loaded()
    assert loaded.height == len(source)
    assert set(loaded["period"]) == {f"{r['year'][:4]}/{r['year'][4:]}" for r in source}
    for canonical, column in (
        ("enrolments", "enrolments"),
        ("possible_sessions", "sess_possible"),
        ("absent_sessions", "sess_overall"),
        ("unjustified_sessions", "sess_unauthorised"),
        ("chronically_absent", "enrolments_PA_10_exact"),
    ):
        assert loaded[canonical].sum() == sum(int(r[column]) for r in source if r[column] != "x")


def test_totals_reconcile_with_the_school_types():
    """Per year, the 'Total / Total' row is the sum of the three school types' totals:
    exactly for sessions; pupil counts are published rounded to 5, so within rounding."""
    loaded = _loaded()
    for period in loaded["period"].unique():
        rows = loaded.filter(pl.col("period") == period)
        total = rows.filter(pl.col("pupil_group") == "Total / Total")
        parts = rows.filter(pl.col("pupil_group").is_in([f"{t} / Total" for t in TYPES]))
        for column in ("possible_sessions", "absent_sessions", "unjustified_sessions"):
            assert total[column].item() == parts[column].sum(), (period, column)
        for column in ("enrolments", "chronically_absent"):
            assert abs(total[column].item() - parts[column].sum()) <= 5 * len(TYPES)


def test_the_suppressed_row_keeps_its_status_and_no_figures():
    source = _source()
    suppressed = [r for r in source if r["enrolments"] == "x"]
    assert len(suppressed) == 1
    loaded = _loaded()
    flagged = loaded.filter(pl.col("figure_status").is_not_null())
    assert flagged["figure_status"].to_list() == ["suppressed"]
    row = flagged.row(0, named=True)
    assert (
        row["pupil_group"] == f"{suppressed[0]['school_type']} / {suppressed[0]['characteristic']}"
    )
    assert row["enrolments"] is None and row["possible_sessions"] is None
