"""A change index reveals its comparison count: withheld where that count is suppressed."""

from __future__ import annotations

import math

import pandas as pd

from publish.indicator_datasets import withhold_revealing_values
from publish.small_cells import SUPPRESSED_MARKER


def _table(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["territory_code", "period", "value", "status"]).assign(
        breakdown="all"
    )


def test_index_is_withheld_where_the_previous_month_is_suppressed():
    base = _table(
        [
            ("A", "2023-01", 4.0, SUPPRESSED_MARKER),
            ("A", "2023-02", 12.0, ""),
            ("B", "2023-01", 30.0, ""),
        ]
    )
    index = _table(
        [("A", "2023-02", 110.0, ""), ("A", "2023-03", 95.0, ""), ("B", "2023-02", 101.0, "")]
    )
    protected, withheld = withhold_revealing_values(index, base, -1)
    assert withheld == 1
    first = protected.iloc[0]
    assert math.isnan(first["value"]) and first["status"] == SUPPRESSED_MARKER
    assert protected.iloc[1]["value"] == 95.0 and protected.iloc[2]["value"] == 101.0
