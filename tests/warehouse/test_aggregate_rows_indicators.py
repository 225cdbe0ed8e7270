"""Aggregate rows beside records must not change any indicator (records only, no mixing).

The synthetic feeds (records) are loaded and the catalogue computed for two months; then one
aggregate row per fact table lands in one of those months (a monthly police count, a shelter
census, a school's monthly figures) and the catalogue is computed again: every value must be
the same. See "Aggregate rows in the warehouse" in docs/decisions.md.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine, select

from publish.incident_records import incident_records_package
from tests.warehouse.synthetic_batches import (
    DISTRICTS,
    half_year_batches,
    load_batch,
    load_territories,
)
from warehouse.indicators import compute_indicators, load_catalogue
from warehouse.loads import BatchLoader
from warehouse.quality_gate import _fact_groups
from warehouse.tables import FACT_TABLES, indicator_values

MONTHS = ["2023-03", "2023-04"]
DISTRICT = DISTRICTS[0]


def _aggregates() -> dict[str, pa.Table]:
    """One aggregate row per fact table, in March 2023, in the first district."""
    day = dt.date(2023, 3, 1)
    return {
        "police_incidents": pa.table(
            {
                "incident_id": ["agg-1"], "source": ["agg-police"], "occurred_date": [day],
                "territory_code": [DISTRICT], "category": ["homicide"],
                "source_label": ["Homicidio"], "victim_sex": ["U"],
                "victim_age_group": ["unknown"], "minor_involved": [False],
                "domestic": [False], "count": [40], "reference_period": ["2023-03"],
            }
        ),
        "social_cases": pa.table(
            {
                "case_id": ["agg-2"], "source": ["agg-social"], "sex": ["U"],
                "age_group": ["unknown"], "territory_code": [DISTRICT],
                "opened_date": [dt.date(2023, 3, 31)], "closed_date": pa.array([None], pa.date32()),
                "intervention_type": ["shelter"], "referral_source": ["unknown"],
                "count": [900],
            }
        ),
        "school_absence": pa.table(
            {
                "record_id": ["agg-3"], "source": ["agg-school"], "territory_code": [DISTRICT],
                "period": ["2023-03"], "possible_sessions": [40_000],
                "absent_sessions": [9_000], "unjustified_sessions": [4_000],
                "enrolments": [1_000], "pupil_group": ["All pupils"],
                "chronically_absent": [300],
            }
        ),
    }  # fmt: skip


def _computed(engine: Engine) -> dict[tuple, tuple]:
    catalogue = load_catalogue()
    compute_indicators(engine, catalogue, {i.id: MONTHS for i in catalogue})
    with engine.connect() as conn:
        rows = conn.execute(select(indicator_values)).mappings().all()
    return {
        (r["indicator_id"], r["territory_code"], r["period"], r["breakdown"]): (
            r["numerator"],
            r["denominator"],
            r["value"],
        )
        for r in rows
    }


def test_aggregate_rows_change_no_indicator(engine):
    load_territories(engine)
    for batch in half_year_batches():
        if batch.first_period == "2023-01":
            load_batch(engine, batch)
    before = _computed(engine)
    assert before
    _load_aggregates(engine)
    after = _computed(engine)
    changed = sorted({key[0] for key in before if before[key] != after.get(key)})
    assert changed == [], f"indicators that counted aggregate rows: {changed}"


def _load_aggregates(engine: Engine) -> None:
    for feed, rows in _aggregates().items():
        with BatchLoader(
            engine, feed=feed, source=rows["source"][0].as_py(), file_name="agg.csv",
            content_hash=f"agg-{feed}",
        ) as loader:  # fmt: skip
            loader.add(rows, [], rows.num_rows)


def test_aggregate_rows_are_not_published_as_incident_records(engine):
    load_territories(engine)
    for batch in half_year_batches():
        if batch.first_period == "2023-01":
            load_batch(engine, batch)

    def records() -> pd.DataFrame:
        package = incident_records_package(
            engine, periods=("2023-01", "2023-06"), root=("05001", "Medellín"),
            synthetic=True, sources=[],
        )  # fmt: skip
        return package.table

    before = records()
    assert len(before) > 0
    _load_aggregates(engine)
    after = records()
    assert "agg-police" not in set(after["source"])
    pd.testing.assert_frame_equal(before, after)


def test_quality_gate_groups_hold_record_rows_only(engine):
    load_territories(engine)
    _load_aggregates(engine)
    with engine.connect() as conn:
        for feed, table in FACT_TABLES.items():
            groups = _fact_groups(conn, table, [])
            assert groups.empty, f"{feed}: aggregate rows reached the batch suites"
