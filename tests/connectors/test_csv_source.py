"""Tests for connectors.csv_source: dialects, line numbers, bad input, real files, streaming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.csv_source import CsvDialect, detect_encoding, read_csv, sniff_dialect
from connectors.datetime_parsing import parse_dates
from connectors.errors import SourceError
from connectors.value_parsing import parse_numbers

CASES = Path(__file__).resolve().parents[1] / "cases" / "csv"
REAL = Path(os.environ.get("CONVIVE_REAL_DATA", "/work/shared/data/real"))


def read_all(path: Path, dialect: CsvDialect | None = None, **options: object) -> pa.Table:
    """Read every batch of a file into one table (small files only)."""
    batches = list(read_csv(path, dialect or CsvDialect(), **options))
    return pa.Table.from_batches(batches)


def real_file(relative: str) -> Path:
    """A file under the shared real-data folder; skipped locally, a failure in CI."""
    path = REAL / relative
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"real data file missing in CI: {path}")
        pytest.skip(f"real data file not available: {path}")
    return path


def test_utf8_bom_semicolon_spanish_numbers() -> None:
    path = CASES / "es_bom_semicolon.csv"
    assert sniff_dialect(path) == CsvDialect(encoding="utf-8-sig", delimiter=";")
    table = read_all(path)
    assert table.column_names == ["Geografía", "Tipología penal", "Periodos:", "Total", "_row"]
    assert table.column("_row").to_pylist() == [2, 3, 4, 5]
    assert table.column("Total").to_pylist() == ["21", "181.304", "-1,7", "2.456.413"]
    totals = parse_numbers(table.column("Total"), decimal=",", thousands=".")
    assert totals.values.to_pylist() == [21.0, 181304.0, -1.7, 2456413.0]


def test_cp1252_file_is_detected_and_decoded() -> None:
    path = CASES / "cp1252_accents.csv"
    assert detect_encoding(path) == "cp1252"
    table = read_all(path)
    assert table.column("Municipio").to_pylist() == ["Medellín", "Bogotá, D.C.", "Cúcuta", "Peñol"]
    # Codes stay text exactly as written: leading zeros are the profile's job (pad_codes).
    assert table.column("Código").to_pylist() == ["5001", "11001", "54001", "5541"]
    assert table.column("Importe").to_pylist()[1:3] == ["2.250,50 €", "–"]


def test_latin1_when_bytes_are_undefined_in_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"name\nPe\xf1ol\x81\n")
    assert detect_encoding(path) == "latin-1"
    assert read_all(path).column("name").to_pylist() == ["Peñol\x81"]


def test_non_ascii_byte_on_the_last_line_still_switches_encoding(tmp_path: Path) -> None:
    path = tmp_path / "late_accent.csv"
    path.write_bytes(b"name,n\n" + b"plain,1\n" * 200_000 + b"Medell\xedn,2\n")
    assert detect_encoding(path) == "cp1252"
    last = list(read_csv(path))[-1]
    assert last.column("name")[-1].as_py() == "Medellín"
    assert last.column("_row")[-1].as_py() == 200_002


def test_utf16_tab_export_and_old_mac_line_endings(tmp_path: Path) -> None:
    excel_text = tmp_path / "excel_unicode.txt"
    excel_text.write_bytes("Municipio\tAño\r\nMedellín\t2023\r\n".encode("utf-16"))
    assert sniff_dialect(excel_text) == CsvDialect(encoding="utf-16", delimiter="\t")
    assert read_all(excel_text).to_pydict() == {
        "Municipio": ["Medellín"],
        "Año": ["2023"],
        "_row": [2],
    }
    old_mac = tmp_path / "cr_only.csv"
    old_mac.write_bytes(b"a,b\r1,2\r\r3,4\r")
    assert read_all(old_mac).to_pydict() == {"a": ["1", "3"], "b": ["2", "4"], "_row": [2, 4]}


def test_ragged_total_row_is_dropped_before_the_field_count_check(tmp_path: Path) -> None:
    path = tmp_path / "ragged_total.csv"
    path.write_bytes(b"comuna;casos\n01;5\n02;7\nTOTAL 12\n")
    table = read_all(path, CsvDialect(drop_rows_matching=r"^TOTAL\b"))
    assert table.to_pydict() == {"comuna": ["01", "02"], "casos": ["5", "7"], "_row": [2, 3]}


def test_title_rows_total_row_and_footer_are_dropped() -> None:
    dialect = CsvDialect(skip_rows=3, drop_rows_matching="^TOTAL", footer_rows=1)
    table = read_all(CASES / "title_and_total.csv", dialect)
    assert table.column_names == ["District", "Grade", "Student Count", "%", "_row"]
    assert table.column("District").to_pylist() == [
        "Andover School District",
        "Ansonia School District",
        "Avon School District",
    ]
    # Blank line 7 is skipped but still counted.
    assert table.column("_row").to_pylist() == [5, 6, 8]
    assert table.column("Student Count").to_pylist() == ["4", "1,204", "*"]


def test_ragged_row_raises_with_file_line_and_rule() -> None:
    path = CASES / "ragged.csv"
    with pytest.raises(SourceError) as caught:
        read_all(path)
    error = caught.value
    assert (error.file, error.line, error.rule) == (str(path), 3, "field-count")
    assert str(error) == f"{path}:3: field-count: expected 3 fields, found 4"


def test_ragged_rows_can_be_yielded_for_quarantine() -> None:
    table = read_all(CASES / "ragged.csv", ragged="quarantine")
    assert table.column_names == ["code", "name", "count", "_row", "_defect", "_raw"]
    assert table.column("_row").to_pylist() == [2, 3, 4, 5]
    assert table.column("code").to_pylist() == ["05001", None, "05004", None]
    assert table.column("_defect").to_pylist() == [
        None,
        "field-count: expected 3 fields, found 4",
        None,
        "field-count: expected 3 fields, found 1",
    ]
    assert table.column("_raw").to_pylist() == [None, "05002,Abejorral,3,extra", None, "05021"]


def test_quoted_delimiter_and_quoted_newline_keep_physical_line_numbers() -> None:
    table = read_all(CASES / "quoted.csv")
    assert table.column("address").to_pylist() == ["Calle 10, local 2", "Carrera 7", 'say "hi"']
    assert table.column("notes").to_pylist() == [
        "plain",
        "first line\nsecond line\r\nthird line",
        "",
    ]
    # Record 2 starts on line 3 and spans lines 3-5, so record 3 starts on line 6.
    assert table.column("_row").to_pylist() == [2, 3, 6]


def test_no_trailing_newline_and_trailing_blank_lines() -> None:
    for name in ("no_trailing_newline.csv", "trailing_blank_lines.csv"):
        table = read_all(CASES / name)
        assert table.to_pydict() == {"a": ["1", "3"], "b": ["2", "4"], "_row": [2, 3]}, name


def test_empty_file_is_a_source_error() -> None:
    with pytest.raises(SourceError) as caught:
        read_all(CASES / "empty.csv")
    assert caught.value.rule == "empty-file"
    assert caught.value.line is None


def test_empty_file_with_given_names_yields_one_empty_batch() -> None:
    dialect = CsvDialect(header=False, column_names=("a", "b"), delimiter=",")
    batches = list(read_csv(CASES / "empty.csv", dialect))
    assert len(batches) == 1
    assert batches[0].num_rows == 0
    assert batches[0].schema.names == ["a", "b", "_row"]


def test_header_only_file_yields_its_columns() -> None:
    batches = list(read_csv(CASES / "header_only.csv"))
    assert [batch.num_rows for batch in batches] == [0]
    assert batches[0].schema.names == ["FECHA", "CODIGO_COMUNA", "CANTIDAD", "_row"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("duplicate_header.csv", "duplicate column name 'fecha' (columns 1 and 3)"),
        ("empty_header_name.csv", "column 3 has an empty name"),
    ],
)
def test_bad_header_names(name: str, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        read_all(CASES / name)
    assert (caught.value.line, caught.value.rule, caught.value.message) == (1, "header", message)


def test_column_names_override_and_headerless_files() -> None:
    path = CASES / "no_trailing_newline.csv"
    renamed = read_all(path, CsvDialect(column_names=("x", "y")))
    assert renamed.to_pydict() == {"x": ["1", "3"], "y": ["2", "4"], "_row": [2, 3]}
    headerless = read_all(path, CsvDialect(header=False))
    assert headerless.column_names == ["column_1", "column_2", "_row"]
    assert headerless.column("column_1").to_pylist() == ["a", "1", "3"]
    assert headerless.column("_row").to_pylist() == [1, 2, 3]
    with pytest.raises(SourceError, match="column_names gives 3 names but the header has 2"):
        read_all(path, CsvDialect(column_names=("x", "y", "z")))


def test_unterminated_quote_names_the_line_where_it_opens() -> None:
    with pytest.raises(SourceError) as caught:
        read_all(CASES / "bad_quote.csv")
    assert (caught.value.line, caught.value.rule) == (3, "csv-syntax")


def test_text_after_a_closing_quote_is_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "stray_quote.csv"
    path.write_bytes(b'a,b\n1,2\n3,"abc"def\n')
    with pytest.raises(SourceError) as caught:
        read_all(path)
    assert (caught.value.line, caught.value.rule) == (3, "csv-syntax")


def test_wrong_explicit_encoding_names_the_line_of_the_bad_byte() -> None:
    path = CASES / "cp1252_accents.csv"
    with pytest.raises(SourceError) as caught:
        read_all(path, CsvDialect(encoding="utf-8"))
    assert (caught.value.line, caught.value.rule) == (1, "encoding")
    assert "0xf3" in caught.value.message  # the ó of "Código"


def test_small_batches_hold_the_same_rows() -> None:
    path = CASES / "title_and_total.csv"
    dialect = CsvDialect(skip_rows=3, drop_rows_matching="^TOTAL", footer_rows=1)
    batches = list(read_csv(path, dialect, batch_rows=2))
    assert [batch.num_rows for batch in batches] == [2, 1]
    assert pa.Table.from_batches(batches).equals(read_all(path, dialect))


def test_bad_dialect_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="delimiter"):
        CsvDialect(delimiter=";;")
    with pytest.raises(LookupError):
        CsvDialect(encoding="no-such-codec")


def test_real_es_mir_balance_2024() -> None:
    path = real_file("es-mir-balance-criminalidad/2024_4_municipios.csv")
    dialect = sniff_dialect(path)
    assert (dialect.encoding, dialect.delimiter) == ("utf-8-sig", ";")
    table = read_all(path)
    assert table.num_rows == 28_329
    assert table.column_names == ["Geografía", "Tipología penal", "Periodos:", "Total", "_row"]
    first = table.slice(0, 1).to_pylist()[0]
    assert first == {
        "Geografía": "ANDALUCÍA",
        "Tipología penal": "I. CRIMINALIDAD CONVENCIONAL",
        "Periodos:": "enero--diciembre 2023",
        "Total": "331.854",
        "_row": 2,
    }
    last = table.slice(table.num_rows - 2, 1)
    assert last.column("_row").to_pylist() == [28_329]
    total = parse_numbers(last.column("Total"), decimal=",", thousands=".", integer=True)
    assert total.values.to_pylist() == [2_456_413]  # NACIONAL, all offences, 2024


def test_real_medellin_homicides() -> None:
    path = real_file("co-medellin-homicidios/homicidios_medellin_2003_2023.csv")
    table = read_all(path)
    assert table.num_rows == 18_516
    assert table.column("_row").to_pylist()[-1] == 18_517
    assert table.column("CODIGO_BARRIO")[0].as_py() == "1005"
    dates = parse_dates(table.column("FECHA_HECHO"), formats=["%Y-%m-%dT%H:%M:%S.%f%z"])
    assert dates.invalid.true_count == 0
    assert str(dates.values[0]) == "2019-04-23"


def test_real_ct_raw_export_with_title_rows() -> None:
    path = real_file("us-ct-chronic-absenteeism/raw_chronic-absenteeism__2019-20_grade.csv")
    table = read_all(path, CsvDialect(skip_rows=4))
    assert table.column_names == ["District", "District Code", "Grade", "Student Count", "%"] + [
        "_row"
    ]
    assert table.num_rows == 2_227
    first = table.slice(0, 1).to_pylist()[0]
    assert first["District Code"] == '="2850013"'  # Excel's keep-as-text trick, kept as is
    assert (first["Student Count"], first["%"], first["_row"]) == ("11", "11.8", 6)


def test_real_uk_dfe_exclusions() -> None:
    path = real_file("uk-dfe-absence-exclusions/exclusions_by_reason_la_200607_201617.csv")
    table = read_all(path, batch_rows=1_000)
    assert table.num_rows == 7_004
    assert table.num_columns == 36
    assert table.column("la_name").to_pylist()[-1] == "West Sussex"


STREAM_SCRIPT = """
import json, resource, sys
import pyarrow as pa
from connectors.csv_source import read_csv

