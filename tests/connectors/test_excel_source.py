"""Excel readers (.xlsx streamed with openpyxl, legacy .xls with xlrd) on committed cases.

The case workbooks (tests/cases/excel/make_cases.py) hold real DIVIPOLA codes, names and
latitudes under two title rows, a styled but empty header cell, an empty row inside the
data, a TOTAL row and a note below it.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest

from connectors.errors import SourceError
from connectors.excel_source import read_xls, read_xlsx

CASES = Path(__file__).parents[1] / "cases" / "excel"
XLSX = CASES / "delitos_municipio.xlsx"
XLS = CASES / "delitos_municipio.xls"
HEADER = [
    "cod_mpio",
    "municipio",
    "fecha",
    "hora",
    "registrado",
    "cantidad",
    "tasa",
    "latitud",
    "activo",
    "porcentaje",
]
Reader = Callable[..., Iterator[pa.RecordBatch]]
READERS = pytest.mark.parametrize(
    "reader,path", [(read_xlsx, XLSX), (read_xls, XLS)], ids=["xlsx", "xls"]
)


def _rows(batches: Iterator[pa.RecordBatch]) -> list[dict[str, object]]:
    return [row for batch in batches for row in batch.to_pylist()]


@READERS
def test_cells_read_as_a_person_sees_them(reader: Reader, path: Path) -> None:
    rows = _rows(reader(path, skip_rows=3, footer_rows=2))
    assert [row["_row"] for row in rows] == [5, 6, 7, 8, 9, 11, 12]  # row 10 is empty
    assert rows[0] == {
        "cod_mpio": "05001",
        "municipio": "MEDELLÍN",
        "fecha": "2019-04-23",
        "hora": "07:30:00",
        "registrado": "2019-04-23T07:30:15",
        "cantidad": "3",
        "tasa": "0.3",
        "latitud": "6.246631",
        "activo": "TRUE",
        "porcentaje": "0.25",
        "_row": 5,
    }
    by_code = {row["cod_mpio"]: row for row in rows}
    assert by_code["05002"]["cantidad"] == "12"  # stored as 12.0: no spurious ".0"
    assert by_code["05002"]["registrado"] == "2020-01-01"  # midnight: the date alone
    assert by_code["05004"]["tasa"] == "0.333333333333333"  # Excel's 15 digits
    assert by_code["05030"]["cantidad"] == "1000000"
    assert by_code["05021"]["fecha"] is None and by_code["05021"]["activo"] is None
    assert by_code["05034"]["latitud"] == "5.657194"


def test_xls_and_xlsx_read_identically() -> None:
    assert _rows(read_xls(XLS, skip_rows=3, footer_rows=2)) == _rows(
        read_xlsx(XLSX, skip_rows=3, footer_rows=2)
    )


@READERS
def test_drop_rows_matching_removes_the_total_row(reader: Reader, path: Path) -> None:
    rows = _rows(reader(path, skip_rows=3, footer_rows=1, drop_rows_matching="^TOTAL$"))
    assert [row["cod_mpio"] for row in rows][-2:] == ["05031", "05034"]
    assert len(rows) == 7


@READERS
def test_trailing_empty_header_cells_are_dropped(reader: Reader, path: Path) -> None:
    (batch,) = reader(path, skip_rows=3, footer_rows=2)
    assert batch.schema.names == [*HEADER, "_row"]
    assert all(batch.schema.field(name).type == pa.string() for name in HEADER)


@READERS
def test_without_header_columns_are_named_or_numbered(reader: Reader, path: Path) -> None:
    named = _rows(
        reader(
            path,
            skip_rows=4,
            footer_rows=2,
            header=False,
            column_names=[f"c{i}" for i in range(10)],
        )
    )
    assert (named[0]["c0"], named[0]["_row"], len(named)) == ("05001", 5, 7)
    (numbered,) = reader(path, sheet="notas", header=False)
    assert numbered.schema.names[:2] == ["column_1", "column_2"]
    assert numbered.column("column_1").to_pylist()[0] == "clave"


@READERS
def test_sheets_by_name_or_index(reader: Reader, path: Path) -> None:
    by_index, by_name = list(reader(path, sheet=1)), list(reader(path, sheet="notas"))
    assert by_index[0].schema.names == by_name[0].schema.names == ["clave", "valor", "_row"]
    with pytest.raises(SourceError) as caught:
        list(reader(path, sheet="resumen"))
    assert caught.value.rule == "sheet"
    assert "delitos, notas" in caught.value.message


@READERS
def test_batches_split_the_rows(reader: Reader, path: Path) -> None:
    batches = list(reader(path, skip_rows=3, footer_rows=2, batch_rows=3))
    assert [b.num_rows for b in batches] == [3, 3, 1]


def _workbook(tmp_path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    path = tmp_path / "hoja.xlsx"
    workbook.save(path)
    return path


def test_bad_headers_name_the_row(tmp_path: Path) -> None:
    duplicate = _workbook(tmp_path, [["Título"], ["cod", "nombre", "cod"], ["05001", "x", "y"]])
    with pytest.raises(SourceError) as caught:
        list(read_xlsx(duplicate, skip_rows=1))
    assert (caught.value.line, caught.value.rule) == (2, "header")
    assert "duplicate column name 'cod'" in caught.value.message
    gap = _workbook(tmp_path, [["cod", None, "nombre"], ["05001", "x", "y"]])
    with pytest.raises(SourceError, match="column 2 has an empty name"):
        list(read_xlsx(gap))


def test_a_value_right_of_the_header_is_a_field_count_error(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path, [["cod", "nombre"], ["05001", "MEDELLÍN"], ["05002", "ABEJORRAL", "sobra"]]
    )
    with pytest.raises(SourceError) as caught:
        list(read_xlsx(path))
    assert (caught.value.file, caught.value.line, caught.value.rule) == (
        str(path),
        3,
        "field-count",
    )


def test_short_rows_are_padded_and_formula_results_read(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path,
        [
            ["cod", "nombre", "fecha"],
            ["05001"],
            ["05002", "ABEJORRAL", dt.datetime(2024, 2, 29, 6, 5)],
        ],
    )
    assert _rows(read_xlsx(path)) == [
        {"cod": "05001", "nombre": None, "fecha": None, "_row": 2},
        {"cod": "05002", "nombre": "ABEJORRAL", "fecha": "2024-02-29T06:05:00", "_row": 3},
    ]


def test_not_a_workbook_and_empty_sheets(tmp_path: Path) -> None:
    text = tmp_path / "datos.xlsx"
    text.write_text("cod;nombre\n05001;MEDELLÍN\n")
    with pytest.raises(SourceError) as caught:
        list(read_xlsx(text))
    assert (caught.value.file, caught.value.rule) == (str(text), "excel")
    with pytest.raises(SourceError) as legacy:
        list(read_xls(text))
    assert legacy.value.rule == "excel"
    empty = _workbook(tmp_path, [])
    with pytest.raises(SourceError, match="empty-file"):
        list(read_xlsx(empty))
    header_only = _workbook(tmp_path, [["cod", "nombre"]])
    (batch,) = read_xlsx(header_only)
    assert (batch.num_rows, batch.schema.names) == (0, ["cod", "nombre", "_row"])


def test_a_large_sheet_streams_in_batches(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("datos")
    sheet.append(["n", "doble"])
    for n in range(1, 5001):
        sheet.append([n, n * 2.5])
    path = tmp_path / "grande.xlsx"
    workbook.save(path)
    batches = list(read_xlsx(path, batch_rows=1000))
    assert [b.num_rows for b in batches] == [1000] * 5
    last = batches[-1].to_pylist()[-1]
    assert last == {"n": "5000", "doble": "12500", "_row": 5001}


def _with_dimension(path: Path, dimension: str | None) -> Path:
    """Rewrite the first sheet's stored <dimension> tag (None: remove it), as some writers do."""
    out = path.with_name(f"dimension_{dimension or 'none'}.xlsx".replace(":", "_"))
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                tag = f'<dimension ref="{dimension}"/>' if dimension else ""
                data = re.sub(rb"<dimension [^>]*/>", tag.encode(), data)
            target.writestr(item, data)
    return out


def test_a_wrong_or_missing_stored_dimension_loses_no_row(tmp_path: Path) -> None:
    path = _workbook(tmp_path, [["cod", "nombre"]] + [[f"0500{n}", f"m{n}"] for n in range(1, 6)])
    wrong = _with_dimension(path, "A1:B2")  # claims one data row; there are five
    assert [r["cod"] for r in _rows(read_xlsx(wrong))] == [f"0500{n}" for n in range(1, 6)]
    missing = _with_dimension(path, None)
    (batch,) = read_xlsx(missing, header=False)
    assert batch.schema.names == ["column_1", "column_2", "_row"]
    assert batch.num_rows == 6
