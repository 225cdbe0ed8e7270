"""The coordination report on a real local CKAN portal: its own dataset, byte-identical,
uploaded once per change (tests/fixtures/ckan_portal.py)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import httpx

from publish.ckan_target import publish_to_ckan
from publish.coordination_report import report_dataset
from publish.package_files import RenderedFile
from tests.publish.test_ckan_target import NO_WAIT, ORG, PUBLISHER, RecordingClient, make_package

if TYPE_CHECKING:
    from tests.fixtures.ckan_portal import CkanPortal

# Each test its own root territory: the portal is shared by the whole session.
MADRID, GETAFE = ("28079", "Madrid"), ("28065", "Getafe")


def _report(root: tuple[str, str], period: str, body: str) -> RenderedFile:
    """A report file as `flows.steps.coordination_report` names it."""
    html = f"<!doctype html><html lang='es'><body><h1>Informe {period}</h1>{body}</body></html>"
    return RenderedFile(
        f"informe-coordinacion-{root[0]}-{period}.html",
        f"Informe de coordinación — {root[1]}, {period}",
        "text/html",
        html.encode("utf-8"),
    )


def _publish(client, packages, report: RenderedFile, root, period: str, progress=None):
    document = report_dataset(
        report, root=root, period=period, synthetic=True, sources=["Policía (sintético)"]
    )
    return publish_to_ckan(
        packages,
        client,
        organization=ORG,
        publisher=PUBLISHER,
        release=period,
        retry=NO_WAIT,
        documents=[document],
        progress=progress,
    )


def test_report_is_a_resource_with_its_bytes_and_republishing_uploads_nothing(
    ckan_portal: CkanPortal,
) -> None:
    report = _report(MADRID, "2023-11", "<p>Incidentes: 12,5 por 10.000</p>")
    calls: list[tuple[int, int]] = []
    first = _publish(
        ckan_portal.client(),
        [make_package("rep-indicator")],
        report,
        MADRID,
        "2023-11",
        progress=lambda done, total: calls.append((done, total)),
    )

    assert first.created == ["convive-28079-informe-coordinacion", "rep-indicator"]
    assert calls == [(1, 2), (2, 2)]
    dataset = ckan_portal.client(anonymous=True).action.package_show(
        id="convive-28079-informe-coordinacion"
    )
    by_name = {r["name"]: r for r in dataset["resources"]}
    assert set(by_name) == {
        "informe-coordinacion-28079.html",
        "informe-coordinacion-28079-2023-11.html",
    }
    for resource in by_name.values():
        body = httpx.get(resource["url"], timeout=30).content
        assert body == report.content
        assert resource["sha256"] == hashlib.sha256(report.content).hexdigest()
        assert resource["size"] == len(report.content)
        assert resource["mimetype"] == "text/html"
    assert dataset["version"] == "2023-11" and dataset["private"] is False

    recording = RecordingClient(ckan_portal.client())
    again = _publish(recording, [make_package("rep-indicator")], report, MADRID, "2023-11")
    assert recording.uploads == [] and again.uploads == 0
    assert again.unchanged == ["convive-28079-informe-coordinacion", "rep-indicator"]
    assert "datastore_create" not in recording.actions()


def test_a_new_report_replaces_the_latest_and_keeps_the_old_one_dated(
    ckan_portal: CkanPortal,
) -> None:
    client = ckan_portal.client()
    dataset = "convive-28065-informe-coordinacion"
    november = _report(GETAFE, "2023-11", "<p>noviembre</p>")
    _publish(client, [], november, GETAFE, "2023-11")
    latest_before = next(
        r
        for r in client.action.package_show(id=dataset)["resources"]
        if r["name"] == "informe-coordinacion-28065.html"
    )

    december = _report(GETAFE, "2023-12", "<p>diciembre</p>")
    result = _publish(client, [], december, GETAFE, "2023-12")

    assert result.uploads == 2  # the latest resource's new bytes and the dated copy
    by_name = {r["name"]: r for r in client.action.package_show(id=dataset)["resources"]}
    latest = by_name["informe-coordinacion-28065.html"]
    assert (latest["id"], latest["url"]) == (latest_before["id"], latest_before["url"])
    assert httpx.get(latest["url"], timeout=30).content == december.content
    dated = by_name["informe-coordinacion-28065-2023-11.html"]
    assert httpx.get(dated["url"], timeout=30).content == november.content
    assert "informe-coordinacion-28065-2023-12.html" in by_name