def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

list(read_csv(sys.argv[2], batch_rows=1_000))  # warm up imports and kernels
baseline, pool = peak_kib(), pa.default_memory_pool()
rows = last = 0
for batch in read_csv(sys.argv[1], batch_rows=1_000):
    rows += batch.num_rows
    last = batch.column("_row")[-1].as_py()
print(json.dumps({"rows": rows, "last": last, "rss_growth_kib": peak_kib() - baseline,
                  "arrow_peak_bytes": pool.max_memory()}))
"""


def test_reading_a_50_mb_file_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    line = "2019-04-23T07:30:00.000-05:00;Medellín;" + "x" * 170 + ";1.234,5\n"
    rows = 50_000_000 // len(line.encode())
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("fecha;lugar;texto;valor\n")
        for _ in range(rows // 1_000):
            handle.write(line * 1_000)
    assert path.stat().st_size > 49_000_000
    # A fresh process, so the peak RSS it reports belongs to this read alone.
    try:
        result = subprocess.run(
            [sys.executable, "-c", STREAM_SCRIPT, str(path), str(CASES / "quoted.csv")],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
    finally:
        path.unlink()  # pytest keeps recent tmp dirs; don't leave 50 MB behind
    measured = json.loads(result.stdout)
    assert measured["rows"] == rows // 1_000 * 1_000
    assert measured["last"] == measured["rows"] + 1
    # Holding the file would take > 50 MB; batches of 1,000 rows are ~0.25 MB each.
    assert measured["rss_growth_kib"] < 20 * 1024
    assert measured["arrow_peak_bytes"] < 4 * 1024 * 1024
