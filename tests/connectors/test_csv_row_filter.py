"""Tests for connectors.csv_row_filter: drop_rows_matching on Arrow data, as Python does it."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from connectors.csv_records import is_dropped
from connectors.csv_row_filter import first_filled_cells, kept_rows, required_literal

ROWS = [
    ["TOTAL", "1"],
    ["  TOTAL general ", "2"],
    ["\x1c\u3000TOTAL", "3"],  # str.strip() removes both; Arrow's default trim would not
    ["", " TOTAL"],  # the first filled cell is the second one
    ["\x85", "\u2028"],  # no filled cell: kept
    ["Total", "4"],
    ["xTOTAL", "5"],
    ["Medellín", "TOTAL"],
    ["", ""],
]


def batch() -> pa.RecordBatch:
    columns = list(zip(*ROWS, strict=True))
    return pa.record_batch([pa.array(c, pa.string()) for c in columns], names=["a", "b"])


def test_first_filled_cell_strips_like_python() -> None:
    expected = [next((c.strip() for c in row if c.strip()), None) for row in ROWS]
    assert first_filled_cells(batch()).to_pylist() == expected


@pytest.mark.parametrize(
    "pattern", [r"^TOTAL\b", "TOTAL", "(?i)^total", r"^\w+$", "ll", "^TOTAL|^Total", "^Z"]
)
def test_kept_rows_match_the_exact_parser(pattern: str) -> None:
    compiled = re.compile(pattern)
    expected = [not is_dropped(row, compiled) for row in ROWS]
    assert kept_rows(batch(), compiled).to_pylist() == expected


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        ("^TOTAL", ("TOTAL", True)),
        (r"^TOTAL\b", ("TOTAL", True)),
        (r"\ATot", ("Tot", True)),
        ("TOTALS?", ("TOTAL", False)),
        ("TOTA*L", ("TOT", False)),  # the quantifier binds the A only
        ("(?m)^Tot", ("Tot", False)),  # ^ also matches after a line feed
        ("(?x) ^ T O", ("TO", True)),
        ("(?i)^total", None),
        ("^TOTAL|a", None),
        (r"^\s*TOTAL", None),
        ("", None),
    ],
)
def test_required_literal(pattern: str, literal: tuple[str, bool] | None) -> None:
    assert required_literal(re.compile(pattern)) == literal
