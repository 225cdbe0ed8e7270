"""The CKAN publish target against a real local CKAN 2.11 portal (tests/fixtures/ckan_portal.py).

Faults are injected with client wrappers around the real ckanapi client (stand-ins for a killed
process and for a portal answering HTTP 500); everything else is the real portal.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ckanapi
import httpx
import pandas as pd
import pytest
import requests
from ckanapi.errors import CKANAPIError, NotAuthorized, NotFound

from publish.ckan_target import (
    CkanAuthError,
    CkanPublishError,
    CkanUnavailableError,
    CkanValidationError,
    RetryPolicy,
    dated_name,
    publish_to_ckan,
)
from publish.dcat import Publisher
from publish.package import DatasetPackage, FieldDoc
from publish.package_files import render_files

if TYPE_CHECKING:  # the fixture module is a pytest plugin, registered in tests/conftest.py
    from tests.fixtures.ckan_portal import CkanPortal

ORG = "target-org"
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
NO_WAIT = RetryPolicy(attempts=3, first_delay_s=0.0)
VENV_BIN = Path(sys.executable).parent


def make_package(name: str, *, first_value: float = 1.5, keyword: str = "convivencia"):
    """A small indicator package: 2 territories x 2 months, one value chosen by the test."""
    table = pd.DataFrame(
        {
            "territory_code": ["28079-01", "28079-01", "28079-02", "28079-02"],
            "period": ["2023-10", "2023-11", "2023-10", "2023-11"],
            "breakdown": ["all"] * 4,
            "units": [12, 7, 30, 41],
            "value": [first_value, 0.25, 3.0, 4.125],
            "status": ["", "", "", ""],
        }
    )
    return DatasetPackage(
        name=name,
        title=f"Indicador {name}",
        title_en=f"Indicator {name}",
        description="Incidentes por 1.000 habitantes (datos sintéticos de prueba).",
        keywords=[keyword, "seguridad"],
        theme="security",
        frequency="monthly",
        temporal_start="2023-10-01",
        temporal_end="2023-11-30",
        spatial_code="28079",
        spatial_name="Madrid",
        synthetic=True,
        table=table,
        fields=[FieldDoc("value", "number", "Incidentes por 1.000 habitantes")],
        disclosure={"cells_suppressed": 0},
        sources=["Policía (sintético)"],
    )


def publish(client: Any, packages: list[DatasetPackage], release: str):
    """Publish through any client with the test organisation and publisher."""
    return publish_to_ckan(
        packages, client, organization=ORG, publisher=PUBLISHER, release=release, retry=NO_WAIT
    )


class RecordingClient:
    """Passes every call to the real ckanapi client and records action and uploaded fields."""

    def __init__(self, inner: ckanapi.RemoteCKAN) -> None:
        self.inner = inner
        self.calls: list[tuple[str, dict, list[str]]] = []

    def call_action(self, action: str, data_dict: dict | None = None, **kwargs: Any) -> Any:
        self.calls.append((action, data_dict or {}, sorted(kwargs.get("files") or {})))
        return self.inner.call_action(action, data_dict=data_dict, **kwargs)

    @property
    def uploads(self) -> list[str]:
        """Every file field sent, in order."""
        return [field for _, _, files in self.calls for field in files]

    def actions(self) -> list[str]:
        """The actions called, in order."""
        return [action for action, _, _ in self.calls]


class SimulatedCrash(Exception):
    """Stands in for the publishing process being killed."""


class FailingClient(RecordingClient):
    """Calls through until the nth call of `action`, then fails that call and every later one.

    A stand-in for the publishing process being killed there (`http_500=False`) or for the
    portal breaking down and answering HTTP 500 from then on (`http_500=True`).
    """

    def __init__(self, inner: ckanapi.RemoteCKAN, action: str, nth: int, *, http_500: bool) -> None:
        super().__init__(inner)
        self.action, self.nth, self.http_500 = action, nth, http_500
        self.failing = False

    def call_action(self, action: str, data_dict: dict | None = None, **kwargs: Any) -> Any:
        self.failing = self.failing or (
            action == self.action and self.actions().count(action) + 1 == self.nth
        )
        if not self.failing:
            return super().call_action(action, data_dict, **kwargs)
        self.calls.append((action, data_dict or {}, []))
        if self.http_500:  # what ckanapi raises when the portal answers 500
            raise CKANAPIError(repr([f"/api/action/{action}", 500, '{"success": false}']))
        raise SimulatedCrash(f"killed before {action}")


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def anonymous_view(portal: CkanPortal, names: list[str]) -> dict:
    """Everything an anonymous user sees of these datasets: metadata, files, DataStore rows."""
    anonymous = portal.client(anonymous=True)
    view: dict[str, Any] = {}
    for name in names:
        try:
            dataset = anonymous.action.package_show(id=name)
        except (NotFound, NotAuthorized):
            view[name] = None
            continue
        resources = [
            (r["id"], r["name"], r["url"], r.get("sha256"), sha256(httpx.get(r["url"]).content))
            for r in dataset["resources"]
        ]
        latest_csv = next(r for r in dataset["resources"] if r["name"] == f"{name}.csv")
        rows = anonymous.action.datastore_search(resource_id=latest_csv["id"], sort="_id")
        view[name] = {
            "version": dataset["version"],
            "title": dataset["title"],
            "extras": {e["key"]: e["value"] for e in dataset["extras"]},
            "resources": resources,
            "rows": [(r["territory_code"], r["period"], r["value"]) for r in rows["records"]],
        }
    return view


def test_new_datasets_are_public_and_every_file_downloads_byte_identical(
    ckan_portal: CkanPortal,
) -> None:
    packages = [make_package("tgt-new-a"), make_package("tgt-new-b", first_value=9.0)]
    report = publish(ckan_portal.client(), packages, "2023-11")

    assert report.created == ["tgt-new-a", "tgt-new-b"] and report.updated == []
    files = len(render_files(packages[0]))
    assert report.uploads == files * 2 * 2  # files x (latest + dated) x 2 datasets
    anonymous = ckan_portal.client(anonymous=True)
    for package in packages:
        dataset = anonymous.action.package_show(id=package.name)
        assert dataset["private"] is False and dataset["version"] == "2023-11"
        by_name = {r["name"]: r for r in dataset["resources"]}
        for rendered in render_files(package):
            for name in (rendered.file_name, dated_name(rendered.file_name, "2023-11")):
                resource = by_name[name]
                body = httpx.get(resource["url"], timeout=30).content
                assert sha256(body) == sha256(rendered.content) == resource["sha256"]
                assert resource["size"] == len(rendered.content)
                assert resource["hash"] == hashlib.sha1(rendered.content).hexdigest()
        assert len(by_name) == 2 * len(render_files(package))


def test_republishing_unchanged_packages_uploads_nothing(ckan_portal: CkanPortal) -> None:
    packages = [make_package("tgt-same-a"), make_package("tgt-same-b")]
    publish(ckan_portal.client(), packages, "2023-11")
    recording = RecordingClient(ckan_portal.client())

    report = publish(recording, packages, "2023-11")

    assert recording.uploads == []
    assert report.unchanged == ["tgt-same-a", "tgt-same-b"] and report.uploads == 0
    assert set(recording.actions()) == {
        "organization_show",
        "organization_list_for_user",
        "package_show",
    }


def test_changing_one_value_reuploads_only_that_datasets_changed_files(
    ckan_portal: CkanPortal,
) -> None:
    publish(ckan_portal.client(), [make_package("tgt-one-a"), make_package("tgt-one-b")], "2023-11")
    recording = RecordingClient(ckan_portal.client())

    changed = [make_package("tgt-one-a"), make_package("tgt-one-b", first_value=2.5)]
    report = publish(recording, changed, "2023-11")

    assert report.updated == ["tgt-one-b"] and report.unchanged == ["tgt-one-a"]
    revises = [data for action, data, _ in recording.calls if action == "package_revise"]
    assert len(revises) == 1
    dataset_b = ckan_portal.client().action.package_show(id="tgt-one-b")
    assert json.loads(revises[0]["match"]) == {"id": dataset_b["id"]}
    # The CSV and the Parquet changed (latest + a corrected dated copy); dictionary and
    # disclosure report did not.
    assert len(recording.uploads) == 4
    names = {r["name"] for r in dataset_b["resources"]}
    assert {"tgt-one-b-2023-11-r2.csv", "tgt-one-b-2023-11-r2.parquet"} <= names
    assert "diccionario-2023-11-r2.csv" not in names


def test_later_release_keeps_the_dated_resource_and_the_latest_url(
    ckan_portal: CkanPortal,
) -> None:
    client = ckan_portal.client()
    first = make_package("tgt-later")
    publish(client, [first], "2023-11")
    before = {r["name"]: r for r in client.action.package_show(id="tgt-later")["resources"]}

    second = make_package("tgt-later", first_value=8.75)
    publish(client, [second], "2023-12")

    after = {r["name"]: r for r in client.action.package_show(id="tgt-later")["resources"]}
    old_dated = after["tgt-later-2023-11.csv"]
    assert old_dated["id"] == before["tgt-later-2023-11.csv"]["id"]
    assert old_dated["url"] == before["tgt-later-2023-11.csv"]["url"]
    first_csv, second_csv = render_files(first)[0].content, render_files(second)[0].content
    assert sha256(httpx.get(old_dated["url"]).content) == sha256(first_csv)
    latest = after["tgt-later.csv"]
    assert (latest["id"], latest["url"]) == (
        before["tgt-later.csv"]["id"],
        before["tgt-later.csv"]["url"],
    )
    assert sha256(httpx.get(latest["url"]).content) == sha256(second_csv)
    assert after["tgt-later-2023-12.csv"]["sha256"] == sha256(second_csv)
    assert client.action.package_show(id="tgt-later")["version"] == "2023-12"


def _failure_setup(portal: CkanPortal, prefix: str) -> tuple[list[str], list[DatasetPackage]]:
    """Release 2023-11 of two datasets; returns all names and the 2023-12 packages (+1 new)."""
    names = [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    publish(portal.client(), [make_package(names[0]), make_package(names[1])], "2023-11")
    release_2 = [make_package(n, first_value=6.5 + i) for i, n in enumerate(names)]
    return names, release_2


def test_crash_while_staging_changes_nothing_anonymous_users_see_and_a_rerun_completes(
    ckan_portal: CkanPortal,
) -> None:
    names, release_2 = _failure_setup(ckan_portal, "tgt-crash")
    before = anonymous_view(ckan_portal, names)
    # Kill the run just before its first switch: every dataset is staged (the new one
    # created private) but none switched.
    crashing = FailingClient(ckan_portal.client(), "package_revise", 1, http_500=False)

    with pytest.raises(SimulatedCrash):
        publish(crashing, release_2, "2023-12")

    assert crashing.actions()[-1] == "package_revise"
    assert "package_create" in crashing.actions()
    assert anonymous_view(ckan_portal, names) == before
    assert before[names[2]] is None  # the new dataset exists, private, invisible

    report = publish(ckan_portal.client(), release_2, "2023-12")

    assert report.created == [names[2]] and report.updated == names[:2]
    after = anonymous_view(ckan_portal, names)
    for name, package in zip(names, release_2, strict=True):
        assert after[name]["version"] == "2023-12"
        assert after[name]["rows"][0] == ("28079-01", "2023-10", package.table["value"][0])


def test_portal_failing_mid_switch_leaves_each_dataset_whole_and_a_rerun_completes(
    ckan_portal: CkanPortal,
) -> None:
    names, release_2 = _failure_setup(ckan_portal, "tgt-down")
    before = anonymous_view(ckan_portal, names)
    # The portal breaks down at the second dataset's switch (the first is done by then).
    failing = FailingClient(ckan_portal.client(), "package_revise", 2, http_500=True)

    with pytest.raises(CkanUnavailableError, match="run again"):
        publish(failing, release_2, "2023-12")

    assert failing.actions()[-NO_WAIT.attempts :] == ["package_revise"] * NO_WAIT.attempts
    middle = anonymous_view(ckan_portal, names)
    assert middle[names[0]]["version"] == "2023-12"  # switched whole: files, rows, metadata
    assert middle[names[0]]["rows"][0] == ("28079-01", "2023-10", 6.5)
    new_a = {r[1]: r[4] for r in middle[names[0]]["resources"]}
    a_files = {f.file_name: sha256(f.content) for f in render_files(release_2[0])}
    assert {name: new_a[name] for name in a_files} == a_files
    assert middle[names[1]] == before[names[1]]  # untouched
    assert middle[names[2]] is None  # never switched: still private

    report = publish(ckan_portal.client(), release_2, "2023-12")

    assert report.unchanged == [names[0]] and report.updated == [names[1]]
    assert report.created == [names[2]]
    assert all(v["version"] == "2023-12" for v in anonymous_view(ckan_portal, names).values())


def test_retries_connection_errors_then_succeeds(ckan_portal: CkanPortal) -> None:
    waits: list[float] = []

    class FlakyClient(RecordingClient):
        """Refuses the first two connections, then passes through."""

        def call_action(self, action: str, data_dict: dict | None = None, **kwargs: Any) -> Any:
            if len(self.calls) < 2:
                self.calls.append((action, data_dict or {}, []))
                raise requests.ConnectionError("connection refused")
            return super().call_action(action, data_dict, **kwargs)

    flaky = FlakyClient(ckan_portal.client())
    policy = RetryPolicy(attempts=3, first_delay_s=0.5, factor=3.0, sleep=waits.append)
    report = publish_to_ckan(
        [make_package("tgt-flaky")],
        flaky,
        organization=ORG,
        publisher=PUBLISHER,
        release="2023-11",
        retry=policy,
    )
    assert waits == [0.5, 1.5]
    assert report.created == ["tgt-flaky"]


def test_a_wrong_token_is_a_clear_403_error(ckan_portal: CkanPortal) -> None:
    wrong = ckanapi.RemoteCKAN(ckan_portal.url, apikey="not-the-token")
    with pytest.raises(CkanAuthError, match="CONVIVE_CKAN_TOKEN") as caught:
        publish(wrong, [make_package("tgt-token")], "2023-11")
    assert "403" in str(caught.value) or "may not create datasets" in str(caught.value)
    with pytest.raises(NotFound):
        ckan_portal.client().action.package_show(id="tgt-token")


def test_a_rejected_field_is_a_clear_409_error_naming_it(ckan_portal: CkanPortal) -> None:
    bad = make_package("tgt-bad-tag", keyword="seguridad/convivencia")  # '/' is not allowed
    with pytest.raises(CkanValidationError, match="409") as caught:
        publish(ckan_portal.client(), [bad], "2023-11")
    assert "tags" in caught.value.fields
    assert "tgt-bad-tag" in str(caught.value) and "tags:" in str(caught.value)


def test_datastore_serves_the_table_rows_typed_and_upserted(ckan_portal: CkanPortal) -> None:
    publish(ckan_portal.client(), [make_package("tgt-rows")], "2023-11")
    changed = make_package("tgt-rows", first_value=0.5)
    publish(ckan_portal.client(), [changed], "2023-12")

    anonymous = ckan_portal.client(anonymous=True)
    latest = next(
        r
        for r in anonymous.action.package_show(id="tgt-rows")["resources"]
        if r["name"] == "tgt-rows.csv"
    )
    found = anonymous.action.datastore_search(resource_id=latest["id"], sort="_id")
    types = {f["id"]: f["type"] for f in found["fields"]}
    assert types == {
        "_id": "int",
        "territory_code": "text",
        "period": "text",
        "breakdown": "text",
        "units": "int8",
        "value": "float8",
        "status": "text",
    }
    assert found["total"] == len(changed.table) == 4
    rows = [(r["territory_code"], r["period"], r["units"], r["value"]) for r in found["records"]]
    expected = list(
        changed.table[["territory_code", "period", "units", "value"]].itertuples(
            index=False, name=None
        )
    )
    assert rows == expected
    assert rows[0][3] == 0.5  # the upserted value, not the first release's 1.5
    filtered = anonymous.action.datastore_search(
        resource_id=latest["id"], filters={"territory_code": "28079-02", "period": "2023-11"}
    )
    assert [r["units"] for r in filtered["records"]] == [41]


def test_datastore_is_rebuilt_when_rows_disappear(ckan_portal: CkanPortal) -> None:
    publish(ckan_portal.client(), [make_package("tgt-fewer")], "2023-11")
    fewer = make_package("tgt-fewer", first_value=2.0)
    fewer.table = fewer.table[fewer.table["territory_code"] == "28079-01"].reset_index(drop=True)
    publish(ckan_portal.client(), [fewer], "2023-12")

    dataset = ckan_portal.client(anonymous=True).action.package_show(id="tgt-fewer")
    latest = next(r for r in dataset["resources"] if r["name"] == "tgt-fewer.csv")
    found = ckan_portal.client(anonymous=True).action.datastore_search(
        resource_id=latest["id"], sort="_id"
    )
    assert found["total"] == 2
    assert [(r["period"], r["value"]) for r in found["records"]] == [
        ("2023-10", 2.0),
        ("2023-11", 0.25),
    ]


def test_a_repeated_key_is_refused_before_anything_is_published(ckan_portal: CkanPortal) -> None:
    twice = make_package("tgt-twice")
    twice.table.loc[3, ["territory_code", "period"]] = ["28079-02", "2023-10"]  # = row 3
    with pytest.raises(CkanPublishError, match="row 4 repeats the key"):
        publish(ckan_portal.client(), [twice], "2023-11")
    with pytest.raises(NotFound):
        ckan_portal.client().action.package_show(id="tgt-twice")


def test_ckanapi_dump_returns_every_published_dataset(ckan_portal: CkanPortal) -> None:
    names = ["tgt-dump-a", "tgt-dump-b"]
    publish(ckan_portal.client(), [make_package(n) for n in names], "2023-11")
    # `dump --all` lists names with package_list (read from the database, not the search
    # index) and fetches each with package_show in worker processes it starts as `ckanapi`
    # found on PATH.
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    dumped = subprocess.run(
        [str(VENV_BIN / "ckanapi"), "dump", "datasets", "--all", "-q", "-r", ckan_portal.url],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert dumped.returncode == 0, dumped.stderr
    records = {r["name"]: r for r in map(json.loads, dumped.stdout.splitlines())}
    public = ckan_portal.client(anonymous=True).action.package_list()
    assert set(records) == set(public)
    for name in names:
        assert len(records[name]["resources"]) == 2 * len(render_files(make_package(name)))
        assert records[name]["organization"]["name"] == ORG
