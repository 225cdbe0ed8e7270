"""Bring up a real local CKAN 2.11 portal (with ckanext-dcat) on 127.0.0.1, and tear it down.

Used by the test suite (tests/fixtures/ckan_portal.py) and the demo; see docs/ckan-portal.md.

    python scripts/ckan_portal.py install
    python scripts/ckan_portal.py start --port 5050 --state-dir .portal
    python scripts/ckan_portal.py status --state-dir .portal
    python scripts/ckan_portal.py stop --state-dir .portal

CKAN lives in its own virtualenv under ${CONVIVE_CACHE:-~/.cache/convive}/ckan-venv because its
pins clash with the project's. PostgreSQL (127.0.0.1:5432, trust auth, a superuser role) and
Redis (127.0.0.1:6379) must be running. Solr is replaced by scripts/solr_standin.py, a TEST
STAND-IN: every write succeeds, every search returns nothing.

Each portal gets its own databases, read-only role and Redis db number, so several can run side
by side; `start` records them in DIR/portal-plan.json before creating anything, so `stop` can
clean up after a start that failed half-way.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

CKAN_REQUIREMENTS = ("ckan[requirements]==2.11.6", "ckanext-dcat==2.4.4")
INSTALL_STAMP_NAME = "convive-install.json"
SOLR_STANDIN = Path(__file__).resolve().parent / "solr_standin.py"
HOST = "127.0.0.1"
# The services listen on 127.0.0.1; their ports can be moved for machines that run their own.
PG_PORT = int(os.environ.get("CONVIVE_CKAN_PG_PORT", "5432"))
REDIS_PORT = int(os.environ.get("CONVIVE_CKAN_REDIS_PORT", "6379"))
REDIS_DB_NUMBERS = range(1, 16)  # Redis' default 16 dbs; db 0 is left to everyone else.
REDIS_CLAIM_KEY = "convive:ckan-portal:claim"
START_DEADLINE_S = 90.0
STOP_DEADLINE_S = 15.0
SYSADMIN_NAME = "convive_admin"
PLAN_FILE, PORTAL_FILE = "portal-plan.json", "portal.json"
CKAN_LOG, SETUP_LOG, SOLR_LOG = "ckan.log", "setup.log", "solr-standin.log"
CKAN_PID, SOLR_PID = "ckan.pid", "solr-standin.pid"


class PortalError(RuntimeError):
    """A step of installing, starting or stopping the portal failed; the message says which."""


# --- install ----------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Return the project's cache folder (${CONVIVE_CACHE:-~/.cache/convive})."""
    configured = os.environ.get("CONVIVE_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "convive"


def venv_bin(name: str) -> Path:
    """Return the path of an executable inside CKAN's own virtualenv."""
    return cache_dir() / "ckan-venv" / "bin" / name


def is_installed() -> bool:
    """Tell whether CKAN's virtualenv holds a finished install of exactly CKAN_REQUIREMENTS."""
    stamp = cache_dir() / "ckan-venv" / INSTALL_STAMP_NAME
    if not stamp.is_file() or not venv_bin("ckan").is_file():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return recorded.get("requirements") == list(CKAN_REQUIREMENTS)


def install() -> float:
    """Create CKAN's virtualenv and pip-install the pinned CKAN + ckanext-dcat; return seconds.

    Idempotent: when the stamp file matches the pins this returns at once.
    """
    started = time.monotonic()
    if is_installed():
        return time.monotonic() - started
    target = cache_dir() / "ckan-venv"
    if target.exists():  # half-made or built for other pins: start again rather than patch it
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    run_checked([sys.executable, "-m", "venv", str(target)], what="creating CKAN's virtualenv")
    pip = [str(venv_bin("python")), "-m", "pip", "install", "--quiet"]
    run_checked([*pip, *CKAN_REQUIREMENTS], what="pip install of CKAN")
    stamp = {"requirements": list(CKAN_REQUIREMENTS)}
    (target / INSTALL_STAMP_NAME).write_text(json.dumps(stamp) + "\n")
    return time.monotonic() - started


# --- running commands -------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """Return the environment for CKAN commands: ours minus anything that would override them.

    CKAN reads CKAN_* variables over its config file, and a parent virtualenv must not leak in.
    """
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CKAN") and k not in dropped}
    env["PGCONNECT_TIMEOUT"] = "5"
    return env


def output_tail(text: str, lines: int = 25) -> str:
    """Return the last lines of a command's output, for error messages."""
    return "\n".join(text.strip().splitlines()[-lines:])


def run_checked(
    cmd: list[str], *, what: str, stdin_text: str | None = None, log: Path | None = None
) -> str:
    """Run a command and return its stdout; on failure raise PortalError with the output tail."""
    try:
        result = subprocess.run(
            cmd, input=stdin_text, capture_output=True, text=True, env=child_env()
        )
    except FileNotFoundError as error:
        raise PortalError(f"{what} failed: {cmd[0]} not found") from error
    if log is not None:
        with log.open("a") as handle:
            handle.write(f"$ {what}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        tail = output_tail(result.stdout + "\n" + result.stderr)
        raise PortalError(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


def file_tail(path: Path, lines: int = 40) -> str:
    """Return the last lines of a log file, or a note that it does not exist."""
    if not path.is_file():
        return f"({path} does not exist)"
    return output_tail(path.read_text(errors="replace"), lines)


# --- PostgreSQL -------------------------------------------------------------------------------


def psql(sql: str, *, user: str, database: str = "postgres", log: Path | None = None) -> str:
    """Run SQL through psql as `user` (trust auth), stopping at the first error."""
    cmd = ["psql", "-h", HOST, "-p", str(PG_PORT), "-U", user, "-d", database]
    cmd += ["-v", "ON_ERROR_STOP=1", "-qAt", "-f", "-"]
    return run_checked(cmd, what=f"psql as {user!r} on {database!r}", stdin_text=sql, log=log)


def detect_pg_superuser(preferred: str | None) -> str:
    """Return a PostgreSQL superuser role reachable with trust auth: 'postgres' or ours.

    Superuser rights are needed to create databases, roles and CKAN's datastore permissions.
    """
    if shutil.which("psql") is None:
        raise PortalError("psql not found: install the PostgreSQL client (postgresql-client)")
    candidates = [preferred] if preferred else ["postgres", getpass.getuser()]
    problems = []
    for role in dict.fromkeys(candidates):
        try:
            answer = psql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user;", user=role)
        except PortalError as error:
            detail = " ".join(" ".join(str(error).splitlines()[1:]).split())
            problems.append(f"as {role!r}: {detail}")
            continue
        if answer.strip() == "t":
            return role
        problems.append(f"role {role!r} is not a superuser")
    raise PortalError(
        f"PostgreSQL on {HOST}:{PG_PORT} is not usable (trust auth as a superuser needed): "
        + "; ".join(problems)
    )


# --- Redis ------------------------------------------------------------------------------------


def resp_encode(*args: str) -> bytes:
    """Encode one Redis command in the RESP protocol."""
    parts = "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    return f"*{len(args)}\r\n{parts}".encode()


def resp_read(stream: BinaryIO) -> object:
    """Read one Redis reply: +simple, -error, :integer or $bulk (None for a nil reply)."""
    line = stream.readline().decode().rstrip("\r\n")
    kind, rest = line[:1], line[1:]
    if kind == "-" or not line:
        raise PortalError(f"Redis refused a command: {rest or 'no reply'}")
    if kind == ":":
        return int(rest)
    if kind == "$":
        return None if rest == "-1" else stream.read(int(rest) + 2)[:-2].decode()
    return rest


def redis_on_db(db: int, *args: str) -> object:
    """Send one command to Redis db `db` on 127.0.0.1:6379 and return its reply."""
    try:
        with socket.create_connection((HOST, REDIS_PORT), timeout=5) as conn:
            conn.sendall(resp_encode("SELECT", str(db)) + resp_encode(*args))
            replies = conn.makefile("rb")
            resp_read(replies)  # +OK for SELECT
            return resp_read(replies)
    except OSError as error:
        raise PortalError(f"Redis on {HOST}:{REDIS_PORT} is not reachable: {error}") from error


def claim_redis_db(owner: str) -> int:
    """Claim an empty Redis db number for one portal, so parallel portals don't share keys."""
    for db in REDIS_DB_NUMBERS:
        if redis_on_db(db, "DBSIZE") != 0:
            continue
        if redis_on_db(db, "SET", REDIS_CLAIM_KEY, owner, "NX") == "OK":
            return db
    raise PortalError(f"no free Redis db (1-15 all in use) on {HOST}:{REDIS_PORT}")


def release_redis_db(db: int, owner: str) -> None:
    """Empty the Redis db this portal claimed; leave it alone if it carries another claim."""
    if redis_on_db(db, "GET", REDIS_CLAIM_KEY) == owner:
        redis_on_db(db, "FLUSHDB")


# --- processes --------------------------------------------------------------------------------


def spawn_with_pidfile(cmd: list[str], pidfile: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start a server in the background as `sh -c 'echo $$ > pidfile; exec server ...'`.

    exec keeps the shell's pid, so the pid file names the server itself.
    """
    script = 'echo $$ > "$0"; exec "$@"'
    with log.open("ab") as out:
        return subprocess.Popen(
            ["sh", "-c", script, str(pidfile), *cmd],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(),
            start_new_session=True,  # a Ctrl-C in the caller's terminal must not kill it
        )


def pid_runs(pid: int, marker: str) -> bool:
    """Tell whether `pid` is alive and its command line contains `marker` (guards pid reuse)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and marker in cmdline


def stop_pid(pidfile: Path, marker: str) -> bool:
    """Stop the server a pid file names (SIGTERM, then SIGKILL after a deadline).

    Returns True if a matching process was running. Only a process whose command line holds
    `marker` is signalled, so a stale pid file never kills an unrelated process.
    """
    pid = read_pid(pidfile)
    if pid is None:
        return False
    if not pid_runs(pid, marker):
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_DEADLINE_S
    while pid_runs(pid, marker):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + STOP_DEADLINE_S
        time.sleep(0.1)
    pidfile.unlink(missing_ok=True)
    return True


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Tell whether something already listens on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) == 0


def wait_for_http(url: str, server: subprocess.Popen[bytes], log: Path, what: str) -> None:
    """Poll `url` until it answers 200, the server dies, or START_DEADLINE_S passes."""
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if server.poll() is not None:
            raise PortalError(
                f"{what} exited with code {server.returncode} while starting; "
                f"end of {log}:\n{file_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise PortalError(
                f"{what} did not answer {url} within {START_DEADLINE_S:.0f} s; "
                f"end of {log}:\n{file_tail(log)}"
            )
        time.sleep(0.25)


# --- the portal -------------------------------------------------------------------------------


@dataclass
class PortalPlan:
    """Everything one portal creates, written down before it is created (for clean-up)."""

    state_dir: str
    port: int
    solr_port: int
    pg_user: str
    db: str
    datastore_db: str
    datastore_read_role: str
    redis_db: int | None = None

    @property
    def url(self) -> str:
        """The portal's site URL (must equal ckan.site_url)."""
        return f"http://{HOST}:{self.port}"

    @property
    def solr_url(self) -> str:
        """The Solr stand-in's core URL as CKAN's solr_url."""
        return f"http://{HOST}:{self.solr_port}/solr/ckan"

    def path(self, name: str) -> Path:
        """Return a file inside the state dir."""
        return Path(self.state_dir) / name

    def save(self) -> None:
        """Write the plan to DIR/portal-plan.json."""
        self.path(PLAN_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: Path) -> PortalPlan | None:
        """Read DIR/portal-plan.json, or None when there is none."""
        plan_file = state_dir / PLAN_FILE
        return cls(**json.loads(plan_file.read_text())) if plan_file.is_file() else None


def new_plan(state_dir: Path, port: int, pg_user: str) -> PortalPlan:
    """Choose unique names for one portal's databases and role, and a port for the stand-in."""
    suffix = f"{port}_{secrets.token_hex(3)}"
    return PortalPlan(
        state_dir=str(state_dir),
        port=port,
        solr_port=free_port(),
        pg_user=pg_user,
        db=f"convive_ckan_{suffix}",
        datastore_db=f"convive_ckan_{suffix}_datastore",
        datastore_read_role=f"convive_ckan_{suffix}_ro",
    )


def create_databases(plan: PortalPlan) -> None:
    """Create the CKAN database, the DataStore database and the DataStore read-only role."""
    log = plan.path(SETUP_LOG)
    psql(f'CREATE DATABASE "{plan.db}";', user=plan.pg_user, log=log)
    psql(f'CREATE DATABASE "{plan.datastore_db}";', user=plan.pg_user, log=log)
    psql(f'CREATE ROLE "{plan.datastore_read_role}" LOGIN;', user=plan.pg_user, log=log)


def drop_databases(plan: PortalPlan) -> None:
    """Drop what create_databases made (each step tolerates it being absent)."""
    for database in (plan.db, plan.datastore_db):
        psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE);', user=plan.pg_user)
    psql(f'DROP ROLE IF EXISTS "{plan.datastore_read_role}";', user=plan.pg_user)


def start_solr_standin(plan: PortalPlan) -> None:
    """Start the Solr TEST STAND-IN and wait until it serves the schema CKAN checks."""
    cmd = [sys.executable, str(SOLR_STANDIN), "--host", HOST, "--port", str(plan.solr_port)]
    server = spawn_with_pidfile(cmd, plan.path(SOLR_PID), plan.path(SOLR_LOG))
    schema_url = f"{plan.solr_url}/schema?wt=schema.xml"
    wait_for_http(schema_url, server, plan.path(SOLR_LOG), "the Solr stand-in")


def ckan_settings(plan: PortalPlan) -> dict[str, str]:
    """Return the ckan.ini settings that make this portal (on top of `ckan generate config`)."""
    pg = f"postgresql://{plan.pg_user}@{HOST}:{PG_PORT}"
    return {
        "sqlalchemy.url": f"{pg}/{plan.db}",
        "ckan.site_url": plan.url,
        "ckan.site_id": plan.db,
        "ckan.site_title": "Convive local portal",
        "solr_url": plan.solr_url,
        "ckan.redis.url": f"redis://{HOST}:{REDIS_PORT}/{plan.redis_db}",
        "ckan.storage_path": str(plan.path("storage")),
        "ckan.max_resource_size": "100",
        "ckan.plugins": "activity datastore dcat",
        "ckan.datastore.write_url": f"{pg}/{plan.datastore_db}",
        "ckan.datastore.read_url": (
            f"postgresql://{plan.datastore_read_role}@{HOST}:{PG_PORT}/{plan.datastore_db}"
        ),
    }


def ckan(plan: PortalPlan, *args: str, what: str, secret_output: bool = False) -> str:
    """Run one `ckan -c DIR/ckan.ini ...` command and return its stdout.

    Its output goes to setup.log, unless it is a secret (an API token) that must stay out of logs.
    """
    cmd = [str(venv_bin("ckan")), "-c", str(plan.path("ckan.ini")), *args]
    return run_checked(cmd, what=what, log=None if secret_output else plan.path(SETUP_LOG))


def configure_ckan(plan: PortalPlan) -> None:
    """Write DIR/ckan.ini: a generated config (fresh secrets) plus ckan_settings()."""
    ini = str(plan.path("ckan.ini"))
    plan.path("storage").mkdir(exist_ok=True)
    log = plan.path(SETUP_LOG)
    run_checked(
        [str(venv_bin("ckan")), "generate", "config", ini], what="ckan generate config", log=log
    )
    Path(ini).chmod(0o600)  # it holds the generated SECRET_KEY
    settings = [f"{key}={value}" for key, value in ckan_settings(plan).items()]
    run_checked(
        [str(venv_bin("ckan")), "config-tool", ini, *settings], what="ckan config-tool", log=log
    )


def initialise_ckan(plan: PortalPlan) -> str:
    """Create CKAN's tables, DataStore permissions and a sysadmin; return its API token."""
    ckan(plan, "db", "init", what="ckan db init")
    ckan(plan, "db", "upgrade", "-p", "activity", what="ckan db upgrade -p activity")
    permissions_sql = ckan(plan, "datastore", "set-permissions", what="datastore set-permissions")
    psql(permissions_sql, user=plan.pg_user, log=plan.path(SETUP_LOG))
    password = secrets.token_urlsafe(24)  # never used again: the API token is what we keep
    ckan(
        plan,
        "user",
        "add",
        SYSADMIN_NAME,
        "email=convive-admin@example.invalid",
        f"password={password}",
        what="ckan user add",
    )
    ckan(plan, "sysadmin", "add", SYSADMIN_NAME, what="ckan sysadmin add")
    created = ckan(
        plan, "user", "token", "add", SYSADMIN_NAME, "convive", what="token add", secret_output=True
    )
    token = created.strip().splitlines()[-1].strip() if created.strip() else ""
    if not token or " " in token:
        raise PortalError("could not read the API token from `ckan user token add`")
    return token


def serve_ckan(plan: PortalPlan) -> None:
    """Serve CKAN with `ckan run` in the background and wait for status_show to answer."""
    cmd = [
        str(venv_bin("ckan")),
        "-c",
        str(plan.path("ckan.ini")),
        "run",
        "-H",
        HOST,
        "-p",
        str(plan.port),
        "--disable-reloader",
        "--disable-debugger",
        "--threaded",
    ]
    server = spawn_with_pidfile(cmd, plan.path(CKAN_PID), plan.path(CKAN_LOG))
    status_url = f"{plan.url}/api/3/action/status_show"
    wait_for_http(status_url, server, plan.path(CKAN_LOG), "CKAN")


def ckan_marker(plan: PortalPlan) -> str:
    """Return what the CKAN server's command line holds (its own config file)."""
    return str(plan.path("ckan.ini"))


def solr_marker(plan: PortalPlan) -> str:
    """Return what this portal's Solr stand-in's command line holds (script and port)."""
    return f"{SOLR_STANDIN.name} --host {HOST} --port {plan.solr_port}"


def read_pid(pidfile: Path) -> int | None:
    """Return the pid a pid file holds, or None."""
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def start(port: int, state_dir: Path, pg_user: str | None = None) -> dict[str, object]:
    """Bring up a fresh portal on 127.0.0.1:`port` with its state in `state_dir`.

    Writes and returns DIR/portal.json. On failure everything made so far is removed again and
    PortalError says which step failed, with the tail of its log.
    """
    if not is_installed():
        raise PortalError(f"CKAN is not installed in {cache_dir() / 'ckan-venv'}: run `install`")
    state_dir = state_dir.resolve()
    if PortalPlan.load(state_dir) is not None:
        raise PortalError(f"{state_dir} already holds a portal: run `stop` on it first")
    if port_in_use(port):
        raise PortalError(f"port {port} on {HOST} is already in use")
    state_dir.mkdir(parents=True, exist_ok=True)
    clear_previous_run(state_dir)
    plan = new_plan(state_dir, port, detect_pg_superuser(pg_user))
    plan.save()
    try:
        plan.redis_db = claim_redis_db(plan.db)
        plan.save()
        create_databases(plan)
        start_solr_standin(plan)
        configure_ckan(plan)
        token = initialise_ckan(plan)
        serve_ckan(plan)
    except BaseException:
        teardown(plan)
        raise
    return write_portal_file(plan, token)


def clear_previous_run(state_dir: Path) -> None:
    """Remove what an earlier, stopped portal left in the state dir (config, logs, uploads).

    Only the names this script writes are touched, never anything else in the folder.
    """
    for name in ("ckan.ini", CKAN_LOG, SETUP_LOG, SOLR_LOG, CKAN_PID, SOLR_PID):
        (state_dir / name).unlink(missing_ok=True)
    shutil.rmtree(state_dir / "storage", ignore_errors=True)


def write_portal_file(plan: PortalPlan, token: str) -> dict[str, object]:
    """Write DIR/portal.json (owner-only: it holds the API token) and return its content."""
    portal = {
        "url": plan.url,
        "api_token": token,
        "sysadmin": SYSADMIN_NAME,
        "db": plan.db,
        "datastore_db": plan.datastore_db,
        "redis_url": f"redis://{HOST}:{REDIS_PORT}/{plan.redis_db}",
        "solr_url": plan.solr_url,
        "state_dir": plan.state_dir,
        "ckan_ini": str(plan.path("ckan.ini")),
        "log": str(plan.path(CKAN_LOG)),
        "pids": {"ckan": read_pid(plan.path(CKAN_PID)), "solr": read_pid(plan.path(SOLR_PID))},
    }
    portal_file = plan.path(PORTAL_FILE)
    portal_file.touch(mode=0o600)
    portal_file.chmod(0o600)  # in case an older file with wider rights was left there
    portal_file.write_text(json.dumps(portal, indent=2) + "\n")
    return portal


def teardown(plan: PortalPlan) -> list[str]:
    """Stop the servers and drop the databases, role and Redis db a plan names.

    Every step runs even if an earlier one fails; returns the problems met (empty when clean).
    """
    problems: list[str] = []
    stop_pid(plan.path(CKAN_PID), marker=ckan_marker(plan))
    stop_pid(plan.path(SOLR_PID), marker=solr_marker(plan))
    steps = [lambda: drop_databases(plan)]
    if plan.redis_db is not None:
        steps.append(lambda: release_redis_db(plan.redis_db, plan.db))
    for step in steps:
        try:
            step()
        except PortalError as error:
            problems.append(str(error))
    for name in (PORTAL_FILE, PLAN_FILE):
        plan.path(name).unlink(missing_ok=True)
    return problems


def stop(state_dir: Path) -> list[str]:
    """Tear down the portal recorded in `state_dir`; returns the problems met (empty: clean).

    Logs and ckan.ini stay in the state dir for inspection; it is a no-op with no portal there.
    """
    plan = PortalPlan.load(state_dir.resolve())
    return [] if plan is None else teardown(plan)


def status(state_dir: Path) -> dict[str, object]:
    """Report whether the portal in `state_dir` runs: its servers and status_show's answer."""
    plan = PortalPlan.load(state_dir.resolve())
    if plan is None:
        return {"state_dir": str(state_dir), "running": False, "reason": "no portal here"}
    ckan_pid, solr_pid = read_pid(plan.path(CKAN_PID)), read_pid(plan.path(SOLR_PID))
    ckan_up = ckan_pid is not None and pid_runs(ckan_pid, ckan_marker(plan))
    solr_up = solr_pid is not None and pid_runs(solr_pid, solr_marker(plan))
    answer: object = None
    try:
        with urllib.request.urlopen(f"{plan.url}/api/3/action/status_show", timeout=5) as reply:
            answer = json.loads(reply.read())["result"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
        answer = f"no answer: {error}"
    running = ckan_up and solr_up and isinstance(answer, dict)
    return {
        "state_dir": plan.state_dir,
        "url": plan.url,
        "running": running,
        "ckan_pid": ckan_pid if ckan_up else None,
        "solr_pid": solr_pid if solr_up else None,
        "status_show": answer,
    }


# --- command line -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="create CKAN's virtualenv (no-op when up to date)")
    start_cmd = commands.add_parser("start", help="start a fresh portal in the background")
    start_cmd.add_argument("--port", type=int, required=True)
    start_cmd.add_argument("--state-dir", type=Path, required=True)
    start_cmd.add_argument("--pg-user", help="PostgreSQL superuser (default: postgres, or you)")
    for name, text in (("stop", "stop a portal and drop its data"), ("status", "is it up?")):
        commands.add_parser(name, help=text).add_argument("--state-dir", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one command; print its result as JSON. Exit 0 on success, 1 on failure."""
    args = parse_args(argv)
    try:
        if args.command == "install":
            seconds = install()
            print(
                json.dumps({"venv": str(cache_dir() / "ckan-venv"), "seconds": round(seconds, 1)})
            )
        elif args.command == "start":
            print(json.dumps(start(args.port, args.state_dir, args.pg_user), indent=2))
        elif args.command == "stop":
            problems = stop(args.state_dir)
            print(json.dumps({"stopped": str(args.state_dir), "problems": problems}))
            return 1 if problems else 0
        else:
            report = status(args.state_dir)
            print(json.dumps(report, indent=2))
            return 0 if report["running"] else 1
    except PortalError as error:
        print(f"ckan_portal {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
