"""Parquet reader, on the real DANE population extract and files written here."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from connectors.errors import SourceError
from connectors.parquet_source import read_parquet

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"  # beside the repo
POBLACION = REAL_DATA / "co-municipal-delitos-poblacion-2018-2024" / "poblacion_dane.parquet"


def test_real_file_row_count_matches_the_parquet_metadata() -> None:
    expected = pq.ParquetFile(POBLACION).metadata.num_rows
    batches = list(read_parquet(POBLACION, batch_rows=1000))
    assert sum(b.num_rows for b in batches) == expected
    assert [b.num_rows for b in batches[:-1]] == [1000] * (len(batches) - 1)
    rows = pa.concat_arrays([b.column("_row") for b in batches])
    assert rows.to_pylist() == list(range(1, expected + 1))


def test_columns_keep_their_stored_types_and_values() -> None:
    table = pq.read_table(POBLACION)
    batches = list(read_parquet(POBLACION, columns=["COD_MPIO", "ANIO", "pob_total"]))
    read = pa.Table.from_batches(batches)
    assert read.schema.names == ["COD_MPIO", "ANIO", "pob_total", "_row"]
    assert read.schema.field("ANIO").type == pa.int64()
    assert read.column("COD_MPIO").equals(table.column("COD_MPIO"))
    medellin_2020 = read.filter(
        pc.and_(pc.equal(read["COD_MPIO"], "05001"), pc.equal(read["ANIO"], 2020))
    )
    source = table.filter(
        pc.and_(pc.equal(table["COD_MPIO"], "05001"), pc.equal(table["ANIO"], 2020))
    )
    assert medellin_2020.num_rows == 1
    assert medellin_2020["pob_total"].equals(source["pob_total"])


def test_row_numbers_run_on_across_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "groups.parquet"
    table = pq.read_table(POBLACION).slice(0, 2500)
    pq.write_table(table, path, row_group_size=1000)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    batches = list(read_parquet(path, batch_rows=700))
    rows = pa.concat_arrays([b.column("_row") for b in batches]).to_pylist()
    assert rows == list(range(1, 2501))
    assert pa.Table.from_batches(batches).drop_columns(["_row"]).equals(table)


def test_bad_input_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as missing:
        list(read_parquet(POBLACION, columns=["COD_MPIO", "codigo"]))
    assert missing.value.rule == "missing-column"
    assert "'codigo'" in missing.value.message
    not_parquet = tmp_path / "poblacion.parquet"
    not_parquet.write_text("COD_MPIO,ANIO\n05001,2020\n")
    with pytest.raises(SourceError) as broken:
        list(read_parquet(not_parquet))
    assert (broken.value.file, broken.value.rule) == (str(not_parquet), "parquet")
    reserved = tmp_path / "reserved.parquet"
    pq.write_table(pa.table({"_row": [1, 2]}), reserved)
    with pytest.raises(SourceError, match="reserved-column"):
        list(read_parquet(reserved))
