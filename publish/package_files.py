"""The files of a dataset package, rendered to bytes once for every publish target.

Every target (local catalogue, CKAN) publishes exactly these bytes, so checksums agree
everywhere. Rendering is deterministic: the same package gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from publish.dcat import Distribution
from publish.package import DatasetPackage


@dataclass(frozen=True)
class RenderedFile:
    """One resource of a package: its name, what it is, and its bytes."""

    file_name: str
    title: str
    media_type: str
    content: bytes

    @property
    def distribution(self) -> Distribution:
        """The DCAT description of this file (size and checksums of the bytes)."""
        return Distribution(
            file_name=self.file_name,
            title=self.title,
            media_type=self.media_type,
            size=len(self.content),
            sha256=hashlib.sha256(self.content).hexdigest(),
            sha1=hashlib.sha1(self.content).hexdigest(),  # what DCAT-AP-ES's spdx:checksum wants
        )


@dataclass(frozen=True)
class DocumentDataset:
    """A dataset published as given documents (no table, no DataStore): e.g. the report.

    `package` carries the metadata (its table is empty); `files` are published as they are,
    under their `file_name` as the stable "latest" resource names.
    """

    package: DatasetPackage
    files: list[RenderedFile]


def canonical_json(document: object) -> bytes:
    """JSON with sorted keys and a final newline: the same document, the same bytes."""
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def render_files(package: DatasetPackage) -> list[RenderedFile]:
    """CSV and Parquet of the table, the data dictionary and the disclosure report."""
    table = package.table
    parquet = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), parquet)
    dictionary = io.StringIO()
    dictionary.write("name,type,description\n")
    for field in package.fields:
        description = field.description.replace('"', "'")
        dictionary.write(f'{field.name},{field.type},"{description}"\n')
    return [
        RenderedFile(
            f"{package.name}.csv",
            "Datos (CSV)",
            "text/csv",
            table.to_csv(index=False, lineterminator="\n").encode("utf-8"),
        ),
        RenderedFile(
            f"{package.name}.parquet",
            "Datos (Parquet)",
            "application/vnd.apache.parquet",
            parquet.getvalue(),
        ),
        RenderedFile(
            "diccionario.csv",
            "Diccionario de datos",
            "text/csv",
            dictionary.getvalue().encode("utf-8"),
        ),
        RenderedFile(
            "informe-revelacion.json",
            "Informe de control de revelación",
            "application/json",
            canonical_json(package.disclosure),
        ),
        RenderedFile(
            "informe-revelacion.txt",
            "Informe de control de revelación (texto)",
            "text/plain",
            package.disclosure_text.encode("utf-8"),
        ),
    ]
