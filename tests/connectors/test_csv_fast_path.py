"""The Arrow fast path of read_csv gives exactly the exact parser's output, or steps aside.

Every comparison reads a file twice, with ``engine="auto"`` (Arrow when the byte scan allows)
and ``engine="python"`` (the exact line-by-line parser), and demands the same batches (values,
``_row``, batch sizes, schema) or the same SourceError (file, line, rule, message).
"""

from __future__ import annotations

import codecs
import csv
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.csv_fast_path import arrow_batches
from connectors.csv_line_scan import MAX_BLANK_LINES
from connectors.csv_row_filter import PYTHON_WHITESPACE
from connectors.csv_source import CsvDialect, Ragged, read_csv, sniff_dialect
from connectors.errors import SourceError

CASES = Path(__file__).resolve().parents[1] / "cases" / "csv"
REAL = Path(os.environ.get("CONVIVE_REAL_DATA", "/work/shared/data/real"))
# Case files that only the exact parser may read (a quoted line break; broken quoting).
EXACT_ONLY_CASES = {"quoted.csv", "bad_quote.csv"}


@dataclass
class Outcome:
    """What a read produced: the batches yielded, then the error that stopped it (if any)."""

    batches: list[pa.RecordBatch]
    error: tuple[str, int | None, str, str] | None


def read(path: Path, dialect: CsvDialect, engine: str, **options: object) -> Outcome:
    batches: list[pa.RecordBatch] = []
    try:
        for batch in read_csv(path, dialect, engine=engine, **options):  # type: ignore[arg-type]
            batches.append(batch)
    except SourceError as error:
        return Outcome(batches, (error.file, error.line, error.rule, error.message))
    return Outcome(batches, None)


def assert_same_output(path: Path, dialect: CsvDialect, **options: object) -> Outcome:
    """Read with both engines, require identical outcomes, return the fast one."""
    fast = read(path, dialect, "auto", **options)
    exact = read(path, dialect, "python", **options)
    assert fast.error == exact.error
    assert [b.num_rows for b in fast.batches] == [b.num_rows for b in exact.batches]
    for got, expected in zip(fast.batches, exact.batches, strict=True):
        assert got.schema == expected.schema
        assert got.equals(expected), (got.to_pydict(), expected.to_pydict())
    return fast


def takes_fast_path(path: Path, dialect: CsvDialect, ragged: Ragged = "raise") -> bool | None:
    """Whether read_csv would parse with Arrow (None: the header check fails first)."""
    resolved = sniff_dialect(path, dialect)
    try:
        batches = arrow_batches(path, resolved, decoded=False, batch_rows=100, ragged=ragged)
    except SourceError:
        return None
    return batches is not None


def table(outcome: Outcome) -> pa.Table:
    return pa.Table.from_batches(outcome.batches)


CASE_DIALECTS = {
    "sniffed": CsvDialect(),
    "title-total-footer": CsvDialect(skip_rows=3, drop_rows_matching="^TOTAL", footer_rows=1),
    "headerless": CsvDialect(header=False, drop_rows_matching=r"\d$"),
}


@pytest.mark.parametrize("name", sorted(p.name for p in CASES.glob("*.csv")))
@pytest.mark.parametrize("variant", sorted(CASE_DIALECTS))
def test_every_case_file_reads_the_same_on_both_paths(name: str, variant: str) -> None:
    path, dialect = CASES / name, CASE_DIALECTS[variant]
    for ragged in ("raise", "quarantine"):
        for batch_rows in (1, 2, 65_536):
            assert_same_output(path, dialect, ragged=ragged, batch_rows=batch_rows)


def test_case_files_mostly_take_the_fast_path() -> None:
    decisions = {p.name: takes_fast_path(p, CsvDialect()) for p in CASES.glob("*.csv")}
    assert {name for name, fast in decisions.items() if fast is False} == EXACT_ONLY_CASES
    assert decisions["ragged.csv"] and decisions["es_bom_semicolon.csv"]
    assert decisions["cp1252_accents.csv"] and decisions["trailing_blank_lines.csv"]


