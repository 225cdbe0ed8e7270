"""Partitioned ingestion of a large CSV feed: check parts in parallel on Dask, load once.

A file larger than the threshold is cut at line ends into parts, each with the file's title
and header lines, so that each part reads exactly like the file would. Parts are parsed,
mapped and checked in parallel (Dask worker processes); their rows are then loaded in ONE
`BatchLoader` transaction, so the batch is the same as an unpartitioned load: same batch id,
same periods replaced, same rows, and quarantine entries that name the original file and
line. Checked parts are cached per flow run (persisted), so a run restarted after a crash
only checks the parts it had not finished.

Only CSV files whose records each sit on one line are cut (the byte scan of
`connectors.csv_line_scan` decides), and only for profiles that check row by row; anything
else is read whole, as before.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import DEFAULT, NO_CACHE
from sqlalchemy import select

from connectors.csv_dialect import CsvDialect
from connectors.csv_line_scan import scan_lines, skip_title_lines
from connectors.csv_source import sniff_dialect
from connectors.errors import SourceError
from connectors.feed_batches import checked_batches
from connectors.source_profiles import SourceProfile
from flows import steps
from flows.config import Config, load_config
from flows.recovery import io_retries
from flows.stages import feed_named, locked_warehouse
from schemas.person_keys import secret_from_environment
from warehouse.loads import BatchLoader, find_loaded
from warehouse.tables import territories

MB = 1 << 20
DASK_WORKERS = 2
_LINE_SCANNED_ENCODINGS = {"utf-8", "utf-8-sig", "cp1252", "latin-1", "ascii"}
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Part:
    """One part file: where it is, and how its line numbers map back to the original."""

    index: int
    path: Path
    line_offset: int  # original physical line = part physical line + line_offset
    last: bool  # only the last part keeps the profile's footer rows


@dataclass
class CheckedPart:
    """A part's canonical rows and quarantine entries, with original line numbers."""

    valid: list[pa.Table]  # one table per checked batch
    quarantined: list[dict]
    rows_read: int


def splittable_profile(profile: SourceProfile) -> bool:
    """Whether files of this profile may be cut: CSV, checked row by row."""
    return profile.read.format == "csv" and not profile.whole_file


def resolved_profile(profile: SourceProfile, source: Path) -> SourceProfile:
    """The profile with the file's encoding and delimiter fixed, so every part reads alike."""
    read = profile.read
    dialect = sniff_dialect(
        source,
        CsvDialect(
            encoding=read.encoding,
            delimiter=read.delimiter,
            quotechar=read.quotechar,
            skip_rows=read.skip_rows,
        ),
    )
    fixed = read.model_copy(update={"encoding": dialect.encoding, "delimiter": dialect.delimiter})
    return profile.model_copy(update={"read": fixed})


def partitions_for(config: Config, feed: str, source: Path, partition_mb: float) -> int:
    """How many parts to check `source` in: 1 unless it is over `partition_mb` and cuttable."""
    if partition_mb <= 0 or source.stat().st_size <= partition_mb * MB:
        return 1
    profile = steps.feed_profile(config, feed_named(config, feed))
    if not splittable_profile(profile):
        return 1
    return math.ceil(source.stat().st_size / (partition_mb * MB))


def split_csv(source: Path, profile: SourceProfile, parts: int, folder: Path) -> list[Part] | None:
    """Cut `source` into about `parts` part files in `folder`; None when it cannot be cut.

    `profile` must be resolved (`resolved_profile`). Each part starts with the file's title
    and header lines, then whole data lines.
    """
    read = profile.read
    if read.encoding not in _LINE_SCANNED_ENCODINGS:
        return None
    header = skip_title_lines(source, 0, read.skip_rows + 1)
    if header is None or header[1] != read.skip_rows + 1:
        return None
    data_start, header_lines = header
    layout = scan_lines(
        source,
        data_start,
        header_lines + 1,
        delimiter=read.delimiter,
        quotechar=read.quotechar,
        encoding=None,
        field_size_limit=csv.field_size_limit(),
    )
    if layout is None:  # a record spans lines: only the exact parser may read it
        return None
    cuts = _cut_points(source, data_start, parts)
    folder.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as handle:
        head = handle.read(data_start)
        result, lines_before = [], 0
        for index, (begin, end) in enumerate(zip(cuts, cuts[1:], strict=False)):
            path = folder / f"part-{index + 1:04d}{source.suffix}"
            with open(path, "wb") as out:
                out.write(head)
                handle.seek(begin)
                copied_lines = _copy(handle, out, end - begin)
            result.append(Part(index + 1, path, lines_before, end == cuts[-1]))
            lines_before += copied_lines
    return result


