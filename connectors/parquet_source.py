"""Stream a Parquet file into Arrow record batches, keeping its own column types.

Parquet is already typed, so columns pass through as stored (the source profile casts what
it maps to text before parsing). Each batch gets ``_row``: the 1-based record number in the
file, counted across row groups. Memory stays bounded by ``batch_rows`` records because
``ParquetFile.iter_batches`` decodes one slice of one row group at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.errors import SourceError

ROW_COLUMN = "_row"


def read_parquet(
    path: str | Path, *, columns: Sequence[str] | None = None, batch_rows: int = 65_536
) -> Iterator[pa.RecordBatch]:
    """Yield the file's records (optionally only ``columns``) with a ``_row`` column.

    A file that is not Parquet, or a missing or reserved column name, raises ``SourceError``
    (rules ``parquet``, ``missing-column``, ``reserved-column``).
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive: {batch_rows}")
    source = str(path)
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise SourceError(
            source, None, "parquet", f"not a readable Parquet file: {error}"
        ) from None
    with parquet:
        names = parquet.schema_arrow.names
        if ROW_COLUMN in names:
            raise SourceError(
                source,
                None,
                "reserved-column",
                f"the file has a column named {ROW_COLUMN!r}, which the reader adds",
            )
        missing = [c for c in columns or () if c not in names]
        if missing:
            raise SourceError(
                source,
                None,
                "missing-column",
                f"no column {', '.join(map(repr, missing))} (has: {', '.join(names)})",
            )
        first_row = 1
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            rows = pa.array(range(first_row, first_row + batch.num_rows), pa.int64())
            first_row += batch.num_rows
            yield batch.append_column(ROW_COLUMN, rows)
