"""The disclosure gate stops publication and says what, where and which rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from publish.disclosure_gate import (
    BELOW_K,
    BELOW_L,
    IDENTIFYING_COLUMN,
    REASON_PUBLISHED,
    SENSITIVE_RECORD,
    AggregateTable,
    DisclosureViolation,
    RecordTable,
    check_disclosure,
)
from publish.disclosure_report import DisclosureReport
from publish.record_level import RecordPolicy, publishable_incidents
from publish.small_cells import SmallCellRule, hierarchical_totals, protect_table

DIMS = ["territory", "month"]
HIERARCHIES = {
    "territory": {"05001": "05", "05002": "05", "05003": "05"},
    "month": {"2023-01": "2023", "2023-02": "2023", "2023-03": "2023"},
}
LEAVES = pd.DataFrame(
    {
        "territory": ["05001"] * 3 + ["05002"] * 3 + ["05003"] * 3,
        "month": ["2023-01", "2023-02", "2023-03"] * 3,
        "n": [12, 3, 25, 18, 22, 16, 30, 14, 21],
    }
)


def table() -> pd.DataFrame:
    return hierarchical_totals(LEAVES, count="n", dimensions=DIMS, hierarchies=HIERARCHIES)


def aggregate(cells: pd.DataFrame) -> AggregateTable:
    return AggregateTable(
        cells=cells, count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rule=SmallCellRule()
    )


def test_a_protected_table_passes() -> None:
    protected = protect_table(
        table(), count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rule=SmallCellRule()
    )
    check_disclosure(aggregates={"incidents_by_month": aggregate(protected.for_publication())})


def test_the_gate_fails_on_an_under_protected_table_naming_the_cell() -> None:
    cells = table()
    cells["n"] = cells["n"].astype("Int64")
    # Only the small cell is hidden: its row and column totals give it back.
    small = (cells["territory"] == "05001") & (cells["month"] == "2023-02")
    cells.loc[small, "n"] = pd.NA
    with pytest.raises(DisclosureViolation) as failure:
        check_disclosure(aggregates={"incidents_by_month": aggregate(cells)})
    message = str(failure.value)
    assert "incidents_by_month" in message
    assert "territory=05001, month=2023-02" in message
    assert "suppressed_count_recoverable" in message
    assert "as 3 " in message
    assert [f.rule for f in failure.value.findings] == ["suppressed_count_recoverable"]


def test_the_gate_fails_when_a_small_count_or_the_reason_column_is_published() -> None:
    protected = protect_table(
        table(), count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rule=SmallCellRule()
    )
    with pytest.raises(DisclosureViolation) as failure:
        check_disclosure(
            aggregates={"with_reasons": aggregate(protected.cells), "raw": aggregate(table())}
        )
    rules = {(f.table, f.rule) for f in failure.value.findings}
    assert ("with_reasons", REASON_PUBLISHED) in rules
    assert ("raw", "small_count_published") in rules


def incident_records(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    return pd.DataFrame(
        {
            "period": rng.choice(["2023-01", "2023-02"], n),
            "territory_code": rng.choice(["05001", "05002"], n),
            "victim_sex": rng.choice(["F", "M"], n),
            "category": rng.choice(["theft", "robbery", "assault"], n),
        }
    )


QIS = ("period", "territory_code", "victim_sex")


def test_record_level_findings_name_rows_columns_and_rules() -> None:
    records = incident_records()
    records.loc[7, "category"] = "sexual_offence"
    records["incident_id"] = np.arange(len(records))
    records.loc[len(records)] = ["2023-03", "05003", "F", "theft", 99999]
    with pytest.raises(DisclosureViolation) as failure:
        check_disclosure(records={"incidents": RecordTable(records, QIS, sensitive=None)})
    found = {(f.rule, json.dumps(f.cell, sort_keys=True)) for f in failure.value.findings}
    assert (SENSITIVE_RECORD, '{"row": 7}') in found
    assert (IDENTIFYING_COLUMN, '{"column": "incident_id"}') in found
    lonely = {"period": "2023-03", "territory_code": "05003", "victim_sex": "F"}
    assert (BELOW_K, json.dumps(lonely, sort_keys=True)) in found


def test_l_diversity_is_checked_when_asked() -> None:
    records = incident_records()
    homogeneous = (records["period"] == "2023-01") & (records["territory_code"] == "05001")
    records.loc[homogeneous & (records["victim_sex"] == "F"), "category"] = "theft"
    table = RecordTable(records, QIS, sensitive="category", l=2)
    with pytest.raises(DisclosureViolation) as failure:
        check_disclosure(records={"incidents": table})
    assert [f.rule for f in failure.value.findings] == [BELOW_L]
    assert failure.value.findings[0].cell["territory_code"] == "05001"


def test_publishable_incidents_pass_the_gate_and_the_report_is_deterministic() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    incidents = pd.DataFrame(
        {
            "incident_id": np.arange(n).astype(str),
            "source": "police",
            "occurred_date": pd.Timestamp("2023-01-01")
            + pd.to_timedelta(rng.integers(0, 180, n), unit="D"),
            "occurred_time": [f"{h:02d}:15" for h in rng.integers(0, 24, n)],
            "territory_code": rng.choice(["05001", "05002", "05003"], n),
            "latitude": np.nan,
            "longitude": np.nan,
            "category": rng.choice(["theft", "robbery", "sexual_offence"], n),
            "source_label": "x",
            "modality": "street",
            "victim_sex": rng.choice(["F", "M"], n),
            "victim_age_group": rng.choice(["18-24", "25-34", "45-54"], n),
            "minor_involved": False,
            "domestic": False,
            "person_key": None,
            "count": 1,
        }
    )
    policy = RecordPolicy()
    published, record_report = publishable_incidents(incidents, policy)
    check_disclosure(
        records={
            "incidents": RecordTable(
                published, record_report.quasi_identifiers, k=policy.k, sensitive="category", l=2
            )
        }
    )
    protected = protect_table(
        table(), count="n", dimensions=DIMS, hierarchies=HIERARCHIES, rule=SmallCellRule()
    )
    report = DisclosureReport(
        dataset="incidents-2023",
        tables={"incidents_by_month": protected.report},
        records={"incidents": record_report},
    )
    again = DisclosureReport(
        dataset="incidents-2023",
        tables={"incidents_by_month": protected.report},
        records={"incidents": record_report},
    )
    assert report.to_json() == again.to_json()
    data = json.loads(report.to_json())
    table_part = data["aggregate_tables"]["incidents_by_month"]
    assert table_part["cells_primary"] == 1 and table_part["cells_suppressed"] >= 4
    records_part = data["record_level_tables"]["incidents"]
    assert records_part["k_achieved"] >= 5
    assert records_part["rows_published"] == len(published)
    text = report.to_text()
    assert "incidents_by_month" in text and "k requerido / required 5" in text
