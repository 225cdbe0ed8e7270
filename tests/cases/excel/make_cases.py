"""Write the Excel case files next to this script (run once; the outputs are committed).

The municipality codes, names and latitudes are the first rows of the real DIVIPOLA extract
(datos.gov.co gdxc-w37w, see shared/data/real/SOURCES.md); the counts and dates are made up.
Needs openpyxl (a project dependency) and, for the .xls file only, xlwt==1.3.0, which is not a
project dependency: `pip install --target /tmp/xlwt xlwt==1.3.0 && PYTHONPATH=/tmp/xlwt python
tests/cases/excel/make_cases.py`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

HERE = Path(__file__).parent
TITLE = ["Delitos de impacto por municipio (casos de prueba)"]
SOURCE_NOTE = ["Fuente: DIVIPOLA (datos.gov.co gdxc-w37w); cifras inventadas"]
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
# Sheet rows 5-9, then an empty row 10, then rows 11-12 (so _row must skip 10).
DATA = [
    [
        "05001",
        "MEDELLÍN",
        dt.date(2019, 4, 23),
        dt.time(7, 30),
        dt.datetime(2019, 4, 23, 7, 30, 15),
        3,
        0.1 + 0.2,
        6.246631,
        True,
        0.25,
    ],
    [
        "05002",
        "ABEJORRAL",
        dt.date(2019, 12, 31),
        dt.time(23, 59, 59),
        dt.datetime(2020, 1, 1, 0, 0, 0),
        12.0,
        1234.5,
        5.789315,
        False,
        0.125,
    ],
    [
        "05004",
        "ABRIAQUÍ",
        dt.date(2020, 2, 29),
        dt.time(0, 0, 1),
        dt.datetime(2020, 2, 29, 12, 0),
        0,
        1 / 3,
        6.632282,
        True,
        1,
    ],
    ["05021", "ALEJANDRÍA", None, None, None, 7, -2.5, 6.376061, None, None],
    [
        "05030",
        "AMAGÁ",
        dt.date(2021, 1, 1),
        dt.time(12, 0),
        dt.datetime(2021, 1, 1, 12, 0),
        1000000,
        1e-7,
        6.038708,
        False,
        0.5,
    ],
    None,
    [
        "05031",
        "AMALFI",
        dt.date(2022, 6, 15),
        dt.time(6, 15),
        dt.datetime(2022, 6, 15, 6, 15),
        42,
        99.99,
        6.909655,
        True,
        0.01,
    ],
    [
        "05034",
        "ANDES",
        dt.date(2023, 11, 5),
        dt.time(18, 45, 30),
        dt.datetime(2023, 11, 5, 18, 45, 30),
        5,
        100.0,
        5.657194,
        False,
        0.75,
    ],
]
TOTAL = ["TOTAL", None, None, None, None, 1000070]
FOOTER = ["Nota: cifras preliminares"]


def sheet_rows() -> list[list[object] | None]:
    """All rows of the data sheet from row 1, None for an empty row."""
    return [TITLE, SOURCE_NOTE, None, HEADER, *DATA, TOTAL, FOOTER]


def write_xlsx(path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "delitos"
    for number, values in enumerate(sheet_rows(), start=1):
        for column, value in enumerate(values or [], start=1):
            if value is not None:
                cell = sheet.cell(number, column, value)
                if isinstance(value, dt.date | dt.time) and not isinstance(value, dt.datetime):
                    cell.number_format = "yyyy-mm-dd" if isinstance(value, dt.date) else "hh:mm:ss"
        if values is not None and values[0] == "cod_mpio":
            sheet.cell(number, len(HEADER) + 1).font = Font(bold=True)  # styled, empty
    for row in range(5, 13):
        sheet.cell(row, 10).number_format = "0%"  # shown as 25% in Excel, read as 0.25
    notes = workbook.create_sheet("notas")
    notes.append(["clave", "valor"])
    notes.append(["version", 2])
    workbook.save(path)


def write_xls(path: Path) -> None:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("delitos")
    styles = {
        dt.datetime: xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS"),
        dt.date: xlwt.easyxf(num_format_str="YYYY-MM-DD"),
        dt.time: xlwt.easyxf(num_format_str="HH:MM:SS"),
    }
    for index, values in enumerate(sheet_rows()):
        for column, value in enumerate(values or []):
            if value is None:
                continue
            style = styles.get(type(value))
            if style is None:
                sheet.write(index, column, value)
            else:
                sheet.write(index, column, value, style)
    notes = book.add_sheet("notas")
    notes.write(0, 0, "clave")
    notes.write(0, 1, "valor")
    book.save(str(path))


if __name__ == "__main__":
    write_xlsx(HERE / "delitos_municipio.xlsx")
    write_xls(HERE / "delitos_municipio.xls")
