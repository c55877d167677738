"""RLS benchmark: dbrunbook's `pytest -m rls` matrix vs the equivalent pgTAP file under `pg_prove`, 100 tables.

Usage (from the repository root; set-up in bench/rls/README.md):

    .venv/bin/python -m bench.rls.run

One embedded server is built from the generated project (bench/rls/project.py: 100 tenant tables,
policies on the ``company_id`` claim, hosted default grants, 3 tenants x 3 rows per table). Both
sides then run against that same database, one after the other: our product suite as a user runs
it (``pytest -m rls --target=... --contracts=<generated contract>``, a subprocess, end to end) and
``pg_prove`` on the generated pgTAP file. Both write only inside rolled-back transactions.
A probe is one identity x table x operation (select, insert, update, delete) on either side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.peers import user_env  # noqa: E402
from bench.rls import project  # noqa: E402
from dbrunbook.targets.embedded import EmbeddedServer  # noqa: E402

WORK = REPO / ".bench" / "rls"
TIMEOUT = 1800
MATRIX_CHECKS = ("rls.read_isolation", "rls.insert_isolation", "rls.update_isolation", "rls.delete_isolation")
#: Variables a developer may have set that would redirect the product run (tests/conftest.py scrubs the same).


@dataclass
class Side:
    """One tool's run: wall time, probes, outcome."""

    wall_s: float
    probes: int
    passed: int
    failed: int
    nodes: int  # ours: result records (one per check, one per matrix cell); pg_prove: tests
    code: int
    note: str = ""
    probing_s: float = 0.0  # ours: summed call time of the matrix nodes (the probes themselves)
    cpu_s: float = 0.0  # user + system CPU of the tool's processes (pytest; perl and psql), not the server's


