"""SODA reader against a local stand-in for a Socrata portal (stdlib http.server, 127.0.0.1).

The stand-in serves the real DIVIPOLA extract of datos.gov.co dataset gdxc-w37w with SODA 2.x
semantics: ``/resource/<id>.json`` with ``$select`` (``*``, ``:*`` and names), ``$where``
(``AND`` of comparisons with quoted literals), ``$order``, ``$limit`` (default 1,000) and
``$offset``; values as strings, null fields left out, the ``X-SODA2-Fields`` header, system
fields ``:id``/``:created_at``/``:updated_at``. Rows tied on the ``$order`` keys come back in
a different order on every request (SODA promises no order beyond ``$order``), so a reader
without a stable order loses and repeats rows. Unlike a real portal it refuses requests
without the right ``X-App-Token``, to prove the token is sent. Faults (429 with
``Retry-After: 0``, 503) are scripted per request number; backoff is zero, nothing sleeps.
"""

from __future__ import annotations

import csv
import json
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest

from connectors.errors import SourceError
from connectors.http_source import OffsetPaging, RetryPolicy, read_paged_json
from connectors.socrata_source import read_soda

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"  # beside the repo
DIVIPOLA = REAL_DATA / "co-municipal-delitos-poblacion-2018-2024" / "divipola_gdxc-w37w.csv"
DATASET = "gdxc-w37w"
TOKEN = "token-de-prueba"
NO_WAIT = RetryPolicy(max_retries=3, backoff_seconds=0, max_backoff_seconds=0)
SYSTEM_FIELDS = [":id", ":created_at", ":updated_at"]
_TERM = re.compile(r"^\(*\s*([:\w]+)\s*(>=|<=|!=|=|>|<)\s*'((?:[^']|'')*)'\s*\)*$")
_COMPARE = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _divipola() -> tuple[list[str], list[dict[str, str]]]:
    with DIVIPOLA.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@dataclass
class Portal:
    """The stand-in's dataset, scripted faults and the requests it saw."""

    fields: list[str]
    rows: list[dict[str, str]]
    faults: dict[int, tuple[int, dict[str, str]]] = field(default_factory=dict)
    requests: list[tuple[int, dict[str, str], str | None]] = field(default_factory=list)

    @classmethod
    def from_divipola(cls) -> Portal:
        fields, records = _divipola()
        departments = sorted({r["cod_dpto"] for r in records})
        base = datetime(2024, 3, 1)
        rows = []
        for index, record in enumerate(records):
            # One publication time per department: many rows tie on :updated_at.
            stamp = base + timedelta(hours=departments.index(record["cod_dpto"]))
            rows.append(
                {
                    **record,
                    ":id": f"row-{index:05d}",
                    ":created_at": "2024-03-01T00:00:00.000Z",
                    ":updated_at": stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                }
            )
        return cls(fields, rows)

    def answer(
        self, path: str, query: dict[str, str], token: str | None
    ) -> tuple[int, dict[str, str], object]:
        number = len(self.requests) + 1
        if number in self.faults:
            status, headers = self.faults[number]
            return status, headers, {"message": "scripted fault"}
        if path != f"/resource/{DATASET}.json":
            return 404, {}, {"code": "not_found"}
        if token != TOKEN:
            return 403, {}, {"code": "invalid_app_token", "message": "Invalid app_token"}
        unknown = set(query) - {"$select", "$where", "$order", "$limit", "$offset"}
        if unknown:
            return 400, {}, {"code": "query.soql.unknown-parameter", "data": sorted(unknown)}
        selected = self._select(query.get("$select", "*"))
        rows = [r for r in self.rows if self._matches(r, query.get("$where"))]
        rows = self._ordered(rows, query.get("$order"), random.Random(number))
        offset, limit = int(query.get("$offset", 0)), int(query.get("$limit", 1000))
        page = [
            {f: r[f] for f in selected if r.get(f) is not None}
            for r in rows[offset : offset + limit]
        ]
        return 200, {"X-SODA2-Fields": json.dumps(selected)}, page

    def _select(self, select: str) -> list[str]:
        names: list[str] = []
        for part in (p.strip() for p in select.split(",")):
            names += {"*": self.fields, ":*": SYSTEM_FIELDS}.get(part, [part])
        return names

    @staticmethod
    def _matches(row: dict[str, str], where: str | None) -> bool:
        for term in re.split(r"\s+AND\s+", where or "", flags=re.I) if where else []:
            match = _TERM.match(term)
            if match is None:
                raise ValueError(f"stand-in cannot parse $where term {term!r}")
            column, operator, literal = match.groups()
            value = row.get(column)
            if value is None or not _COMPARE[operator](value, literal.replace("''", "'")):
                return False
        return True

    @staticmethod
    def _ordered(
        rows: list[dict[str, str]], order: str | None, ties: random.Random
    ) -> list[dict[str, str]]:
        rows = list(rows)
        ties.shuffle(rows)  # no order beyond $order: ties come back shuffled
        for part in reversed([p.strip() for p in (order or "").split(",") if p.strip()]):
            column, _, direction = part.partition(" ")
            rows.sort(key=lambda r: r.get(column) or "", reverse=direction.upper() == "DESC")
        return rows


