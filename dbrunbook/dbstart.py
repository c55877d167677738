"""``dbrunbook db start`` / ``db stop``: the Docker-free ``supabase start`` for database work.

``db start`` builds (or takes from the cache) the embedded target of ``--workdir``, the same
Supabase-shaped PostgreSQL the checks use, prints its URLs and keeps it running until ``db stop``
or Ctrl-C. ``--env`` prints ``export`` lines for ``eval "$(dbrunbook db start --env)"`` and leaves
the server to a background keeper process, so the shell gets its prompt back.

The keeper is the process that started the server: the server dies with it (cluster.py), and a
keeper killed outright leaves a cluster the next start removes. A small state file per workdir
(pid and port, never a password) lets ``db stop`` find the keeper.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from dbrunbook.exceptions import DbrunbookError
from dbrunbook.resources import demo_workdir
from dbrunbook.targets import cluster, housekeeping
from dbrunbook.targets.embedded import PLATFORMS, EmbeddedInfo, EmbeddedServer


def add_parser(commands: Any) -> None:
    """Register ``db start`` and ``db stop`` on the ``dbrunbook`` command's subparsers."""
    db = commands.add_parser("db", help="the throwaway Supabase-shaped database (Docker-free `supabase start`)")
    actions = db.add_subparsers(dest="db_command", required=True)
    start = actions.add_parser("start", help="start the embedded target of a project and print its URLs")
    start.add_argument("--workdir", type=Path, default=None,
                       help="folder holding supabase/migrations (default: the current folder, else the demo)")
    start.add_argument("--env", action="store_true", help="print `export` lines to eval and run in the background")
    start.add_argument("--platform", default="auto", choices=["auto", *PLATFORMS],
                       help="hosted platform era to model (default: the year of the first migration)")
    start.add_argument("--bootstrap-mode", default="classic", choices=["classic", "no_auto_expose"])
    start.add_argument("--pg-major", type=int, default=None, help="PostgreSQL major version (default: newest)")
    stop = actions.add_parser("stop", help="stop what `db start` started for a project")
    stop.add_argument("--workdir", type=Path, default=None)


def run(args: argparse.Namespace) -> int:
    """Carry out ``db start`` or ``db stop``."""
    workdir = _workdir(args.workdir)
    if args.db_command == "stop":
        return stop(workdir)
    return start(workdir, env=args.env, platform=args.platform, mode=args.bootstrap_mode, pg_major=args.pg_major)


def _workdir(given: Path | None) -> Path:
    if given is not None:
        return given.resolve()
    here = Path.cwd()
    return here if (here / "supabase" / "migrations").is_dir() else demo_workdir()


def state_file(workdir: Path) -> Path:
    """Where the keeper of ``workdir``'s database records its pid and port."""
    key = hashlib.sha256(str(workdir).encode()).hexdigest()[:12]
    return cluster.cache_root() / "db-start" / f"{key}.json"


def _running(workdir: Path) -> dict[str, Any] | None:
    path = state_file(workdir)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if cluster.pid_alive(int(state.get("pid", 0))):
        return dict(state)
    path.unlink(missing_ok=True)  # the keeper died without cleaning up
    return None


def env_lines(info: EmbeddedInfo) -> list[str]:
    """``export`` lines: DB_URL, SUPABASE_DB_URL (what dbrunbook's targets read), ADMIN_DB_URL."""
    return [f"export DB_URL={shlex.quote(info.dsn)}", f"export SUPABASE_DB_URL={shlex.quote(info.dsn)}",
            f"export ADMIN_DB_URL={shlex.quote(info.admin_dsn)}"]


def describe(info: EmbeddedInfo, workdir: Path, *, foreground: bool = True) -> list[str]:
    """What a person reads after ``db start``."""
    lines = [f"Throwaway Supabase-shaped database for {workdir}",
             f"  PostgreSQL {info.pg_version}, platform {info.platform}, built in {info.start_s:.1f} s"
             + (" (cached)" if info.cached else ""),
             f"        DB_URL: {info.dsn}",
             f"  ADMIN_DB_URL: {info.admin_dsn}   (supabase_admin, superuser)"]
    if info.stand_ins:
        lines.append(f"  stand-ins used: {', '.join(info.stand_ins)}")
    lines.append(f"Stop it with: dbrunbook db stop --workdir {shlex.quote(str(workdir))}"
                 + (" (or Ctrl-C here)" if foreground else ""))
    return lines


