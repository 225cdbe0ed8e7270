"""The CKAN publish target: packages -> datasets, uploads and DataStore tables, over ckanapi.

One dataset per package, found by its deterministic name with package_show (never by search:
a portal's search index may lag or, on the test portal, be a stand-in). For each release:

- every rendered file is uploaded twice when its bytes change: as a dated resource
  (`<stem>-<release>.<ext>`, never modified afterwards; a corrected re-run of the same release
  adds `-r2`, `-r3`) and into the stable "latest" resource (`<file name>`), whose id and so
  whose download URL never change;
- unchanged bytes (same SHA-256 as stored on the latest resource) are not uploaded at all;
- everything a dataset changes (metadata, new dated resources, new bytes of the latest
  resources, and for a new dataset its switch from private to public) goes to CKAN in ONE
  `package_revise` call: one database transaction, so anonymous users see a dataset entirely
  before or entirely after a release, never half of it. A new dataset is first created private
  (invisible), so a run that dies before its switch leaves nothing visible behind;
- the package's table is kept in a DataStore table on the latest CSV resource (typed columns,
  primary key territory_code/period/breakdown, `datastore_upsert`), after the switch; the CSV's
  SHA-256 recorded on the resource (`datastore_sha256`) tells the next run whether it is in sync.

Connection errors and HTTP 5xx are retried with exponential backoff; a refused token (403) and a
rejected field (409) stop the run with a message that says what to fix. docs/publishing.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd
import requests
from ckanapi.errors import CKANAPIError, NotAuthorized, NotFound, ValidationError

from publish.dcat import Distribution, Publisher
from publish.dcat_ckan import dataset_fields, resource_fields
from publish.package import DatasetPackage
from publish.package_files import DocumentDataset, RenderedFile, render_files

log = logging.getLogger(__name__)

DATASET_NAME = re.compile(r"^[a-z0-9_-]{2,100}$")
RELEASE_LABEL = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,30}$")
PRIMARY_KEY = ("territory_code", "period", "breakdown")
RECORD_KEY = "record"  # record-level tables number their rows
DATASTORE_CHUNK = 5_000  # records per datastore call: keeps each request well under limits
MANAGED_KEYS = ("title", "notes", "license_id", "version", "maintainer", "maintainer_email")
# Called with (datasets done, datasets in the release) after each dataset is published.
Progress = Callable[[int, int], None]


class CkanClient(Protocol):
    """What the target needs from a client: ckanapi.RemoteCKAN's call_action."""

    def call_action(self, action: str, data_dict: dict | None = None, **kwargs: Any) -> Any:
        """Call one CKAN API action and return its result."""


class CkanPublishError(RuntimeError):
    """Publishing to CKAN failed; the message says which dataset, action and what to do."""


class CkanAuthError(CkanPublishError):
    """CKAN refused the API token (HTTP 403)."""


class CkanValidationError(CkanPublishError):
    """CKAN rejected a value (HTTP 409); `fields` names the fields it complained about."""

    def __init__(self, message: str, fields: dict[str, Any]) -> None:
        super().__init__(message)
        self.fields = fields


class CkanUnavailableError(CkanPublishError):
    """The portal could not be reached, or kept answering 5xx, through every retry."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry connection errors and HTTP 5xx."""

    attempts: int = 4
    first_delay_s: float = 1.0
    factor: float = 2.0
    max_delay_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def delays(self) -> Iterator[float]:
        """The waits before the 2nd, 3rd, ... attempt."""
        delay = self.first_delay_s
        for _ in range(self.attempts - 1):
            yield min(delay, self.max_delay_s)
            delay *= self.factor


