"""Paged JSON HTTP reader against a local API server (stdlib http.server on 127.0.0.1).

The server serves the 1,122 municipalities of the real DIVIPOLA extract (datos.gov.co
gdxc-w37w) through offset, page-number and next-link paging, and answers with scripted
failures (429, 5xx, 4xx, bad JSON) to exercise the retry rules. Backoff is zero: no test
sleeps.
"""

from __future__ import annotations

import csv
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest

from connectors.errors import SourceError
from connectors.http_source import (
    NextLinkPaging,
    OffsetPaging,
    PageNumberPaging,
    RetryPolicy,
    read_paged_json,
    redact_url,
    retry_after_seconds,
)

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"  # beside the repo
DIVIPOLA = REAL_DATA / "co-municipal-delitos-poblacion-2018-2024" / "divipola_gdxc-w37w.csv"
NO_WAIT = RetryPolicy(max_retries=3, backoff_seconds=0, max_backoff_seconds=0)


def _divipola() -> list[dict[str, str]]:
    with DIVIPOLA.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass
class ApiState:
    """What the stand-in API serves and what it saw."""

    records: list[dict[str, str]]
    faults: dict[str, list[tuple[int, dict[str, str], str]]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)


class ApiHandler(BaseHTTPRequestHandler):
    """A small JSON API: /offset, /pages, /linked, /link-header; faults scripted per path."""

    state: ApiState

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.state.requests.append((parts.path, dict(self.headers)))
        self.state.queries.append(query)
        faults = self.state.faults.get(parts.path)
        if faults:
            status, headers, body = faults.pop(0)
            return self._send(status, body, headers)
        records = self.state.records
        if parts.path == "/offset":
            start, size = int(query["offset"]), int(query["limit"])
            return self._json(records[start : start + size])
        if parts.path == "/pages":
            size = int(query["per_page"])
            start = (int(query["page"]) - 1) * size
            return self._json({"data": {"items": records[start : start + size]}})
        if parts.path in ("/linked", "/link-header", "/loop"):
            start = int(query.get("cursor", 0))
            following = start + 400 if start + 400 < len(records) else None
            link = None if following is None else f"{parts.path}?cursor={following}"
            if parts.path == "/loop":
                link = "/loop?cursor=0"
            if parts.path == "/link-header":
                headers = {"Link": f'<{link}>; rel="next"'} if link else {}
                return self._send(200, json.dumps(records[start : start + 400]), headers)
            return self._json({"results": records[start : start + 400], "next": link})
        if parts.path == "/secret":
            if self.headers.get("X-Api-Key") != "clave-de-prueba":
                return self._send(401, '{"error": "no key"}')
            return self._json(records[:3])
        self._send(404, '{"error": "not found"}')

    def _json(self, body: object) -> None:
        self._send(200, json.dumps(body, ensure_ascii=False))

    def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api() -> Iterator[tuple[str, ApiState]]:
    state = ApiState(records=_divipola())
    handler = type("Handler", (ApiHandler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _codes(batches: list[pa.RecordBatch]) -> list[str]:
    return [code for batch in batches for code in batch.column("cod_mpio").to_pylist()]


def test_offset_paging_reads_every_record_once(api: tuple[str, ApiState]) -> None:
    url, state = api
    batches = list(
        read_paged_json(
            f"{url}/offset", paging=OffsetPaging(page_size=100), retry=NO_WAIT, batch_rows=250
        )
    )
    codes = _codes(batches)
    assert len(codes) == len(set(codes)) == len(state.records) == 1122
    assert codes == [r["cod_mpio"] for r in state.records]
    assert [b.num_rows for b in batches] == [250, 250, 250, 250, 122]
    rows = pa.concat_arrays([b.column("_row") for b in batches]).to_pylist()
    assert rows == list(range(1, 1123))
    assert len(state.requests) == 12  # 11 full pages of 100, then a short one ends it
    first = batches[0].to_pylist()[0]
    assert first == {**state.records[0], "_row": 1}


def test_the_url_query_is_kept_beside_paging_params(api: tuple[str, ApiState]) -> None:
    url, state = api
    batches = list(
        read_paged_json(
            f"{url}/offset?formato=json",
            params={"orden": "cod"},
            paging=OffsetPaging(page_size=1000),
            retry=NO_WAIT,
        )
    )
    assert sum(b.num_rows for b in batches) == 1122
    assert state.queries == [
        {"formato": "json", "orden": "cod", "limit": "1000", "offset": "0"},
        {"formato": "json", "orden": "cod", "limit": "1000", "offset": "1000"},
    ]


def test_page_number_paging_with_nested_records(api: tuple[str, ApiState]) -> None:
    url, state = api
    batches = list(
        read_paged_json(
            f"{url}/pages",
            records_path="data.items",
            paging=PageNumberPaging(page_size=500),
            retry=NO_WAIT,
        )
    )
    assert _codes(batches) == [r["cod_mpio"] for r in state.records]
    assert len(state.requests) == 3


@pytest.mark.parametrize(
    "path,paging", [("/linked", NextLinkPaging("next")), ("/link-header", NextLinkPaging(None))]
)
def test_next_link_paging(api: tuple[str, ApiState], path: str, paging: NextLinkPaging) -> None:
    url, state = api
    batches = list(
        read_paged_json(
            url + path,
            records_path="results" if paging.next_path else None,
            paging=paging,
            retry=NO_WAIT,
        )
    )
    assert _codes(batches) == [r["cod_mpio"] for r in state.records]
    assert len(state.requests) == 3  # 400 + 400 + 322


def test_a_next_link_loop_is_refused(api: tuple[str, ApiState]) -> None:
    url, _ = api
    with pytest.raises(SourceError, match="paging-loop"):
        list(
            read_paged_json(
                f"{url}/loop", records_path="results", paging=NextLinkPaging(), retry=NO_WAIT
            )
        )


def test_429_and_5xx_are_retried_and_no_record_is_lost(api: tuple[str, ApiState]) -> None:
    url, state = api
    state.faults["/offset"] = [
        (429, {"Retry-After": "0"}, '{"error": "slow down"}'),
        (503, {}, "unavailable"),
        (500, {}, "oops"),
    ]
    batches = list(
        read_paged_json(f"{url}/offset", paging=OffsetPaging(page_size=300), retry=NO_WAIT)
    )
    assert _codes(batches) == [r["cod_mpio"] for r in state.records]
    assert len(state.requests) == 4 + 3  # four pages, three failed attempts


def test_persistent_5xx_gives_up_naming_url_and_status(api: tuple[str, ApiState]) -> None:
    url, state = api
    state.faults["/offset"] = [(502, {}, "bad gateway")] * 10
    with pytest.raises(SourceError) as caught:
        list(read_paged_json(f"{url}/offset", paging=OffsetPaging(page_size=100), retry=NO_WAIT))
    assert len(state.requests) == NO_WAIT.max_retries + 1
    assert caught.value.file == f"{url}/offset?limit=100&offset=0"
    assert caught.value.rule == "http-status"
    assert "HTTP 502 Bad Gateway (gave up after 4 attempts)" in caught.value.message


def test_other_4xx_fail_at_once(api: tuple[str, ApiState]) -> None:
    url, state = api
    with pytest.raises(SourceError) as caught:
        list(read_paged_json(f"{url}/nowhere", retry=NO_WAIT))
    assert len(state.requests) == 1
    assert "HTTP 404 Not Found" in str(caught.value)


def test_header_secrets_come_from_the_environment(
    api: tuple[str, ApiState], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = api
    monkeypatch.delenv("CONVIVE_TEST_API_KEY", raising=False)
    with pytest.raises(SourceError) as caught:
        list(
            read_paged_json(
                f"{url}/secret?api_key=leaked",
                retry=NO_WAIT,
                header_env={"X-Api-Key": "CONVIVE_TEST_API_KEY"},
            )
        )
    assert "HTTP 401" in caught.value.message
    assert "not set in the environment: CONVIVE_TEST_API_KEY" in caught.value.message
    assert "leaked" not in str(caught.value)
    assert caught.value.file == f"{url}/secret?api_key=***"
    monkeypatch.setenv("CONVIVE_TEST_API_KEY", "clave-de-prueba")
    batches = list(
        read_paged_json(
            f"{url}/secret", retry=NO_WAIT, header_env={"X-Api-Key": "CONVIVE_TEST_API_KEY"}
        )
    )
    assert _codes(batches) == ["05001", "05002", "05004"]
    assert state.requests[-1][1]["X-Api-Key"] == "clave-de-prueba"


def test_a_body_that_is_not_json(api: tuple[str, ApiState]) -> None:
    url, state = api
    state.faults["/offset"] = [(200, {}, "<html>mantenimiento</html>")]
    with pytest.raises(SourceError) as caught:
        list(read_paged_json(f"{url}/offset", paging=OffsetPaging(), retry=NO_WAIT))
    assert caught.value.rule == "http-json"
    assert len(state.requests) == 1


def test_records_path_must_lead_to_an_array(api: tuple[str, ApiState]) -> None:
    url, _ = api
    with pytest.raises(SourceError, match="set records_path"):
        list(read_paged_json(f"{url}/pages?page=1&per_page=5", retry=NO_WAIT))


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceError) as caught:
        list(read_paged_json(f"http://127.0.0.1:{port}/offset", retry=NO_WAIT))
    assert "connection failed (ConnectError)" in caught.value.message
    assert "gave up after 4 attempts" in caught.value.message


def test_retry_after_and_backoff_values() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # already past
    assert retry_after_seconds("soon") is None
    policy = RetryPolicy(backoff_seconds=0.5, max_backoff_seconds=3)
    assert [policy.backoff(n) for n in range(4)] == [0.5, 1.0, 2.0, 3]
    assert redact_url("https://u:p@example.org/r.json?$limit=5&token=t") == (
        "https://example.org/r.json?$limit=5&token=***"
    )