FALLBACK_FILES = {
    "quoted-lf": (b'a,b\n1,"x\ny"\n2,z\n', CsvDialect()),
    "quoted-crlf": (b'a,b\r\n1,"x\r\ny"\r\n2,z\r\n', CsvDialect()),
    "old-mac-line-ends": (b"a,b\r1,2\r\r3,4\r", CsvDialect()),
    "nul-byte": (b"a,b\n1,x\x00y\n", CsvDialect(delimiter=",")),
    "text-after-closing-quote": (b'a,b\n1,2\n3,"abc"def\n', CsvDialect()),
    "quote-inside-unquoted-field": (b'a,b\n12" pipe,2\n3,4\n', CsvDialect()),
    "quote-opening-mid-line": (b'a,b\nab","c\nd",e\n', CsvDialect(delimiter=",")),
    "unterminated-quote-at-end": (b'a,b\n1,"open\n', CsvDialect(delimiter=",")),
    "closing-quote-then-space": (b'a,b\n"1" ,2\n', CsvDialect(delimiter=",")),
    "bad-utf8-byte": (b"a,b\n1,2\n3,\xff\n", CsvDialect(encoding="utf-8")),
    "utf8-sig-bad-byte": (b"\xef\xbb\xbfa,b\n1,\xc3\n", CsvDialect(encoding="utf-8-sig")),
    "undefined-cp1252": (b"a;b\n1;\x81\n", CsvDialect(encoding="cp1252")),
    "bad-byte-in-title-row": (b"T\xedtulo\na,b\n1,2\n", CsvDialect(encoding="utf-8", skip_rows=1)),
    "utf16": ("a\tb\r\n1\t2\r\n".encode("utf-16"), CsvDialect()),
    "bom-opening-data": (b"\xef\xbb\xbf1,2\n3,4\n", CsvDialect(encoding="utf-8", header=False)),
    "non-ascii-delimiter": ("a¦b\n1¦2\n".encode(), CsvDialect(delimiter="¦")),
    "field-over-csv-limit": (
        b"a,b\n1," + b"x" * (csv.field_size_limit() + 1) + b"\n",
        CsvDialect(delimiter=","),
    ),
    "too-many-blank-lines": (b"a,b\n" + b"\n" * (MAX_BLANK_LINES + 1) + b"1,2\n", CsvDialect()),
}