@dataclass
class CkanReport:
    """What one publication did on the portal."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    uploads: int = 0
    bytes_uploaded: int = 0
    datastore_rows: int = 0
    calls: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class PublishedFile:
    """One rendered file with its digests, and the resource names it is published under."""

    rendered: RenderedFile
    distribution: Distribution
    latest_name: str

    @property
    def sha256(self) -> str:
        """The SHA-256 of the bytes."""
        return self.distribution.sha256


@dataclass
class DatasetPlan:
    """What one dataset needs: resource updates, new resources and their uploads."""

    name: str
    dataset: dict
    metadata: dict
    # resource id -> (new fields, file) for the latest resources whose bytes change
    latest_updates: dict[str, tuple[dict, PublishedFile]] = field(default_factory=dict)
    new_resources: list[tuple[dict, PublishedFile]] = field(default_factory=list)
    files: list[PublishedFile] = field(default_factory=list)
    about: str = ""

    def sent_files(self) -> list[PublishedFile]:
        """Every file this plan uploads."""
        return [f for _, f in [*self.latest_updates.values(), *self.new_resources]]

    @property
    def uploads(self) -> int:
        """How many files this plan sends."""
        return len(self.latest_updates) + len(self.new_resources)


# --- calling the API -------------------------------------------------------------------------


class PortalCalls:
    """Calls CKAN actions with retries, and turns CKAN's errors into clear ones."""

    def __init__(self, client: CkanClient, retry: RetryPolicy, report: CkanReport) -> None:
        self.client, self.retry, self.report = client, retry, report

    def call(
        self,
        action: str,
        data: dict,
        *,
        files: dict[str, tuple[str, bytes]] | None = None,
        about: str = "",
    ) -> Any:
        """Call `action`; retry connection errors and 5xx; NotFound is left to the caller."""
        delays = self.retry.delays()
        while True:
            self.report.calls += 1
            try:
                return self.client.call_action(action, data_dict=data, files=_streams(files))
            except NotFound:
                raise
            except NotAuthorized as error:
                raise CkanAuthError(_auth_message(action, about, error)) from error
            except ValidationError as error:
                raise _validation_error(action, about, error) from error
            except (requests.ConnectionError, requests.Timeout, CKANAPIError) as error:
                status = _http_status(error)
                if status is not None and status < 500:
                    raise CkanPublishError(
                        f"{action}{about}: CKAN answered HTTP {status}: {_short(error)}"
                    ) from error
                delay = next(delays, None)
                if delay is None:
                    raise CkanUnavailableError(
                        f"{action}{about}: the portal is unreachable or failing after "
                        f"{self.retry.attempts} attempts ({_short(error)}); nothing visible "
                        "changed for datasets not yet switched; run again to finish"
                    ) from error
                log.warning(
                    "%s%s failed (%s); retrying in %.1f s", action, about, _short(error), delay
                )
                self.retry.sleep(delay)

    def show(self, action: str, data: dict) -> dict | None:
        """Call a *_show action; None when the object does not exist."""
        try:
            return self.call(action, data)
        except NotFound:
            return None


def _streams(files: dict[str, tuple[str, bytes]] | None) -> dict | None:
    # Fresh streams for every attempt: a retried upload must send the bytes from the start.
    if not files:
        return None
    return {key: (name, io.BytesIO(content)) for key, (name, content) in files.items()}


def _http_status(error: Exception) -> int | None:
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code
    match = re.search(r", (\d{3}), ", str(error))  # ckanapi: repr([url, status, body])
    return int(match.group(1)) if match else None


def _short(error: Exception) -> str:
    return " ".join(str(error).split())[:300]


def _auth_message(action: str, about: str, error: Exception) -> str:
    return (
        f"CKAN refused {action}{about} (HTTP 403, not authorised): the API token is "
        "missing, wrong, expired or lacks rights on the organisation. Set the token of a "
        "user who can publish in that organisation in the environment variable the "
        f"configuration names (CONVIVE_CKAN_TOKEN by default). CKAN said: {_short(error)}"
    )


