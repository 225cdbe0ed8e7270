"""Fast path for dates and times written zero-padded at a fixed width ("2023-03-10", "07:05").

``datetime_parsing`` matches every value against a regular expression, which is exact but costs
about 0.2 s per million values. Most files write every value in the same zero-padded layout,
which numpy can check and read straight from the bytes of the Arrow column.

A value is *accepted* only when the general path would read the very same fields from it:
exactly the format's width, an ASCII digit at every position of a numeric directive, the
format's literal character at every other position, and every field in its directive's
range (month 01-12, day 01-31, hour 00-23, minute 00-59, second 00-61). At that width each
field has its maximum number of digits, so the regex cannot split the digits differently.
Everything else (blanks, padding, single-digit fields, other formats) is left to the general
path, and so is the question whether the date exists (31/02).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# Directives with a fixed number of digits, and the range their regex in datetime_parsing allows.
_DIGITS = {"Y": 4, "y": 2, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}
_RANGES = {
    "Y": (0, 9999),
    "y": (0, 99),
    "m": (1, 12),
    "d": (1, 31),
    "H": (0, 23),
    "M": (0, 59),
    "S": (0, 61),
}


@dataclass(frozen=True)
class FixedWidthLayout:
    """Where each numeric field and each literal byte sits in a value of ``width`` bytes."""

    width: int
    fields: tuple[tuple[str, int, int], ...]  # (directive, first byte, digits)
    literals: tuple[tuple[int, int], ...]  # (byte position, byte value)


def fixed_width_layout(fmt: str) -> FixedWidthLayout | None:
    """The layout of a strptime format, or None when it has no fixed width.

    Only %Y %y %m %d %H %M %S, ``%%`` and printable ASCII literals qualify (a space in the
    middle matches the one space of a value, as the general path's ``\\s+`` does); a format
    with month names, fractions, offsets, AM/PM, other characters or surrounding spaces has
    no fast path.
    """
    fields: list[tuple[str, int, int]] = []
    literals: list[tuple[int, int]] = []
    position = index = 0
    while index < len(fmt):
        char = fmt[index]
        if char == "%":
            directive = fmt[index + 1 : index + 2]
            index += 2
            if directive == "%":
                literals.append((position, ord("%")))
                position += 1
                continue
            if directive not in _DIGITS:
                return None
            fields.append((directive, position, _DIGITS[directive]))
            position += _DIGITS[directive]
            continue
        if not (char.isascii() and char.isprintable()):
            return None
        literals.append((position, ord(char)))
        position += 1
        index += 1
    if fmt[:1].isspace() or fmt[-1:].isspace():
        return None  # values are trimmed before the general path sees them
    return FixedWidthLayout(position, tuple(fields), tuple(literals))


def read_fixed_width(
    text: pa.Array, layout: FixedWidthLayout
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The mask of values of ``text`` (a string array) written in ``layout``, and their fields.

    Field arrays are int64 over all rows: the value where accepted, 0 elsewhere.
    """
    size = len(text)
    rows, matrix = _value_bytes(text, layout.width)
    # One contiguous row of bytes per position: whole-row numpy operations from here on.
    digits = np.ascontiguousarray(matrix.T) - np.uint8(ord("0"))  # bytes below "0" wrap: > 9
    good = np.ones(rows.size, dtype=bool)
    for position, byte in layout.literals:
        good &= digits[position] == np.uint8((byte - ord("0")) % 256)
    numeric = [p for _, start, count in layout.fields for p in range(start, start + count)]
    if numeric:
        good &= (digits[numeric] <= 9).all(axis=0)
    values: dict[str, np.ndarray] = {}
    for name, start, count in layout.fields:
        value = digits[start].astype(np.int32)
        for position in range(start + 1, start + count):
            value *= 10
            value += digits[position]
        low, high = _RANGES[name]
        good &= (value >= low) & (value <= high)
        values[name] = value
    if rows.size == size and good.all():
        return good, {name: value.astype(np.int64) for name, value in values.items()}
    accepted = np.zeros(size, dtype=bool)
    kept = rows[good]
    accepted[kept] = True
    fields = {}
    for name, value in values.items():
        fields[name] = np.zeros(size, dtype=np.int64)  # 0 elsewhere: no out-of-range month
        fields[name][kept] = value[good]
    return accepted, fields


def _value_bytes(text: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose value is exactly ``width`` bytes, and those bytes as a (rows, width) matrix."""
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        raise TypeError(f"expected a string array, got {text.type}")
    size = len(text)
    _, offsets_buffer, data_buffer = text.buffers()
    offset_type = np.int64 if pa.types.is_large_string(text.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, offset_type)[text.offset : text.offset + size + 1]
    data = (
        np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    )
    lengths = np.diff(offsets)
    if text.null_count == 0 and size and (lengths == width).all():
        # Every value has the width: they sit back to back, so the bytes reshape without a copy.
        start = int(offsets[0])
        return np.arange(size), data[start : start + size * width].reshape(size, width)
    fits = lengths == width
    if text.null_count:
        fits &= text.is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(fits)
    starts = offsets[rows].astype(np.int64)
    return rows, data[starts[:, None] + np.arange(width)]
