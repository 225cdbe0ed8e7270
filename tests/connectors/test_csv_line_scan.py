"""Tests for connectors.csv_line_scan: line layout, title lines and what vetoes the fast path."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from connectors import csv_line_scan
from connectors.csv_line_scan import LineLayout, scan_lines, skip_title_lines


def scan(path: Path, start: int = 0, first_line: int = 1, **options: object) -> LineLayout | None:
    settings = {"delimiter": ",", "quotechar": '"', "encoding": None}
    settings.update(options)
    return scan_lines(path, start, first_line, field_size_limit=csv.field_size_limit(), **settings)  # type: ignore[arg-type]


def test_layout_numbers_records_around_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "blanks.csv"
    path.write_bytes(b"a,b\r\n\r\n1,2\n\n\n3,4\r\n\n5,6")
    layout = scan(path)
    assert layout is not None
    assert layout.record_lines == 4
    assert layout.first_record == (0, 5)  # "a,b\r\n"
    assert layout.blank_ranks.tolist() == [1, 2, 2, 3]
    assert layout.line_numbers(np.arange(4)).tolist() == [1, 3, 6, 8]


def test_layout_is_the_same_whatever_the_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "chunks.csv"
    lines = [b'id,"name"'] + [
        b"" if n % 7 == 0 else b'%d,"x ""%d"""' % (n, n) for n in range(1, 400)
    ]
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    whole = scan(path)
    monkeypatch.setattr(csv_line_scan, "CHUNK_BYTES", 64)  # many chunks, each cut at a LF
    chunked = scan(path)
    assert whole is not None and chunked is not None
    assert (chunked.record_lines, chunked.first_record) == (whole.record_lines, (0, 11))
    assert chunked.blank_ranks.tolist() == whole.blank_ranks.tolist()
    blank_lines = [n + 1 for n in range(1, 400) if n % 7 == 0]
    assert whole.record_lines == 400 - len(blank_lines)
    ranks = np.arange(whole.record_lines)
    expected = [n for n in range(1, 401) if n not in blank_lines]
    assert whole.line_numbers(ranks).tolist() == expected


def test_a_line_longer_than_a_chunk_vetoes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(b"a,b\n1," + b"x" * 100 + b"\n")
    monkeypatch.setattr(csv_line_scan, "CHUNK_BYTES", 64)
    assert scan(path) is None


@pytest.mark.parametrize(
    ("content", "fast"),
    [
        (b'a,b\n"x","y"\n', True),
        (b'a,b\n"",""""\n', True),  # empty field; an escaped quote alone
        (b'a;b\n"x;y";1\n', True),
        (b'a,b\n"x\ny",1\n', False),  # a quoted line break
        (b'a,b\nx"y,1\n', False),  # a quote inside an unquoted field
        (b'a,b\n"x"y,1\n', False),  # text after a closing quote
        (b'a,b\n"x" ,1\n', False),
        (b'a,b\n"x,1\n', False),  # unterminated
        (b"a,b\n1,2\r3,4\n", False),  # a lone CR
        (b'a,b\n1,"2"', True),  # closing quote at the end of file
        (b"a,b\n1,2\x00\n", False),
    ],
)
def test_quoting_and_line_end_rules(tmp_path: Path, content: bytes, fast: bool) -> None:
    path = tmp_path / "rules.csv"
    path.write_bytes(content)
    delimiter = ";" if content.startswith(b"a;") else ","
    assert (scan(path, delimiter=delimiter) is not None) is fast


def test_decoding_is_checked_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "bytes.csv"
    path.write_bytes("a,b\n1,Peñol\n".encode("cp1252"))
    assert scan(path) is not None
    assert scan(path, encoding="utf-8") is None
    assert scan(path, encoding="cp1252") is not None


def test_too_many_blank_lines_veto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "blank.csv"
    path.write_bytes(b"a\n" + b"\n" * 5 + b"1\n")
    monkeypatch.setattr(csv_line_scan, "MAX_BLANK_LINES", 4)
    assert scan(path) is None


@pytest.mark.parametrize(
    ("content", "count", "expected"),
    [
        (b"t1\r\nt2\rt3\nrest", 3, (10, 3)),
        (b"t1\r\nt2\rt3\nrest", 1, (4, 1)),
        (b"t1\nt2", 5, (5, 2)),  # fewer lines than asked: all of them
        (b"", 2, (0, 0)),
        (b'"a\n"b\n', 1, (3, 1)),  # title lines are not parsed: a stray quote is fine
    ],
)
def test_title_lines_end_where_python_text_lines_end(
    tmp_path: Path, content: bytes, count: int, expected: tuple[int, int]
) -> None:
    path = tmp_path / "title.csv"
    path.write_bytes(content)
    assert skip_title_lines(path, 0, count) == expected
    with open(path, encoding="latin-1", newline="") as text:
        lines = [line for line in (text.readline() for _ in range(count)) if line]
    assert (sum(len(line) for line in lines), len(lines)) == expected
