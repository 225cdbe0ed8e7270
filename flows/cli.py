"""The `convive` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from flows.environment import configure_prefect

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Convive: open data for local security and coexistence coordination.",
)
console = Console()
errors = Console(stderr=True)
DEMO_CONFIG = Path(__file__).resolve().parent.parent / "demo" / "convive.toml"


def main() -> None:
    """Entry point of the console script."""
    try:
        app()  # standalone: typer prints usage errors and always ends with SystemExit
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        stop_temporary_server()
    # DuckDB's native bindings print spurious "leaked instance" warnings when the interpreter
    # tears down after a Prefect flow; the work is finished and flushed, so skip the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def stop_temporary_server() -> None:
    """Stop the temporary Prefect API server a flow run started in this process, if any.

    With no server configured, Prefect runs flows against a temporary local one: a uvicorn
    child process (`prefect.server.api.server.SubprocessASGIServer`) that Prefect stops from
    an atexit hook. `os._exit` skips atexit hooks, so without this the child outlives the
    command, holding its stdout: `convive demo | tail` would never end.
    """
    module = sys.modules.get("prefect.server.api.server")
    if module is None:  # no flow ran (or a server is configured): nothing was started
        return
    for server in list(module.SubprocessASGIServer._instances.values()):
        server.stop()  # terminate, wait up to 5 s, then kill


def _fail(message: str, code: int = 2) -> None:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _load(config_path: Path):
    from flows.config import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as error:
        _fail(str(error))


@app.command()
def generate(
    config_path: Path = typer.Option(DEMO_CONFIG, "--config", help="convive.toml"),
    rows: int | None = typer.Option(None, help="police rows; other feeds scale with it"),
    out: Path | None = typer.Option(None, help="folder to write the feeds into"),
    seed: int | None = typer.Option(None, help="random seed"),
) -> None:
    """Write the seeded synthetic feeds (any size, for the demo and benchmarks)."""
    paths = _generate(_load(config_path), rows=rows, out=out, seed=seed)
    for feed, path in paths.items():
        console.print(f"{feed}: {path} ({path.stat().st_size:,} bytes)")


def _generate(config, *, rows=None, out=None, seed=None) -> dict[str, Path]:
    from connectors.synthetic_feeds import SyntheticSpec, write_synthetic_feeds
    from flows.config import SyntheticConfig

    synthetic = config.synthetic or SyntheticConfig()
    spec = SyntheticSpec(
        territories=_latest_population(config),
        first_year=int(config.indicators.first_period[:4]),
        last_year=int(config.indicators.last_period[:4]),
        police_rows=rows if rows is not None else synthetic.police_rows,
        students=max(1, rows // 30) if rows is not None else synthetic.students,
        social_cases=max(1, rows // 10) if rows is not None else synthetic.social_cases,
        bad_rows=synthetic.bad_rows,
        seed=seed if seed is not None else synthetic.seed,
    )
    return write_synthetic_feeds(spec, out or config.path(synthetic.folder))


def _latest_population(config) -> dict[str, int]:
    """Population by source territory code (without prefix), for the generator's weights."""
    from connectors.territory_files import read_territories
    from flows.steps import territory_files

    rows = read_territories(territory_files(config)).population.to_pylist()
    first_year = min(r["year"] for r in rows)
    prefix, root = config.territories.code_prefix, config.territories.root_code
    return {
        r["code"].removeprefix(prefix): r["population"]
        for r in rows
        if r["year"] == first_year and r["code"] != root
    }


