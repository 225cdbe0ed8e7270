"""``drop_rows_matching`` on Arrow data: which rows a regex drops by their first filled cell.

The exact parser drops a record when Python's ``re`` finds the pattern in ``cell.strip()`` of
its first cell that is not empty once stripped. Here the first filled cell is found with
``pyarrow.compute``, trimming exactly the characters ``str.strip()`` removes, and Python's
``re`` (not Arrow's RE2, whose syntax and Unicode classes differ) runs once per distinct cell.
When every match must contain some literal text (``^TOTAL``, ``Total general``), a byte-level
``starts_with``/substring test first narrows the cells ``re`` has to see.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # private, but the documented grammar's own parser
import re._parser as sre_parser

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# What str.strip() removes: every code point for which str.isspace() is true.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_ANCHORS = (sre_constants.AT_BEGINNING, sre_constants.AT_BEGINNING_STRING)


def kept_rows(batch: pa.RecordBatch, pattern: re.Pattern[str]) -> pa.BooleanArray:
    """True for the rows ``pattern`` does not drop (rows without a filled cell are kept)."""
    first = first_filled_cells(batch)
    required = required_literal(pattern)
    if required is None:
        return pc.invert(_matches(first, pattern))
    text, anchored = required
    maybe = pc.starts_with(first, text) if anchored else pc.match_substring(first, text)
    maybe = pc.fill_null(maybe, False)
    if not pc.any(maybe).as_py():
        return pa.array(np.ones(len(first), dtype=bool))
    matched = _matches(first.filter(maybe), pattern)
    none = pa.array(np.zeros(len(first), dtype=bool))
    return pc.invert(pc.replace_with_mask(none, maybe, matched))


def first_filled_cells(batch: pa.RecordBatch) -> pa.Array:
    """Per row, the first cell not empty once stripped (as ``str.strip``), stripped; or null."""
    no_cell = pa.scalar(None, pa.string())
    first: pa.Array | None = None
    for column in batch.columns:
        cells = pc.utf8_trim(column, characters=PYTHON_WHITESPACE)
        cells = pc.if_else(pc.equal(cells, ""), no_cell, cells)
        first = cells if first is None else pc.coalesce(first, cells)
        if first.null_count == 0:
            break  # later columns cannot change any row
    return first if first is not None else pa.nulls(batch.num_rows, pa.string())


def required_literal(pattern: re.Pattern[str]) -> tuple[str, bool] | None:
    """Text every match of ``pattern`` contains, and whether it must open the cell.

    Read from the pattern's leading literal characters (after ``^`` or ``\\A``); None when
    there are none or case-insensitive matching makes a byte comparison unsafe.
    """
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        parsed = list(sre_parser.parse(pattern.pattern, pattern.flags))
    except Exception:  # a private parser may change; skipping the shortcut is always exact
        return None
    anchored = bool(parsed) and parsed[0][0] is sre_constants.AT and parsed[0][1] in _ANCHORS
    text = []
    for op, value in parsed[1 if anchored else 0 :]:
        if op is not sre_constants.LITERAL:
            break
        text.append(chr(value))
    if not text:
        return None
    # With MULTILINE, "^" also matches after a line feed inside the cell.
    return "".join(text), anchored and not pattern.flags & re.MULTILINE


def _matches(cells: pa.Array, pattern: re.Pattern[str]) -> pa.BooleanArray:
    """Whether Python's ``re`` finds ``pattern`` in each cell (False for null cells)."""
    encoded = cells.dictionary_encode()
    hits = [pattern.search(cell) is not None for cell in encoded.dictionary.to_pylist()]
    matched = pc.take(pa.array(hits, pa.bool_()), encoded.indices)
    return pc.fill_null(matched, False)
