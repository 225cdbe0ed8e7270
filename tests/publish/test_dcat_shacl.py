"""DCAT-AP-ES conformance with pySHACL and the official shapes, loaded offline from the files.

The shapes are datos.gob.es' DCAT-AP-ES 1.0.0 SHACL (shared/data/real/dcat-ap-shapes); their
owl:imports files are never loaded and any connection off 127.0.0.1 fails the test.
"""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pyshacl
import pytest
from rdflib import Graph, URIRef
from rdflib import namespace as rdf_ns
from rdflib.compare import isomorphic

from publish.ckan_target import publish_to_ckan
from publish.dcat import Publisher, catalogue_turtle
from publish.dcat_ckan import complete_portal_graph
from publish.local_catalogue import write_catalogue
from publish.package import DatasetPackage, FieldDoc
from publish.package_files import render_files

if TYPE_CHECKING:  # the fixture module is a pytest plugin, registered in tests/conftest.py
    from tests.fixtures.ckan_portal import CkanPortal

SHAPES_DIR = (
    Path(__file__).resolve().parents[3] / "shared/data/real/dcat-ap-shapes/dcat-ap-es/shacl/1.0.0"
)
SHAPE_FILES = (
    "shacl_common_shapes.ttl",
    "shacl_mdr-vocabularies.shape.ttl",
    "shacl_catalog_shape.ttl",
    "shacl_dataset_shape.ttl",
    "shacl_distribution_shape.ttl",
    "shacl_dataservice_shape.ttl",
)
PUBLISHER = Publisher(
    name="Ayuntamiento de Prueba",
    url="https://ayuntamiento.example.org/",
    email="datos@example.org",
    licence="https://creativecommons.org/licenses/by/4.0/",
    language="es",
    base_uri="https://datos.example.org/convive",
    dir3_code="L01280796",
    spatial_uri="http://datos.gob.es/recurso/sector-publico/territorio/Provincia/Madrid",
)


def make_package(name: str, theme: str = "security") -> DatasetPackage:
    """A small indicator package."""
    table = pd.DataFrame(
        {
            "territory_code": ["28079-01", "28079-02"],
            "period": ["2023-11", "2023-11"],
            "breakdown": ["all", "all"],
            "value": [1.5, 2.25],
        }
    )
    return DatasetPackage(
        name=name,
        title=f"Indicador {name}",
        title_en=f"Indicator {name}",
        description="Indicador de convivencia (datos sintéticos de prueba).",
        keywords=["convivencia", "absentismo"],
        theme=theme,
        frequency="monthly",
        temporal_start="2023-01-01",
        temporal_end="2023-11-30",
        spatial_code="28079",
        spatial_name="Madrid",
        synthetic=True,
        table=table,
        fields=[FieldDoc("value", "number", "Valor")],
        disclosure={"cells_suppressed": 0},
    )


