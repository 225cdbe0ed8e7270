"""The chain's Prefect events: names, resources and the emitters the stages call.

feed arrived (the watcher) -> ingest -> feed loaded -> indicators -> indicators updated ->
quality gate and publish -> dataset published. Every resource carries `convive.instance`
(one served configuration) so that two configurations can share a Prefect server; triggers
match on it. Labels are strings (Prefect's rule); lists go in the payload.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

FEED_ARRIVED = "convive.feed.arrived"
FEED_LOADED = "convive.feed.loaded"
INDICATORS_UPDATED = "convive.indicators.updated"
DATASET_PUBLISHED = "convive.dataset.published"
QUALITY_FAILED = "convive.quality.failed"

INSTANCE_LABEL = "convive.instance"
FEED_LABEL = "convive.feed"
FILE_LABEL = "convive.file"
SHA256_LABEL = "convive.sha256"
BATCH_LABEL = "convive.batch"


def instance_name(project_name: str) -> str:
    """A slug of the project's name: deployment name and event label of one configuration."""
    ascii_name = unicodedata.normalize("NFKD", project_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug or "convive"


def feed_resource(instance: str, feed: str, file: Path, sha256: str) -> dict[str, str]:
    """The feed a file arrived for, with the file's path and content hash as labels."""
    return {
        "prefect.resource.id": f"convive.feed.{instance}.{feed}",
        "prefect.resource.name": feed,
        INSTANCE_LABEL: instance,
        FEED_LABEL: feed,
        FILE_LABEL: str(file),
        SHA256_LABEL: sha256,
    }


def file_resource(file: Path, sha256: str) -> dict[str, str]:
    """The arrived file as a related resource (same content, same id on every machine)."""
    return {
        "prefect.resource.id": f"convive.file.{sha256}",
        "prefect.resource.role": "file",
        "prefect.resource.name": file.name,
        FILE_LABEL: str(file),
    }


def batch_resource(instance: str, feed: str, batch_id: str) -> dict[str, str]:
    """One loaded batch (one source file in the warehouse)."""
    return {
        "prefect.resource.id": f"convive.batch.{batch_id}",
        "prefect.resource.name": batch_id,
        INSTANCE_LABEL: instance,
        FEED_LABEL: feed,
        BATCH_LABEL: batch_id,
    }


def indicators_resource(instance: str) -> dict[str, str]:
    """The indicator values of one configuration."""
    return {
        "prefect.resource.id": f"convive.indicators.{instance}",
        "prefect.resource.name": f"indicators of {instance}",
        INSTANCE_LABEL: instance,
    }


def dataset_resource(instance: str, dataset: str) -> dict[str, str]:
    """One published dataset (package) of one configuration."""
    return {
        "prefect.resource.id": f"convive.dataset.{instance}.{dataset}",
        "prefect.resource.name": dataset,
        INSTANCE_LABEL: instance,
    }


def emit_feed_loaded(
    instance: str, feed: str, batch_id: str, periods: list[str], rows_loaded: int, skipped: bool
) -> None:
    """Say that a batch is in the warehouse (also when it was loaded by an earlier run)."""
    from prefect.events import emit_event

    emit_event(
        event=FEED_LOADED,
        resource=batch_resource(instance, feed, batch_id),
        payload={"periods": periods, "rows_loaded": rows_loaded, "skipped": skipped},
    )


def emit_indicators_updated(
    instance: str, batches: Iterable[str], periods: dict[str, list[str]]
) -> None:
    """Say that indicators now include these batches; `periods` by indicator."""
    from prefect.events import emit_event

    batch_ids = sorted(batches)
    emit_event(
        event=INDICATORS_UPDATED,
        resource=indicators_resource(instance),
        related=[_batch_related(b) for b in batch_ids],
        payload={"batches": batch_ids, "periods": periods, "label": periods_label(periods)},
    )


def emit_dataset_published(
    instance: str, datasets: Iterable[str], batches: Iterable[str], catalogue: Path
) -> None:
    """One event per published dataset, naming the batches this publication added."""
    from prefect.events import emit_event

    batch_ids = sorted(batches)
    for dataset in sorted(datasets):
        emit_event(
            event=DATASET_PUBLISHED,
            resource=dataset_resource(instance, dataset),
            related=[_batch_related(b) for b in batch_ids],
            payload={"batches": batch_ids, "catalogue": str(catalogue)},
        )


def emit_quality_failed(instance: str, batches: Iterable[str], failures: list[str]) -> None:
    """Say that the quality gate blocked a publication (for alerting automations)."""
    from prefect.events import emit_event

    emit_event(
        event=QUALITY_FAILED,
        resource=indicators_resource(instance),
        payload={"batches": sorted(batches), "failures": failures[:20]},
    )


def periods_label(periods: dict[str, list[str]]) -> str:
    """ "2023-11..2023-12" for the periods of every indicator; "no period" when empty."""
    every = sorted({p for ps in periods.values() for p in ps})
    if not every:
        return "no period"
    return every[0] if len(every) == 1 else f"{every[0]}..{every[-1]}"


def _batch_related(batch_id: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"convive.batch.{batch_id}",
        "prefect.resource.role": "batch",
        BATCH_LABEL: batch_id,
    }