def _children_cpu_s() -> float:
    """User + system CPU seconds of the finished child processes so far (what a subprocess.run added)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ours(dsn: str, contract: Path, n: str, *select: str) -> Side:
    """`pytest -m rls [select]` on the url target, end to end (interpreter start-up and reports included)."""
    reports = WORK / f"reports-{n}"
    shutil.rmtree(reports, ignore_errors=True)
    toml = WORK / "dbrunbook.toml"
    toml.write_text('[targets.bench]\nkind = "url"\ndb_url_env = "BENCH_RLS_DB_URL"\nread_only = false\n')
    cmd = [sys.executable, "-m", "pytest", "-m", "rls", "--target=bench", f"--targets-file={toml}",
           f"--contracts={contract}", f"--reports-dir={reports}", "-q", "-p", "no:cacheprovider", *select]
    t0, cpu0 = time.monotonic(), _children_cpu_s()
    proc = subprocess.run(cmd, cwd=REPO, env=user_env({"BENCH_RLS_DB_URL": dsn}), capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    wall, cpu = time.monotonic() - t0, _children_cpu_s() - cpu0
    (WORK / f"ours-{n}.out").write_text(proc.stdout + proc.stderr)
    bundles = sorted(reports.glob("*.json"))
    results = json.loads(bundles[-1].read_text())["results"] if bundles else []
    cells = [r for r in results if r["check_id"] in MATRIX_CHECKS]
    failed = [r for r in results if r["outcome"] == "failed"]
    note = "; ".join(sorted({r["check_id"] for r in failed}))[:200]
    return Side(wall, len(cells), sum(r["outcome"] == "passed" for r in cells),
                sum(r["outcome"] == "failed" for r in cells), len(results), proc.returncode,
                f"failed: {note}" if note else "", sum(float(r.get("duration_s") or 0) for r in cells), cpu)


def run_pgtap(port: int, password: str, path: Path, probes: int, n: str) -> Side:
    """`pg_prove` on the generated file, as the project's `postgres` role (password only in the env)."""
    cmd = ["pg_prove", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres", str(path)]
    t0, cpu0 = time.monotonic(), _children_cpu_s()
    proc = subprocess.run(cmd, cwd=WORK, env=user_env({"PGPASSWORD": password}), capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)
    wall, cpu = time.monotonic() - t0, _children_cpu_s() - cpu0
    out = proc.stdout + proc.stderr
    (WORK / f"pg_prove-{n}.out").write_text(out)
    tests = re.search(r"Tests=(\d+)", out)
    failed = re.findall(r"Failed (\d+)/(\d+) subtests", out)
    ran = int(tests.group(1)) if tests else 0
    bad = int(failed[0][0]) if failed else 0
    note = "" if "Result: PASS" in out else (out.strip().splitlines() or ["no output"])[-1][:200]
    return Side(wall, probes, ran - bad, bad, ran, proc.returncode, note, cpu_s=cpu)


def main() -> int:
    """Build the project, run both sides (N rounds, alternating), print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="rounds of both sides (median wall time)")
    args = parser.parse_args()
    if shutil.which("pg_prove") is None:
        raise SystemExit("pg_prove not found: apt-get install -y postgresql-15-pgtap "
                         "libtap-parser-sourcehandler-pgtap-perl (see bench/rls/README.md)")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    root = project.write_project(WORK / "project")
    contract = project.write_contract(WORK / "contracts.toml")
    tap = project.pgtap_file()
    tap_path = WORK / "rls_matrix_test.sql"
    tap_path.write_text(tap.text)
    server = EmbeddedServer(root)
    t0 = time.monotonic()
    info = server.start()
    print(f"embedded server with {project.TABLES} tenant tables ready in {time.monotonic() - t0:.1f}s "
          f"(PostgreSQL {info.pg_version}, template {'cached' if info.cached else 'built'})", flush=True)
    full: list[Side] = []
    matrix: list[Side] = []
    theirs: list[Side] = []
    try:
        with psycopg.connect(info.admin_dsn, autocommit=True) as conn:
            # Hosted projects get pgtap from the dashboard (supabase_admin creates it); not timed.
            conn.execute("create extension if not exists pgtap with schema extensions")
        for n in range(args.runs):
            full.append(run_ours(info.dsn, contract, f"full-{n}"))
            matrix.append(run_ours(info.dsn, contract, f"matrix-{n}", "rls_contracts/test_matrix.py"))
            theirs.append(run_pgtap(info.port, info.password, tap_path, tap.probes, str(n)))
            print(f"round {n + 1}: dbrunbook -m rls {full[-1].wall_s:.1f}s, matrix only {matrix[-1].wall_s:.1f}s, "
                  f"pg_prove {theirs[-1].wall_s:.1f}s", flush=True)
    finally:
        server.stop()
    o_lines = project.user_lines(contract.read_text(), "#")
    t_lines = project.user_lines(tap.text, "--")
    t_wall = statistics.median(s.wall_s for s in theirs)
    t = theirs[-1]
    print(f"\nRLS matrix, {project.TABLES} tenant tables x {len(project.IDENTITIES)} identities "
          f"({', '.join(project.IDENTITIES)}) x {len(project.OPERATIONS)} operations = {t.probes} probes; "
          f"PostgreSQL {info.pg_version}, {os.cpu_count()} cores; wall time end to end"
          f"{f', median of {args.runs} runs' if args.runs > 1 else ''}\n")
    # CPU of the tool's own processes (median): how much of the wall time the client side is, on
    # this machine; the server's CPU is not in it (pg_stat_statements shows that part).
    print("| Tool | Wall time (s) | Client CPU (s) | Probes | Probes/s | Lines a user writes | Result | Exit code |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for label, runs in (("dbrunbook `pytest -m rls` (matrix + structure + lints + forged claims)", full),
                        ("dbrunbook `pytest -m rls rls_contracts/test_matrix.py` (matrix only)", matrix)):
        o, wall = runs[-1], statistics.median(s.wall_s for s in runs)
        cpu = statistics.median(s.cpu_s for s in runs)
        print(f"| {label} | {wall:.1f} | {cpu:.1f} | {o.probes} | {o.probes / wall:.0f} | {o_lines} | {o.passed} "
              f"passed, {o.failed} failed matrix cells ({o.nodes} results in all) | {o.code} |")
    t_cpu = statistics.median(s.cpu_s for s in theirs)
    print(f"| pgTAP file under `pg_prove` | {t_wall:.1f} | {t_cpu:.1f} | {t.probes} | {t.probes / t_wall:.0f} | "
          f"{t_lines} | {t.passed}/{tap.assertions} assertions ok | {t.code} |")
    f_wall = statistics.median(s.wall_s for s in full)
    m_wall = statistics.median(s.wall_s for s in matrix)
    print(f"\nratio dbrunbook / pg_prove: wall time {f_wall / t_wall:.1f}x (full -m rls), {m_wall / t_wall:.1f}x "
          f"(matrix only); probes/s {t_wall / f_wall:.2f} / {t_wall / m_wall:.2f}; lines a user writes "
          f"{o_lines / t_lines:.3f} (the pgTAP file is {t_lines / o_lines:.0f}x longer)")
    print(f"dbrunbook probing itself (summed call time of the matrix nodes, {full[-1].probes} cells): "
          f"{full[-1].probing_s:.1f}s = {full[-1].probes / max(full[-1].probing_s, 1e-9):.0f} probes/s; "
          "the rest is interpreter start-up, collection of one node per table and operation, fixtures and "
          "reports")
    for name, side in (("dbrunbook -m rls", full[-1]), ("dbrunbook matrix", matrix[-1]), ("pg_prove", t)):
        if side.note:
            print(f"{name}: {side.note}")
    print(f"\nOutputs: {WORK}/ours-*.out, {WORK}/pg_prove-*.out, {WORK}/reports-*/; pgTAP file {tap_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
