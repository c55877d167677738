"""Verdicts you can trust (issue 8): no false P0, no silent green, one finding per cause, gates.

Each test runs the product as a user runs it (a targets file, env vars, ``python -m pytest``) against a
real PostgreSQL with the fault injected, and reads the JSON bundle, the terminal and the exit code.
"""

from __future__ import annotations

import os
import re
import socket
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import faults
import psycopg
import pytest
from databases import clone_database, drop_database, with_db

from conftest import Product, ProductRun, demo_target, own_demo_server, url_target
from dbrunbook.targets import cluster
from dbrunbook.targets.embedded import EmbeddedInfo

#: Outcomes that put a line under a severity in the summary.
GRADED = ("failed", "inconclusive")


def p0s(run: ProductRun) -> list[dict[str, Any]]:
    return [r for r in run.results if r["outcome"] in GRADED and r["severity"] == "P0"]


def findings(run: ProductRun) -> list[dict[str, Any]]:
    """What the user is told is wrong: failed checks and the first check of each cause."""
    return [r for r in run.results if r["outcome"] in GRADED]


def no_internals(run: ProductRun) -> None:
    for dump in ("Traceback", "INTERNALERROR", "Target(spec=", "TargetSpec("):
        assert dump not in run.output, (dump, run.output[-4000:])


# --- not Supabase-shaped -------------------------------------------------------------------------

@pytest.mark.fault(scenario="plain PostgreSQL 15 (fresh initdb) as --target=prod, no options",
                   expect="0 P0, at most 3 findings, one says 'not Supabase-shaped' (what is missing, what is "
                          "skipped); RLS/history checks skip pointing at it; database and locks still pass")
def test_plain_postgres_is_one_not_supabase_finding_not_80_p0(product: Product) -> None:
    with faults.small_cluster(max_connections=40, superuser_reserved=3) as plain:
        run = product.run("--target=prod", targets_toml='[targets.prod]\nkind = "url"\n',
                          env={"SUPABASE_DB_URL": plain.admin_dsn}, timeout=300)
    assert p0s(run) == [], [(r["nodeid"], r["title"]) for r in p0s(run)]
    told = findings(run)
    assert len(told) <= 3, [(r["nodeid"], r["title"]) for r in told]
    shaped = [r for r in told if (r.get("cause") or {}).get("kind") == "not_supabase"]
    assert len(shaped) == 1, run.output[-4000:]
    title = shaped[0]["title"]
    assert "not Supabase-shaped" in title and "auth schema" in title and "anon role" in title, title
    assert "skipped" in title  # says what does not run
    # Every check that needs the shape skips pointing at that one finding.
    pointing = [r for r in run.results if (r.get("cause") or {}).get("first_nodeid") == shaped[0]["nodeid"]
                and r is not shaped[0]]
    assert len(pointing) >= 5 and {r["outcome"] for r in pointing} == {"skipped"}
    assert all(r["message"].startswith("inconclusive: prod is not Supabase-shaped") for r in pointing)
    assert any(r["check_id"].startswith("rls.") for r in pointing)
    # What applies still runs and reaches a verdict.
    assert run.outcome("triage.db_reachable") == "passed"
    assert run.outcome("locks.blocking_chains") == "passed"
    assert "not Supabase-shaped" in run.output and "ESCALATE" not in run.output
    no_internals(run)


def test_supabase_shaped_target_gets_no_shape_finding(product: Product, supabase_server: EmbeddedInfo) -> None:
    run = product.run("checks/test_rls_lints.py", "checks/test_database.py", "--target=t",
                      targets_toml=url_target(), env={"T_DB_URL": supabase_server.dsn})
    assert not [r for r in run.results if r.get("cause")], run.output[-3000:]
    assert run.outcome("rls.rls_disabled_in_exposed_schema") == "passed"


# --- database stopped mid-run --------------------------------------------------------------------

STOPPER = '''
"""Test plugin: stop the server (pg_ctl stop -m immediate = SIGQUIT) when a given check starts."""
import os, signal, socket, time

import pytest

_DONE = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    if _DONE or os.environ["STOP_AT"] not in item.nodeid:
        return
    _DONE.append(item.nodeid)
    if os.environ.get("STOP_HOW") == "restart":  # what a restart looks like from here: our sessions dropped
        import psycopg
        with psycopg.connect(os.environ["STOP_ADMIN_DSN"], autocommit=True) as conn:
            conn.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                         "where application_name like 'dbrunbook%' and pid <> pg_backend_pid()")
        return
    os.kill(int(os.environ["STOP_PM_PID"]), signal.SIGQUIT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the port refuses: the server is really gone
        try:
            socket.create_connection(("127.0.0.1", int(os.environ["STOP_PORT"])), timeout=1).close()
        except OSError:
            return
        time.sleep(0.05)
'''


