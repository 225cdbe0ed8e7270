"""An indicator with no value in the window still publishes: a valid dataset, right columns.

A user browsing the catalogue expects every indicator of the catalogue to be there, with the
same columns and types in every release; "no value" is shown as empty cells (or no rows),
never as a failed publication. (docs/publishing.md, "Indicators without values")
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from publish.indicator_datasets import indicator_package
from publish.package_files import render_files
from publish.small_cells import SmallCellRule
from warehouse.engine import open_warehouse
from warehouse.indicators import load_catalogue
from warehouse.loads import replace_table
from warehouse.tables import indicator_values, territories

COLUMNS = [
    "territory_code",
    "territory_name",
    "territory_level",
    "period",
    "breakdown",
    "numerator",
    "denominator",
    "value",
    "status",
]
TERRITORIES = pa.table(
    {
        "code": ["05001", "05001-01"],
        "name": ["Medellín", "Popular"],
        "level": ["municipality", "district"],
        "parent_code": [None, "05001"],
        "geometry": [None, None],
    }
)


@pytest.fixture
def engine(tmp_path):
    engine = open_warehouse(f"duckdb:///{tmp_path}/warehouse.duckdb")
    replace_table(engine, territories, TERRITORIES)
    yield engine
    engine.dispose()


def _values(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                (
                    c.name,
                    pa.float64()
                    if c.name in ("units", "numerator", "denominator", "value")
                    else pa.string(),
                )
                for c in indicator_values.columns
            ]
        ),
    )


def _package(engine):
    indicator = next(i for i in load_catalogue() if i.id == "incidents_per_10k")
    return indicator_package(
        engine,
        indicator,
        rule=SmallCellRule.below_5(),
        periods=("2023-01", "2023-02"),
        root=("05001", "Medellín"),
        synthetic=True,
        sources=[],
    )


def _typed(package) -> None:
    """Columns and numeric types as in any release; CSV and Parquet render."""
    table = package.table
    assert list(table.columns) == COLUMNS
    for column in ("numerator", "denominator", "value"):
        assert table[column].dtype == "float64"
    files = {f.file_name: f.content for f in render_files(package)}
    csv = files[f"{package.name}.csv"].decode()
    assert csv.splitlines()[0] == ",".join(COLUMNS)
    schema = pq.read_schema(io.BytesIO(files[f"{package.name}.parquet"]))
    assert schema.field("value").type == pa.float64()
    assert schema.field("territory_code").type in (pa.string(), pa.large_string())


def test_values_all_missing_in_the_window_publish_as_empty_cells(engine):
    # No denominator anywhere: the computation wrote the cells but no value (NULL).
    rows = [
        {
            "indicator_id": "incidents_per_10k",
            "territory_code": code,
            "territory_level": level,
            "period": "2023-01",
            "breakdown": "all",
            "units": 0.0,
            "numerator": 0.0,
            "denominator": None,
            "value": None,
            "flags": "no_denominator",
        }
        for code, level in (("05001", "municipality"), ("05001-01", "district"))
    ]
    replace_table(engine, indicator_values, _values(rows))
    package = _package(engine)
    _typed(package)
    assert package.table["territory_code"].tolist() == ["05001", "05001-01"]
    assert package.table["value"].isna().all() and package.table["numerator"].eq(0).all()


def test_an_indicator_with_no_rows_at_all_publishes_an_empty_dataset(engine):
    package = _package(engine)
    _typed(package)
    assert package.table.empty


def test_rows_only_outside_the_window_publish_an_empty_dataset(engine):
    replace_table(
        engine,
        indicator_values,
        _values(
            [
                {
                    "indicator_id": "incidents_per_10k",
                    "territory_code": "05001-01",
                    "territory_level": "district",
                    "period": "2022-06",
                    "breakdown": "all",
                    "units": 9.0,
                    "numerator": 9.0,
                    "denominator": 1000.0,
                    "value": 90.0,
                    "flags": None,
                }
            ]
        ),
    )
    package = _package(engine)
    _typed(package)
    assert package.table.empty
    assert pd.api.types.is_float_dtype(package.table["value"])
