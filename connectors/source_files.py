"""Open any supported source file as a stream of Arrow record batches, per its profile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from connectors.source_profiles import ReadOptions


def read_source(
    path: str | Path, options: ReadOptions, *, batch_rows: int = 65_536
) -> Iterator[pa.RecordBatch]:
    """Yield the source's records as batches with an int64 `_row` column (line / record no.)."""
    # Readers are imported on use: each pulls in its own parsing library.
    if options.format == "csv":
        from connectors.csv_source import CsvDialect, read_csv

        dialect = CsvDialect(
            encoding=options.encoding,
            delimiter=options.delimiter,
            quotechar=options.quotechar,
            skip_rows=options.skip_rows,
            footer_rows=options.footer_rows,
            drop_rows_matching=options.drop_rows_matching,
        )
        # Ragged rows are quarantined, not fatal: one bad line must not stop a feed.
        return read_csv(path, dialect, batch_rows=batch_rows, ragged="quarantine")
    if options.format == "parquet":
        from connectors.parquet_source import read_parquet

        return read_parquet(path, batch_rows=batch_rows)
    if options.format in ("json", "ndjson"):
        from connectors import json_source

        if options.format == "ndjson":
            return json_source.read_ndjson(path, batch_rows=batch_rows)
        return json_source.read_json(path, records_path=options.records_path, batch_rows=batch_rows)
    from connectors import excel_source

    reader = excel_source.read_xlsx if options.format == "xlsx" else excel_source.read_xls
    return reader(
        path,
        sheet=options.sheet,
        skip_rows=options.skip_rows,
        footer_rows=options.footer_rows,
        drop_rows_matching=options.drop_rows_matching,
        batch_rows=batch_rows,
    )
