"""JSON array and NDJSON readers, on case files built from the real DIVIPOLA extract."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import json_source
from connectors.errors import SourceError
from connectors.json_source import read_json, read_ndjson

CASES = Path(__file__).parents[1] / "cases" / "json"
REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"  # beside the repo
DIVIPOLA = REAL_DATA / "co-municipal-delitos-poblacion-2018-2024" / "divipola_gdxc-w37w.csv"
COLUMNS = [
    "cod_dpto",
    "dpto",
    "cod_mpio",
    "nom_mpio",
    "tipo_municipio",
    "geo.longitud",
    "geo.latitud",
    "etiquetas",
    "_row",
]


def _rows(batches: list[pa.RecordBatch]) -> list[dict[str, object]]:
    return [row for batch in batches for row in batch.to_pylist()]


def _without_row(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in row.items() if k != "_row"} for row in rows]


def _divipola() -> dict[str, dict[str, str]]:
    with DIVIPOLA.open(encoding="utf-8", newline="") as handle:
        return {row["cod_mpio"]: row for row in csv.DictReader(handle)}


def test_array_values_are_the_source_text_with_nested_objects_flattened() -> None:
    rows = _rows(list(read_json(CASES / "divipola_muestra.json")))
    real = _divipola()
    assert len(rows) == 7
    for row in rows:
        source = real[row["cod_mpio"]]
        assert row["nom_mpio"] == source["nom_mpio"]
        if row["cod_mpio"] != "88001":  # coordinates keep the CSV's exact digits
            assert (row["geo.longitud"], row["geo.latitud"]) == (
                source["longitud"],
                source["latitud"],
            )
    medellin, san_andres = rows[0], rows[-1]
    assert medellin["cod_dpto"] == "05"  # leading zero kept: values are never typed
    assert medellin["etiquetas"] == '["capital","área metropolitana",1]'
    assert (san_andres["geo.longitud"], san_andres["etiquetas"]) == (None, None)


def test_row_is_the_line_where_each_record_starts() -> None:
    path = CASES / "divipola_muestra.json"
    starts = [n for n, line in enumerate(path.read_text().splitlines(), 1) if line == "  {"]
    rows = _rows(list(read_json(path)))
    assert [row["_row"] for row in rows] == starts
    assert len(starts) == 7 and starts[0] == 2


def test_every_batch_has_every_column_even_one_seen_only_later() -> None:
    batches = list(read_json(CASES / "divipola_muestra.json", batch_rows=3))
    assert [b.num_rows for b in batches] == [3, 3, 1]
    assert all(b.schema.names == COLUMNS for b in batches)
    # "etiquetas" exists only in the first record; "geo.*" is missing from the last one.
    assert batches[2].column("geo.latitud").null_count == 1
    assert batches[1].column("etiquetas").null_count == 3


def test_nested_records_path_behind_a_bom_and_a_tricky_sibling() -> None:
    flat = _rows(list(read_json(CASES / "divipola_muestra.json")))
    nested = _rows(
        list(read_json(CASES / "divipola_muestra_anidado.json", records_path="data.items"))
    )
    assert _without_row(nested) == _without_row(flat)
    lines = (CASES / "divipola_muestra_anidado.json").read_text().splitlines()
    items = lines.index('  "items": [') + 1
    starts = [n for n, line in enumerate(lines, 1) if line == "   {" and n > items]
    assert [row["_row"] for row in nested] == starts


def test_ndjson_gives_the_same_records_with_physical_line_numbers() -> None:
    flat = _rows(list(read_json(CASES / "divipola_muestra.json")))
    lines = _rows(list(read_ndjson(CASES / "divipola_muestra.ndjson", batch_rows=2)))
    assert _without_row(lines) == _without_row(flat)
    assert [row["_row"] for row in lines] == [1, 2, 3, 5, 6, 7, 8]  # line 4 is blank


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64])
def test_records_split_across_read_chunks_parse_identically(
    monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    expected = _rows(
        list(read_json(CASES / "divipola_muestra_anidado.json", records_path="data.items"))
    )
    # Tiny chunks cut records, strings, numbers and multi-byte UTF-8 (Í, É) at every place.
    monkeypatch.setattr(json_source, "_CHUNK_BYTES", chunk_bytes)
    rows = _rows(
        list(read_json(CASES / "divipola_muestra_anidado.json", records_path="data.items"))
    )
    assert rows == expected


@pytest.mark.parametrize(
    ("name", "reader", "line", "rule"),
    [
        ("registro_mal_formado.json", read_json, 3, "json-syntax"),
        ("registro_no_objeto.json", read_json, 4, "record-type"),
        ("contenido_tras_array.json", read_json, 2, "json-syntax"),
        ("colision_columnas.json", read_json, 2, "column-collision"),
        ("linea_mal_formada.ndjson", read_ndjson, 3, "json-syntax"),
        ("utf8_invalido.ndjson", read_ndjson, 2, "encoding"),
    ],
)
def test_bad_input_names_file_line_and_rule(
    name: str, reader: object, line: int, rule: str
) -> None:
    path = CASES / name
    with pytest.raises(SourceError) as caught:
        list(reader(path))  # type: ignore[operator]
    assert (caught.value.file, caught.value.line, caught.value.rule) == (str(path), line, rule)
    assert str(caught.value).startswith(f"{path}:{line}: {rule}: ")


def test_invalid_utf8_in_an_array_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "cp1252.json"
    path.write_bytes(b'[\n{"a": "x"},\n{"a": "MEDELL\xcdN"}\n]')
    with pytest.raises(SourceError) as caught:
        list(read_json(path))
    assert (caught.value.line, caught.value.rule) == (3, "encoding")


def test_records_path_errors(tmp_path: Path) -> None:
    nested = CASES / "divipola_muestra_anidado.json"
    with pytest.raises(SourceError, match="no key 'rows' on path 'data.rows'") as missing:
        list(read_json(nested, records_path="data.rows"))
    assert missing.value.rule == "records-path"
    with pytest.raises(SourceError, match="set records_path") as unset:
        list(read_json(nested))
    assert (unset.value.line, unset.value.rule) == (1, "records-path")
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(SourceError, match="no JSON value"):
        list(read_json(empty))


def test_a_field_named_like_the_row_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "reserved.ndjson"
    path.write_text('{"a": 1}\n{"_row": 7}\n')
    with pytest.raises(SourceError) as caught:
        list(read_ndjson(path))
    assert (caught.value.line, caught.value.rule) == (2, "reserved-column")


def test_an_empty_array_yields_no_batch(tmp_path: Path) -> None:
    path = tmp_path / "none.json"
    path.write_text('{"data": {"items": [ ]}}')
    assert list(read_json(path, records_path="data.items")) == []


def test_exact_number_text_survives(tmp_path: Path) -> None:
    path = tmp_path / "numbers.ndjson"
    path.write_text('{"a": 1.50, "b": 12345678901234567890, "c": 1e3, "d": false, "e": null}\n')
    (row,) = _rows(list(read_ndjson(path)))
    assert row == {
        "a": "1.50",
        "b": "12345678901234567890",
        "c": "1e3",
        "d": "false",
        "e": None,
        "_row": 1,
    }


def _peak_python_bytes(path: Path) -> tuple[int, int]:
    """(records read, peak bytes of Python objects while reading ``path`` 200 rows a batch)."""
    tracemalloc.start()
    try:
        count = sum(b.num_rows for b in read_json(path, batch_rows=200))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = list(_divipola().values())
    paths = {}
    for copies in (2, 8):
        paths[copies] = tmp_path / f"copies_{copies}.json"
        with paths[copies].open("w", encoding="utf-8") as handle:
            rows = ({**row, "copia": n} for n in range(copies) for row in real)
            handle.write("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
            handle.write("\n]\n")
    monkeypatch.setattr(json_source, "_CHUNK_BYTES", 64 << 10)
    small_count, small_peak = _peak_python_bytes(paths[2])
    big_count, big_peak = _peak_python_bytes(paths[8])
    assert (small_count, big_count) == (2 * len(real), 8 * len(real))
    assert paths[8].stat().st_size > 4 * paths[2].stat().st_size * 0.95
    # Four times the data, about the same buffering: one text window plus one batch.
    assert big_peak < small_peak * 1.5
    assert big_peak < paths[8].stat().st_size / 3


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))),
)
_records = st.lists(
    st.dictionaries(
        st.text(alphabet="abcñ_é", min_size=1, max_size=3),
        st.one_of(_leaf, st.lists(_leaf, max_size=3)),
        max_size=4,
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(
    records=_records,
    chunk_bytes=st.integers(min_value=1, max_value=40),
    indent=st.sampled_from([None, 0, 2]),
)
def test_any_array_reads_like_json_loads(
    tmp_path_factory: pytest.TempPathFactory,
    records: list[dict[str, object]],
    chunk_bytes: int,
    indent: int | None,
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "records.json"
    path.write_text(json.dumps(records, indent=indent, ensure_ascii=False), encoding="utf-8")
    expected = [
        {k: json_source.leaf_text(v) for k, v in r.items()}
        for r in json.loads(path.read_text(encoding="utf-8"))
    ]
    original = json_source._CHUNK_BYTES
    json_source._CHUNK_BYTES = chunk_bytes  # hypothesis forbids monkeypatch in @given tests
    try:
        rows = _without_row(_rows(list(read_json(path))))
    finally:
        json_source._CHUNK_BYTES = original
    columns = list(dict.fromkeys(k for r in records for k in r))
    assert rows == [{c: e.get(c) for c in columns} for e in expected]