class PortalHandler(BaseHTTPRequestHandler):
    portal: Portal

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        token = self.headers.get("X-App-Token")
        status, headers, body = self.portal.answer(parts.path, query, token)
        self.portal.requests.append((status, query, token))
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Portal]]:
    monkeypatch.setenv("SOCRATA_APP_TOKEN", TOKEN)
    state = Portal.from_divipola()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (PortalHandler,), {"portal": state}))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _table(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches)


def test_full_read_gets_every_row_once_through_429_and_503(portal: tuple[str, Portal]) -> None:
    url, state = portal
    state.faults = {1: (429, {"Retry-After": "0"}), 3: (503, {})}
    read = read_soda(url, DATASET, page_size=100, retry=NO_WAIT, batch_rows=500)
    table = _table(list(read))
    fields, records = _divipola()
    assert table.schema.names == [*fields, "_row"]
    assert table.num_rows == read.rows == len(records) == 1122
    assert sorted(table.column("cod_mpio").to_pylist()) == sorted(r["cod_mpio"] for r in records)
    assert table.drop_columns(["_row"]).to_pylist() == records  # :id order is file order
    assert table.column("_row").to_pylist() == list(range(1, 1123))
    statuses = [status for status, _, _ in state.requests]
    assert statuses == [429, 200, 503] + [200] * 11  # 12 pages, the last one short
    assert {query["$order"] for _, query, _ in state.requests} == {":id"}
    assert {token for _, _, token in state.requests} == {TOKEN}
    assert read.complete and read.watermark is None


def test_incremental_reads_return_only_newer_rows(portal: tuple[str, Portal]) -> None:
    url, state = portal
    first = read_soda(url, DATASET, page_size=100, watermark_column=":updated_at", retry=NO_WAIT)
    table = _table(list(first))
    latest = max(row[":updated_at"] for row in state.rows)
    assert table.num_rows == 1122 and len(set(table.column("cod_mpio").to_pylist())) == 1122
    assert first.watermark == latest
    assert state.requests[0][1]["$order"] == ":updated_at,:id"
    assert state.requests[0][1]["$select"] == "*,:updated_at"

    # The portal republishes Antioquia (department 05): 125 rows get a newer :updated_at.
    for row in state.rows:
        if row["cod_dpto"] == "05":
            row[":updated_at"] = "2024-04-02T10:00:00.000Z"
    second = read_soda(
        url,
        DATASET,
        page_size=50,
        watermark_column=":updated_at",
        since=first.watermark,
        retry=NO_WAIT,
    )
    newer = _table(list(second))
    assert newer.num_rows == 125
    assert set(newer.column("cod_dpto").to_pylist()) == {"05"}
    assert len(set(newer.column("cod_mpio").to_pylist())) == 125
    assert second.watermark == "2024-04-02T10:00:00.000Z"
    assert state.requests[-1][1]["$where"] == f":updated_at > '{first.watermark}'"

    third = read_soda(
        url, DATASET, watermark_column=":updated_at", since=second.watermark, retry=NO_WAIT
    )
    assert list(third) == [] and third.rows == 0
    assert third.watermark == second.watermark  # nothing new: the watermark stays