@pytest.fixture(scope="module")
def shapes() -> Graph:
    """The DCAT-AP-ES shapes, parsed from the local files (no owl:imports)."""
    if not SHAPES_DIR.is_dir():
        pytest.fail(f"DCAT-AP-ES shapes not found in {SHAPES_DIR}", pytrace=False)
    graph = Graph()
    for name in SHAPE_FILES:
        graph.parse(SHAPES_DIR / name, format="turtle")
    return graph


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection that is not to 127.0.0.1 (the shapes must not be fetched)."""
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"network access to {address} during validation")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def violations(data: Graph, shapes: Graph) -> list[tuple[str, str, str]]:
    """(focus node, path, message) of every sh:Violation (warnings are allowed)."""
    _, report, _ = pyshacl.validate(
        data,
        shacl_graph=shapes,
        inference="none",
        advanced=True,
        do_owl_imports=False,
        allow_warnings=True,
    )
    found = []
    for result in report.subjects(rdf_ns.SH.resultSeverity, rdf_ns.SH.Violation):
        messages = [str(m) for m in report.objects(result, rdf_ns.SH.resultMessage)]
        found.append(
            (
                str(report.value(result, rdf_ns.SH.focusNode)),
                str(report.value(result, rdf_ns.SH.resultPath)),
                " | ".join(messages),
            )
        )
    return sorted(found)


def test_local_catalogue_turtle_has_no_violations(
    tmp_path: Path, shapes: Graph, loopback_only: None
) -> None:
    packages = [make_package("shacl-a"), make_package("shacl-b", theme="education")]
    index = write_catalogue(packages, tmp_path / "catalogue", PUBLISHER, title="Catálogo")
    graph = Graph().parse(index.parent / "catalog.ttl", format="turtle")

    assert len(set(graph.subjects(rdf_ns.RDF.type, rdf_ns.DCAT.Dataset))) == 2
    assert violations(graph, shapes) == []


def test_the_shapes_do_catch_a_catalogue_that_breaks_dcat_ap_es(
    tmp_path: Path, shapes: Graph, loopback_only: None
) -> None:
    # Without a DIR3 code the publisher is a plain web address: DCAT-AP-ES rejects it.
    plain = dataclasses.replace(PUBLISHER, dir3_code=None)
    index = write_catalogue([make_package("shacl-c")], tmp_path / "catalogue", plain, title="C")
    found = violations(Graph().parse(index.parent / "catalog.ttl"), shapes)
    assert any("public sector organism" in message for _, _, message in found)


def test_catalogue_turtle_is_deterministic_and_the_same_graph_as_the_json_ld(
    tmp_path: Path,
) -> None:
    index = write_catalogue([make_package("shacl-d")], tmp_path / "cat", PUBLISHER, title="C")
    turtle = (index.parent / "catalog.ttl").read_bytes()
    jsonld = Graph().parse(index.parent / "catalog.jsonld", format="json-ld")
    assert isomorphic(Graph().parse(data=turtle, format="turtle"), jsonld)
    again = write_catalogue([make_package("shacl-d")], tmp_path / "cat2", PUBLISHER, title="C")
    assert (again.parent / "catalog.ttl").read_bytes() == turtle
    assert catalogue_turtle({"@context": {}, "@graph": []}) == catalogue_turtle(
        {"@context": {}, "@graph": []}
    )


def test_portal_dataset_rdf_lacks_only_what_ckan_core_cannot_store(
    ckan_portal: CkanPortal, shapes: Graph, loopback_only: None
) -> None:
    package = make_package("shacl-portal")
    publish_to_ckan(
        [package],
        ckan_portal.client(),
        organization="shacl-org",
        publisher=PUBLISHER,
        release="2023-11",
    )
    reply = httpx.get(f"{ckan_portal.url}/dataset/{package.name}.ttl", timeout=30)
    assert reply.status_code == 200
    graph = Graph().parse(data=reply.text, format="turtle")
    dataset = next(graph.subjects(rdf_ns.RDF.type, rdf_ns.DCAT.Dataset))
    sector = URIRef("http://datos.gob.es/kos/sector-publico/sector/seguridad")
    assert (dataset, rdf_ns.DCAT.theme, sector) in graph
    assert (
        dataset,
        rdf_ns.DCTERMS.publisher,
        URIRef("http://datos.gob.es/recurso/sector-publico/org/Organismo/L01280796"),
    ) in graph
    # Every rendered file twice: the stable 'latest' resource and the dated release.
    expected = 2 * len(render_files(package))
    assert len(list(graph.objects(dataset, rdf_ns.DCAT.distribution))) == expected

    # Stock ckanext-dcat writes free text as plain literals and formats as labels; completing
    # exactly those (what a DCAT-AP-ES profile on the portal does) leaves no violation.
    assert violations(graph, shapes) != []
    completed = complete_portal_graph(graph, "es")
    assert {(s, p) for s, p, _ in completed} == {(s, p) for s, p, _ in graph}
    assert len(completed) == len(graph)
    assert violations(completed, shapes) == []
