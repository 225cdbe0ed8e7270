"""Tests for connectors.value_parsing: typed conversion with an invalid mask."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.csv_source import read_csv
from connectors.value_parsing import (
    ParsedColumn,
    map_values,
    pad_codes,
    parse_dates,
    parse_numbers,
    parse_times,
)

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


def test_day_first_dates_and_format_order() -> None:
    raw = pa.array(["23/04/2019", "01/02/2020", "12/31/2020", "31/02/2020", "2020-13-01", "", None])
    parsed = parse_dates(raw, formats=["%d/%m/%Y", "%m/%d/%Y"])
    assert parsed.values.type == pa.date32()
    assert as_lists(parsed) == (
        [dt.date(2019, 4, 23), dt.date(2020, 2, 1), dt.date(2020, 12, 31)] + [None] * 4,
        [False, False, False, True, True, False, False],
    )


def test_iso_timestamps_keep_the_wall_clock_date() -> None:
    raw = pa.array(
        [
            "2019-04-23T07:30:00.000-05:00",
            "2019-04-23T23:30:00.000-05:00",  # 2019-04-24 in UTC: must stay the 23rd
            "2019-04-23T00:10:00.000+05:00",  # 2019-04-22 in UTC
            "2019-04-23T07:30:00.123456789Z",
        ]
    )
    parsed = parse_dates(raw, formats=["%Y-%m-%dT%H:%M:%S.%f%z"])
    assert parsed.values.to_pylist() == [dt.date(2019, 4, 23)] * 4
    times = parse_times(raw, formats=["%Y-%m-%dT%H:%M:%S.%f%z"])
    assert times.values.to_pylist() == ["07:30", "23:30", "00:10", "07:30"]


def test_leap_days_two_digit_years_and_month_names() -> None:
    raw = pa.array(["29/02/2020", "29/02/2021", "29/02/1900", "29/02/2000", "05/06/68", "05/06/69"])
    parsed = parse_dates(raw, formats=["%d/%m/%Y", "%d/%m/%y"])
    assert as_lists(parsed) == (
        [dt.date(2020, 2, 29), None, None, dt.date(2000, 2, 29)]
        + [dt.date(2068, 6, 5), dt.date(1969, 6, 5)],
        [False, True, True, False, False, False],
    )
    names = pa.array(["5 abr. 2019", "1 de Enero de 2020", "7 September 2021"])
    formats = ["%d %b %Y", "%d de %B de %Y", "%d %B %Y"]
    assert parse_dates(names, formats=formats).values.to_pylist() == [
        dt.date(2019, 4, 5),
        dt.date(2020, 1, 1),
        dt.date(2021, 9, 7),
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)), min_size=1, max_size=50),
    st.sampled_from(["%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y %H:%M", "%Y%m%d"]),
)
def test_dates_agree_with_datetime_strptime(dates: list[dt.date], fmt: str) -> None:
    raw = [day.strftime(fmt) for day in dates]
    expected = [dt.datetime.strptime(text, fmt).date() for text in raw]
    assert parse_dates(pa.array(raw), formats=[fmt]).values.to_pylist() == expected


def test_bad_formats_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unsupported directive %Q"):
        parse_dates(pa.array(["1"]), formats=["%Q"])
    with pytest.raises(ValueError, match="no year"):
        parse_dates(pa.array(["1"]), formats=["%d/%m"])
    with pytest.raises(ValueError, match="non-empty sequence"):
        parse_dates(pa.array(["1"]), formats="%d/%m/%Y")


def test_times() -> None:
    raw = pa.array(["7:30", "730", "1905", "7:05 PM", "12:00 a. m.", "12:15 pm", "25:00", "x", ""])
    parsed = parse_times(raw, formats=["%H:%M", "%H%M", "%I:%M %p"])
    assert as_lists(parsed) == (
        ["07:30", "07:30", "19:05", "19:05", "00:00", "12:15", None, None, None],
        [False] * 6 + [True, True, False],
    )


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