def _cut_points(source: Path, start: int, parts: int) -> list[int]:
    """Byte offsets that cut the data region into about equal parts, each after a line end."""
    size = source.stat().st_size
    step = max(1, (size - start) // parts)
    points = [start]
    with open(source, "rb") as handle:
        for k in range(1, parts):
            handle.seek(max(start + k * step, points[-1]))
            handle.readline()  # to the end of the line the guess fell in
            at = handle.tell()
            if at >= size:
                break
            if at > points[-1]:
                points.append(at)
    points.append(size)
    return points


def _copy(handle, out, length: int) -> int:
    """Copy `length` bytes; return how many line feeds they held."""
    lines = 0
    while length > 0:
        chunk = handle.read(min(_COPY_CHUNK, length))
        if not chunk:
            break
        out.write(chunk)
        lines += chunk.count(b"\n")
        length -= len(chunk)
    return lines


@task(task_run_name="check part {part.index} of {file}", cache_policy=DEFAULT, persist_result=True)
def check_part_task(
    config_path: str,
    feed: str,
    file: str,
    dialect: tuple[str, str],
    part: Part,
    known: list[str],
    demo: bool,
) -> CheckedPart:
    """Parse, map and check one part (read with the whole file's encoding and delimiter)."""
    config = load_config(config_path)
    profile = steps.feed_profile(config, feed_named(config, feed))
    read = profile.read.model_copy(update={"encoding": dialect[0], "delimiter": dialect[1]})
    if not part.last:
        read = read.model_copy(update={"footer_rows": 0})
    profile = profile.model_copy(update={"read": read})
    secret = secret_from_environment(allow_demo=demo)
    checked = CheckedPart([], [], 0)
    try:
        for batch in checked_batches(
            part.path, profile, secret=secret, known_territories=frozenset(known)
        ):
            checked.valid.append(batch.valid)
            checked.quarantined += [_renumbered(asdict(q), part, file) for q in batch.quarantined]
            checked.rows_read += batch.rows_read
    except SourceError as error:
        line = None if error.line is None else error.line + part.line_offset
        raise SourceError(file, line, error.rule, error.message) from None
    return checked


def _renumbered(entry: dict, part: Part, file: str) -> dict:
    """A quarantine entry of a part, pointing at the original file and line."""
    line = entry["source_row"] + part.line_offset
    raw = entry["raw"]
    if str(part.path) in raw:  # rows whose text is withheld name the file and line instead
        here, there = f"see {part.path} line {entry['source_row']}", f"see {file} line {line}"
        values = {k: v.replace(here, there) for k, v in json.loads(raw).items()}
        raw = json.dumps(values, ensure_ascii=False)
    return {**entry, "source_row": line, "raw": raw}


@task(task_run_name="load {feed} from {file} parts", cache_policy=NO_CACHE, **io_retries())
def load_parts_task(
    config_path: str, feed: str, file: str, content_hash: str, parts: list[CheckedPart]
) -> steps.FeedReport:
    """Load every checked part as one batch, in one transaction (nothing half-loaded)."""
    config = load_config(config_path)
    feed_config = feed_named(config, feed)
    profile = steps.feed_profile(config, feed_config)
    with locked_warehouse(config) as engine:
        earlier = find_loaded(engine, profile.feed, profile.id, content_hash)
        if earlier:
            return steps.FeedReport.unchanged(feed, earlier)
        with BatchLoader(
            engine,
            feed=profile.feed,
            source=profile.id,
            file_name=Path(file).name,
            content_hash=content_hash,
        ) as loader:
            for part in parts:
                # A part's quarantine entries and row count go with its first table.
                quarantined, rows_read = part.quarantined, part.rows_read
                for rows in part.valid:
                    loader.add(rows, quarantined, rows_read)
                    quarantined, rows_read = [], 0
            steps.check_rejected_share(feed_config, file, loader.result)
    return steps.FeedReport.loaded(feed, loader.result)


@task(task_run_name="known territories", cache_policy=NO_CACHE, **io_retries())
def known_territories_task(config_path: str) -> list[str]:
    """The territory codes facts may use."""
    with locked_warehouse(load_config(config_path)) as engine, engine.connect() as conn:
        return sorted(conn.execute(select(territories.c.code)).scalars())


def _dask_runner():
    from prefect_dask import DaskTaskRunner

    # Processes, not threads: parsing and checking hold the GIL for long stretches. Workers
    # report to the Prefect server in PREFECT_API_URL (without one they cannot start).
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": DASK_WORKERS,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


@flow(
    name="convive-ingest-partitioned",
    flow_run_name="ingest {feed} in {parts} parts",
    task_runner=_dask_runner(),
    persist_result=False,
)
def ingest_partitioned(
    config_path: str, feed: str, file: str, parts: int, demo: bool = False
) -> steps.FeedReport:
    """Check a large file in parts on Dask, then load it as one batch."""
    config = load_config(config_path)
    source = Path(file)
    profile = resolved_profile(steps.feed_profile(config, feed_named(config, feed)), source)
    content_hash = steps.file_sha256(source)
    folder = config.path(Path("work/partitions")) / content_hash[:16]
    cut = split_csv(source, profile, parts, folder)
    try:
        if cut is None:
            from flows.stages import ingest_file_task

            return ingest_file_task(config_path, feed, file, demo)
        known = known_territories_task(config_path)
        dialect = (profile.read.encoding, profile.read.delimiter)
        futures = [
            check_part_task.submit(config_path, feed, file, dialect, part, known, demo)
            for part in cut
        ]
        checked = [future.result() for future in futures]
        return load_parts_task(config_path, feed, file, content_hash, checked)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
