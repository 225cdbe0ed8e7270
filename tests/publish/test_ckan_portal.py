"""Smoke tests against a real local CKAN 2.11 portal (tests/fixtures/ckan_portal.py).

They check the behaviour the publisher relies on: organisations and datasets through ckanapi,
file uploads that download back byte-identical, private datasets hidden from anonymous users,
per-dataset DCAT Turtle from ckanext-dcat, and the DataStore's typed tables with upserts.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import ckanapi
import httpx
import pytest
import rdflib
from rdflib import namespace as rdf_ns

if TYPE_CHECKING:  # the fixture module is a pytest plugin, registered in tests/conftest.py
    from tests.fixtures.ckan_portal import CkanPortal

PORTAL_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ckan_portal.py"

# Invented figures. Non-ASCII text and CRLF line ends: re-encoding or newline translation
# anywhere on the way would change the hash.
INCIDENTS_CSV = (
    "municipio;trimestre;delitos;tasa_por_100k\r\n"
    "Medellín;2024-T1;1523;58,4\r\n"
    "Bogotá D.C.;2024-T1;9874;125,1\r\n"
    "Peñol;2024-T1;12;\r\n"
).encode()


@pytest.fixture(scope="module")
def organisation(ckan_portal: CkanPortal) -> dict[str, object]:
    """An organisation to own this module's datasets."""
    client = ckan_portal.client()
    return client.action.organization_create(name="smoke-org", title="Smoke test organisation")


