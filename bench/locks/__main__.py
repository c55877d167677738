"""Run the lock benchmark: ``python -m bench.locks``.

Each scenario is injected into one throwaway Supabase-shaped server (tests/faults.py), aged past the
1 s thresholds, then shown to ``pytest -m locks`` (thresholds 1 s) and to ``supabase inspect db locks``,
``blocking`` and ``long-running-queries`` (CLI 2.117.0, ``--db-url``). A tool detects a scenario when it
names the blocking/offending pid in a way a human can act on (see ``_cli_detects``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import faults  # noqa: E402

from bench import peers  # noqa: E402
from dbrunbook.resources import demo_workdir  # noqa: E402
from dbrunbook.targets.embedded import EmbeddedServer  # noqa: E402

Inject = Callable[[str], AbstractContextManager[faults.Fault]]
SCENARIOS: list[tuple[str, str, Inject]] = [
    ("DDL ACCESS EXCLUSIVE + 2 waiters", "locks.blocking_chains",
     lambda dsn: faults.access_exclusive_with_waiters(dsn, ["public.contacts"])),
    ("row-lock chain, 3 deep", "locks.blocking_chains", lambda dsn: faults.row_lock_chain(dsn, "public.customers")),
    ("advisory lock wait", "locks.blocking_chains", lambda dsn: faults.advisory_wait(dsn)),
    ("idle in transaction", "locks.idle_in_transaction", lambda dsn: faults.idle_in_transaction(dsn)),
    ("long query (pg_sleep)", "locks.long_running_queries", lambda dsn: faults.long_query(dsn)),
]
CLI_SUBCOMMANDS = ("locks", "blocking", "long-running-queries")
TOML = """
[targets.t]
kind = "url"
db_url_env = "T_DB_URL"
[targets.t.thresholds]
long_query_s = 1
idle_in_transaction_s = 1
oldest_transaction_s = 1
lock_wait_s = 1
"""


def _ours(dsn: str, work: Path, fault: faults.Fault, check_id: str) -> tuple[bool, float]:
    reports = work / f"r{time.monotonic_ns()}"
    (work / "dbrunbook.toml").write_text(textwrap.dedent(TOML))
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "locks", "--target=t",
                    f"--targets-file={work / 'dbrunbook.toml'}", f"--reports-dir={reports}"],
                   cwd=REPO, env={**_env(), "T_DB_URL": dsn}, capture_output=True, text=True, timeout=120,
                   check=False)
    elapsed = time.monotonic() - t0
    results = json.loads(sorted(reports.glob("*.json"))[-1].read_text())["results"]
    hit = any(r["check_id"] == check_id and r["outcome"] == "failed"
              and any(f["metadata"].get("root", f["metadata"].get("pid")) == fault.roots[0] for f in r["findings"])
              for r in results)
    return hit, elapsed


def _env() -> dict[str, str]:

    return peers.user_env()


def _rows(output: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("|")] for line in output.splitlines() if line.count("|") >= 2]


def _cli_detects(sub: str, output: str, fault: faults.Fault) -> bool:
    """``blocking``: a row (blocked pid, blocking pid) with a waiter of ours behind one of ours.
    ``locks``: a waiter's ungranted lock (it lists every xid/virtualxid holder, which by itself says nothing).
    ``long-running-queries``: the root pid listed.
    """
    rows = _rows(output)
    pids = {str(p) for p in fault.pids}
    waiters = {str(p) for p in fault.waiters}
    if sub == "blocking":
        return any(len(r) > 3 and r[0] in waiters and r[3] in pids for r in rows)
    if sub == "locks":
        return any(len(r) > 3 and r[0] in waiters and r[3] == "false" for r in rows)
    return any(r and r[0] == str(fault.roots[0]) for r in rows)


def _cli(cli: Path, sub: str, dsn: str) -> tuple[str, float]:
    t0 = time.monotonic()
    proc = subprocess.run([str(cli), "inspect", "db", sub, "--db-url", peers.with_sslmode_disable(dsn)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=tempfile.gettempdir())
    return proc.stdout, time.monotonic() - t0


def main() -> int:
    cli = peers.supabase_cli()
    server = EmbeddedServer(demo_workdir())
    info = server.start()
    table: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, check_id, inject in SCENARIOS:
                with inject(info.admin_dsn) as fault:
                    time.sleep(1.2)  # age past the 1 s thresholds
                    ours, ours_s = _ours(info.dsn, Path(tmp), fault, check_id)
                    row: dict[str, Any] = {"scenario": name, "ours": ours, "ours_s": ours_s}
                    for sub in CLI_SUBCOMMANDS:
                        out, secs = _cli(cli, sub, info.dsn)
                        row[sub] = _cli_detects(sub, out, fault)
                        row[f"{sub}_s"] = secs
                    table.append(row)
    finally:
        server.stop()
    print("command: python -m bench.locks  (supabase CLI " + peers.SUPABASE_CLI_VERSION + ", PostgreSQL "
          + info.pg_version + ")")
    print()
    print("| scenario | dbrunbook `pytest -m locks` | CLI `inspect db locks` | CLI `blocking` | "
          "CLI `long-running-queries` |")
    print("| --- | --- | --- | --- | --- |")
    for r in table:
        cells = [f"{'yes' if r['ours'] else 'no'} ({r['ours_s']:.2f}s)"]
        cells += [f"{'yes' if r[s] else 'no'} ({r[s + '_s']:.2f}s)" for s in CLI_SUBCOMMANDS]
        print(f"| {r['scenario']} | " + " | ".join(cells) + " |")
    ours_hits = sum(r["ours"] for r in table)
    cli_hits = sum(any(r[s] for s in CLI_SUBCOMMANDS) for r in table)
    ours_time = sum(r["ours_s"] for r in table)
    cli_time = sum(r[s + "_s"] for r in table for s in CLI_SUBCOMMANDS)
    print()
    print(f"detected: dbrunbook {ours_hits}/{len(table)}, Supabase CLI (any of the 3 commands) {cli_hits}/{len(table)}")
    print(f"time per scenario: dbrunbook {ours_time / len(table):.2f}s (one run, all lock checks), "
          f"CLI {cli_time / len(table):.2f}s (3 commands); ratio CLI/dbrunbook {cli_time / ours_time:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
