"""Drift benchmark: dbrunbook vs `supabase db diff --from --to` vs migra on a 500-table schema.

Usage (from the repository root):

    npm i -E supabase@2.117.0 --prefix bench/.node          # once; gitignored
    python3 -m venv bench/.venv-migra && bench/.venv-migra/bin/pip install migra psycopg2-binary
    .venv/bin/python bench/drift/run.py

Two embedded servers are built from the same generated project (bench/drift/schema.py): one stays
clean (expected), the other gets every drift of ``schema.PLANTED``. Each tool then compares them
and we count how many planted drifts its output names. Wall time is end to end (process start to
exit), so it includes interpreter/CLI start-up.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from schema import PLANTED, TABLES, write_project  # noqa: E402

from bench.peers import user_env  # noqa: E402
from dbrunbook.targets.embedded import EmbeddedServer  # noqa: E402

WORK = REPO / ".bench" / "drift"
SUPABASE = REPO / "bench" / ".node" / "node_modules" / ".bin" / "supabase"
MIGRA = REPO / "bench" / ".venv-migra" / "bin" / "migra"
TIMEOUT = 900
RUNS = 5


def _forget_catalogs(project: Path) -> None:
    """Drop the cached shadow catalogs of ``project``: the next run starts the shadow as after a change."""
    from dbrunbook.targets import cluster

    for path in (cluster.cache_root() / "snapshots").glob("shadow-*.json"):
        with path.open("rb") as handle:
            if str(project).encode() in handle.read(4096):
                path.unlink(missing_ok=True)


def _run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO) -> tuple[float, int, str]:
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=user_env(env), capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return time.monotonic() - t0, -1, f"timeout after {TIMEOUT}s"
    return time.monotonic() - t0, proc.returncode, proc.stdout + proc.stderr


def _ours(args: list[str], env: dict[str, str], name: str) -> tuple[float, int, set[int], str]:
    reports = WORK / f"reports-{name}"
    shutil.rmtree(reports, ignore_errors=True)
    toml = WORK / "targets.toml"
    wall, code, out = _run([sys.executable, "-m", "pytest", "checks/test_drift.py", "-p", "no:cacheprovider", "-q",
                            "--targets-file", str(toml), "--reports-dir", str(reports), *args], env)
    found: set[int] = set()
    drift_files = list(reports.glob("*-drift.json"))
    if drift_files:
        report = json.loads(drift_files[0].read_text())
        items = {(i["kind"], i["object"]) for t in report["targets"] for i in t["items"]}
        found = {n for n, p in enumerate(PLANTED) if p.ours in items}
    return wall, code, found, out


def _sql_found(output: str) -> set[int]:
    return {n for n, p in enumerate(PLANTED) if re.search(p.pattern, output, re.IGNORECASE | re.DOTALL)}


def main() -> int:
    """Build, plant, run every tool, print the table."""
    shutil.rmtree(WORK, ignore_errors=True)
    project = write_project(WORK / "project")
    t0 = time.monotonic()
    expected, actual = EmbeddedServer(project), EmbeddedServer(project)
    exp, act = expected.start(), actual.start()
    print(f"built {TABLES}-table project twice in {time.monotonic() - t0:.1f}s "
          f"(PostgreSQL {act.pg_version}); planting {len(PLANTED)} drifts", flush=True)
    try:
        with psycopg.connect(act.admin_dsn, autocommit=True) as conn:
            for p in PLANTED:
                for statement in p.sql.split("; "):
                    conn.execute(statement.encode())
        (WORK / "targets.toml").write_text(
            f'[targets.t]\nkind = "url"\ndb_url_env = "T_DB_URL"\nworkdir = "{project}"\n\n'
            '[targets.e]\nkind = "url"\ndb_url_env = "E_DB_URL"\n')
        env = {"T_DB_URL": act.dsn, "E_DB_URL": exp.dsn}
        rows: list[tuple[str, float, int, set[int], str]] = []
        wall, code, found, out = _ours(["--target=t", "--compare-target=e"], env, "url")
        rows.append(("dbrunbook drift, --compare-target (URL vs URL)", wall, code, found, ""))
        _forget_catalogs(project)
        wall, code, found, out = _ours(["--target=t"], env, "shadow-cold")
        rows.append(("dbrunbook drift, shadow from supabase/migrations, first run after a change (shadow and "
                     "platform layer started and read)", wall, code, found, ""))
        walls = []
        for n in range(RUNS):
            wall, code, found, out = _ours(["--target=t"], env, f"shadow-{n}")
            walls.append(wall)
        shadow_row = ("dbrunbook drift, shadow from supabase/migrations (catalogs cached: nightly runs)",
                      sorted(walls)[len(walls) // 2], code, found, f"median of {RUNS}")
        rows.append(shadow_row)
        if SUPABASE.exists():
            wall, code, out = _run([str(SUPABASE), "db", "diff", "--from", exp.dsn, "--to", act.dsn],
                                   cwd=WORK / "project")
            (WORK / "supabase-db-diff.out").write_text(out)
            rows.append(("supabase db diff --from URL --to URL (2.117.0)", wall, code, _sql_found(out) if code == 0
                         else set(), "" if code == 0 else out.strip().splitlines()[-1][:100] if out.strip() else ""))
        if MIGRA.exists():
            walls = []
            for _ in range(RUNS):
                wall, code, out = _run([str(MIGRA), "--unsafe", "--with-privileges", exp.dsn, act.dsn])
                walls.append(wall)
            (WORK / "migra.out").write_text(out)
            migra_row = ("migra --unsafe --with-privileges", sorted(walls)[len(walls) // 2], code,
                         _sql_found(out) if code in (0, 2) else set(), f"median of {RUNS}" if code in (0, 2) else
                         out.strip().splitlines()[-1][:100] if out.strip() else "")
            rows.append(migra_row)
    finally:
        expected.stop()
        actual.stop()
    total = len(PLANTED)
    print("\n| Tool | Wall time (s) | Planted drifts reported | Exit code | Note |\n|---|---:|---:|---:|---|")
    for name, wall, code, found, note in rows:
        print(f"| {name} | {wall:.1f} | {len(found)}/{total} | {code} | {note} |")
    print("\n| Planted drift | " + " | ".join(r[0].split(",")[0].split(" --")[0] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for n, p in enumerate(PLANTED):
        print(f"| {p.label} | " + " | ".join("yes" if n in r[3] else "**no**" for r in rows) + " |")
    if MIGRA.exists():
        print(f"\nshadow-based drift (catalogs cached) / migra wall time: {shadow_row[1] / migra_row[1]:.2f}x "
              f"({shadow_row[1]:.2f} s vs {migra_row[1]:.2f} s, medians of {RUNS}); planted drifts "
              f"{len(shadow_row[3])}/{total}")
    print(f"\nOutputs: {WORK}/supabase-db-diff.out, {WORK}/migra.out, {WORK}/reports-*/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
