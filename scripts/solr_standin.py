"""TEST STAND-IN for Apache Solr, for the local CKAN portal only (scripts/ckan_portal.py).

This is NOT a search engine. CKAN 2.11 writes every dataset change synchronously into Solr and
has no setting to turn that off; Solr cannot be installed on the project's machines, so this
minimal HTTP server answers the few calls CKAN makes (read from ckan/lib/search/*.py and
pysolr) well enough for every write to succeed:

- ``GET  /solr/<core>/schema?wt=schema.xml`` and ``/solr/<core>/admin/file/?file=schema.xml``:
  a schema document named ``ckan-2.11`` (CKAN's start-up schema version check);
- ``GET|POST /solr/<core>/select/``: a valid JSON response with ZERO results, always;
- ``POST /solr/<core>/update/``: accepts adds, deletes and commits (the body is discarded);
- ``GET  /solr/<core>/admin/ping``: ``{"status": "OK"}``.

Consequences: ``package_search``, ``/catalog.ttl`` and the web UI's dataset list return
nothing; find datasets by name with ``package_show`` instead. A production portal replaces
this with a real Solr configured with CKAN's schema (see docs/ckan-portal.md).

    python scripts/solr_standin.py --port 8983
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# CKAN 2.11 reads the version from the root element's name ("ckan-X.Y").
SCHEMA_XML = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n'
    '<schema name="ckan-2.11" version="1.6">\n'
    "  <!-- Solr TEST STAND-IN (scripts/solr_standin.py): no fields are indexed. -->\n"
    "  <uniqueKey>index_id</uniqueKey>\n"
    "</schema>\n"
)


def handler_name(path: str) -> str:
    """Return the Solr request handler a path names: '/solr/ckan/select/' -> 'select'.

    Multi-part handlers keep their parts ('/solr/ckan/admin/ping' -> 'admin/ping').
    """
    parts = [part for part in urlsplit(path).path.split("/") if part]
    if len(parts) >= 2 and parts[0] == "solr":
        parts = parts[2:]  # drop "solr" and the core name, whatever the core is called
    return "/".join(parts)


def empty_select_response(params: dict[str, list[str]]) -> dict[str, object]:
    """Return a Solr JSON select response with no documents (what every query gets here)."""
    start_text = params.get("start", ["0"])[0]
    start = int(start_text) if start_text.isdigit() else 0
    return {
        "responseHeader": {"status": 0, "QTime": 0},
        "response": {"numFound": 0, "start": start, "docs": []},
        "facet_counts": {"facet_queries": {}, "facet_fields": {}},
    }


def update_response() -> dict[str, object]:
    """Return the JSON Solr sends after an accepted update/commit/delete."""
    return {"responseHeader": {"status": 0, "QTime": 0}}


class SolrStandinHandler(BaseHTTPRequestHandler):
    """Answers CKAN's Solr calls; see the module docstring for what each path returns."""

    server_version = "SolrTestStandin/1.0"

    def do_GET(self) -> None:  # noqa: N802 (name fixed by http.server)
        """Serve schema, ping and select requests."""
        self.respond_to(parse_qs(urlsplit(self.path).query))

    def do_POST(self) -> None:  # noqa: N802 (name fixed by http.server)
        """Serve update and (long, form-encoded) select requests; update bodies are dropped."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        params = parse_qs(urlsplit(self.path).query)
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qs(body.decode("utf-8", "replace")))
        self.respond_to(params)

    def respond_to(self, params: dict[str, list[str]]) -> None:
        """Route one request by its handler name and write the answer."""
        handler = handler_name(self.path)
        if handler in ("schema", "admin/file"):
            self.send_body(200, SCHEMA_XML.encode(), "application/xml; charset=utf-8")
        elif handler == "select":
            self.send_json(empty_select_response(params))
        elif handler.startswith("update"):
            self.send_json(update_response())
        elif handler == "admin/ping":
            self.send_json({"responseHeader": {"status": 0}, "status": "OK"})
        else:
            self.send_json({"error": {"msg": f"stand-in has no handler {handler!r}"}}, 404)

    def send_json(self, payload: dict[str, object], status: int = 200) -> None:
        """Write a JSON body with the given status."""
        self.send_body(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        """Write a complete response."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(host: str, port: int) -> None:
    """Serve the stand-in until the process is stopped."""
    server = ThreadingHTTPServer((host, port), SolrStandinHandler)
    server.daemon_threads = True
    server.serve_forever()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description="Solr TEST STAND-IN for the local CKAN portal")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
