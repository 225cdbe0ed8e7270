"""Vectorised conversion of raw text columns into typed values, for source profiles.

Numbers, codes and value maps are here; dates and times in ``datetime_parsing``.

Every parser returns a ``ParsedColumn``: the typed values, and ``invalid`` marking inputs that
were non-empty but could not be parsed (their value is null). Empty, whitespace-only and null
inputs give a null value and are *not* invalid: missing data is the contract's business, not a
parse failure. Inputs are trimmed of surrounding whitespace before parsing.

Two fast paths read the common cases without regular expressions: dates and times written
zero-padded in the first format's fixed width (``fixed_width_datetimes``), and numbers made
of plain digits (cast directly). Every other value goes through the general path, so results
and invalid masks are the ones the general path alone gives (tests compare the two).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ArrayLike = pa.Array | pa.ChunkedArray


@dataclass(frozen=True)
class ParsedColumn:
    """Typed values plus the mask of non-empty inputs that failed to parse.

    Every parser in this module returns a null-free ``invalid`` array; ``None`` is allowed for
    hand-built columns that cannot fail.
    """

    values: pa.Array
    invalid: pa.BooleanArray | None


def parse_numbers(
    arr: ArrayLike, *, decimal: str = ".", thousands: str | None = None, integer: bool = False
) -> ParsedColumn:
    """Parse numbers written with the given separators ("1.234,5": decimal=",", thousands=".").

    Thousands separators must group digits by three ("1.23,4" is invalid). ``integer=True``
    gives int64 and accepts a fraction of zeros only ("5001,0"); otherwise float64 (an exponent
    such as "1,5e3" is accepted).
    """
    if len(decimal) != 1 or (
        thousands is not None and (len(thousands) != 1 or thousands == decimal)
    ):
        raise ValueError(f"bad separators: decimal={decimal!r} thousands={thousands!r}")
    target = pa.int64() if integer else pa.float64()
    text = string_array(arr)
    if decimal.isdigit() or (thousands or "").isdigit():  # no plain-digits shortcut then
        return _numbers_by_regex(text, decimal, thousands, integer)
    # Plain ASCII digits ("42") read the same whatever the separators: Arrow casts them
    # directly; the regex path reads every other value (signs, separators, blanks, errors).
    plain = pc.ascii_is_decimal(text)
    if integer:  # 18 digits always fit in int64; the regex path refuses longer values
        plain = pc.and_(plain, pc.less_equal(pc.binary_length(text), 18))
    plain = pc.fill_null(plain, False)
    if pc.all(plain).as_py() is not False:  # every value (or there are none)
        return ParsedColumn(pc.cast(text, target), all_false(len(text)))
    return _merged(
        text,
        plain.to_numpy(zero_copy_only=False),
        lambda digits: ParsedColumn(pc.cast(digits, target), all_false(len(digits))),
        lambda others: _numbers_by_regex(others, decimal, thousands, integer),
    )


def _numbers_by_regex(
    text: pa.Array, decimal: str, thousands: str | None, integer: bool
) -> ParsedColumn:
    """The general number reader: validate with a regex, strip separators, cast."""
    text = trimmed_text(text)
    valid = _matches(text, _number_pattern(decimal, thousands, integer))
    cleaned = pc.utf8_ltrim(text, characters="+")  # Arrow's integer cast rejects a '+' sign
    if thousands is not None:
        cleaned = pc.replace_substring(cleaned, thousands, "")
    if integer:
        cleaned = pc.replace_substring_regex(cleaned, re.escape(decimal) + "0*$", "")
        # 18 digits always fit in int64; longer values would make the cast fail for all rows.
        digits = pc.utf8_length(pc.utf8_ltrim(cleaned, characters="-"))
        valid = pc.and_(valid, pc.less_equal(pc.fill_null(digits, 0), 18))
    elif decimal != ".":
        cleaned = pc.replace_substring(cleaned, decimal, ".")
    kept = pc.if_else(valid, cleaned, pa.scalar(None, pa.string()))
    values = pc.cast(kept, pa.int64() if integer else pa.float64())
    return ParsedColumn(values, _invalid(text, valid))


def _merged(
    text: pa.Array,
    fast_rows: np.ndarray,
    fast: Callable[[pa.Array], ParsedColumn],
    slow: Callable[[pa.Array], ParsedColumn],
) -> ParsedColumn:
    """Parse the ``fast_rows`` of ``text`` with ``fast``, the others with ``slow``, and put
    the results back in row order."""
    chosen = np.flatnonzero(fast_rows)
    others = np.flatnonzero(~fast_rows)
    first = fast(pc.take(text, pa.array(chosen)))
    second = slow(pc.take(text, pa.array(others)))
    # Row i of the whole column sits at position order[i] of the concatenated results.
    order = np.empty(len(text), dtype=np.int64)
    order[chosen] = np.arange(chosen.size)
    order[others] = chosen.size + np.arange(others.size)
    index = pa.array(order)
    values = pa.concat_arrays([first.values, second.values.cast(first.values.type)])
    invalid = pa.concat_arrays([first.invalid, second.invalid])
    return ParsedColumn(pc.take(values, index), pc.take(invalid, index))


def _number_pattern(decimal: str, thousands: str | None, integer: bool) -> str:
    """RE2 pattern for a whole number string with these separators."""
    point = re.escape(decimal)
    whole = r"\d+" if thousands is None else rf"(?:\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+)"
    if integer:
        return rf"^[+-]?{whole}(?:{point}0*)?$"
    return rf"^[+-]?(?:{whole}(?:{point}\d*)?|{point}\d+)(?:[eE][+-]?\d+)?$"


def pad_codes(arr: ArrayLike, *, width: int) -> ParsedColumn:
    """Left-pad numeric codes that lost their leading zeros ("5001" -> "05001" for width 5).

    Accepts digits with an optional zero fraction ("5001.0", as left by a float column) and
    numeric Arrow arrays. Letters, signs, other fractions and codes longer than ``width``
    digits are invalid.
    """
    if width < 1:
        raise ValueError("width must be >= 1")
    text = trimmed_text(arr)
    digits = pc.replace_substring_regex(text, r"\.0*$", "")
    valid = pc.and_(
        _matches(text, r"^\d+(?:\.0*)?$"),
        pc.less_equal(pc.fill_null(pc.utf8_length(digits), 0), width),
    )
    padded = pc.utf8_lpad(digits, width=width, padding="0")
    values = pc.if_else(valid, padded, pa.scalar(None, pa.string()))
    return ParsedColumn(values, _invalid(text, valid))


def map_values(
    arr: ArrayLike,
    mapping: Mapping[str, str | None],
    *,
    default: str | None = None,
    case_insensitive: bool = True,
    strip_accents: bool = False,
) -> ParsedColumn:
    """Map source labels onto canonical values (matching trimmed, optionally ignoring case and
    accents). Unmapped non-empty values are invalid unless ``default`` is given, in which case
    they get ``default``. A key mapped to None is a known label meaning "no value".

    Raises ValueError when two keys become equal after normalisation but map differently.
    """
    text = trimmed_text(arr)
    keys = _normalised(pa.array(list(mapping), pa.string()), case_insensitive, strip_accents)
    targets = _unique_targets(keys.to_pylist(), list(mapping.values()))
    normalised = _normalised(text, case_insensitive, strip_accents)
    index = pc.index_in(normalised, value_set=pa.array(list(targets), pa.string()))
    values = pc.take(pa.array(list(targets.values()), pa.string()), index)
    unmapped = pc.and_(pc.is_null(index), pc.is_valid(text))
    if default is not None:
        values = pc.if_else(unmapped, pa.scalar(default, pa.string()), values)
        return ParsedColumn(values, all_false(len(text)))
    return ParsedColumn(values, pc.fill_null(unmapped, False))


def _normalised(text: pa.Array, case_insensitive: bool, strip_accents: bool) -> pa.Array:
    """Trim, and optionally lower-case and remove combining accents (NFD, drop marks, NFC)."""
    text = pc.utf8_trim_whitespace(text)
    if case_insensitive:
        text = pc.utf8_lower(text)
    if strip_accents:
        decomposed = pc.utf8_normalize(text, form="NFD")
        text = pc.utf8_normalize(pc.replace_substring_regex(decomposed, r"\p{Mn}", ""), "NFC")
    return text


def _unique_targets(keys: list[str], targets: list[str | None]) -> dict[str, str | None]:
    """Normalised key -> target; reject keys that collide with different targets."""
    merged: dict[str, str | None] = {}
    for key, target in zip(keys, targets, strict=True):
        if key in merged and merged[key] != target:
            raise ValueError(
                f"mapping keys collide after normalisation as {key!r}: "
                f"{merged[key]!r} vs {target!r}"
            )
        merged[key] = target
    return merged


def string_array(arr: ArrayLike) -> pa.Array:
    """The input as one string array (other types are cast)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def trimmed_text(arr: ArrayLike) -> pa.Array:
    """The input as a trimmed string array with empty values turned into nulls."""
    text = pc.utf8_trim_whitespace(string_array(arr))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _matches(text: pa.Array, pattern: str) -> pa.BooleanArray:
    """Whether each value matches ``pattern`` (False for nulls)."""
    return pc.fill_null(pc.match_substring_regex(text, pattern=pattern), False)


def _invalid(text: pa.Array, valid: pa.BooleanArray) -> pa.BooleanArray:
    """Non-null inputs that did not parse."""
    return pc.and_(pc.is_valid(text), pc.invert(pc.fill_null(valid, False)))


def all_false(size: int) -> pa.BooleanArray:
    return pa.array(np.zeros(size, dtype=bool), pa.bool_())