@pytest.mark.fault(scenario="database stopped (immediate shutdown) in the middle of -m 'triage or rls'",
                   expect="0 P0; one P1 'stopped answering at HH:MM:SS UTC' (inconclusive, target_gone); every "
                          "later database check skipped pointing at it; HTML/JUnit/JSON written; exit 6")
def test_database_stopped_mid_run_is_one_p1_and_the_rest_skip(product: Product, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "stopper.py").write_text(textwrap.dedent(STOPPER))
    with own_demo_server() as (server, info):
        assert server.server is not None
        env = {"T_DB_URL": info.dsn, "PYTHONPATH": str(plugin_dir), "STOP_PM_PID": str(server.server.process.pid),
               "STOP_PORT": str(info.port), "STOP_AT": "test_matrix.py::test_reads_return_exactly_own_tenant_rows"}
        run = product.run("-p", "stopper", "-m", "triage or rls", "--target=t", targets_toml=demo_target(),
                          env=env, timeout=300)
    assert p0s(run) == [], [(r["nodeid"], r["title"]) for r in p0s(run)]
    told = findings(run)
    gone = [r for r in told if (r.get("cause") or {}).get("kind") == "target_gone"]
    assert len(gone) == 1, [(r["nodeid"], r["outcome"], r["title"]) for r in told]
    first = gone[0]
    assert first["outcome"] == "inconclusive" and first["severity"] == "P1"
    assert re.search(r"\bt stopped answering at \d\d:\d\d:\d\d UTC", first["title"]), first["title"]
    assert "test_reads_return_exactly_own_tenant_rows" in first["nodeid"]
    # Before the stop the run reached verdicts; after it, everything that needs the database skips.
    index = run.results.index(first)
    assert run.outcome("triage.db_reachable") == "passed"
    assert {r["outcome"] for r in run.results[:index]} <= {"passed", "skipped"}
    later = run.results[index + 1:]
    assert len(later) > 20 and {r["outcome"] for r in later} == {"skipped"}, \
        sorted({(r["check_id"], r["outcome"]) for r in later if r["outcome"] != "skipped"})
    stopped = [r for r in later if (r.get("cause") or {}).get("first_nodeid") == first["nodeid"]]
    assert len(stopped) > 20
    assert all(r["message"].startswith("inconclusive: t stopped answering at ") for r in stopped)
    assert run.returncode == 6, run.output[-3000:]
    assert f"{len(stopped) + 1} checks did not run" in run.output
    assert {"html", "json", "xml"} <= set(run.report_files())
    assert "stopped answering" in run.report_files()["xml"].read_text()
    no_internals(run)
    assert " error" not in run.output.splitlines()[-1]  # pytest's final line: no errors


@pytest.mark.fault(scenario="database restarted in the middle of -m 'triage or rls' (our sessions terminated)",
                   expect="0 P0; one P1 'stopped answering at HH:MM:SS UTC'; one bounded reconnect succeeds and "
                          "the later checks run on the restarted server; summary says when it answered again")