def _keep(server: EmbeddedServer, workdir: Path) -> None:
    """Hold the server until SIGTERM/SIGINT; then stop it and forget the state file."""
    signal.signal(signal.SIGTERM, housekeeping.terminate)
    # Ctrl-C stops it even when started with SIGINT ignored (a background job of a shell script, nohup):
    # Python then keeps SIG_IGN, and the keeper could only be stopped by `db stop`.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        state_file(workdir).unlink(missing_ok=True)
        state_file(workdir).with_suffix(".log").unlink(missing_ok=True)  # a background keeper's log


def _record(workdir: Path, info: EmbeddedInfo) -> None:
    path = state_file(workdir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "port": info.port, "workdir": str(workdir)}))


def start(workdir: Path, *, env: bool = False, platform: str = "auto", mode: str = "classic",
          pg_major: int | None = None) -> int:
    """Start and hold (foreground), or start in a background keeper and print export lines (``env``)."""
    running = _running(workdir)
    if running:
        sys.stderr.write(f"dbrunbook: a database for {workdir} is already running (pid {running['pid']}, "
                         f"port {running['port']}); stop it first: dbrunbook db stop --workdir {workdir}\n")
        return 1
    if env:
        return _start_in_background(workdir, platform, mode, pg_major)
    server = EmbeddedServer(workdir, mode=mode, pg_major=pg_major, platform=platform)  # type: ignore[arg-type]
    try:
        info = server.start()
    except (DbrunbookError, OSError) as exc:
        server.stop()
        sys.stderr.write(f"dbrunbook: the database could not start: {exc}\n")
        return 1
    _record(workdir, info)
    sys.stdout.write("\n".join(describe(info, workdir)) + "\n")
    sys.stdout.flush()
    _keep(server, workdir)
    return 0


def _start_in_background(workdir: Path, platform: str, mode: str, pg_major: int | None) -> int:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # keeper: own session, no terminal, reports through the pipe
        os.close(read_end)
        os.setsid()
        log = state_file(workdir).with_suffix(".log")  # kept when the start fails
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(os.devnull, "rb") as null_in, open(log, "ab") as log_out:
            os.dup2(null_in.fileno(), 0)
            os.dup2(log_out.fileno(), 1)
            os.dup2(log_out.fileno(), 2)
        server = EmbeddedServer(workdir, mode=mode, pg_major=pg_major, platform=platform)  # type: ignore[arg-type]
        code = 0
        with os.fdopen(write_end, "w") as report:
            try:
                info = server.start()
            except Exception as exc:  # the keeper must answer whatever went wrong
                server.stop()
                report.write(json.dumps({"error": str(exc)}))
                code = 1
            else:
                _record(workdir, info)
                report.write(json.dumps({"env": env_lines(info),
                                         "describe": describe(info, workdir, foreground=False)}))
        if code == 0:
            with contextlib.suppress(SystemExit):
                _keep(server, workdir)
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as report:
        raw = report.read()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = {"error": f"the background keeper ended without an answer (log: {state_file(workdir).stem}.log)"}
    if "error" in answer:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        sys.stderr.write(f"dbrunbook: the database could not start: {answer['error']}\n")
        return 1
    sys.stdout.write("\n".join(answer["env"]) + "\n")
    sys.stderr.write("\n".join(f"# {line}" for line in answer["describe"]) + "\n")
    return 0


def stop(workdir: Path, *, timeout: float = 60.0) -> int:
    """Ask the keeper of ``workdir``'s database to stop, and wait until it has (bounded)."""
    running = _running(workdir)
    if not running:
        sys.stdout.write(f"dbrunbook: no database running for {workdir}\n")
        return 0
    pid = int(running["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while cluster.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if cluster.pid_alive(pid):
        sys.stderr.write(f"dbrunbook: the keeper (pid {pid}) did not stop within {timeout:.0f} s\n")
        return 1
    state_file(workdir).unlink(missing_ok=True)
    sys.stdout.write(f"dbrunbook: stopped the database for {workdir}\n")
    return 0