@app.command()
def run(
    config_path: Path = typer.Option(Path("convive.toml"), "--config", help="convive.toml"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print nothing but errors"),
) -> None:
    """Run the whole chain once, in process: ingest, compute, publish."""
    _run(_load(config_path), demo=False, as_json=as_json, quiet=quiet)


@app.command()
def demo(
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print nothing but errors"),
) -> None:
    """Generate the synthetic feeds and run the Medellín demo end to end (no server)."""
    config = _load(DEMO_CONFIG)
    _generate(config)
    _run(config, demo=True, as_json=as_json, quiet=quiet)


def _run(config, *, demo: bool, as_json: bool, quiet: bool = False) -> None:
    configure_prefect(config.folder / "work")
    from connectors.errors import SourceError
    from flows.chain import run_chain
    from flows.environment import without_heartbeat
    from flows.progress_bars import console_progress
    from flows.steps import PublicationError, RejectedShareError
    from publish.ckan_target import CkanPublishError
    from schemas.person_keys import PseudonymKeyError, secret_from_environment
    from warehouse.quality_gate import QualityGateFailed

    started = time.perf_counter()
    try:
        secret_from_environment(allow_demo=demo)  # fail before any work, not inside the flow
        # Bars and step lines on stderr (bars only on a terminal); none for --quiet/--json.
        with without_heartbeat(), console_progress(errors, enabled=not (quiet or as_json)):
            result = run_chain(config, demo=demo)
    except (
        SourceError,
        RejectedShareError,
        PseudonymKeyError,
        FileNotFoundError,
        QualityGateFailed,
        PublicationError,
        CkanPublishError,
    ) as error:
        _fail(str(error), code=1)
    elapsed = time.perf_counter() - started
    if as_json:
        print(
            json.dumps(
                {
                    "territories": result.territories,
                    "feeds": [vars(r) for r in result.feeds],
                    "indicator_rows": result.indicator_rows,
                    "catalogue": str(result.index),
                    "seconds": round(elapsed, 2),
                },
                indent=2,
            )
        )
        return
    if quiet:
        return
    table = Table(title="Feeds")
    for column in ("feed", "batch", "read", "loaded", "quarantined", "periods"):
        table.add_column(column)
    for r in result.feeds:
        table.add_row(
            r.feed,
            r.batch_id,
            f"{r.rows_read:,}",
            f"{r.rows_loaded:,}",
            f"{r.rows_quarantined:,}",
            "unchanged" if r.skipped else f"{len(r.periods)} months",
        )
    console.print(table)
    quarantined = sum(r.rows_quarantined for r in result.feeds)
    if quarantined:
        console.print(
            f"[yellow]{quarantined} rows quarantined[/] (see the warehouse table "
            "'quarantine' for each row and its reasons)"
        )
    console.print(f"Indicators recomputed: {sum(result.indicator_rows.values()):,} values")
    console.print(f"Catalogue: [bold]{result.index}[/]  ({elapsed:.1f} s)")


@app.command()
def status(
    config_path: Path = typer.Option(Path("convive.toml"), "--config", help="convive.toml"),
    as_json: bool = typer.Option(False, "--json", help="print the status as JSON"),
) -> None:
    """Each feed's last batches, freshness and open quarantine; the last publication."""
    from dataclasses import asdict

    from flows.chain import warehouse
    from flows.feed_status import feed_status

    config = _load(config_path)
    with warehouse(config) as engine:
        result = feed_status(config, engine)
    if as_json:
        print(json.dumps(asdict(result), indent=2, ensure_ascii=False))
        return
    table = Table(title="Feeds")
    for column in ("feed", "fresh", "last load", "loaded", "quarantined", "periods"):
        table.add_column(column)
    for feed in result.feeds:
        last = feed.batches[0] if feed.batches else None
        fresh = "yes" if feed.fresh else f"[red]STALE[/] (>{feed.expected_every_days} d)"
        table.add_row(
            feed.feed,
            fresh,
            last.loaded_at if last else "never",
            f"{last.rows_loaded:,}" if last else "-",
            f"{feed.quarantined_open:,}",
            " to ".join(last.periods) if last else "-",
        )
    console.print(table)
    console.print(f"Last publication: {result.last_publication or 'never'} ({result.catalogue})")


quarantine_app = typer.Typer(help="List, export and re-ingest quarantined rows.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    config_path: Path = typer.Option(Path("convive.toml"), "--config", help="convive.toml"),
    feed: str | None = typer.Option(None, help="only this feed"),
    as_json: bool = typer.Option(False, "--json", help="print the rows as JSON"),
) -> None:
    """Every quarantined row with its batch, source row and reasons."""
    from dataclasses import asdict

    from flows.chain import warehouse
    from flows.feed_status import quarantined_rows

    config = _load(config_path)
    with warehouse(config) as engine:
        entries = quarantined_rows(config, engine, feed=feed)
    if as_json:
        print(json.dumps([asdict(e) for e in entries], indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Quarantine ({len(entries)} rows)")
    for column in ("feed", "batch", "row", "reasons"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.feed, e.batch_id, str(e.source_row), "\n".join(e.reasons))
    console.print(table)


@quarantine_app.command("export")
def quarantine_export(
    out: Path = typer.Argument(..., help="CSV file to write"),
    config_path: Path = typer.Option(Path("convive.toml"), "--config", help="convive.toml"),
    feed: str | None = typer.Option(None, help="only this feed"),
) -> None:
    """Write the quarantined rows, as received, to a CSV to correct."""
    from flows.chain import warehouse
    from flows.feed_status import export_quarantine, quarantined_rows

    config = _load(config_path)
    with warehouse(config) as engine:
        count = export_quarantine(quarantined_rows(config, engine, feed=feed), out)
    console.print(f"{count} rows written to {out}")


@quarantine_app.command("reingest")
def quarantine_reingest(
    corrected: Path = typer.Argument(..., help="a corrected file written by 'export'"),
    feed: str = typer.Option(..., help="the feed the rows belong to"),
    config_path: Path = typer.Option(Path("convive.toml"), "--config", help="convive.toml"),
    demo: bool = typer.Option(False, help="allow the demo pseudonymisation key"),
) -> None:
    """Load corrected rows into their feed; rows still wrong are quarantined again."""
    from connectors.errors import SourceError
    from flows.chain import warehouse
    from flows.feed_status import reingest_quarantine
    from schemas.person_keys import PseudonymKeyError, secret_from_environment

    config = _load(config_path)
    try:
        secret = secret_from_environment(allow_demo=demo)
        with warehouse(config) as engine:
            result = reingest_quarantine(config, engine, feed, corrected, secret=secret)
    except (SourceError, PseudonymKeyError, ValueError, FileNotFoundError, KeyError) as error:
        _fail(str(error), code=1)
    console.print(
        f"{result.rows_loaded} rows loaded, {result.rows_quarantined_again} "
        f"quarantined again ({result.resolved} resolved) in batch {result.batch_id}"
    )


# ---- Orchestration: `convive serve`, `convive watch` (flows/deployments.py, flows/inbox.py;
# ---- docs/operations.md). Owned by the orchestration work; keep this block together.


def _orchestration_environment(config) -> None:
    """Prefect settings for serving; must run before Prefect is imported."""

    configure_prefect(config.folder / "work")
    # Runs start within a second of being scheduled (Prefect's default polls every 10 s).
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
    # Prefect's console handler prints them (announcements, restarted runs).
    logging.getLogger("convive").setLevel(logging.INFO)


@app.command()
def serve(
    config_path: Path = typer.Option(Path("convive.toml"), "--config", help="convive.toml"),
    window: float = typer.Option(10.0, help="seconds of loads that share one indicator run"),
    partition_mb: float = typer.Option(256, help="check larger files in parts on Dask (0: never)"),
    limit: int = typer.Option(4, help="flow runs at once in this process"),
    portal_slots: int = typer.Option(1, help="CKAN publications at once, over all machines"),
    watch: bool = typer.Option(True, "--watch/--no-watch", help="also watch the inboxes"),
    poll: float = typer.Option(1.0, help="inbox poll interval in seconds"),
    demo: bool = typer.Option(False, help="allow the demo pseudonymisation key"),
) -> None:
    """Serve the chain against the Prefect server in PREFECT_API_URL, watching the inboxes."""
    config = _load(config_path)
    _orchestration_environment(config)
    from flows.deployments import ServeError, ServeOptions, api_url, serve_chain
    from schemas.person_keys import PseudonymKeyError, secret_from_environment

    options = ServeOptions(
        window_seconds=window,
        partition_mb=partition_mb,
        limit=limit,
        portal_slots=portal_slots,
        demo=demo,
        watch=watch,
        poll_seconds=poll,
    )
    try:
        secret_from_environment(allow_demo=demo)  # fail now, not in every ingestion
        api_url()
        serve_chain(config.source_file, options)
    except (ServeError, PseudonymKeyError) as error:
        _fail(str(error), code=1)
    except KeyboardInterrupt:
        console.print("stopped")


@app.command()
def watch(
    config_path: Path = typer.Option(Path("convive.toml"), "--config", help="convive.toml"),
    poll: float = typer.Option(1.0, help="poll interval in seconds"),
) -> None:
    """Announce complete new files in the feeds' inboxes (convive.feed.arrived events)."""
    import asyncio

    config = _load(config_path)
    _orchestration_environment(config)
    from flows.deployments import ServeError, api_url
    from flows.inbox import watch_inboxes

    if not any(feed.inbox for feed in config.feeds):
        _fail(f"{config.source_file}: no feed has an `inbox` folder to watch")
    try:
        api_url()
        asyncio.run(watch_inboxes(config, interval=poll))
    except ServeError as error:
        _fail(str(error), code=1)
    except KeyboardInterrupt:
        console.print("stopped")


# ---- End of the orchestration block.


if __name__ == "__main__":
    sys.exit(main())
