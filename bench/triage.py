"""Benchmark: `pytest -m triage` against the Supabase CLI's `inspect db` commands, on one running database.

Run: ``make bench`` or ``.venv/bin/python -m bench.triage [--runs 5]``. Prints both wall times (median of
N runs), the ratio, what each checked, and the embedded target's cold and cached start times.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.peers import supabase_cli, user_env, with_sslmode_disable
from dbrunbook.resources import demo_workdir
from dbrunbook.targets.embedded import EmbeddedServer

REPO = Path(__file__).resolve().parents[1]
CLI_COMMANDS = ("locks", "blocking", "long-running-queries", "role-stats")


def _time(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    return time.monotonic() - t0, proc


def bench_triage(dsn: str, runs: int) -> tuple[float, float, tuple[int, int]]:
    """Median seconds of our triage run and of the four CLI commands in a row; checks run and skipped."""
    with tempfile.TemporaryDirectory() as tmp:
        toml = Path(tmp) / "dbrunbook.toml"
        # The database is the demo project: its workdir gives the history checks their folder and the
        # RLS checks the demo contract (a user's target without one gets "no contract", exit 6).
        toml.write_text(f'[targets.bench]\nkind = "url"\ndb_url_env = "BENCH_DB_URL"\nworkdir = "{demo_workdir()}"\n')
        # As on a user's machine: Python may cache bytecode (some sandboxes set PYTHONDONTWRITEBYTECODE,
        # which makes every pytest start recompile pytest, psycopg and the suite).
        env = user_env({"BENCH_DB_URL": dsn})
        ours_cmd = [sys.executable, "-m", "pytest", "-m", "triage", "--target=bench", f"--targets-file={toml}",
                    "--no-reports", "-q", "-p", "no:cacheprovider"]
        cli = str(supabase_cli())
        ours, theirs = [], []
        checks = (0, 0)
        for _ in range(runs):
            seconds, proc = _time(ours_cmd, env)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"dbrunbook run failed ({proc.returncode}): {proc.stdout[-1500:]}")
            ours.append(seconds)
            words = proc.stdout.split()
            counts = {k.rstrip(","): int(w) for w, k in itertools.pairwise(words) if w.isdigit()}
            checks = (counts.get("passed", 0) + counts.get("failed", 0), counts.get("skipped", 0))
            t = 0.0
            for sub in CLI_COMMANDS:
                seconds, proc = _time([cli, "inspect", "db", sub, "--db-url", with_sslmode_disable(dsn)], env)
                if proc.returncode != 0:
                    raise SystemExit(f"supabase inspect db {sub} failed: {proc.stderr[-500:]}")
                t += seconds
            theirs.append(t)
    return statistics.median(ours), statistics.median(theirs), checks


def bench_start() -> tuple[float, float]:
    """Embedded start: cold (empty cache: initdb, bootstrap, migrations) and cached (template copy)."""
    with tempfile.TemporaryDirectory(dir="/var/tmp" if os.geteuid() == 0 else None) as cache:
        os.chmod(cache, 0o755)
        os.environ["DBRUNBOOK_CACHE_DIR"] = cache
        try:
            times = []
            for _ in range(2):
                server = EmbeddedServer(demo_workdir())
                try:
                    times.append(server.start().start_s)
                finally:
                    server.stop()
        finally:
            del os.environ["DBRUNBOOK_CACHE_DIR"]
    return times[0], times[1]


def main() -> None:
    """Print the triage table and the embedded start times."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cold, cached = bench_start()
    server = EmbeddedServer(demo_workdir())
    info = server.start()
    try:
        ours, theirs, checks = bench_triage(info.dsn, args.runs)
    finally:
        server.stop()
    print(f"triage on one running database (PostgreSQL {info.pg_version}), median of {args.runs} runs")
    print("| tool | what it runs | wall time |\n|---|---|---|")
    print(f"| dbrunbook `pytest -m triage` | {checks[0]} checks run (database, env/URLs, locks, connections, "
          f"pool, migrations, RLS, ...), {checks[1]} skipped (nothing configured) "
          f"| {ours:.2f} s |")
    print(f"| Supabase CLI {', '.join('inspect db ' + c for c in CLI_COMMANDS)} | 4 queries, print only | "
          f"{theirs:.2f} s |")
    print(f"ratio dbrunbook / CLI: {ours / theirs:.2f}")
    print(f"embedded target start: cold {cold:.2f} s, cached {cached:.2f} s")


if __name__ == "__main__":
    main()
