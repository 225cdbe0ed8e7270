"""Dates and times from raw text with strptime-style formats, vectorised.

Same contract as ``value_parsing``: a ``ParsedColumn`` of typed values and the non-empty
inputs that could not be read. Values zero-padded in the first format's fixed width are read
from the column's bytes (``fixed_width_datetimes``); the rest match a regular expression
compiled from each format in turn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.fixed_width_datetimes import fixed_width_layout, read_fixed_width
from connectors.value_parsing import ArrayLike, ParsedColumn, all_false, string_array, trimmed_text


def parse_dates(arr: ArrayLike, *, formats: Sequence[str]) -> ParsedColumn:
    """Parse dates (date32) with strptime-style formats, tried in order for each value.

    Supported directives: %Y %y %m %d %b %B (English or Spanish month names) %H %I %M %S %f %z
    %p %%; whitespace in a format matches any run of whitespace. A value's wall-clock date is
    kept: "2019-04-23T23:30:00.000-05:00" with "%Y-%m-%dT%H:%M:%S.%f%z" gives 2019-04-23 (the
    offset is validated, never applied). Impossible dates (31/02) are invalid.
    """
    fields = _parse_fields(arr, formats, needs=("year",), capture=DATE_GROUPS)
    days = fields.days.astype(np.int32)  # 0 where not ok
    mask = None if fields.ok.all() else ~fields.ok
    values = pa.array(days, pa.int32(), mask=mask).cast(pa.date32())
    return ParsedColumn(values, fields.invalid)


def parse_times(arr: ArrayLike, *, formats: Sequence[str]) -> ParsedColumn:
    """Parse times of day into "HH:MM" strings with strptime-style formats tried in order.

    Same directives as ``parse_dates``; "%H%M" reads "730" as 07:30. With a full timestamp
    format the wall-clock time is kept (no time-zone conversion).
    """
    # Date groups stay captured so a time on an impossible date (31/02) is invalid too.
    fields = _parse_fields(arr, formats, needs=("hour",), capture=DATE_GROUPS | TIME_GROUPS)
    return ParsedColumn(_clock_text(fields.hour, fields.minute, fields.ok), fields.invalid)


def _clock_text(hour: np.ndarray, minute: np.ndarray, ok: np.ndarray) -> pa.Array:
    """ "HH:MM" strings (null where not ``ok``), written as bytes: every value is 5 long."""
    size = len(ok)
    hour, minute = np.where(ok, hour, 0), np.where(ok, minute, 0)  # both < 100 where ok
    chars = np.empty((size, 5), dtype=np.uint8)
    chars[:, 0], chars[:, 1] = hour // 10 + 48, hour % 10 + 48
    chars[:, 2] = ord(":")
    chars[:, 3], chars[:, 4] = minute // 10 + 48, minute % 10 + 48
    offsets = np.arange(0, 5 * size + 1, 5, dtype=np.int32)
    validity = pa.py_buffer(np.packbits(ok, bitorder="little"))
    return pa.Array.from_buffers(
        pa.string(),
        size,
        [validity, pa.py_buffer(offsets), pa.py_buffer(chars)],
        null_count=int(size - np.count_nonzero(ok)),
    )


# Same sub-patterns as CPython's _strptime, so formats behave as datetime.strptime does
# ("%H%M" reads "730" as 07:30); RE2 keeps Perl's leftmost-first alternation.
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan", "enero", "ene"),
            ("february", "feb", "febrero"),
            ("march", "mar", "marzo"),
            ("april", "apr", "abril", "abr"),
            ("may", "mayo"),
            ("june", "jun", "junio"),
            ("july", "jul", "julio"),
            ("august", "aug", "agosto", "ago"),
            ("september", "sep", "sept", "septiembre", "setiembre", "set"),
            ("october", "oct", "octubre"),
            ("november", "nov", "noviembre"),
            ("december", "dec", "diciembre", "dic"),
        ],
        start=1,
    )
    for name in names
}
_MONTH_ALTERNATION = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DIRECTIVES = {
    "Y": r"(?P<Y>\d\d\d\d)",
    "y": r"(?P<y>\d\d)",
    "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "d": r"(?P<d>3[01]|[12]\d|0[1-9]|[1-9])",
    "b": rf"(?P<b>(?i:{_MONTH_ALTERNATION})\.?)",
    "H": r"(?P<H>2[0-3]|[0-1]\d|\d)",
    "I": r"(?P<I>1[0-2]|0[1-9]|[1-9])",
    "M": r"(?P<M>[0-5]\d|\d)",
    "S": r"(?P<S>6[0-1]|[0-5]\d|\d)",
    "f": r"(?P<f>\d{1,9})",
    "z": r"(?P<z>[Zz]|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)",
    "p": r"(?P<p>(?i:[ap])\.?\s?(?i:m)\.?)",
}
_DIRECTIVES["B"] = _DIRECTIVES["b"]


DATE_GROUPS = frozenset("Yymbd")
TIME_GROUPS = frozenset("HIMp")


def compile_format(fmt: str, capture: frozenset[str] = DATE_GROUPS | TIME_GROUPS) -> str:
    """Translate a strptime format into an anchored RE2 pattern.

    Directives in ``capture`` become named groups; the others are matched but not captured,
    which roughly halves the cost of ``extract_regex`` on timestamp formats.
    """
    parts, seen, position = ["^"], set(), 0
    while position < len(fmt):
        char = fmt[position]
        position += 1
        if char != "%":
            parts.append(r"\s+" if char.isspace() else re.escape(char))
            continue
        directive = fmt[position : position + 1]
        position += 1
        if directive == "%":
            parts.append("%")
            continue
        if directive not in _DIRECTIVES:
            raise ValueError(f"unsupported directive %{directive} in format {fmt!r}")
        group = directive.lower() if directive == "B" else directive
        if group in seen:
            raise ValueError(f"directive %{directive} appears twice in format {fmt!r}")
        seen.add(group)
        pattern = _DIRECTIVES[directive]
        parts.append(pattern if group in capture else pattern.replace(f"(?P<{group}>", "(?:", 1))
    return "".join(parts) + "$"


@dataclass
class _Fields:
    """Calendar fields parsed per row (valid where ``ok``) and the invalid mask."""

    ok: np.ndarray
    days: np.ndarray  # days since 1970-01-01
    hour: np.ndarray
    minute: np.ndarray
    invalid: pa.BooleanArray | None  # set once every row has been tried


def _parse_fields(
    arr: ArrayLike, formats: Sequence[str], needs: tuple[str, ...], capture: frozenset[str]
) -> _Fields:
    """Try each format on the rows still unparsed; collect day number, hour and minute.

    Values written exactly in the first format's fixed-width layout are read from their bytes
    (``fixed_width_datetimes``); the regex path reads the rest, trying every format in order,
    so the result is the same as if the regex path had read every value.
    """
    if isinstance(formats, str) or not formats:
        raise ValueError("formats must be a non-empty sequence of strptime formats")
    for fmt in formats:
        _check_format_has(fmt, compile_format(fmt), needs)
    text = string_array(arr)
    size = len(text)
    fields = _Fields(
        ok=np.zeros(size, dtype=bool),
        days=np.zeros(size, dtype=np.int64),
        hour=np.zeros(size, dtype=np.int64),
        minute=np.zeros(size, dtype=np.int64),
        invalid=None,
    )
    remaining = _read_fixed_width(text, formats[0], capture, fields)
    if remaining is None:
        remaining = np.arange(size)
    if remaining.size:
        # The first format usually matches every row: skip the copy of the whole column then.
        subset = text if remaining.size == size else pc.take(text, pa.array(remaining))
        _read_with_regex(trimmed_text(subset), remaining, formats, capture, fields)
    else:
        fields.invalid = all_false(size)
    return fields


def _read_fixed_width(
    text: pa.Array, fmt: str, capture: frozenset[str], fields: _Fields
) -> np.ndarray | None:
    """Fill ``fields`` for the values in ``fmt``'s fixed-width layout that name a real date;
    return the rows left for the regex path (None: this format has no fixed width)."""
    layout = fixed_width_layout(fmt)
    if layout is None:
        return None
    accepted, found = read_fixed_width(text, layout)
    parsed = _calendar_fields(found, accepted, capture)
    done = parsed["ok"]  # an impossible date is the regex path's to judge
    np.copyto(fields.ok, done)
    for name in ("days", "hour", "minute"):
        np.copyto(getattr(fields, name), parsed[name], where=done)
    return np.flatnonzero(~done)


def _calendar_fields(
    found: dict[str, np.ndarray], rows: np.ndarray, capture: frozenset[str]
) -> dict[str, np.ndarray]:
    """Day number, hour and minute from numeric fields, as ``_fields_of`` computes them;
    ``ok`` is ``rows`` where the date is real."""
    size = len(rows)

    def field(name: str, default: int) -> np.ndarray:
        if name in found and name in capture:
            return found[name]
        return np.full(size, default, dtype=np.int64)

    times = {"hour": field("H", 0), "minute": field("M", 0)}
    if not DATE_GROUPS & capture & found.keys():  # 1970-01-01, day 0, as the regex path gives
        return {"ok": rows, "days": np.zeros(size, dtype=np.int64), **times}
    if "Y" in found and "Y" in capture:
        year = found["Y"]
    else:
        two_digit = field("y", 70)
        year = np.where(two_digit < 69, 2000 + two_digit, 1900 + two_digit)
    days, real_date = _days_since_epoch(year, field("m", 1), field("d", 1))
    return {"ok": rows & real_date, "days": days, **times}


def _read_with_regex(
    text: pa.Array,
    rows: np.ndarray,
    formats: Sequence[str],
    capture: frozenset[str],
    fields: _Fields,
) -> None:
    """Fill ``fields`` for ``rows`` (whose trimmed values are ``text``), each format in turn;
    the non-empty values no format reads are invalid."""
    patterns = [compile_format(fmt, capture) for fmt in formats]
    present = pc.is_valid(text).to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(present)  # into `text`
    remaining = rows[positions]  # into the whole column
    for pattern in patterns:
        if remaining.size == 0:
            break
        subset = text if positions.size == len(text) else pc.take(text, pa.array(positions))
        parsed = _fields_of(subset, pattern)
        done = remaining[parsed["ok"]]
        fields.ok[done] = True
        fields.days[done], fields.hour[done], fields.minute[done] = (
            parsed[name][parsed["ok"]] for name in ("days", "hour", "minute")
        )
        remaining, positions = remaining[~parsed["ok"]], positions[~parsed["ok"]]
    invalid = np.zeros(len(fields.ok), dtype=bool)
    invalid[remaining] = True
    fields.invalid = pa.array(invalid, pa.bool_())


def _check_format_has(fmt: str, pattern: str, needs: tuple[str, ...]) -> None:
    groups = set(re.findall(r"\(\?P<(\w)>", pattern))
    if "year" in needs and not groups & {"Y", "y"}:
        raise ValueError(f"date format {fmt!r} has no year (%Y or %y)")
    if "hour" in needs and not groups & {"H", "I"}:
        raise ValueError(f"time format {fmt!r} has no hour (%H or %I)")


def _fields_of(text: pa.Array, pattern: str) -> dict[str, np.ndarray]:
    """Match ``pattern`` on every value; return ok mask, day number, hour and minute."""
    matched = pc.extract_regex(text, pattern=pattern)
    ok = matched.is_valid().to_numpy(zero_copy_only=False)
    groups = {matched.type.field(i).name: matched.field(i) for i in range(matched.type.num_fields)}
    year = _year(groups, ok)
    month = _month(groups, ok)
    day = _int_group(groups, "d", ok, default=1)
    days, real_date = _days_since_epoch(year, month, day)
    return {
        "ok": ok & real_date,
        "days": days,
        "hour": _hour(groups, ok),
        "minute": _int_group(groups, "M", ok, default=0),
    }


def _int_group(groups: dict[str, pa.Array], name: str, ok: np.ndarray, default: int) -> np.ndarray:
    """A numeric group as int64 (``default`` where absent or unmatched)."""
    if name not in groups:
        return np.full(len(ok), default, dtype=np.int64)
    text = pc.if_else(pa.array(ok), groups[name], pa.scalar(str(default)))
    return pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False)


def _year(groups: dict[str, pa.Array], ok: np.ndarray) -> np.ndarray:
    if "Y" in groups:
        return _int_group(groups, "Y", ok, default=1970)
    two_digit = _int_group(groups, "y", ok, default=70)
    # CPython's pivot: 69-99 -> 1900s, 00-68 -> 2000s.
    return np.where(two_digit < 69, 2000 + two_digit, 1900 + two_digit)


def _month(groups: dict[str, pa.Array], ok: np.ndarray) -> np.ndarray:
    if "b" not in groups:
        return _int_group(groups, "m", ok, default=1)
    names = pc.utf8_lower(pc.utf8_rtrim(groups["b"], characters="."))
    index = pc.index_in(names, value_set=pa.array(list(_MONTHS)))
    numbers = pc.take(pa.array(list(_MONTHS.values()), pa.int64()), index)
    return pc.fill_null(numbers, 1).to_numpy(zero_copy_only=False)


def _hour(groups: dict[str, pa.Array], ok: np.ndarray) -> np.ndarray:
    if "I" not in groups:
        return _int_group(groups, "H", ok, default=0)
    twelve = _int_group(groups, "I", ok, default=12) % 12
    if "p" not in groups:
        return twelve
    is_pm = pc.starts_with(pc.utf8_lower(groups["p"]), "p").to_numpy(zero_copy_only=False)
    return twelve + 12 * is_pm


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Day numbers since 1970-01-01 (H. Hinnant's days_from_civil, integer arithmetic)."""
    shifted = year - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def _is_leap(year: np.ndarray) -> np.ndarray:
    return (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))


# Every four-digit year's first day and leap flag, and each month's first day of the year:
# table look-ups are several times faster than the arithmetic on whole columns.
_YEARS = np.arange(10_000, dtype=np.int64)
_YEAR_LEAP = _is_leap(_YEARS)
_YEAR_START = _days_from_civil(_YEARS, np.ones_like(_YEARS), np.ones_like(_YEARS))
_MONTH_START = np.array(
    [
        np.concatenate([[0, 0], np.cumsum(_DAYS_IN_MONTH[1:12] + (leap & (np.arange(1, 12) == 2)))])
        for leap in (False, True)
    ]
)


def _days_since_epoch(
    year: np.ndarray, month: np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers for (year, month, day) and a mask that is False where the day overflows.

    Months must be 1-12 (0 is tolerated where the day number is not used).
    """
    if year.size == 0 or year.min() < 0 or year.max() >= len(_YEARS):
        leap = _is_leap(year)
        days = _days_from_civil(year, month, day)
    else:
        leap = _YEAR_LEAP[year]
        days = _YEAR_START[year] + _MONTH_START[leap.astype(np.intp), month] + day - 1
    real = day <= _DAYS_IN_MONTH[month] + ((month == 2) & leap)
    return days, real