@pytest.mark.parametrize("case", sorted(FALLBACK_FILES))
def test_files_the_scan_cannot_vouch_for_use_the_exact_parser(tmp_path: Path, case: str) -> None:
    content, dialect = FALLBACK_FILES[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(content)
    assert takes_fast_path(path, dialect) is False
    for ragged in ("raise", "quarantine"):
        assert_same_output(path, dialect, ragged=ragged, batch_rows=2)


def test_fallback_results_are_the_exact_parser_s(tmp_path: Path) -> None:
    path = tmp_path / "pipe.csv"
    path.write_bytes(b'item,n\n12" pipe,2\n"a ""b""",3\n')
    assert takes_fast_path(path, CsvDialect()) is False
    assert table(assert_same_output(path, CsvDialect())).to_pydict() == {
        "item": ['12" pipe', 'a "b"'],
        "n": ["2", "3"],
        "_row": [2, 3],
    }
    syntax = tmp_path / "syntax.csv"
    syntax.write_bytes(b'a,b\n1,2\n\n3,"abc"def\n')
    assert assert_same_output(syntax, CsvDialect()).error == (
        str(syntax),
        4,
        "csv-syntax",
        "',' expected after '\"'",
    )


def test_blank_lines_title_rows_and_crlf_keep_physical_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "blanks.csv"
    lines = ["Report", "", "code;name", "", "01;a", "", "", '"02";"b;c"', "03;", "", ""]
    path.write_bytes("\r\n".join(lines).encode())
    dialect = CsvDialect(skip_rows=1)
    assert takes_fast_path(path, dialect)
    result = table(assert_same_output(path, dialect, batch_rows=2))
    assert result.to_pydict() == {
        "code": ["01", "02", "03"],
        "name": ["a", "b;c", ""],
        "_row": [5, 8, 9],
    }


def test_quoting_that_both_parsers_read_alike_stays_fast(tmp_path: Path) -> None:
    path = tmp_path / "quoting.csv"
    path.write_bytes(b'a,b,c\n"",""""," x "\n"1,2","say ""hi""",\n"e"\n')
    assert takes_fast_path(path, CsvDialect(), "quarantine")
    result = table(assert_same_output(path, CsvDialect(), ragged="quarantine"))
    assert result.column("a").to_pylist() == ["", "1,2", None]
    assert result.column("b").to_pylist() == ['"', 'say "hi"', None]
    assert result.column("c").to_pylist() == [" x ", "", None]
    assert result.column("_raw").to_pylist() == [None, None, "e"]


@pytest.mark.parametrize(
    ("encoding", "auto_detected"), [("cp1252", "cp1252"), ("latin-1", "latin-1")]
)
def test_single_byte_encodings_are_transcoded_by_arrow(
    tmp_path: Path, encoding: str, auto_detected: str
) -> None:
    path = tmp_path / f"{encoding}.csv"
    rows = ["Municipio;Importe", "Medellín;1.500,00", "Peñol;0,75", "Cúcuta;2,5"]
    suffix = "\x81" if encoding == "latin-1" else "€"  # \x81 only exists in Latin-1
    path.write_bytes(("\r\n".join(rows) + suffix + "\r\n").encode(encoding))
    assert sniff_dialect(path).encoding == auto_detected
    for dialect in (CsvDialect(), CsvDialect(encoding=encoding, delimiter=";")):
        assert takes_fast_path(path, dialect)
        result = table(assert_same_output(path, dialect))
        assert result.column("Municipio").to_pylist() == ["Medellín", "Peñol", "Cúcuta"]
        assert result.column("Importe").to_pylist()[-1] == "2,5" + suffix


def test_utf8_bom_is_dropped_only_where_the_codec_drops_it(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + "1;Bogotá\n2;Cali\n".encode())
    headerless = CsvDialect(encoding="utf-8-sig", delimiter=";", header=False)
    assert takes_fast_path(path, headerless)
    assert table(assert_same_output(path, headerless)).column("column_1").to_pylist() == [
        "1",
        "2",
    ]
    kept = CsvDialect(encoding="utf-8", delimiter=";", header=False)
    assert table(assert_same_output(path, kept)).column("column_1")[0].as_py() == "\ufeff1"


@dataclass
class GeneratedFeed:
    path: Path
    ragged: dict[int, int]  # physical line of each ragged record -> its number of fields
    total_lines: list[int]  # physical lines whose first filled cell is TOTAL
    data_lines: list[int]  # physical lines of well-formed data records (TOTAL ones excluded)


def write_feed(path: Path, records: int, seed: int) -> GeneratedFeed:
    """A CRLF, cp1252 feed (~1.5 MB at 30k records) with blank, ragged and TOTAL lines."""
    rng = random.Random(seed)
    lines = ["Informe sintético", "código;nombre;valor"]
    ragged: dict[int, int] = {}
    totals, data = [], []
    for number in range(records):
        draw = rng.random()
        line = len(lines) + 1
        if draw < 0.002:
            lines.append("")
        elif draw < 0.004:
            lines.append(f'{number};"Peñol";{number};extra')
            ragged[line] = 4
        elif draw < 0.005:
            lines.append(f"  TOTAL ;{number}")
            ragged[line] = 2
            totals.append(line)
        elif draw < 0.006:
            lines.append(f'TOTAL;"x;y";{number}')
            totals.append(line)
        else:
            lines.append(f'{number:06d};"Medellín, {number}";"{number / 3:.2f}"')
            data.append(line)
    lines += ["Fuente: generado para pruebas", ""]
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    return GeneratedFeed(path, ragged, totals, data)


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> GeneratedFeed:
    return write_feed(tmp_path_factory.mktemp("feed") / "feed.csv", 30_000, seed=11)


def test_generated_feed_spanning_many_arrow_blocks(feed: GeneratedFeed) -> None:
    dialect = CsvDialect(skip_rows=1, footer_rows=1, drop_rows_matching=r"^TOTAL\b")
    assert takes_fast_path(feed.path, dialect, "quarantine")
    result = table(assert_same_output(feed.path, dialect, ragged="quarantine", batch_rows=4096))
    quarantined = result.filter(result.column("_defect").is_valid())
    kept_ragged = [line for line in feed.ragged if line not in feed.total_lines]
    assert quarantined.column("_row").to_pylist() == kept_ragged
    assert set(quarantined.column("_defect").to_pylist()) == {
        "field-count: expected 3 fields, found 4"
    }
    good = result.filter(result.column("_defect").is_null())
    assert good.column("_row").to_pylist() == feed.data_lines
    first = good.slice(0, 1).to_pylist()[0]
    assert first["nombre"].startswith("Medellín, ")


def test_generated_feed_raises_on_the_first_ragged_row(feed: GeneratedFeed) -> None:
    outcome = assert_same_output(feed.path, CsvDialect(skip_rows=1), batch_rows=50)
    line, found = next(iter(feed.ragged.items()))
    message = f"expected 3 fields, found {found}"
    assert outcome.error == (str(feed.path), line, "field-count", message)
    # Exactly the full batches of the records above it were yielded first.
    records_before = sum(1 for row in feed.data_lines + feed.total_lines if row < line)
    assert sum(b.num_rows for b in outcome.batches) == records_before // 50 * 50


def test_generated_feed_other_batch_sizes_and_rules(feed: GeneratedFeed) -> None:
    for dialect in (
        CsvDialect(skip_rows=1, footer_rows=3),
        CsvDialect(skip_rows=2, header=False, drop_rows_matching="TOTAL"),
    ):
        for batch_rows in (1_000, 65_536):
            assert_same_output(feed.path, dialect, ragged="quarantine", batch_rows=batch_rows)


CELL = st.lists(st.sampled_from([*'ab ,;"\t\r\né€\x1c\u3000', "TOTAL", '""']), max_size=5).map(
    "".join
)


def render(rows: list[list[str] | None], delimiter: str, quote_all: bool) -> list[str]:
    """CSV lines (None: a blank line); quoting as a writer would, or everything."""
    lines = []
    for row in rows:
        if row is None:
            lines.append("")
            continue
        cells = []
        for cell in row:
            special = any(char in cell for char in ',;"\r\n')
            quoted = '"' + cell.replace('"', '""') + '"'
            cells.append(quoted if quote_all or special else cell)
        lines.append(delimiter.join(cells))
    return lines


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(st.one_of(st.none(), st.lists(CELL, min_size=1, max_size=4)), max_size=12),
    single_line_cells=st.booleans(),
    noise=st.lists(
        st.tuples(st.integers(0, 200), st.sampled_from(list('"\r\nx,\x00'))), max_size=2
    ),
    delimiter=st.sampled_from([",", ";"]),
    quote_all=st.booleans(),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    final_line_end=st.booleans(),
    skip_rows=st.integers(0, 2),
    footer_rows=st.integers(0, 2),
    drop=st.sampled_from([None, "^TOTAL", "a$", r"\s", "TOTAL", "(?i)^total", "^TOTAL|a"]),
    header=st.booleans(),
    ragged=st.sampled_from(["raise", "quarantine"]),
    batch_rows=st.sampled_from([1, 2, 3, 1_000]),
    encoding=st.sampled_from(["auto", "utf-8", "utf-8-sig", "cp1252"]),
)
def test_generated_csv_reads_the_same_on_both_paths(
    tmp_path: Path,
    rows: list[list[str] | None],
    single_line_cells: bool,
    noise: list[tuple[int, str]],
    delimiter: str,
    quote_all: bool,
    line_end: str,
    final_line_end: bool,
    skip_rows: int,
    footer_rows: int,
    drop: str | None,
    header: bool,
    ragged: Ragged,
    batch_rows: int,
    encoding: str,
) -> None:
    if single_line_cells:  # the fast path's domain: no line break inside a field
        rows = [
            None if r is None else [c.replace("\n", "").replace("\r", "") for c in r] for r in rows
        ]
        noise = [(at, char) for at, char in noise if char in "x,"]
    text = line_end.join(render(rows, delimiter, quote_all)) + (line_end if final_line_end else "")
    for at, char in noise:
        text = text[:at] + char + text[at:]
    path = tmp_path / "generated.csv"
    path.write_bytes(text.encode("utf-8" if encoding == "auto" else encoding, errors="replace"))
    dialect = CsvDialect(
        encoding=encoding,
        delimiter=delimiter,
        skip_rows=skip_rows,
        footer_rows=footer_rows,
        drop_rows_matching=drop,
        header=header,
    )
    assert_same_output(path, dialect, ragged=ragged, batch_rows=batch_rows)


