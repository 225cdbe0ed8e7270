"""How to read one delimited text file: encoding, delimiter, quoting, rows around the data."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

AUTO = "auto"


@dataclass(frozen=True)
class CsvDialect:
    """How to read one delimited file; ``"auto"`` values are resolved by ``sniff_dialect``."""

    encoding: str = AUTO  # "auto": UTF-8 (with/without BOM), UTF-16 with BOM, else cp1252/latin-1
    delimiter: str = AUTO  # "auto": sniffed among , ; tab |
    quotechar: str = '"'
    skip_rows: int = 0  # physical lines (title rows) above the header
    footer_rows: int = 0  # records to drop at the end
    drop_rows_matching: str | None = None  # regex searched in the first non-empty cell
    header: bool = True
    column_names: tuple[str, ...] | None = None  # when header is False (or to override)

    def __post_init__(self) -> None:
        if self.encoding != AUTO:
            codecs.lookup(self.encoding)  # raises LookupError naming an unknown encoding
        if self.delimiter != AUTO and len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character or 'auto': {self.delimiter!r}")
        if len(self.quotechar) != 1:
            raise ValueError(f"quotechar must be one character: {self.quotechar!r}")
        if self.skip_rows < 0 or self.footer_rows < 0:
            raise ValueError("skip_rows and footer_rows must be >= 0")
        if self.drop_rows_matching is not None:
            re.compile(self.drop_rows_matching)
        if self.column_names is not None and not isinstance(self.column_names, tuple):
            object.__setattr__(self, "column_names", tuple(self.column_names))
