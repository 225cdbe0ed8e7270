"""Read a paged JSON HTTP API into Arrow record batches, retrying what is worth retrying.

Records become string columns exactly as ``connectors.json_source`` makes them (nested objects
flattened to dotted names, numbers as written), plus ``_row``: the running 1-based record
index over all pages. Memory is bounded by one page plus ``batch_rows`` records.

Retries: a 429 waits for the server's ``Retry-After`` (seconds or an HTTP date), 5xx answers
and connection errors (refused, reset, timeouts) wait an exponential backoff; both are capped
by ``RetryPolicy.max_backoff_seconds``. Any other 4xx fails at once. A final failure raises
``SourceError`` naming the URL (secret-looking query values and user info removed) and the
status. Secrets never appear as arguments: headers are filled from environment variables
named in ``header_env``.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pyarrow as pa

from connectors.errors import SourceError
from connectors.json_source import JsonBatchBuilder, loads_exact

_SECRET_NAME = re.compile(r"token|key|secret|password|passwd|signature|auth|credential", re.I)
RETRYABLE_STATUS_FLOOR = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed request is retried (429, 5xx and connection errors only)."""

    max_retries: int = 5
    backoff_seconds: float = 1.0  # wait before the first retry; doubles on each retry
    max_backoff_seconds: float = 60.0  # cap on any wait, including a server's Retry-After

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        return min(self.backoff_seconds * 2**attempt, self.max_backoff_seconds)


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class OffsetPaging:
    """``?limit=N&offset=K`` paging; stops after a page shorter than ``page_size``."""

    page_size: int = 1000
    limit_param: str = "limit"
    offset_param: str = "offset"


@dataclass(frozen=True)
class PageNumberPaging:
    """``?page=P&per_page=N`` paging; stops after a page shorter than ``page_size``."""

    page_size: int = 100
    page_param: str = "page"
    size_param: str | None = "per_page"  # None when the API has a fixed page size
    first_page: int = 1


@dataclass(frozen=True)
class NextLinkPaging:
    """Follow the next page's URL: at a dotted path in the body, or (path None) the Link header.

    Stops when the link is missing, null or empty. Query ``params`` go on the first request
    only; next links carry their own.
    """

    next_path: str | None = "next"


Paging = OffsetPaging | PageNumberPaging | NextLinkPaging | None


@dataclass(frozen=True)
class JsonPage:
    """One page of records as received, with the response headers and its (redacted) URL."""

    url: str
    records: list[Any]
    headers: httpx.Headers


def read_paged_json(
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    records_path: str | None = None,
    paging: Paging = None,
    header_env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    retry: RetryPolicy = DEFAULT_RETRY,
    columns: Sequence[str] = (),
    batch_rows: int = 65_536,
    client: httpx.Client | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield every record of a paged JSON API as string batches plus ``_row``.

    ``records_path`` is the dotted path to the records array in each page body (None: the
    body is the array). ``paging`` None reads one page. ``header_env`` maps a header to the
    environment variable holding its value, e.g. ``{"Authorization": "FEED_API_KEY"}``; an
    unset variable leaves the header out. ``timeout`` (seconds) applies to a client made here;
    a ``client`` passed in keeps its own settings. ``columns`` puts these columns first in every
    batch, so pages that omit a key still give the same columns; other keys are appended as
    they appear (later batches may then be wider).
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive: {batch_rows}")
    builder = JsonBatchBuilder(redact_url(url), columns)
    row = 0
    pages = iter_json_pages(
        url,
        params=params,
        records_path=records_path,
        paging=paging,
        header_env=header_env,
        timeout=timeout,
        retry=retry,
        client=client,
    )
    for page in pages:
        builder.source = page.url
        for record in page.records:
            row += 1
            builder.add(record, row)
            if len(builder) >= batch_rows:
                yield builder.flush()  # type: ignore[misc]  # not None: just added records
    last = builder.flush()
    if last is not None:
        yield last


def iter_json_pages(
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    records_path: str | None = None,
    paging: Paging = None,
    header_env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    retry: RetryPolicy = DEFAULT_RETRY,
    client: httpx.Client | None = None,
) -> Iterator[JsonPage]:
    """Yield the pages of a paged JSON API (see ``read_paged_json`` for the arguments)."""
    headers, unset = _env_headers(header_env or {})
    own_client = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=True)
    fetch = _Fetcher(http, headers, unset, retry)
    try:
        yield from _pages(fetch, url, dict(params or {}), records_path, paging)
    finally:
        if own_client:
            http.close()