def _validation_error(action: str, about: str, error: ValidationError) -> CkanValidationError:
    problems = {k: v for k, v in getattr(error, "error_dict", {}).items() if k != "__type"}
    listed = "; ".join(f"{key}: {_flatten(value)}" for key, value in sorted(problems.items()))
    return CkanValidationError(
        f"CKAN rejected {action}{about} (HTTP 409, validation): {listed or _short(error)}", problems
    )


def _flatten(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_flatten(v) for v in value if v)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_flatten(v)}" for k, v in value.items() if v)
    return str(value)


# --- the publication -------------------------------------------------------------------------


def publish_to_ckan(
    packages: list[DatasetPackage],
    client: CkanClient,
    *,
    organization: str,
    publisher: Publisher,
    release: str,
    retry: RetryPolicy | None = None,
    documents: Sequence[DocumentDataset] = (),
    progress: Progress | None = None,
) -> CkanReport:
    """Publish every package as a dataset of `organization` for the data period `release`.

    `client` is a ckanapi.RemoteCKAN built by the caller from the URL and token in the
    environment. `documents` are datasets of given files (the coordination report), published
    the same way but without a DataStore table. Re-publishing unchanged packages uploads
    nothing. `progress(done, total)` follows each dataset. Raises CkanAuthError (403),
    CkanValidationError (409), CkanUnavailableError (retries exhausted), CkanPublishError.
    """
    started = time.monotonic()
    everything = [*packages, *(d.package for d in documents)]
    _check_names(everything, release)
    report = CkanReport()
    calls = PortalCalls(client, retry or RetryPolicy(), report)
    ensure_organization(calls, organization, publisher)
    given = {d.package.name: [published_file(f) for f in d.files] for d in documents}
    ordered = sorted(everything, key=lambda p: p.name)
    # Stage everything first (invisible), then switch dataset after dataset, each followed by
    # its DataStore table: a failure while staging changes nothing anonymous users see.
    staged = [
        stage_package(
            calls,
            p,
            organization=organization,
            publisher=publisher,
            release=release,
            files=given.get(p.name),
        )
        for p in ordered
    ]
    for done, (package, plan) in enumerate(zip(ordered, staged, strict=True), start=1):
        dataset = switch_staged(calls, plan)
        if package.name not in given:  # documents have no table to mirror
            sync_datastore(calls, dataset, package, plan.files, about=plan.about)
        if progress is not None:
            progress(done, len(ordered))
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _check_names(packages: list[DatasetPackage], release: str) -> None:
    if not RELEASE_LABEL.match(release):
        raise CkanPublishError(
            f"release label {release!r} is not a short period label such "
            "as '2023-12' (letters, digits, '.', '_', '-')"
        )
    for package in packages:
        if not DATASET_NAME.match(package.name):
            raise CkanPublishError(
                f"dataset name {package.name!r} is not a CKAN name (2-100 "
                "lowercase letters, digits, '-' or '_')"
            )
    for package in packages:
        check_primary_key(package)
    names = [p.name for p in packages]
    if len(set(names)) != len(names):
        raise CkanPublishError(f"two packages share a dataset name: {sorted(names)}")


def ensure_organization(calls: PortalCalls, organization: str, publisher: Publisher) -> None:
    """Create the organisation if missing; fail early if the token cannot publish in it."""
    if calls.show("organization_show", {"id": organization}) is None:
        calls.call(
            "organization_create",
            {"name": organization, "title": publisher.name},
            about=f" for organisation {organization!r}",
        )
        return
    allowed = calls.call("organization_list_for_user", {"permission": "create_dataset"})
    if organization not in {org.get("name") for org in allowed}:
        raise CkanAuthError(
            f"the API token may not create datasets in organisation "
            f"{organization!r}: use the token of one of its editors or admins "
            "(environment variable CONVIVE_CKAN_TOKEN by default)"
        )


