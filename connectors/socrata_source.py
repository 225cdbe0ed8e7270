"""Read a Socrata (SODA 2.x) dataset, such as datos.gov.co's, into Arrow record batches.

Paging follows SODA's documented semantics: ``$limit``/``$offset`` over a stable ``$order``
(``:id``, the row identifier, by default: without an order, pages may overlap or skip rows).
An incremental read adds ``$where <watermark> > '<since>'`` and orders by the watermark
column, then ``:id`` to break ties, so every page boundary is stable. The read's new
watermark is the largest watermark value read (the value of the last row, since rows come in
ascending order); store it and pass it as ``since`` next time. ``>`` is strict: a row
written later with a watermark equal to the stored one is not read again, so prefer a column
that grows with every write, such as the system field ``:updated_at``.

Values are strings as SODA sends them (numbers included); SODA leaves null fields out of a
record, so the columns come from the ``X-SODA2-Fields`` response header when the server sends
it (SODA 2.1 does), else from the records seen. The app token is sent in the ``X-App-Token``
header, read from the environment variable named by ``app_token_env`` (never an argument).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pyarrow as pa

from connectors.http_source import (
    DEFAULT_RETRY,
    JsonPage,
    OffsetPaging,
    RetryPolicy,
    iter_json_pages,
)
from connectors.json_source import JsonBatchBuilder

SODA_MAX_PAGE_2_0 = 50_000


class SodaRead:
    """The batches of one SODA read (iterate once), then its new watermark.

    ``watermark`` is available once the batches are exhausted: a read stopped half-way must
    not store one, since rows tied with the last value read may still be unread.
    """

    def __init__(
        self,
        pages: Iterator[JsonPage],
        url: str,
        watermark_column: str | None,
        since: str | None,
        batch_rows: int,
    ) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be positive: {batch_rows}")
        self._pages = pages
        self._builder = JsonBatchBuilder(url)
        self._watermark_column = watermark_column
        self._watermark = since
        self._batch_rows = batch_rows
        self.rows = 0
        self.complete = False

    @property
    def watermark(self) -> str | None:
        """The largest watermark value read, or ``since`` if the read found no new rows."""
        if not self.complete:
            raise RuntimeError("the watermark is known only after every batch has been read")
        return self._watermark

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        builder = self._builder
        for page in self._pages:
            if self.rows == 0:
                builder.columns.update(dict.fromkeys(_declared_fields(page.headers)))
            builder.source = page.url
            for record in page.records:
                self.rows += 1
                builder.add(record, self.rows)  # raises SourceError unless an object
                self._note_watermark(record.get(self._watermark_column))
                if len(builder) >= self._batch_rows:
                    yield builder.flush()  # type: ignore[misc]  # not None: records added
        last = builder.flush()
        if last is not None:
            yield last
        self.complete = True

    def _note_watermark(self, value: object) -> None:
        # Rows arrive in ascending watermark order, so the last value seen is the largest.
        if isinstance(value, str):
            self._watermark = str(value)


def read_soda(
    base_url: str,
    dataset_id: str,
    *,
    app_token_env: str = "SOCRATA_APP_TOKEN",
    select: str | None = None,
    where: str | None = None,
    order: str = ":id",
    page_size: int = SODA_MAX_PAGE_2_0,
    watermark_column: str | None = None,
    since: str | None = None,
    timeout: float = 60.0,
    retry: RetryPolicy = DEFAULT_RETRY,
    batch_rows: int = 65_536,
    client: httpx.Client | None = None,
) -> SodaRead:
    """Read ``<base_url>/resource/<dataset_id>.json`` page by page (see module docstring).

    ``select`` and ``where`` are SoQL clauses. With ``watermark_column`` the order becomes
    ``<watermark_column>, :id`` (``order`` is ignored) and, with ``since``, only rows whose
    watermark is greater are read; the column is added to ``select`` when missing (a system
    field such as ``:updated_at`` is not returned unless selected). Raises ``SourceError``
    from ``connectors.http_source`` on HTTP failure after retries.
    """
    if since is not None and watermark_column is None:
        raise ValueError("since needs a watermark_column")
    params = _soql(select, where, order, watermark_column, since)
    url = f"{base_url.rstrip('/')}/resource/{dataset_id}.json"
    pages = iter_json_pages(
        url,
        params=params,
        paging=OffsetPaging(page_size, "$limit", "$offset"),
        header_env={"X-App-Token": app_token_env},
        timeout=timeout,
        retry=retry,
        client=client,
    )
    return SodaRead(pages, url, watermark_column, since, batch_rows)


def _soql(
    select: str | None,
    where: str | None,
    order: str,
    watermark_column: str | None,
    since: str | None,
) -> dict[str, str]:
    params: dict[str, str] = {}
    if watermark_column is not None:
        order = f"{watermark_column},:id"
        if select is None and watermark_column.startswith(":"):
            select = f"*,{watermark_column}"
        elif select is not None and watermark_column not in _select_names(select):
            select = f"{select},{watermark_column}"
        if since is not None:
            newer = f"{watermark_column} > '{since.replace(chr(39), chr(39) * 2)}'"
            where = newer if where is None else f"({where}) AND {newer}"
    if select is not None:
        params["$select"] = select
    if where is not None:
        params["$where"] = where
    params["$order"] = order
    return params


def _select_names(select: str) -> set[str]:
    return {part.strip().split()[-1] for part in select.split(",") if part.strip()}


def _declared_fields(headers: httpx.Headers) -> list[str]:
    """Field names from SODA's ``X-SODA2-Fields`` header (a JSON array), if present."""
    try:
        fields = json.loads(headers.get("X-SODA2-Fields", "[]"))
    except json.JSONDecodeError:
        return []
    return [f for f in fields if isinstance(f, str)] if isinstance(fields, list) else []
