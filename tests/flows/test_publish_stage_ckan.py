"""The served publish stage with CKAN switched on publishes to a real local CKAN portal.

The portal is the session's (tests/fixtures/ckan_portal.py); the warehouse is a small served
configuration narrowed to two months, so the stage's own work takes seconds.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx

from flows import steps
from flows.config import load_config
from flows.stages import PORTAL_LIMIT, publish_task
from tests.flows import served_chain as sc
from warehouse.engine import open_warehouse
from warehouse.indicators import load_catalogue

if TYPE_CHECKING:  # the fixture module is a pytest plugin, registered in tests/conftest.py
    from tests.fixtures.ckan_portal import CkanPortal

ORGANIZATION = "convive-stage-test"


def small_warehouse(folder):
    """A served configuration over 2023-11..2023-12, its three feeds loaded and computed."""
    path = sc.write_served_config(folder, "Convive portal stage test", police_rows=600)
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    document["indicators"].update(first_period="2023-11", last_period="2023-12")
    document["publish"].setdefault("ckan", {})["organization"] = ORGANIZATION
    path.write_text(sc.to_toml(document), encoding="utf-8")
    files = sc.generate_feeds(path)
    config = load_config(path)
    engine = open_warehouse(config.warehouse_url)
    try:
        steps.prepare_warehouse(config, engine)
        reports = [
            steps.ingest_feed(
                config,
                engine,
                sc_feed(config, feed).model_copy(update={"path": file}),
                secret=sc.TEST_KEY.encode(),
            )
            for feed, file in files.items()
        ]
        steps.compute(config, engine, reports)
    finally:
        engine.dispose()
    return config


def sc_feed(config, name: str):
    return next(feed for feed in config.feeds if feed.name == name)


@contextmanager
def recorded_slot(name: str, occupy: int) -> Iterator[None]:
    """Stands in for Prefect's global concurrency slot (it needs a Prefect API): records
    which limit the portal calls ran under."""
    SLOTS.append((name, occupy))
    yield


SLOTS: list[tuple[str, int]] = []


def test_the_publish_stage_publishes_every_dataset_to_the_portal(
    ckan_portal: CkanPortal, tmp_path, monkeypatch
) -> None:
    import prefect.concurrency.sync
    from prefect.logging import disable_run_logger

    config = small_warehouse(tmp_path)
    monkeypatch.setenv("CONVIVE_PUBLISH_CKAN", "1")  # the switch `steps.ckan_enabled` reads
    monkeypatch.setenv(config.publish.ckan.url_env, ckan_portal.url)
    monkeypatch.setenv(config.publish.ckan.token_env, ckan_portal.api_token)
    monkeypatch.setattr(prefect.concurrency.sync, "concurrency", recorded_slot)
    with disable_run_logger():
        index, names = publish_task.fn(str(config.source_file), config.warehouse_url)

    assert SLOTS == [(PORTAL_LIMIT, 1)]
    assert len(names) == len(load_catalogue()) + 1  # the indicators and the incident records
    anonymous = ckan_portal.client(anonymous=True)
    catalogue = config.path(config.publish.catalogue_dir)
    for name in names:
        dataset = anonymous.action.package_show(id=name)  # public: the release was switched
        assert dataset["organization"]["name"] == ORGANIZATION
        # The portal's latest CSV is byte for byte the local catalogue's file.
        (latest,) = [r for r in dataset["resources"] if r["url"].endswith(f"/{name}.csv")]
        local = (catalogue / name / f"{name}.csv").read_bytes()
        assert httpx.get(latest["url"], timeout=30).content == local
    assert str(catalogue) in index