def stage_package(
    calls: PortalCalls,
    package: DatasetPackage,
    *,
    organization: str,
    publisher: Publisher,
    release: str,
    files: list[PublishedFile] | None = None,
) -> DatasetPlan:
    """Find the dataset (creating it private if new) and plan what this release changes.

    `files` default to the package's rendered files (`render_files`).
    """
    about = f" for dataset {package.name!r}"
    files = published_files(package) if files is None else files
    dataset = calls.show("package_show", {"id": package.name})
    if dataset is None:
        # Private until its switch: a run that dies from here on leaves nothing visible.
        fields = dataset_fields(package, publisher, organization=organization, version=release)
        dataset = calls.call("package_create", {**fields, "private": True}, about=about)
    plan = plan_dataset(
        dataset, package, files, publisher, organization=organization, release=release
    )
    plan.files, plan.about = files, about
    return plan


def switch_staged(calls: PortalCalls, plan: DatasetPlan) -> dict:
    """Switch one staged dataset to the release (one call) unless it is already there."""
    if not needs_switch(plan):
        calls.report.unchanged.append(plan.name)
        return plan.dataset
    first_public = bool(plan.dataset.get("private")) or plan.dataset.get("state") != "active"
    dataset = switch_dataset(calls, plan, about=plan.about)
    calls.report.uploads += plan.uploads
    calls.report.bytes_uploaded += sum(len(f.rendered.content) for f in plan.sent_files())
    (calls.report.created if first_public else calls.report.updated).append(plan.name)
    return dataset


def published_files(package: DatasetPackage) -> list[PublishedFile]:
    """The package's rendered files with SHA-1 (for DCAT-AP-ES) added to their description."""
    return [published_file(rendered) for rendered in render_files(package)]


def published_file(rendered: RenderedFile) -> PublishedFile:
    """One file with its SHA-1 (for DCAT-AP-ES), published under its own name as latest."""
    digest = hashlib.sha1(rendered.content, usedforsecurity=False).hexdigest()
    distribution = dataclasses.replace(rendered.distribution, sha1=digest)
    return PublishedFile(rendered, distribution, latest_name=rendered.file_name)


def dated_name(file_name: str, release: str, revision: int = 1) -> str:
    """`a.csv`, `2023-12` -> `a-2023-12.csv` (revision 2 -> `a-2023-12-r2.csv`)."""
    stem, dot, extension = file_name.rpartition(".")
    if not dot:
        stem, extension = file_name, ""
    suffix = f"-{release}" + (f"-r{revision}" if revision > 1 else "")
    return f"{stem}{suffix}{dot}{extension}"


# --- planning --------------------------------------------------------------------------------


def plan_dataset(
    dataset: dict,
    package: DatasetPackage,
    files: list[PublishedFile],
    publisher: Publisher,
    *,
    organization: str,
    release: str,
) -> DatasetPlan:
    """Compare the dataset as stored with the package: what must change."""
    by_name = {r.get("name"): r for r in dataset.get("resources", [])}
    plan = DatasetPlan(name=package.name, dataset=dataset, metadata={})
    for file in files:
        latest = by_name.get(file.latest_name)
        if latest is not None and latest.get("sha256") == file.sha256:
            continue
        plan.new_resources.append(_dated_resource(file, by_name, publisher, release))
        fields = _resource(file, publisher, file.latest_name, "Versión vigente", release)
        if latest is None:
            plan.new_resources.append((fields, file))
        else:
            plan.latest_updates[latest["id"]] = (fields, file)
    files_changed = bool(plan.new_resources or plan.latest_updates)
    version = release if files_changed else (dataset.get("version") or release)
    plan.metadata = dataset_fields(package, publisher, organization=organization, version=version)
    # New latest resources come first, before every dated one, whatever the file order.
    plan.new_resources.sort(key=lambda item: item[0]["name"] != item[1].latest_name)
    return plan


