"""Tests for connectors.value_parsing: typed conversion with an invalid mask."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.csv_source import read_csv
from connectors.datetime_parsing import parse_times
from connectors.value_parsing import ParsedColumn, map_values, pad_codes, parse_numbers

REAL = Path(os.environ.get("CONVIVE_REAL_DATA", "/work/shared/data/real"))


def as_lists(parsed: ParsedColumn) -> tuple[list[object], list[bool]]:
    return parsed.values.to_pylist(), parsed.invalid.to_pylist()


def test_spanish_numbers() -> None:
    raw = pa.array(
        ["1.234,5", "-1,1", "2.464.759", " 12 ", ",5", "1.23,4", "1,2,3", "abc", "", None]
    )
    values, invalid = as_lists(parse_numbers(raw, decimal=",", thousands="."))
    assert values == [1234.5, -1.1, 2464759.0, 12.0, 0.5, None, None, None, None, None]
    assert invalid == [False] * 5 + [True, True, True, False, False]


def test_english_numbers_and_exponents() -> None:
    raw = pa.array(["1,234.5", "+7", "1e3", "-2.5E-2", "1.234,5", "12 345"])
    parsed = parse_numbers(raw, thousands=",")
    assert parsed.values.type == pa.float64()
    assert as_lists(parsed) == (
        [1234.5, 7.0, 1000.0, -0.025, None, None],
        [False, False, False, False, True, True],
    )


def test_decimal_comma_without_thousands_rejects_dots() -> None:
    values, invalid = as_lists(parse_numbers(pa.array(["1234,5", "1.234"]), decimal=","))
    assert (values, invalid) == ([1234.5, None], [False, True])


def test_integers_accept_zero_fractions_only() -> None:
    raw = pa.array(["5001", "5001.0", "5.001", "5001.5", "-12", "+3", "1234567890123456789"])
    parsed = parse_numbers(raw, integer=True)
    assert parsed.values.type == pa.int64()
    assert as_lists(parsed) == (
        [5001, 5001, None, None, -12, 3, None],
        [False, False, True, True, False, False, True],
    )
    spanish = parse_numbers(
        pa.array(["2.456.413", "12,00"]), decimal=",", thousands=".", integer=True
    )
    assert spanish.values.to_pylist() == [2456413, 12]


def test_chunked_and_non_string_input() -> None:
    chunked = pa.chunked_array([["1,5"], ["2,5", None]])
    assert parse_numbers(chunked, decimal=",").values.to_pylist() == [1.5, 2.5, None]
    assert parse_numbers(pa.array([3, None]), integer=True).values.to_pylist() == [3, None]


def test_bad_separators_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="separators"):
        parse_numbers(pa.array(["1"]), decimal=",", thousands=",")


def test_pad_codes() -> None:
    raw = pa.array(["5001", "5001.0", "05001", " 8001 ", "A5001", "123456", "5001.5", "-5", None])
    values, invalid = as_lists(pad_codes(raw, width=5))
    assert values == ["05001", "05001", "05001", "08001", None, None, None, None, None]
    assert invalid == [False] * 4 + [True] * 4 + [False]
    floats = pad_codes(pa.array([5001.0, 11001.0, None]), width=5)
    assert floats.values.to_pylist() == ["05001", "11001", None]


def test_map_values_ignores_case_and_space_and_flags_unmapped() -> None:
    mapping = {"Hombre": "M", "mujer": "F", "Sin dato": None}
    raw = pa.array(["HOMBRE", " mujer ", "Mujer", "Sin Dato", "Intersexual", "", None])
    assert as_lists(map_values(raw, mapping)) == (
        ["M", "F", "F", None, None, None, None],
        [False, False, False, False, True, False, False],
    )
    exact = map_values(raw, mapping, case_insensitive=False)
    assert exact.invalid.to_pylist() == [True, False, True, True, True, False, False]


def test_map_values_accents_and_default() -> None:
    raw = pa.array(["Vía pública", "VIA PUBLICA", "Vivienda"])
    strict = map_values(raw, {"via publica": "street"})
    assert strict.invalid.to_pylist() == [True, False, True]
    loose = map_values(raw, {"via publica": "street"}, strip_accents=True, default="other")
    assert as_lists(loose) == (["street", "street", "other"], [False, False, False])


def test_map_values_rejects_colliding_keys() -> None:
    with pytest.raises(ValueError, match="collide"):
        map_values(pa.array(["x"]), {"Vía": "a", "via": "b"}, strip_accents=True)


def test_real_medellin_columns_parse_cleanly() -> None:
    path = REAL / "co-medellin-homicidios/homicidios_medellin_2003_2023.csv"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"real data file missing in CI: {path}")
        pytest.skip(f"real data file not available: {path}")
    table = pa.Table.from_batches(list(read_csv(path)))
    times = parse_times(table.column("FECHA_HECHO"), formats=["%Y-%m-%dT%H:%M:%S.%f%z"])
    assert times.invalid.true_count == 0
    assert times.values[0].as_py() == "07:30"
    sexes = map_values(table.column("SEXO"), {"hombre": "M", "mujer": "F"})
    assert sexes.invalid.true_count == 0
    assert sexes.values.to_pylist()[:2] == ["F", "M"]
    ages = parse_numbers(table.column("EDAD"), integer=True)
    assert ages.invalid.true_count == 0
    assert ages.values[0].as_py() == 50