def _pages(
    fetch: _Fetcher,
    url: str,
    params: dict[str, str | int],
    records_path: str | None,
    paging: Paging,
) -> Iterator[JsonPage]:
    if isinstance(paging, NextLinkPaging):
        yield from _linked_pages(fetch, url, params, records_path, paging)
        return
    number = 0
    while True:
        query = dict(params)
        if isinstance(paging, OffsetPaging):
            query[paging.limit_param] = paging.page_size
            query[paging.offset_param] = number * paging.page_size
        elif isinstance(paging, PageNumberPaging):
            query[paging.page_param] = paging.first_page + number
            if paging.size_param is not None:
                query[paging.size_param] = paging.page_size
        response, body = fetch(url, query)
        page = JsonPage(
            redact_url(response.url), _records(body, records_path, response), response.headers
        )
        yield page
        if paging is None or len(page.records) < paging.page_size:
            return
        number += 1


def _linked_pages(
    fetch: _Fetcher,
    url: str,
    params: dict[str, str | int],
    records_path: str | None,
    paging: NextLinkPaging,
) -> Iterator[JsonPage]:
    seen: set[str] = set()
    next_url: str | None = url
    query: dict[str, str | int] | None = params
    while next_url:
        response, body = fetch(next_url, query)
        current = str(response.url)
        if current in seen:
            raise SourceError(
                redact_url(current),
                None,
                "paging-loop",
                "the next-page link points back to a page already read",
            )
        seen.add(current)
        yield JsonPage(
            redact_url(current), _records(body, records_path, response), response.headers
        )
        if paging.next_path is None:
            link = response.links.get("next", {}).get("url")
        else:
            link = _at_path(body, paging.next_path)
        next_url = str(response.url.join(link)) if isinstance(link, str) and link else None
        query = None


def _records(body: object, records_path: str | None, response: httpx.Response) -> list[Any]:
    records = _at_path(body, records_path) if records_path else body
    if not isinstance(records, list):
        hint = f" at {records_path!r}" if records_path else " (set records_path)"
        raise SourceError(
            redact_url(response.url),
            None,
            "records-path",
            f"expected an array of records{hint}, got {type(records).__name__}",
        )
    return records


def _at_path(body: object, path: str) -> object:
    value = body
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


class _Fetcher:
    """GET one URL and decode its JSON body, retrying per the policy."""

    def __init__(
        self, client: httpx.Client, headers: dict[str, str], unset: list[str], retry: RetryPolicy
    ) -> None:
        self.client, self.headers, self.unset, self.retry = client, headers, unset, retry

    def __call__(
        self, url: str, params: Mapping[str, str | int] | None
    ) -> tuple[httpx.Response, object]:
        # Merged, not passed as params=: httpx would replace the URL's own query with them.
        target = httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)
        request = self.client.build_request("GET", target, headers=self.headers)
        for attempt in range(self.retry.max_retries + 1):
            try:
                response = self.client.send(request)
            except httpx.TransportError as error:
                failure, wait = f"connection failed ({type(error).__name__})", None
            else:
                if response.is_success:
                    return response, self._json(response)
                failure, wait = f"HTTP {response.status_code} {response.reason_phrase}", None
                if response.status_code == 429 or response.status_code == 503:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                if response.status_code != 429 and response.status_code < RETRYABLE_STATUS_FLOOR:
                    raise SourceError(
                        redact_url(request.url),
                        None,
                        "http-status",
                        failure + self._unset_hint(response),
                    )
            if attempt == self.retry.max_retries:
                break
            backoff = self.retry.backoff(attempt) if wait is None else wait
            time.sleep(min(backoff, self.retry.max_backoff_seconds))
        tries = self.retry.max_retries + 1
        raise SourceError(
            redact_url(request.url),
            None,
            "http-status",
            f"{failure} (gave up after {tries} attempt{'s' * (tries > 1)})",
        )

    def _json(self, response: httpx.Response) -> object:
        try:
            return loads_exact(response.text)
        except json.JSONDecodeError as error:
            raise SourceError(
                redact_url(response.url),
                None,
                "http-json",
                f"the body is not JSON: {error.msg} at line {error.lineno}, column {error.colno}",
            ) from None

    def _unset_hint(self, response: httpx.Response) -> str:
        if response.status_code in (401, 403) and self.unset:
            return f" (not set in the environment: {', '.join(self.unset)})"
        return ""


def _env_headers(header_env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    headers, unset = {}, []
    for header, variable in header_env.items():
        value = os.environ.get(variable)
        if value:
            headers[header] = value
        else:
            unset.append(variable)
    return headers, unset


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta seconds or HTTP date), None if unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def redact_url(url: str | httpx.URL) -> str:
    """The URL without user info and with secret-looking query values replaced by ``***``."""
    parsed = httpx.URL(str(url))
    query = [(k, "***" if _SECRET_NAME.search(k) else v) for k, v in parsed.params.multi_items()]
    bare = str(parsed.copy_with(userinfo=b"", query=None))
    # Readable rather than fully escaped: the result goes into error messages and logs.
    return bare + ("?" + urlencode(query, safe="$:,*'()", quote_via=quote) if query else "")
