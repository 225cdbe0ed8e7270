"""The deployments: served and work-pool (prefect.yaml) triggers agree and fit the flows."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml
from pydantic import TypeAdapter

from flows import events
from flows.config import load_config
from flows.deployments import ServeOptions, chain_deployments, loaded_trigger
from tests.flows.served_chain import REPO, write_served_config

STAGE_EVENTS = {
    "flows/stages.py:ingest_stage": events.FEED_ARRIVED,
    "flows/stages.py:indicators_stage": events.FEED_LOADED,
    "flows/stages.py:publish_stage": events.INDICATORS_UPDATED,
}


def _pool_deployments() -> dict[str, dict]:
    document = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    return {d["entrypoint"]: d for d in document["deployments"]}


def _triggers(raw: list[dict]):
    from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes

    return TypeAdapter(list[DeploymentTriggerTypes]).validate_python(raw)


def test_each_pool_deployment_runs_its_stage_on_its_event_with_known_parameters():
    from prefect.flows import load_flow_from_entrypoint

    pool = _pool_deployments()
    assert set(pool) == set(STAGE_EVENTS)
    for entrypoint, event in STAGE_EVENTS.items():
        deployment = pool[entrypoint]
        flow = load_flow_from_entrypoint(str(REPO / entrypoint))
        (trigger,) = _triggers(deployment["triggers"])
        assert trigger.expect == {event}
        accepted = set(flow.parameters.properties)
        assert set(deployment["parameters"]) <= accepted
        assert set(trigger.parameters) <= accepted


def test_pool_and_served_triggers_expect_and_pass_the_same(tmp_path):
    config = load_config(write_served_config(tmp_path, "Convive deployments test"))
    served = {
        d.entrypoint.rsplit(".", 1)[-1]: d.triggers[0]
        for d in chain_deployments(config, ServeOptions(window_seconds=10))
    }
    for entrypoint, deployment in _pool_deployments().items():
        (pooled,) = _triggers(deployment["triggers"])
        twin = served[entrypoint.rsplit(":", 1)[-1]]
        assert pooled.expect == twin.expect
        assert pooled.parameters == twin.parameters
        assert (pooled.within, pooled.schedule_after) == (twin.within, twin.schedule_after)


def test_trigger_templates_take_feed_file_and_batch_from_the_chain_events(tmp_path):
    from flows.inbox import Arrival, Sighting

    instance = "convive-deployments-test"
    file = Path("/srv/inbox/policia/export.csv")
    arrival = Arrival("policia", file, "ab" * 32, Sighting(10, 1))
    arrived = {
        "resource": events.feed_resource(instance, arrival.feed, arrival.path, arrival.sha256)
    }
    loaded = {"resource": events.batch_resource(instance, "police_incidents", "b-1")}
    pool = _pool_deployments()
    ingest = _triggers(pool["flows/stages.py:ingest_stage"]["triggers"])[0].parameters
    render = jinja2.Environment().from_string
    assert {k: render(v).render(event=arrived) for k, v in ingest.items()} == {
        "feed": "policia",
        "file": str(file),
    }
    after = loaded_trigger(instance, 5).parameters["after_batch"]
    assert render(after).render(event=loaded) == "b-1"
