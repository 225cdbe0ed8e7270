"""Wide to long: a source with one column per period or per measure becomes one row each.

Every other column is repeated on each output row; `_row` (the source line) too, so a
quarantined output row still points at its line in the file.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.errors import SourceError
from connectors.source_profiles import Unpivot


def unpivot(batch: pa.RecordBatch, spec: Unpivot, *, source_name: str) -> pa.RecordBatch:
    """One row per (source row, selected column): the other columns, the name and the value."""
    selected = _selected(batch, spec, source_name)
    names = [_short_name(name, spec, source_name) for name in selected]
    kept = [n for n in batch.schema.names if n not in selected]
    clash = {spec.name_to, spec.value_to} & set(kept)
    if clash:
        raise SourceError(
            source_name,
            None,
            "profile-column",
            f"unpivot would overwrite the source column(s) {sorted(clash)}: "
            "choose other names for name_to / value_to",
        )
    size, width = len(batch), len(selected)
    pieces = []
    for column, name in zip(selected, names, strict=True):
        piece = {n: batch.column(n) for n in kept}
        piece[spec.name_to] = pa.array([name] * size, pa.string())
        piece[spec.value_to] = pc.cast(batch.column(column), pa.string())
        pieces.append(pa.table(piece))
    long = pa.concat_tables(pieces)
    # Interleave so that the output follows the file: row 1's values, then row 2's, ...
    order = (np.arange(size)[:, None] + np.arange(width)[None, :] * size).ravel()
    return long.take(pa.array(order)).combine_chunks().to_batches()[0] if size else _empty(long)


def _empty(table: pa.Table) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=table.schema)


def _selected(batch: pa.RecordBatch, spec: Unpivot, source_name: str) -> list[str]:
    names = [n for n in batch.schema.names if not n.startswith("_")]
    if spec.columns is not None:
        missing = [c for c in spec.columns if c not in names]
        if missing:
            raise SourceError(
                source_name,
                None,
                "profile-column",
                f"unpivot.columns lists {missing}, which the source does not have "
                f"(columns: {', '.join(names)})",
            )
        return list(spec.columns)
    pattern = re.compile(spec.columns_matching)
    selected = [n for n in names if pattern.search(n)]
    if not selected:
        raise SourceError(
            source_name,
            None,
            "profile-column",
            f"unpivot.columns_matching {spec.columns_matching!r} matches no column "
            f"(columns: {', '.join(names)})",
        )
    return selected


def _short_name(name: str, spec: Unpivot, source_name: str) -> str:
    if spec.name_extract is None:
        return name
    compiled = re.compile(spec.name_extract)
    found = compiled.search(name)
    if found is None:
        raise SourceError(
            source_name,
            None,
            "profile-column",
            f"unpivot.name_extract {spec.name_extract!r} does not match column {name!r}",
        )
    return found.group(1) if compiled.groups else found.group(0)
