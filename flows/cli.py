"""The `convive` command line."""

from __future__ import annotations

import json
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
    # DuckDB's native bindings print spurious "leaked instance" warnings when the interpreter
    # tears down after a Prefect flow; the work is finished and flushed, so skip the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
) -> None:
    """Run the whole chain once, in process: ingest, compute, publish."""
    _run(_load(config_path), demo=False, as_json=as_json)


@app.command()
def demo(as_json: bool = typer.Option(False, "--json", help="print the result as JSON")) -> None:
    """Generate the synthetic feeds and run the Medellín demo end to end (no server)."""
    config = _load(DEMO_CONFIG)
    _generate(config)
    _run(config, demo=True, as_json=as_json)


def _run(config, *, demo: bool, as_json: bool) -> None:
    configure_prefect(config.folder / "work")
    from connectors.errors import SourceError
    from flows.chain import run_chain
    from flows.environment import without_heartbeat
    from flows.steps import RejectedShareError
    from schemas.person_keys import PseudonymKeyError, secret_from_environment

    started = time.perf_counter()
    try:
        secret_from_environment(allow_demo=demo)  # fail before any work, not inside the flow
        with without_heartbeat():
            result = run_chain(config, demo=demo)
    except (SourceError, RejectedShareError, PseudonymKeyError, FileNotFoundError) as error:
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


if __name__ == "__main__":
    sys.exit(main())
