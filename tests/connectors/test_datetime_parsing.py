"""Tests for connectors.datetime_parsing: dates and times with strptime-style formats."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.datetime_parsing import parse_dates, parse_times
from connectors.value_parsing import ParsedColumn


def as_lists(parsed: ParsedColumn) -> tuple[list[object], list[bool]]:
    return parsed.values.to_pylist(), parsed.invalid.to_pylist()


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