def test_database_restarted_mid_run_is_one_p1_and_the_rest_runs(product: Product, tmp_path: Path,
                                                                 supabase_server: EmbeddedInfo) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "stopper.py").write_text(textwrap.dedent(STOPPER))
    with demo_clone(supabase_server) as name:
        env = {"T_DB_URL": with_db(supabase_server.dsn, name), "PYTHONPATH": str(plugin_dir), "STOP_HOW": "restart",
               "STOP_ADMIN_DSN": with_db(supabase_server.admin_dsn, name),
               "STOP_AT": "test_matrix.py::test_reads_return_exactly_own_tenant_rows"}
        run = product.run("-p", "stopper", "-m", "triage or rls", "--target=t", targets_toml=demo_target(),
                          env=env, timeout=300)
    assert p0s(run) == [], [(r["nodeid"], r["title"]) for r in p0s(run)]
    told = findings(run)
    assert len(told) == 1 and told[0]["cause"]["kind"] == "target_gone", \
        [(r["nodeid"], r["outcome"], r["title"]) for r in told]
    assert told[0]["severity"] == "P1" and re.search(r"stopped answering at \d\d:\d\d:\d\d UTC", told[0]["title"])
    later = run.results[run.results.index(told[0]) + 1:]
    # The other cells of the matrix node that met the restart were in the same batch: stopped with it.
    siblings = [r for r in later if told[0].get("node") and r.get("node") == told[0]["node"]]
    assert all(r["outcome"] == "skipped" and r["cause"]["first_nodeid"] == told[0]["nodeid"] for r in siblings)
    later = [r for r in later if r not in siblings]
    assert sum(r["outcome"] == "passed" for r in later) > 20  # the reconnect worked: verdicts again
    assert not any(r.get("cause") for r in later)
    assert re.search(r"t answered again at \d\d:\d\d:\d\d UTC", run.output), run.output[-3000:]
    assert run.returncode == 6
    no_internals(run)


@pytest.mark.fault(scenario="plain PostgreSQL as --target=prod under pytest-xdist (-n 2)",
                   expect="still one 'not Supabase-shaped' finding for the run (workers' duplicates folded)")
def test_one_finding_per_cause_under_xdist(product: Product) -> None:
    with faults.small_cluster(max_connections=40, superuser_reserved=3) as plain:
        run = product.run("-n", "2", "-m", "triage or rls", "--target=prod", timeout=300,
                          targets_toml='[targets.prod]\nkind = "url"\n', env={"SUPABASE_DB_URL": plain.admin_dsn})
    shaped = [r for r in findings(run) if (r.get("cause") or {}).get("kind") == "not_supabase"]
    assert len(shaped) == 1, [(r["nodeid"], r["title"][:80]) for r in findings(run)]
    pointing = [r for r in run.results if r.get("cause") and r is not shaped[0]]
    assert pointing and {r["cause"]["first_nodeid"] for r in pointing} == {shaped[0]["nodeid"]}
    assert p0s(run) == []


# --- the throwaway target cannot be built ---------------------------------------------------------

def _broken_project(root: Path) -> Path:
    folder = root / "supabase" / "migrations"
    folder.mkdir(parents=True)
    (folder / "20260101000000_ok.sql").write_text("create table ok (x int);\n")
    (folder / "20260101000001_broken.sql").write_text(
        "create table fine (x int);\nalter table missing_table add column y int;\n")
    return root


@pytest.mark.parametrize("selection", ["rls", "drift", "triage"])
@pytest.mark.fault(scenario="a migration fails to apply while building the throwaway target",
                   expect="one setup error naming file, statement and error (not env.db_url_present); the rest "
                          "skip pointing at it; exit 6 under -m rls, -m drift and -m triage")
def test_failed_build_is_one_setup_error_under_every_selection(product: Product, tmp_path: Path,
                                                                selection: str) -> None:
    workdir = _broken_project(tmp_path / "proj")
    run = product.run("-m", selection, "--target=embedded", f"--workdir={workdir}", timeout=300)
    assert run.returncode == 6, run.output[-3000:]
    told = findings(run)
    assert len(told) == 1, [(r["nodeid"], r["outcome"], r["title"]) for r in told]
    setup = told[0]
    assert setup["outcome"] == "inconclusive" and setup["severity"] is None
    assert setup["cause"]["kind"] == "setup" and setup["check_id"] != "env.db_url_present"
    assert "could not be built" in setup["title"]
    assert re.search(r"20260101000001_broken\.sql(:\d+)?: at statement 2", setup["title"]), setup["title"]
    assert 'relation "missing_table" does not exist' in setup["title"]
    assert "SUPABASE_DB_URL" not in setup["message"]
    others = [r for r in run.results if r is not setup]
    assert others and {r["outcome"] for r in others} == {"skipped"}
    assert sum((r.get("cause") or {}).get("first_nodeid") == setup["nodeid"] for r in others) >= 1
    assert "checks did not run" in run.output and "no check failed (0 checks ran)" not in run.output
    no_internals(run)


# --- gates: --fail-on, waivers, exit codes -------------------------------------------------------

