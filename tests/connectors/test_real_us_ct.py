"""Connecticut chronic absenteeism: processed file and raw EdSight export, sentinels kept.

Source: CT State Department of Education (EdSight) via CT-Data-Collaborative/
chronic-absenteeism-by-grade, ODC-PDDL 1.0 (see ../shared/data/real/SOURCES.md).
In the processed file -9999 means suppressed and -6666 missing; in the export "*" is
suppressed. Expected figures come from the files through the csv module.
"""

from __future__ import annotations

import csv
import re
from functools import cache

import polars as pl
import pytest

from connectors.feed_batches import checked_batches
from connectors.source_profiles import PROFILES_DIR, load_profile
from tests.conftest import SHARED_DATA, missing

FOLDER = SHARED_DATA / "us-ct-chronic-absenteeism"
PROCESSED = FOLDER / "chronic_absenteeism_by_grade_2012-2020.csv"
EXPORT = FOLDER / "raw_chronic-absenteeism__2019-20_grade.csv"


@pytest.fixture(autouse=True)
def _real_data() -> None:
    if not FOLDER.is_dir():
        missing(f"the real data folder {FOLDER} is not there")


@cache
def _load(profile_id: str, path) -> pl.DataFrame:
    batches = list(
        checked_batches(path, load_profile(PROFILES_DIR / f"{profile_id}.toml"), secret=b"")
    )
    assert not any(b.quarantined for b in batches)
    return pl.concat([pl.from_arrow(b.valid) for b in batches])


def _processed_source() -> list[dict[str, str]]:
    with open(PROCESSED, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _export_source() -> list[list[str]]:
    with open(EXPORT, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[4] == ["District", "District Code", "Grade", "Student Count", "%"]
    return [r for r in rows[5:] if r]


def test_suppressed_and_missing_stay_distinct_and_never_become_zero():
    source = _processed_source()
    loaded = _load("us-ct-chronic-absenteeism", PROCESSED)
    assert loaded.height == len(source)
    statuses = dict(loaded.group_by("figure_status").len().iter_rows())
    assert statuses["suppressed"] == sum(r["Value"] == "-9999" for r in source)
    assert statuses["missing"] == sum(r["Value"] == "-6666" for r in source)
    absent = loaded.filter(pl.col("figure_status").is_not_null())
    assert absent["chronic_absence_pct"].null_count() == absent.height
    published = loaded.filter(pl.col("figure_status").is_null())
    zeros = sum(r["Value"] == "0" for r in source)
    assert published.filter(pl.col("chronic_absence_pct") == 0).height == zeros
    assert published["chronic_absence_pct"].null_count() == 0
    assert published["chronic_absence_pct"].sum() == pytest.approx(
        sum(float(r["Value"]) for r in source if r["Value"] not in ("-9999", "-6666"))
    )


def test_processed_rows_are_school_years_by_grade_and_the_state_is_kept_as_a_total():
    source = _processed_source()
    loaded = _load("us-ct-chronic-absenteeism", PROCESSED)
    years = {f"{r['Year'][:4]}/{r['Year'][-2:]}" for r in source}
    assert set(loaded["period"]) == years
    assert set(loaded["pupil_group"]) == {r["Grade"] for r in source}
    state = loaded.filter(pl.col("territory_code") == "US-CT")
    assert state.height == sum(r["District"] == "Connecticut" for r in source)
    assert loaded["record_id"].n_unique() == loaded.height
    assert loaded["student_key"].null_count() == loaded.height


def test_export_counts_and_percentages_reconcile_and_match_the_processed_file():
    source = _export_source()
    export = _load("us-ct-chronic-absenteeism-edsight", EXPORT)
    assert export.height == len(source)
    assert export["chronically_absent"].sum() == sum(int(r[3]) for r in source if r[3] != "*")
    suppressed = sum("*" in (r[3], r[4]) for r in source)
    assert export.filter(pl.col("figure_status") == "suppressed").height == suppressed
    # A published count of 0 beside a suppressed percentage stays 0, and is flagged.
    zero_hidden = sum(r[3] == "0" and r[4] == "*" for r in source)
    flagged_zeros = export.filter(
        (pl.col("chronically_absent") == 0) & (pl.col("figure_status") == "suppressed")
    )
    assert flagged_zeros.height == zero_hidden > 0
    state = export.filter(pl.col("territory_code") == "US-CT")
    assert state["chronically_absent"].sum() == sum(
        int(r[3]) for r in source if r[0] == "State Level"
    )
    # Same districts in both files: 2019/20 percentages agree, and suppression too.
    processed = _load("us-ct-chronic-absenteeism", PROCESSED).filter(pl.col("period") == "2019/20")
    both = export.join(processed, on=["territory_code", "pupil_group"], suffix="_processed")
    same = {(r["District"], r["Grade"]) for r in _processed_source() if r["Year"] == "2019-2020"}
    names = {"State Level": "Connecticut"}  # the state total in each file
    expected = [r for r in source if (names.get(r[0], r[0]), re.sub(r"\s+", " ", r[2])) in same]
    assert both.height == len(expected)
    assert (
        both["chronic_absence_pct"].fill_null(-1)
        == both["chronic_absence_pct_processed"].fill_null(-1)
    ).all()
    grades = {re.sub(r"\s+", " ", r[2]) for r in source}
    assert set(export["pupil_group"]) == grades
