"""The fast paths of value and datetime parsing give what the general (regex) path gives.

Dates and times in a fixed-width layout are read from their bytes, plain digits are cast
directly; everything else goes to the regex path. Each test compares against that path on
its own (the fixed-width reader switched off, or the regex number reader called directly).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import datetime_parsing, value_parsing
from connectors.datetime_parsing import parse_dates, parse_times
from connectors.fixed_width_datetimes import fixed_width_layout
from connectors.value_parsing import parse_numbers

TRICKY_DATES = [
    "2023-03-10",
    " 2023-03-10 ",
    "2023-3-10",
    "2023-02-30",  # impossible
    "2023-02-29",  # not a leap year
    "2024-02-29",
    "1900-02-29",  # not a leap year either
    "2000-02-29",
    "2023-13-01",
    "2023-00-10",
    "2023-03-00",
    "2023-03-32",
    "0000-01-01",
    "9999-12-31",
    "10/03/2023",
    "31/04/2023",
    "03/13/2023",
    "2023/03/10",
    "2023-03-1O",  # letter O
    "2023-03-0:",  # ":" is the byte after "9"
    "69-01-01",  # two-digit years: 69 is 1969, 68 is 2068
    "68-12-31",
    "２０２３-03-10",  # full-width digits
    "2023-03-10T07:05",
    "",
    "   ",
    None,
]
TRICKY_TIMES = ["07:05", "7:05", " 07:05", "23:59", "24:00", "00:00", "12:60", "0705", "705"]
TRICKY_TIMES += ["07:0:", "0;:05", "1/:05"]
TRICKY_TIMES += ["07:05:09", "07:05:60", "07:05:62", "7", "", " ", None, "07.05", "07:05 PM"]
DATE_FORMATS = [
    ["%Y-%m-%d"],
    ["%d/%m/%Y"],
    ["%d/%m/%Y", "%m/%d/%Y"],
    ["%Y-%m-%d", "%d/%m/%Y"],
    ["%Y%m%d"],
    ["%y-%m-%d"],
    ["%Y-%m-%dT%H:%M"],
    ["%Y-%m-%d %H:%M", "%Y-%m-%d"],
    ["%Y-%m"],
]
TIME_FORMATS = [["%H:%M"], ["%H%M"], ["%H:%M:%S", "%H:%M"], ["%H.%M"], ["%Y-%m-%dT%H:%M"]]


def _regex_only(monkeypatch) -> None:
    monkeypatch.setattr(datetime_parsing, "fixed_width_layout", lambda fmt: None)


def _same(fast, slow) -> None:
    assert fast.values.type == slow.values.type
    # Day numbers, not dates: year 0 ("0000-01-01") is readable but no Python date.
    plain = pa.int32() if fast.values.type == pa.date32() else fast.values.type
    assert fast.values.cast(plain).to_pylist() == slow.values.cast(plain).to_pylist()
    assert fast.invalid.to_pylist() == slow.invalid.to_pylist()


def _reference(parse, values, formats):
    """What the regex path alone reads."""
    with pytest.MonkeyPatch.context() as patch:
        _regex_only(patch)
        return parse(values, formats=formats)


@pytest.mark.parametrize("formats", DATE_FORMATS, ids=" ".join)
def test_tricky_dates_read_as_the_regex_path_reads_them(formats):
    values = pa.array(TRICKY_DATES, pa.string())
    for part in (values, values.slice(1, 7)):  # a slice: offsets not starting at 0
        _same(parse_dates(part, formats=formats), _reference(parse_dates, part, formats))


@pytest.mark.parametrize("formats", TIME_FORMATS, ids=" ".join)
def test_tricky_times_read_as_the_regex_path_reads_them(formats):
    values = pa.array(TRICKY_TIMES + TRICKY_DATES, pa.string())
    _same(parse_times(values, formats=formats), _reference(parse_times, values, formats))


def test_known_answers():
    dates = parse_dates(
        pa.array(["10/03/2023", "31/04/2023", "29/02/2024", " 01/12/1999 ", "", None]),
        formats=["%d/%m/%Y"],
    )
    assert dates.values.to_pylist() == [
        dt.date(2023, 3, 10),
        None,
        dt.date(2024, 2, 29),
        dt.date(1999, 12, 1),
        None,
        None,
    ]
    assert dates.invalid.to_pylist() == [False, True, False, False, False, False]
    times = parse_times(pa.array(["24:00", "23:59", "7:05", "", None]), formats=["%H:%M"])
    assert times.values.to_pylist() == [None, "23:59", "07:05", None, None]
    assert times.invalid.to_pylist() == [True, False, False, False, False]
    # The first format that reads a value wins; an impossible date falls to the next one.
    us = parse_dates(pa.array(["03/13/2023", "04/03/2023"]), formats=["%d/%m/%Y", "%m/%d/%Y"])
    assert us.values.to_pylist() == [dt.date(2023, 3, 13), dt.date(2023, 3, 4)]


def test_layouts_only_for_fixed_width_numeric_formats():
    assert fixed_width_layout("%Y-%m-%d").width == 10
    assert fixed_width_layout("%d/%m/%Y %H:%M").width == 16
    assert fixed_width_layout("%Y%m%d%H%M%S").width == 14
    for fmt in ("%b %Y", "%H:%M:%S.%f", "%Y-%m-%dT%H:%M%z", "%I:%M %p", " %H:%M", "%H:%M ", "%Yº"):
        assert fixed_width_layout(fmt) is None, fmt


def _perturbed(draw, text: str) -> str:
    """The text, or the text with one character changed, dropped, doubled or padded."""
    how = draw(st.sampled_from(["same", "same", "change", "drop", "double", "pad", "blank"]))
    if how == "blank":
        return draw(st.sampled_from(["", " ", "\t"]))
    if how == "pad":
        return draw(st.sampled_from([" ", "\t", "\u00a0"])) + text
    if how == "same" or not text:
        return text
    at = draw(st.integers(0, len(text) - 1))
    if how == "drop":
        return text[:at] + text[at + 1 :]
    if how == "double":
        return text[:at] + text[at] + text[at:]
    return text[:at] + draw(st.sampled_from(list("0123456789 -/:T9x."))) + text[at + 1 :]


@st.composite
def _written(draw, formats: list[str]) -> str | None:
    if draw(st.integers(0, 20)) == 0:
        return None
    moment = draw(st.datetimes(dt.datetime(1890, 1, 1), dt.datetime(2070, 12, 31)))
    text = moment.strftime(draw(st.sampled_from(formats)))
    if draw(st.booleans()):  # a day that may not exist in that month
        text = text.replace(moment.strftime("%d"), draw(st.sampled_from(["29", "30", "31"])), 1)
    return _perturbed(draw, text)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), formats=st.sampled_from(DATE_FORMATS + TIME_FORMATS))
def test_generated_values_read_as_the_regex_path_reads_them(data, formats):
    written = data.draw(st.lists(_written(formats), max_size=40))
    values = pa.array(written, pa.string())
    for parse in (parse_dates, parse_times):
        try:
            slow = _reference(parse, values, formats)
        except ValueError:  # a date format without hours given to parse_times, and so on
            with pytest.raises(ValueError):
                parse(values, formats=formats)
            continue
        _same(parse(values, formats=formats), slow)


NUMBERS = ["42", "007", "0", " 42 ", "+5", "-5", "5.0", "5,0", "1.234", "1.234,5", "1,234.5"]
NUMBERS += ["9" * 18, "9" * 19, "0" * 25, "١٢", "0x10", "1e3", "", " ", None, "12a", "²"]
SEPARATORS = [(".", None), (",", "."), (".", ","), (",", None), (".", " ")]


@pytest.mark.parametrize(("decimal", "thousands"), SEPARATORS)
@pytest.mark.parametrize("integer", [True, False])
def test_numbers_read_as_the_regex_path_reads_them(decimal, thousands, integer):
    for values in (
        pa.array(NUMBERS, pa.string()),
        pa.array(["1", "22", "333"], pa.string()),  # all plain digits: a direct cast
        pa.array(["1", None, "x"], pa.string()),
        pa.array([], pa.string()),
    ):
        fast = parse_numbers(values, decimal=decimal, thousands=thousands, integer=integer)
        slow = value_parsing._numbers_by_regex(values, decimal, thousands, integer)
        _same(fast, slow)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.none(),
            st.integers(0, 10**20).map(str),
            st.text(alphabet="0123456789 +-.,e١", max_size=8),
        ),
        max_size=30,
    ),
    separators=st.sampled_from(SEPARATORS),
    integer=st.booleans(),
)
def test_generated_numbers_read_as_the_regex_path_reads_them(values, separators, integer):
    text = pa.array(values, pa.string())
    decimal, thousands = separators
    fast = parse_numbers(text, decimal=decimal, thousands=thousands, integer=integer)
    _same(fast, value_parsing._numbers_by_regex(text, decimal, thousands, integer))