REAL_FILES = [
    ("co-medellin-homicidios/homicidios_medellin_2003_2023.csv", CsvDialect()),
    ("es-mir-balance-criminalidad/2024_4_municipios.csv", CsvDialect()),
    (
        "us-ct-chronic-absenteeism/raw_chronic-absenteeism__2019-20_grade.csv",
        CsvDialect(skip_rows=4),
    ),
    ("uk-dfe-absence-exclusions/exclusions_by_reason_la_200607_201617.csv", CsvDialect()),
]


@pytest.mark.parametrize(("relative", "dialect"), REAL_FILES)
def test_real_files_take_the_fast_path_with_the_same_output(
    relative: str, dialect: CsvDialect
) -> None:
    path = REAL / relative
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"real data file missing in CI: {path}")
        pytest.skip(f"real data file not available: {path}")
    assert takes_fast_path(path, dialect, "quarantine")
    assert assert_same_output(path, dialect, ragged="quarantine").error is None


def test_engine_must_be_known() -> None:
    with pytest.raises(ValueError, match="engine"):
        list(read_csv(CASES / "quoted.csv", engine="rust"))  # type: ignore[arg-type]


def test_python_whitespace_is_what_str_strip_removes() -> None:
    stripped = "".join(char for char in map(chr, range(sys.maxunicode + 1)) if char.isspace())
    assert stripped == PYTHON_WHITESPACE