def _dated_resource(
    file: PublishedFile, by_name: dict, publisher: Publisher, release: str
) -> tuple[dict, PublishedFile]:
    revision = 1
    while dated_name(file.latest_name, release, revision) in by_name:
        revision += 1  # a corrected re-run of a release never overwrites what was published
    name = dated_name(file.latest_name, release, revision)
    return _resource(file, publisher, name, f"Publicación {release}", release), file


def _resource(
    file: PublishedFile, publisher: Publisher, name: str, role: str, release: str
) -> dict:
    description = f"{file.rendered.title}. {role} (datos hasta {release}). SHA-256: {file.sha256}."
    return resource_fields(file.distribution, publisher, name=name, description=description)


def needs_switch(plan: DatasetPlan) -> bool:
    """Whether the dataset differs from the package (files, metadata, visibility, state)."""
    dataset = plan.dataset
    if plan.uploads or dataset.get("private") or dataset.get("state") != "active":
        return True
    stored_owner = (dataset.get("organization") or {}).get("name")
    return _managed_view(dataset, stored_owner) != _managed_view(
        plan.metadata, plan.metadata["owner_org"]
    )


def _managed_view(fields: dict, owner: str | None) -> dict:
    # Only what this publisher writes: portals add timestamps, ids and plugin fields.
    return {
        **{key: fields.get(key) or "" for key in MANAGED_KEYS},
        "owner": owner,
        "tags": sorted(t["name"] for t in fields.get("tags", [])),
        "extras": {e["key"]: e["value"] for e in fields.get("extras", [])},
    }


# --- the switch ------------------------------------------------------------------------------


def switch_dataset(calls: PortalCalls, plan: DatasetPlan, *, about: str) -> dict:
    """Apply the plan in one package_revise call (one transaction on the portal)."""
    update = {key: value for key, value in plan.metadata.items() if key != "name"}
    update["private"] = False
    if plan.dataset.get("state") != "active":
        update["state"] = "active"
    data: dict[str, str] = {
        "match": json.dumps({"id": plan.dataset["id"]}),
        "filter": json.dumps(["-extras", "-tags"]),
        "update": json.dumps(update),
    }
    files: dict[str, tuple[str, bytes]] = {}
    for resource_id, (fields, file) in plan.latest_updates.items():
        data[f"update__resources__{resource_id}"] = json.dumps(fields)
        files[f"update__resources__{resource_id}__upload"] = (
            file.latest_name,
            file.rendered.content,
        )
    if plan.new_resources:
        data["update__resources__extend"] = json.dumps([r for r, _ in plan.new_resources])
        count = len(plan.new_resources)
        for index, (resource, file) in enumerate(plan.new_resources):
            files[f"update__resources__{index - count}__upload"] = (
                resource["name"],
                file.rendered.content,
            )
    result = calls.call("package_revise", data, files=files or None, about=about)
    log.info("published %s: %d file(s) uploaded", plan.name, plan.uploads)
    return result["package"]


# --- DataStore -------------------------------------------------------------------------------


def sync_datastore(
    calls: PortalCalls,
    dataset: dict,
    package: DatasetPackage,
    files: list[PublishedFile],
    *,
    about: str,
) -> int:
    """Mirror the package's table in a DataStore table on the latest CSV; return rows sent."""
    csv_file = next(f for f in files if f.rendered.media_type == "text/csv")
    resource = next(
        (r for r in dataset.get("resources", []) if r.get("name") == csv_file.latest_name), None
    )
    if resource is None:
        raise CkanPublishError(
            f"dataset {package.name!r} has no resource {csv_file.latest_name!r} after publishing"
        )
    if resource.get("datastore_sha256") == csv_file.sha256 and resource.get("datastore_active"):
        return 0
    rows = write_datastore(calls, resource["id"], package.table, about=about)
    calls.call(
        "resource_patch", {"id": resource["id"], "datastore_sha256": csv_file.sha256}, about=about
    )
    calls.report.datastore_rows += rows
    return rows