def _p3_project(root: Path) -> Path:
    """A project whose only fault is a P3: a migration version that is not a 14-digit timestamp."""
    folder = root / "supabase" / "migrations"
    folder.mkdir(parents=True)
    (folder / "20260101000000_ok.sql").write_text("create table ok (x int);\n")
    (folder / "2026_short.sql").write_text("create table short (x int);\n")
    return root


def _hygiene(product: Product, tmp_path: Path, dsn: str, *extra: str) -> ProductRun:
    workdir = _p3_project(tmp_path / "proj")
    return product.run("checks/test_migrations.py", "-k", "applied_by_the_cli", "--target=t", f"--workdir={workdir}",
                       *extra, targets_toml=url_target(), env={"T_DB_URL": dsn})


def _waivers(tmp_path: Path, expires: str, check: str = "migrations.folder_hygiene") -> Path:
    path = tmp_path / "waivers.toml"
    path.write_text(textwrap.dedent(f"""
        [[waiver]]
        check = "{check}"
        object = "*2026_short.sql"
        reason = "legacy file, renamed in the next release"
        owner = "dba@example.com"
        expires = {expires}
        """))
    return path


@pytest.mark.fault(scenario="a P3 finding with --fail-on=P2 (pre-deploy gate on P0-P2)",
                   expect="exit 0, the P3 still reported as failed; without --fail-on: exit 1")
def test_fail_on_gates_by_severity_and_keeps_the_finding_visible(product: Product, tmp_path: Path,
                                                                  supabase_server: EmbeddedInfo) -> None:
    strict = _hygiene(product, tmp_path / "a", supabase_server.dsn)
    assert strict.returncode == 1, strict.output[-3000:]
    assert strict.outcome("migrations.folder_hygiene") == "failed"
    assert strict.result("migrations.folder_hygiene")["severity"] == "P3"
    gated = _hygiene(product, tmp_path / "b", supabase_server.dsn, "--fail-on=P2")
    assert gated.returncode == 0, gated.output[-3000:]
    assert gated.outcome("migrations.folder_hygiene") == "failed"
    assert "P3 - hygiene" in gated.output
    bad = _hygiene(product, tmp_path / "c", supabase_server.dsn, "--fail-on=P9")
    assert bad.returncode == 4 and "--fail-on 'P9' is not a severity" in bad.output


@pytest.mark.fault(scenario="a finding covered by a waiver (check id + object glob, owner, expiry)",
                   expect="outcome 'waived' in JSON, JUnit and terminal; exit 0")
def test_waived_finding_stays_visible_and_passes_the_gate(product: Product, tmp_path: Path,
                                                          supabase_server: EmbeddedInfo) -> None:
    future = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    run = _hygiene(product, tmp_path, supabase_server.dsn, f"--waivers={_waivers(tmp_path, future)}")
    assert run.returncode == 0, run.output[-3000:]
    result = run.result("migrations.folder_hygiene")
    assert result["outcome"] == "waived" and result["severity"] == "P3"
    waiver = result["findings"][0]["waiver"]
    assert waiver["owner"] == "dba@example.com" and waiver["expired"] is False
    assert "1 checks waived" in run.output and "dba@example.com" in run.output
    props = {p.get("name"): p.get("value") for p in run.junit().iter("property")}
    assert props.get("outcome") == "waived"


@pytest.mark.fault(scenario="the waiver of a finding has expired",
                   expect="the finding fails again (exit 1) and says which waiver expired")
def test_expired_waiver_fails(product: Product, tmp_path: Path, supabase_server: EmbeddedInfo) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    run = _hygiene(product, tmp_path, supabase_server.dsn, f"--waivers={_waivers(tmp_path, past)}",
                   "--fail-on=P0")
    assert run.returncode == 1, run.output[-3000:]  # an expired waiver fails whatever --fail-on says
    assert run.outcome("migrations.folder_hygiene") == "failed"
    assert f"waiver expired on {past}" in run.message("migrations.folder_hygiene")


