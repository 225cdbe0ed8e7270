"""Byte-level pre-scan deciding whether a CSV file's records can be numbered by counting lines.

Arrow's CSV reader reports no line numbers. They can still be computed exactly when every
record sits on one physical line and the blank lines (counted for line numbers, holding no
record) are known. ``scan_lines`` reads the raw bytes once, in fixed-size chunks, with numpy,
and returns a ``LineLayout`` when that holds, or None when the file needs the exact
line-by-line parser. It answers None for:

- a quoted field spanning lines, or one a quote char can open only ambiguously: every quote
  must pair with the next one on the same line, an opening quote must start a field (follow
  a delimiter, a line start or a closing quote: the doubled-quote escape) and a closing
  quote must end one (precede a delimiter, a line end, the end of file or an escaped quote).
  Under those rules Python's strict ``csv`` and Arrow split fields identically; anything
  else (a quote inside an unquoted field, text after a closing quote, an unterminated
  quote) is read, or rejected with the right error, by the exact parser;
- NUL bytes, lone carriage returns (old Mac line ends), lines longer than ``csv``'s field size
  limit, bytes the encoding cannot decode, or more blank lines than ``MAX_BLANK_LINES``.

Only valid for encodings in which the bytes of CR, LF, the delimiter and the quote char
always stand for those characters (UTF-8, cp1252, Latin-1, ASCII) and ASCII delimiter and
quote chars. Memory is bounded by the chunk size.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHUNK_BYTES = 1 << 20  # 4 MiB chunks scan twice as slowly here (cache misses)
MAX_BLANK_LINES = 1 << 16
_TITLE_BYTES = 1 << 20
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LF, _CR = 10, 13


@dataclass(frozen=True)
class LineLayout:
    """Where the non-blank lines of a region (from ``start`` to the end of file) sit."""

    start: int  # byte offset of the region
    first_line: int  # 1-based physical line number of its first line
    record_lines: int  # non-blank lines in the region
    first_record: tuple[int, int] | None  # byte span of the first non-blank line (with its end)
    longest_line: int  # bytes, line end included
    # Non-blank lines before each blank line, ascending (a blank line's "rank").
    blank_ranks: np.ndarray = field(repr=False)

    def line_numbers(self, ranks: np.ndarray) -> np.ndarray:
        """Physical line numbers of the non-blank lines with these 0-based ranks."""
        lines = ranks + self.first_line
        if self.blank_ranks.size:
            lines += np.searchsorted(self.blank_ranks, ranks, side="right")
        return lines


def skip_title_lines(path: Path, start: int, count: int) -> tuple[int, int] | None:
    """Byte offset after ``count`` physical lines from ``start``, and how many there were.

    Lines end at CR LF, CR or LF (as Python's text layer reads them). None when the title
    lines do not fit in the first MiB (the exact parser handles such files).
    """
    if count == 0:
        return start, 0
    with open(path, "rb") as handle:
        handle.seek(start)
        head = handle.read(_TITLE_BYTES)
        at_eof = not handle.read(1)
    skipped = offset = 0
    for match in _LINE_END.finditer(head):
        if match.end() == len(head) and match.group() == b"\r" and not at_eof:
            return None  # a CR LF may straddle the end of what was read
        skipped, offset = skipped + 1, match.end()
        if skipped == count:
            return start + offset, skipped
    if not at_eof:
        return None
    if offset < len(head):  # a last line without a line end
        skipped, offset = skipped + 1, len(head)
    return start + offset, skipped


def scan_lines(
    path: Path,
    start: int,
    first_line: int,
    *,
    delimiter: str,
    quotechar: str,
    encoding: str | None,
    field_size_limit: int,
) -> LineLayout | None:
    """Scan the file from byte ``start`` (physical line ``first_line``) to its end.

    ``encoding``, when given, is checked to decode every byte (None: already known to). Returns
    None when the records cannot be numbered by counting lines (see the module doc).
    """
    scanner = _ChunkScanner(ord(delimiter), ord(quotechar), encoding, field_size_limit)
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb") as handle:
        handle.seek(start)
        offset, carried = start, 0
        while True:
            filled = carried + _read_into(handle, view[carried:])
            final = filled < CHUNK_BYTES
            # Chunks end after a line feed so that no line (nor a CR LF) is split.
            size = filled if final else buffer.rfind(b"\n", 0, filled) + 1
            if not final and size == 0:
                return None  # a line longer than the buffer
            if size and not scanner.scan(buffer, size, offset, final):
                return None
            if final:
                break
            carried = filled - size
            buffer[:carried] = buffer[size:filled]
            offset += size
    return scanner.layout(start, first_line)


def _read_into(handle: io.BufferedReader, view: memoryview) -> int:
    """Fill ``view`` from ``handle`` as far as the file allows; return the bytes read."""
    total = 0
    while total < len(view):
        count = handle.readinto(view[total:])
        if not count:
            break
        total += count
    return total


class _ChunkScanner:
    """Accumulates line facts chunk by chunk; any chunk can veto the fast path."""

    def __init__(self, delimiter: int, quote: int, encoding: str | None, field_limit: int):
        self.quote = quote
        self.quote_byte = bytes([quote])
        self.decoder = codecs.getincrementaldecoder(encoding)() if encoding else None
        self.field_limit = field_limit
        # Bytes that may border a quoted field: it opens after one, closes before one.
        self.borders = np.zeros(256, dtype=bool)
        self.borders[[delimiter, _LF, _CR, quote]] = True
        self.lines_before = 0  # complete lines in earlier chunks
        self.records = 0
        self.longest = 0
        self.first_record: tuple[int, int] | None = None
        self.blank_lines: list[np.ndarray] = []  # 0-based line indexes within the region
        self.blank_count = 0

    def scan(self, buffer: bytearray, size: int, offset: int, final: bool) -> bool:
        """Take in ``buffer[:size]`` (whole lines, unless ``final``); False vetoes."""
        data = np.frombuffer(buffer, dtype=np.uint8, count=size)
        if buffer.find(b"\x00", 0, size) >= 0 or not self._decodes(buffer, size, final):
            return False
        if buffer.find(b"\r", 0, size) >= 0 and self._has_lone_cr(data):
            return False
        if buffer.find(self.quote_byte, 0, size) >= 0:
            ends = self._paired_quote_line_ends(data)
            if ends is None:
                return False
        else:
            ends = np.flatnonzero(data == _LF)
        starts = np.concatenate(([0], ends[:-1] + 1)) if ends.size else ends
        lengths = ends - starts
        tail = size - (int(ends[-1]) + 1 if ends.size else 0)  # a last line without LF
        longest = max(int(lengths.max()) + 1 if ends.size else 0, tail)
        if longest > self.field_limit:
            return False
        blank = (lengths == 0) | ((lengths == 1) & (data[np.maximum(ends - 1, 0)] == _CR))
        blank_at = np.flatnonzero(blank)
        self.blank_count += blank_at.size
        if self.blank_count > MAX_BLANK_LINES:
            return False
        if blank_at.size:
            self.blank_lines.append(blank_at + self.lines_before)
        if self.first_record is None:
            self.first_record = _first_filled_line(starts, ends, blank, tail, size, offset)
        self.records += ends.size - blank_at.size + (1 if tail else 0)
        self.lines_before += ends.size
        self.longest = max(self.longest, longest)
        return True

    def _decodes(self, buffer: bytearray, size: int, final: bool) -> bool:
        if self.decoder is None:
            return True
        # ASCII decodes in every encoding scanned here, and a chunk ends after a line feed,
        # so the decoder holds no partial character: an ASCII chunk needs no decoding (it is
        # checked a hundred times faster than decoded). The whole buffer is checked, not the
        # chunk, to save a copy: bytes past the chunk can only send it to the decoder.
        if buffer.isascii():
            return True
        try:
            self.decoder.decode(memoryview(buffer)[:size], final)
        except UnicodeDecodeError:
            return False
        return True

    @staticmethod
    def _has_lone_cr(data: np.ndarray) -> bool:
        after = np.flatnonzero(data == _CR) + 1
        return bool(after[-1] >= data.size or (data[after] != _LF).any())

    def _paired_quote_line_ends(self, data: np.ndarray) -> np.ndarray | None:
        """Positions of the line feeds, or None unless quotes pair up as the module doc says.

        One pass finds line feeds and quotes together: in that merged order, each quote must
        be followed by its partner with no line feed between.
        """
        events = np.flatnonzero((data == _LF) | (data == self.quote))
        is_lf = data[events] == _LF
        quote_events = np.flatnonzero(~is_lf)
        if quote_events.size % 2 or (quote_events[1::2] - quote_events[0::2] != 1).any():
            return None
        quotes = events[quote_events]
        opens, closes = quotes[0::2], quotes[1::2]
        opens_ok = self.borders[data[np.maximum(opens - 1, 0)]] | (opens == 0)
        last = data.size - 1
        closes_ok = self.borders[data[np.minimum(closes + 1, last)]] | (closes == last)
        if not (opens_ok.all() and closes_ok.all()):
            return None
        return events[is_lf]

    def layout(self, start: int, first_line: int) -> LineLayout:
        blank = np.concatenate(self.blank_lines) if self.blank_lines else np.empty(0, np.int64)
        return LineLayout(
            start=start,
            first_line=first_line,
            record_lines=self.records,
            first_record=self.first_record,
            longest_line=self.longest,
            blank_ranks=blank - np.arange(blank.size),
        )


def _first_filled_line(
    starts: np.ndarray, ends: np.ndarray, blank: np.ndarray, tail: int, size: int, offset: int
) -> tuple[int, int] | None:
    """Byte span (line end included) of the chunk's first non-blank line, if any."""
    filled = np.flatnonzero(~blank)
    if filled.size:
        return offset + int(starts[filled[0]]), offset + int(ends[filled[0]]) + 1
    return (offset + size - tail, offset + size) if tail else None