def write_datastore(
    calls: PortalCalls, resource_id: str, table: pd.DataFrame, *, about: str
) -> int:
    """Upsert the table into the resource's DataStore table, or (re)build it; return rows.

    Upsert keeps the table online; a rebuild happens only when the columns changed or the
    stored table has rows (keys) the new one no longer has.
    """
    fields = datastore_fields(table)
    keys = primary_key(table)
    records = datastore_records(table)
    stored = calls.show("datastore_search", {"resource_id": resource_id, "limit": 0})
    if stored is not None and keys and _same_fields(stored.get("fields", []), fields):
        for chunk in _chunks(records):
            calls.call(
                "datastore_upsert",
                {"resource_id": resource_id, "records": chunk, "method": "upsert", "force": True},
                about=about,
            )
        after = calls.call("datastore_search", {"resource_id": resource_id, "limit": 0})
        if after.get("total") == len(records):
            return len(records)
    if stored is not None:
        _drop_datastore(calls, resource_id, about)
    _create_datastore(calls, resource_id, fields, keys, records, about)
    return len(records)


def primary_key(table: pd.DataFrame) -> list[str]:
    """The DataStore primary key: a record-level table's `record` number, else its dimensions."""
    if RECORD_KEY in table.columns:
        return [RECORD_KEY]
    return [key for key in PRIMARY_KEY if key in table.columns]


def check_primary_key(package: DatasetPackage) -> None:
    """Refuse a table with two rows for one key before anything is published."""
    keys = primary_key(package.table)
    duplicated = package.table.duplicated(subset=keys) if keys else None
    if duplicated is not None and duplicated.any():
        row = int(duplicated.to_numpy().argmax()) + 1
        raise CkanPublishError(
            f"dataset {package.name!r}: table row {row} repeats the key {keys} of an earlier "
            "row; the DataStore table needs one row per key"
        )


def _drop_datastore(calls: PortalCalls, resource_id: str, about: str) -> None:
    calls.call("datastore_delete", {"resource_id": resource_id, "force": True}, about=about)


def _create_datastore(
    calls: PortalCalls,
    resource_id: str,
    fields: list[dict],
    keys: list[str],
    records: list[dict],
    about: str,
) -> None:
    chunks = list(_chunks(records)) or [[]]
    calls.call(
        "datastore_create",
        {
            "resource_id": resource_id,
            "fields": fields,
            "primary_key": keys,
            "records": chunks[0],
            "force": True,
        },
        about=about,
    )
    for chunk in chunks[1:]:
        calls.call(
            "datastore_upsert",
            {"resource_id": resource_id, "records": chunk, "method": "insert", "force": True},
            about=about,
        )


def _same_fields(stored: list[dict], wanted: list[dict]) -> bool:
    existing = {f["id"]: f.get("type") for f in stored if f["id"] != "_id"}
    return existing == {f["id"]: f["type"] for f in wanted}


def _chunks(records: list[dict]) -> Iterator[list[dict]]:
    for start in range(0, len(records), DATASTORE_CHUNK):
        yield records[start : start + DATASTORE_CHUNK]


def datastore_fields(table: pd.DataFrame) -> list[dict]:
    """DataStore column definitions typed from the pandas dtypes."""
    return [{"id": str(name), "type": _datastore_type(table[name].dtype)} for name in table.columns]


def _datastore_type(dtype: Any) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int8"
    if pd.api.types.is_float_dtype(dtype):
        return "float8"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    return "text"


def datastore_records(table: pd.DataFrame) -> list[dict]:
    """The table's rows as JSON-ready dicts (missing values -> null, numpy -> Python)."""
    columns = [str(c) for c in table.columns]
    return [
        dict(zip(columns, (_json_value(v) for v in row), strict=True))
        for row in table.itertuples(index=False, name=None)
    ]


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