@pytest.mark.fault(scenario="waivers file without an owner", expect="usage error (exit 4) naming the entry and key")
def test_waivers_file_is_validated(product: Product, tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text('[[waiver]]\ncheck = "x"\nobject = "*"\nreason = "r"\nexpires = 2030-01-01\n')
    run = product.run("checks/test_database.py", f"--waivers={path}")
    assert run.returncode == 4, run.output[-2000:]
    assert "waiver #1: missing owner" in run.output and "Traceback" not in run.output


# --- report names, retry-timeout -----------------------------------------------------------------

@pytest.mark.fault(scenario="two runs in the same second write to one reports folder",
                   expect="each run's HTML/JUnit/JSON get their own names; nothing is overwritten")
def test_report_names_are_unique_per_run(product: Product, tmp_path: Path, supabase_server: EmbeddedInfo) -> None:
    reports = tmp_path / "shared-reports"
    reports.mkdir()
    # Claim every name a run could take in the next minute, as an earlier run in the same second would.
    now = datetime.now(UTC)
    taken = {}
    for s in range(0, 90):
        stem = "t-" + (now + timedelta(seconds=s)).strftime("%Y%m%dT%H%M%SZ")
        for suffix in (".html", ".xml", ".json"):
            (reports / f"{stem}{suffix}").write_text("earlier run")
            taken[f"{stem}{suffix}"] = "earlier run"
    run = product.run("checks/test_database.py", "--target=t", f"--reports-dir={reports}",
                      targets_toml=url_target(), env={"T_DB_URL": supabase_server.dsn})
    assert run.returncode == 0, run.output[-2000:]
    assert all((reports / name).read_text() == "earlier run" for name in taken)
    new = {p.name for p in reports.iterdir()} - set(taken)
    assert {Path(n).suffix for n in new} == {".html", ".xml", ".json"}, new
    assert len({Path(n).stem for n in new}) == 1


class FlakyProxy:
    """Forwards loopback TCP to a real server, after refusing the first ``refuse`` connections."""

    def __init__(self, upstream_port: int, refuse: int) -> None:
        self.port = cluster.free_port()
        self.upstream = upstream_port
        self.refuse = refuse
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            if self.refuse > 0:
                self.refuse -= 1
                client.close()  # what a server still starting looks like to libpq: the connection drops
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.mark.fault(scenario="database still starting when the gate runs (first connections dropped)",
                   expect="--retry-timeout=60: db_reachable passes once it answers; without it: P1 fail")
def test_retry_timeout_waits_for_the_database(product: Product, supabase_server: EmbeddedInfo) -> None:
    for retry, expected in ((None, "failed"), ("60", "passed")):
        proxy = FlakyProxy(supabase_server.port, refuse=2)
        try:
            dsn = supabase_server.dsn.replace(f":{supabase_server.port}/", f":{proxy.port}/")
            args = ["checks/test_database.py", "--target=t"] + ([f"--retry-timeout={retry}"] if retry else [])
            run = product.run(*args, targets_toml=url_target(), env={"T_DB_URL": dsn})
        finally:
            proxy.close()
        assert run.outcome("triage.db_reachable") == expected, run.output[-3000:]
        assert run.returncode == (0 if expected == "passed" else 1)
    bad = product.run("checks/test_database.py", "--retry-timeout=soon")
    assert bad.returncode == 4 and "--retry-timeout 'soon'" in bad.output


def test_exit_codes_are_documented_in_the_readme() -> None:
    from dbrunbook.outcomes import EXIT_CODES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in EXIT_CODES:
        assert f"| {code} |" in section, code



# --- one finding per cause (the RLS-side causes raised by the RLS checks, deduplicated here) --------

@contextmanager
def demo_clone(server: EmbeddedInfo, *setup: str) -> Iterator[str]:
    """A clone of the demo database (name), with ``setup`` statements run on it as the superuser."""
    name = clone_database(server.admin_dsn)
    try:
        with psycopg.connect(with_db(server.admin_dsn, name), autocommit=True) as conn:
            for statement in setup:
                conn.execute(statement)  # type: ignore[arg-type]
        yield name
    finally:
        drop_database(server.admin_dsn, name)


def one_cause(run: ProductRun, kind: str) -> dict[str, Any]:
    """The run told exactly one thing, a cause of ``kind``, and no P0."""
    told = findings(run)
    assert p0s(run) == [] and len(told) == 1, [(r["nodeid"], r["outcome"], r["title"][:120]) for r in told]
    assert told[0]["outcome"] == "inconclusive" and told[0]["cause"]["kind"] == kind, told[0]
    no_internals(run)
    return told[0]


@pytest.mark.fault(scenario="probe login role without BYPASSRLS (-m 'triage or rls', demo contract)",
                   expect="0 P0; one 'rights' cause naming BYPASSRLS; the matrix, forged claims and data checks "
                          "skip pointing at it; exit 6")
def test_probe_role_without_bypassrls_is_one_rights_cause(product: Product, supabase_server: EmbeddedInfo) -> None:
    role = f"verdicts_probe_{os.getpid()}"
    grants = [f"create role {role} login password 'probe' nobypassrls in role pg_monitor",
              f"grant authenticated, anon to {role}",
              f"grant usage on schema public, core, auth, supabase_migrations to {role}",
              f"grant select on all tables in schema public, core, supabase_migrations to {role}"]
    with demo_clone(supabase_server, *grants) as name:
        dsn = with_db(supabase_server.dsn, name).replace(f"postgres:{supabase_server.password}@", f"{role}:probe@")
        try:
            run = product.run("-m", "triage or rls", "--target=t", targets_toml=demo_target(),
                              env={"T_DB_URL": dsn}, timeout=300)
        finally:
            with psycopg.connect(supabase_server.admin_dsn, autocommit=True) as conn:
                conn.execute(f"drop database if exists {name} with (force)")  # type: ignore[arg-type]
                conn.execute(f"drop role if exists {role}")  # type: ignore[arg-type]
    cause = one_cause(run, "rights")
    assert "lacks BYPASSRLS" in cause["title"] and "postgres" in cause["cause"]["fix"]
    stopped = [r for r in run.results if (r.get("cause") or {}).get("first_nodeid") == cause["nodeid"]]
    assert {r["check_id"] for r in stopped} >= {"rls.read_isolation", "rls.matrix_has_data"}
    assert run.outcome("triage.db_reachable") == "passed" and run.returncode == 6


@pytest.mark.fault(scenario="the contract's seed_sql fails (writable clone of the demo)",
                   expect="0 P0; one setup cause naming the seed file and the error; exit 6")
def test_failing_seed_is_one_setup_cause(product: Product, tmp_path: Path, supabase_server: EmbeddedInfo) -> None:
    seed = tmp_path / "seed.sql"
    seed.write_text("insert into public.no_such_table values (1);\n")
    contract = tmp_path / "contracts.toml"
    text = (Path(__file__).resolve().parents[1] / "rls_contracts" / "contracts.toml").read_text()
    assert "\n[contract]\n" in text
    contract.write_text(text.replace("\n[contract]\n", f'\n[contract]\nseed_sql = "{seed}"\n', 1))
    with demo_clone(supabase_server) as name:
        run = product.run("-m", "triage or rls", "--target=t", timeout=300,
                          targets_toml=url_target(f'read_only = false\ncontracts = "{contract}"\n'),
                          env={"T_DB_URL": with_db(supabase_server.dsn, name)})
    cause = one_cause(run, "setup")
    assert "seed_sql" in cause["title"] and "no_such_table" in cause["title"], cause["title"]
    assert run.returncode == 6 and run.outcome("triage.db_reachable") == "passed"


@pytest.mark.fault(scenario="probe role's statement_timeout is 1 ms (ALTER ROLE ... SET), -m 'triage or rls'",
                   expect="our local timeouts lift it: no finding at all, exit 0")
def test_one_millisecond_role_timeout_gives_no_false_finding(product: Product,
                                                               supabase_server: EmbeddedInfo) -> None:
    with demo_clone(supabase_server) as name:
        with psycopg.connect(supabase_server.admin_dsn, autocommit=True) as conn:
            conn.execute(f"alter role postgres in database {name} set statement_timeout = '1ms'")  # type: ignore[arg-type]
        run = product.run("-m", "triage or rls", "--target=t", targets_toml=demo_target(), timeout=300,
                          env={"T_DB_URL": with_db(supabase_server.dsn, name)})
    assert findings(run) == [], [(r["nodeid"], r["title"][:120]) for r in findings(run)]
    assert run.returncode == 0 and run.outcome("rls.read_isolation") == "passed"
    no_internals(run)


@pytest.mark.fault(scenario="probes slower than statement_timeout (statement_timeout_ms = 1), -m 'triage or rls'",
                   expect="0 P0, no verdict from a cancelled probe; one P2 'timeout' cause, the checks it stopped "
                          "skip pointing at it; exit 6")
def test_probes_slower_than_statement_timeout_are_one_timeout_cause(product: Product,
                                                                     supabase_server: EmbeddedInfo) -> None:
    toml = demo_target("[targets.t.thresholds]\nstatement_timeout_ms = 1\n")
    with demo_clone(supabase_server) as name:
        run = product.run("-m", "triage or rls", "--target=t", targets_toml=toml, timeout=300,
                          env={"T_DB_URL": with_db(supabase_server.dsn, name)})
    told = findings(run)
    assert p0s(run) == [] and len(told) == 1, [(r["nodeid"], r["outcome"], r["title"][:120]) for r in told]
    if told[0]["check_id"] == "triage.db_reachable":
        # Even `select 1` did not fit in 1 ms: one P1 verdict that names the setting, every other check skips.
        assert told[0]["outcome"] == "failed" and "statement" in told[0]["message"], told[0]["message"]
        assert run.returncode == 1
        return
    cause = one_cause(run, "timeout")
    assert cause["severity"] == "P2" and "statement timeout" in cause["title"], cause["title"]
    stopped = [r for r in run.results if (r.get("cause") or {}).get("first_nodeid") == cause["nodeid"]]
    assert len(stopped) >= 2 and {r["outcome"] for r in stopped} == {"inconclusive", "skipped"}
    assert run.returncode == 6


@pytest.mark.parametrize("selection", ["rls", "drift", "locks"])
@pytest.mark.fault(scenario="database down before the run, a selection without triage.db_reachable",
                   expect="one P1 'unreachable' cause (never a P0 at an RLS check's own severity); every other "
                          "check skips pointing at it; exit 6")
def test_database_down_is_one_p1_cause_whatever_the_selection(product: Product, stopped_server_dsn: str,
                                                             selection: str) -> None:
    run = product.run("-m", selection, "--target=t", targets_toml=demo_target(), env={"T_DB_URL": stopped_server_dsn})
    cause = one_cause(run, "target_gone")
    assert cause["severity"] == "P1" and "t is unreachable" in cause["title"], cause["title"]
    stopped = [r for r in run.results if (r.get("cause") or {}).get("first_nodeid") == cause["nodeid"]]
    assert len(stopped) >= 2
    assert run.returncode == 6


CRASHING_P0 = '''
import pytest


@pytest.mark.check("selftest.crash_p0", severity="P0", runbook="Diagnosis 4")
def test_crashes(check):
    return {"customers": 1}["contacts"]
'''


@pytest.mark.fault(scenario="a P0-marked check crashes (KeyError: a dbrunbook bug)",
                   expect="failed without a severity ('crashed'), no ESCALATE/P0 line; exit 1 even with --fail-on=P0")
def test_a_crashed_p0_check_is_no_p0_verdict(product: Product, tmp_path: Path) -> None:
    from conftest import REPO

    test_file = tmp_path / "test_crash.py"
    test_file.write_text(CRASHING_P0)
    run = product.run(f"--rootdir={REPO}", f"--config-file={REPO / 'pyproject.toml'}", str(test_file),
                      "--target=embedded", "--fail-on=P0")
    result = run.result("selftest.crash_p0")
    assert result["outcome"] == "failed" and result["severity"] is None and result.get("crashed") is True, result
    assert result["title"] == "KeyError: 'contacts'"
    assert "ESCALATE" not in run.output and "P0 - " not in run.output
    assert "1 checks crashed" in run.output
    assert run.returncode == 1, run.output[-2000:]


@pytest.mark.fault(scenario="--workdir whose supabase/migrations is empty, -m 'triage or drift'",
                   expect="0 P0; one setup cause naming the folder (not every object and applied version as "
                          "drift); exit 6")
def test_empty_migrations_folder_is_one_setup_cause(product: Product, tmp_path: Path,
                                                   supabase_server: EmbeddedInfo) -> None:
    folder = tmp_path / "app" / "supabase" / "migrations"
    folder.mkdir(parents=True)
    with demo_clone(supabase_server) as name:
        run = product.run("-m", "triage or drift", "--target=t", f"--workdir={tmp_path / 'app'}", timeout=300,
                          targets_toml=demo_target(), env={"T_DB_URL": with_db(supabase_server.dsn, name)})
    cause = one_cause(run, "setup")
    assert str(folder) in cause["title"] and "holds no migration file" in cause["title"], cause["title"]
    stopped = {r["check_id"] for r in run.results if (r.get("cause") or {}).get("first_nodeid") == cause["nodeid"]}
    assert {"drift.tables", "migrations.no_remote_only_versions"} <= stopped, stopped
    assert run.outcome("triage.db_reachable") == "passed" and run.returncode == 6