def sha256(data: bytes) -> str:
    """Return the hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def test_uploaded_csv_downloads_byte_identical(
    ckan_portal: CkanPortal, organisation: dict[str, object], tmp_path: Path
) -> None:
    client = ckan_portal.client()
    dataset = client.action.package_create(
        name="smoke-upload", title="Upload round trip", owner_org=organisation["id"]
    )
    csv_path = tmp_path / "incidents.csv"
    csv_path.write_bytes(INCIDENTS_CSV)
    with csv_path.open("rb") as upload:
        resource = client.action.resource_create(
            package_id=dataset["id"], name="incidents", format="CSV", upload=upload
        )

    assert resource["url_type"] == "upload"
    assert resource["url"].startswith(f"{ckan_portal.url}/dataset/{dataset['id']}/resource/")
    downloaded = httpx.get(resource["url"], timeout=30)
    assert downloaded.status_code == 200
    assert sha256(downloaded.content) == sha256(INCIDENTS_CSV)
    shown = client.action.package_show(id="smoke-upload")
    assert [r["id"] for r in shown["resources"]] == [resource["id"]]


def test_private_dataset_is_hidden_from_anonymous_users(
    ckan_portal: CkanPortal, organisation: dict[str, object]
) -> None:
    sysadmin, anonymous = ckan_portal.client(), ckan_portal.client(anonymous=True)
    sysadmin.action.package_create(
        name="smoke-private", title="Private", owner_org=organisation["id"], private=True
    )
    sysadmin.action.package_create(
        name="smoke-public", title="Public", owner_org=organisation["id"]
    )

    with pytest.raises((ckanapi.NotFound, ckanapi.NotAuthorized)):
        anonymous.action.package_show(id="smoke-private")
    assert sysadmin.action.package_show(id="smoke-private")["private"] is True
    # The anonymous client does work: it reads the public dataset of the same organisation.
    assert anonymous.action.package_show(id="smoke-public")["title"] == "Public"


def test_dataset_turtle_names_the_title_and_distributions(
    ckan_portal: CkanPortal, organisation: dict[str, object]
) -> None:
    client = ckan_portal.client()
    title = "Delitos por municipio — Convive smoke test"
    dataset = client.action.package_create(
        name="smoke-dcat", title=title, owner_org=organisation["id"], notes="DCAT check"
    )
    for name in ("2023", "2024"):
        client.action.resource_create(
            package_id=dataset["id"], name=name, url=f"http://127.0.0.1/{name}.csv", format="CSV"
        )

    reply = httpx.get(f"{ckan_portal.url}/dataset/smoke-dcat.ttl", timeout=30)
    assert reply.status_code == 200
    graph = rdflib.Graph().parse(data=reply.text, format="turtle")
    datasets = list(graph.subjects(rdf_ns.RDF.type, rdf_ns.DCAT.Dataset))
    assert len(datasets) == 1
    assert graph.value(datasets[0], rdf_ns.DCTERMS.title) == rdflib.Literal(title)
    assert len(list(graph.objects(datasets[0], rdf_ns.DCAT.distribution))) == 2


def test_datastore_keeps_typed_rows_and_upserts_by_primary_key(
    ckan_portal: CkanPortal, organisation: dict[str, object]
) -> None:
    client = ckan_portal.client()
    dataset = client.action.package_create(name="smoke-datastore", owner_org=organisation["id"])
    fields = [
        {"id": "municipio", "type": "text"},
        {"id": "delitos", "type": "int4"},
        {"id": "tasa", "type": "numeric"},
    ]
    created = client.action.datastore_create(
        resource={"package_id": dataset["id"], "name": "indicador"},
        fields=fields,
        primary_key="municipio",
        records=[
            {"municipio": "Medellín", "delitos": 1523, "tasa": 58.4},
            {"municipio": "Peñol", "delitos": 12, "tasa": None},
        ],
        force=True,
    )
    client.action.datastore_upsert(
        resource_id=created["resource_id"],
        method="upsert",
        records=[
            {"municipio": "Peñol", "delitos": 13, "tasa": 110.2},
            {"municipio": "Bogotá D.C.", "delitos": 9874, "tasa": 125.1},
        ],
        force=True,
    )

    found = client.action.datastore_search(resource_id=created["resource_id"], sort="municipio")
    assert found["total"] == 3
    rows = {row["municipio"]: (row["delitos"], float(row["tasa"])) for row in found["records"]}
    assert rows == {"Bogotá D.C.": (9874, 125.1), "Medellín": (1523, 58.4), "Peñol": (13, 110.2)}
    types = {field["id"]: field["type"] for field in found["fields"] if field["id"] != "_id"}
    assert types == {"municipio": "text", "delitos": "int4", "tasa": "numeric"}


def test_search_finds_nothing_because_solr_is_a_stand_in(
    ckan_portal: CkanPortal, organisation: dict[str, object]
) -> None:
    # Documents the stand-in's limit (docs/ckan-portal.md): publishers must use package_show.
    client = ckan_portal.client()
    client.action.package_create(name="smoke-search", owner_org=organisation["id"])
    assert client.action.package_show(id="smoke-search")["name"] == "smoke-search"
    assert client.action.package_search(q="name:smoke-search")["count"] == 0


def run_portal_script(*args: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/ckan_portal.py and capture its output."""
    return subprocess.run(
        [sys.executable, str(PORTAL_SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def test_status_reports_the_running_portal(ckan_portal: CkanPortal) -> None:
    result = run_portal_script("status", "--state-dir", str(ckan_portal.state_dir))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["running"] is True
    assert report["url"] == ckan_portal.url
    assert report["status_show"]["ckan_version"] == "2.11.6"
    assert {"activity", "datastore", "dcat"} <= set(report["status_show"]["extensions"])


def test_start_refuses_a_state_dir_or_port_already_in_use(
    ckan_portal: CkanPortal, tmp_path: Path
) -> None:
    port = ckan_portal.url.rsplit(":", 1)[1]
    same_dir = run_portal_script("start", "--port", "1", "--state-dir", str(ckan_portal.state_dir))
    assert same_dir.returncode == 1
    assert "already holds a portal" in same_dir.stderr
    same_port = run_portal_script("start", "--port", port, "--state-dir", str(tmp_path / "p"))
    assert same_port.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in same_port.stderr
    assert not (tmp_path / "p").exists()