def test_ties_on_the_watermark_across_pages_lose_nothing(portal: tuple[str, Portal]) -> None:
    url, state = portal
    _, records = _divipola()
    expected = sorted(r["cod_mpio"] for r in records if r["cod_dpto"] > "50")
    read = read_soda(
        url, DATASET, page_size=37, watermark_column="cod_dpto", since="50", retry=NO_WAIT
    )
    codes = sorted(_table(list(read)).column("cod_mpio").to_pylist())
    assert codes == expected and len(expected) == 406
    assert read.watermark == max(r["cod_dpto"] for r in records)
    # The same pages ordered by the watermark alone: ties shuffle between requests, so rows
    # repeat and go missing. This is what the ":id" tie-breaker prevents.
    unstable = read_paged_json(
        f"{url}/resource/{DATASET}.json",
        params={"$where": "cod_dpto > '50'", "$order": "cod_dpto"},
        paging=OffsetPaging(37, "$limit", "$offset"),
        header_env={"X-App-Token": "SOCRATA_APP_TOKEN"},
        retry=NO_WAIT,
    )
    shaky = [c for b in unstable for c in b.column("cod_mpio").to_pylist()]
    assert len(shaky) == 406 and len(set(shaky)) < 406


def test_select_and_where_are_passed_as_soql(portal: tuple[str, Portal]) -> None:
    url, state = portal
    read = read_soda(
        url, DATASET, select="cod_mpio, nom_mpio", where="cod_dpto = '05'", retry=NO_WAIT
    )
    table = _table(list(read))
    assert table.schema.names == ["cod_mpio", "nom_mpio", "_row"]
    assert table.num_rows == 125
    assert table.column("nom_mpio").to_pylist()[0] == "MEDELLÍN"
    assert state.requests[0][1] == {
        "$select": "cod_mpio, nom_mpio",
        "$where": "cod_dpto = '05'",
        "$order": ":id",
        "$limit": "50000",
        "$offset": "0",
    }


def test_the_watermark_literal_is_quoted_safely(portal: tuple[str, Portal]) -> None:
    url, state = portal
    read = read_soda(
        url,
        DATASET,
        watermark_column="nom_mpio",
        since="ZONA O'BRIEN",
        where="cod_dpto = '05'",
        retry=NO_WAIT,
    )
    assert list(read) == []
    assert state.requests[0][1]["$where"] == "(cod_dpto = '05') AND nom_mpio > 'ZONA O''BRIEN'"
    assert "$select" not in state.requests[0][1]  # a data column comes with the default "*"


def test_a_missing_token_is_reported_not_retried(
    portal: tuple[str, Portal], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = portal
    monkeypatch.delenv("SOCRATA_APP_TOKEN")
    with pytest.raises(SourceError) as caught:
        list(read_soda(url, DATASET, retry=NO_WAIT))
    assert len(state.requests) == 1
    assert caught.value.file.startswith(f"{url}/resource/{DATASET}.json?$order=:id")
    assert "HTTP 403" in caught.value.message
    assert "SOCRATA_APP_TOKEN" in caught.value.message


def test_watermark_is_only_given_for_a_finished_read(portal: tuple[str, Portal]) -> None:
    url, _ = portal
    read = read_soda(
        url, DATASET, page_size=500, watermark_column=":updated_at", retry=NO_WAIT, batch_rows=500
    )
    batches = iter(read)
    next(batches)
    with pytest.raises(RuntimeError, match="only after every batch"):
        _ = read.watermark
    with pytest.raises(ValueError, match="since needs a watermark_column"):
        read_soda(url, DATASET, since="2024-01-01")
