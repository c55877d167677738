"""Safe under production faults (issue 9): bounded when the server freezes, never the last slots."""

from __future__ import annotations

import html
import json
import threading
import time
from pathlib import Path
from urllib.parse import quote

import faults
import psycopg
import pytest
from psycopg import sql

from conftest import Product, ProductRun, demo_target, own_demo_server, url_target

#: The frozen-server bound: connect_timeout_s + statement_timeout + CLIENT_GRACE_S, plus the
#: product's own start and report writing. The subprocess timeout is the assertion: a run that
#: waits on the frozen server never ends and fails this test by TimeoutExpired.
CONNECT_S, STATEMENT_MS = 2, 2000
FROZEN_RUN_CAP_S = 90

#: The run is past its first connection and first query (``db_reachable``) when our session shows
#: anything else as its last statement: freezing then hits a probe in the middle of triage.
_MID_RUN = ("select exists (select from pg_catalog.pg_stat_activity where application_name = 'dbrunbook' "
            "and query <> '' and query !~* '(server_version|^\\s*(begin|rollback|commit)|set_config)')")


def _run_frozen(product: Product, args: tuple[str, ...], toml: str, dsn: str, admin_dsn: str, postmaster: int,
                when: str) -> ProductRun:
    """Run the product against ``dsn`` and freeze its server once ``when`` holds; thaw it afterwards."""
    thread, release, state = faults.freeze_when(admin_dsn, postmaster, when)
    try:
        run = product.run(*args, "--target=t", targets_toml=toml, env={"T_DB_URL": dsn}, timeout=FROZEN_RUN_CAP_S)
    finally:
        release.set()
        thread.join(timeout=30)
    assert state.get("pids"), f"the server was never frozen: the run finished first\n{run.output}"
    return run


_FAST = f"""
[targets.t.thresholds]
connect_timeout_s = {CONNECT_S}
statement_timeout_ms = {STATEMENT_MS}
"""


@pytest.mark.fault(scenario="server frozen mid-triage (postmaster and backends SIGSTOPped; kernel still ACKs)",
                   expect="run ends within connect_timeout + statement_timeout + 2 s + startup; 'stopped "
                          "answering at HH:MM:SS UTC' (target_gone); HTML/JSON/JUnit written; exit non-zero")
def test_frozen_server_ends_the_run_bounded_with_reports(product: Product) -> None:
    with faults.small_cluster(max_connections=20) as small:
        run = _run_frozen(product, ("-m", "triage"), url_target(_FAST), small.dsn, small.admin_dsn, small.server_pid,
                          _MID_RUN)
    assert run.returncode not in (0, 3), run.output  # neither green nor an INTERNALERROR
    assert "INTERNALERROR" not in run.output
    gone = [r for r in run.results if "t stopped answering at " in str(r.get("message") or "")]
    assert gone, run.output
    assert "UTC" in str(gone[0]["message"])
    files = run.report_files()
    assert {"html", "json", "xml"} <= set(files), files
    assert "stopped answering" in files["html"].read_text()


@pytest.mark.fault(scenario="probe role has statement_timeout = 1ms (ALTER ROLE ... SET)",
                   expect="our SET LOCAL timeouts come first and lift it: triage runs, no INTERNALERROR; "
                          "db_reachable passes or names the role setting")
def test_a_one_millisecond_role_statement_timeout_does_not_crash_the_run(product: Product) -> None:
    with faults.small_cluster(max_connections=20) as small:
        with psycopg.connect(small.admin_dsn, autocommit=True) as conn:
            conn.execute("alter role postgres set statement_timeout = '1ms'")
        run = product.run("-m", "triage", "--target=t", targets_toml=url_target(), env={"T_DB_URL": small.dsn},
                          timeout=120)
    assert "INTERNALERROR" not in run.output and run.returncode != 3, run.output
    reachable = run.result("triage.db_reachable")
    assert reachable["outcome"] == "passed" or "statement_timeout" in str(reachable.get("message")), run.output
    # our local timeouts held for the probes after the first one: nothing was cancelled by the 1 ms
    assert "canceling statement due to statement timeout" not in run.output, run.output


def _poll_free_slots(admin_dsn: str, available: int, stop: threading.Event, seen: list[int]) -> None:
    """Free ordinary slots, every 10 ms, from pg_stat_activity (the poller's own session not counted)."""
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        while not stop.is_set():
            row = conn.execute("select count(*) from pg_catalog.pg_stat_activity where backend_type = 'client backend'"
                               " and pid <> pg_catalog.pg_backend_pid()").fetchone()
            assert row is not None
            seen.append(available - int(row[0]))
            time.sleep(0.01)


@pytest.mark.fault(scenario="app holds 30 of 40 slots; the service URL names the target's server as localhost, "
                            "the target as 127.0.0.1",
                   expect="pool.service_ready not opened (skip naming the server by system_identifier); free slots "
                          "polled in pg_stat_activity never below pool_keep_free_slots = 5")
def test_pool_probe_keeps_free_slots_whatever_the_url_calls_the_server(product: Product) -> None:
    keep = 5
    toml = url_target(f"""
    [targets.t.thresholds]
    pool_keep_free_slots = {keep}

    [[targets.t.services]]
    name = "agent-runtime"
    db_url_env = "AGENT_DB_URL"
    pool_max_size = 10
    """)
    with faults.small_cluster(max_connections=40, superuser_reserved=3) as small:
        available = small.max_connections - small.reserved
        same_server = small.dsn.replace("@127.0.0.1:", "@localhost:")
        assert same_server != small.dsn
        stop, seen = threading.Event(), []
        with faults.hold_connections(small.dsn, 30):
            poller = threading.Thread(target=_poll_free_slots, args=(small.admin_dsn, available, stop, seen))
            poller.start()
            try:
                run = product.run("-m", "pool or locks", "--target=t", targets_toml=toml, timeout=120,
                                  env={"T_DB_URL": small.dsn, "AGENT_DB_URL": same_server})
            finally:
                stop.set()
                poller.join(timeout=10)
    assert len(seen) > 10 and min(seen) >= keep, (min(seen, default=None), run.output)
    assert run.outcome("pool.service_ready") == "skipped", run.output
    message = run.message("pool.service_ready")
    assert "not opened: agent-runtime's pool_max_size 10 would leave 0 of" in message, message
    assert "system_identifier" in message, message
    assert "not probed" in json.dumps(run.result("pool.prepared_statements")["evidence"]), run.output


#: The password catalogue: quote, backslash, double quote, @, /, % and non-ASCII.
CATALOGUE_PASSWORD = "Zq'8\\vK\"3@w/5%Ru✓é-Xy"


def _every_output(run: ProductRun) -> str:
    """Terminal (stdout, stderr) and every report file (HTML also unescaped), as one text."""
    texts = [run.stdout, run.stderr]
    for path in sorted(run.reports_dir.rglob("*")):
        if path.is_file():
            text = path.read_text(errors="replace")
            texts += [text, html.unescape(text)]
    return "\n".join(texts)


def _spellings(secret: str) -> set[str]:
    """The test's own oracle (not the product's): raw, conninfo-, URL-escaped, each as repr and JSON write it."""
    forms = {secret, secret.replace("\\", "\\\\").replace("'", "\\'"), quote(secret, safe=""), quote(secret)}
    once = {f for form in forms for f in (form, repr(form)[1:-1], json.dumps(form)[1:-1],
                                          json.dumps(form, ensure_ascii=False)[1:-1])}
    return once | {repr(f)[1:-1] for f in once}


def _leaks(text: str, secret: str) -> list[str]:
    """Spellings of ``secret`` (and 8-character pieces of its main spellings) found in ``text``."""
    found = sorted(v for v in _spellings(secret) if v in text)
    for form in (secret, quote(secret, safe=""), secret.replace("\\", "\\\\").replace("'", "\\'")):
        found += [form[i:i + 8] for i in range(len(form) - 7) if form[i:i + 8] in text]
    return found


@pytest.mark.fault(scenario="password with ' \\ \" @ / % and unicode; the database dies (SIGQUIT) mid-triage; "
                            "URL form, and conninfo form with -l --tb=long",
                   expect="no spelling of the password (raw, repr, backslash-, URL-, JSON-escaped, base64) nor any "
                          "8-character piece of it in the terminal, HTML, JUnit, JSON or evidence")
@pytest.mark.parametrize("form", ["url", "conninfo"])
def test_no_output_holds_the_password_after_the_database_dies(product: Product, form: str) -> None:
    pw = CATALOGUE_PASSWORD
    with faults.small_cluster(max_connections=20) as small:
        with psycopg.connect(small.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("create role leaky login password {} in role pg_monitor").format(sql.Literal(pw)))
        if form == "url":
            dsn, extra = f"postgresql://leaky:{quote(pw, safe='')}@127.0.0.1:{small.port}/postgres?sslmode=disable", ()
        else:
            escaped = pw.replace("\\", "\\\\").replace("'", "\\'")
            dsn = f"host=127.0.0.1 port={small.port} dbname=postgres user=leaky sslmode=disable password='{escaped}'"
            extra = ("-l", "--tb=long")
        thread, release, state = faults.crash_when(small.admin_dsn, small.server_pid, _MID_RUN)
        try:
            run = product.run("-m", "triage", "--target=t", *extra, targets_toml=url_target(), timeout=120,
                              env={"T_DB_URL": dsn})
        finally:
            release.set()
            thread.join(timeout=30)
    assert "crashed_at" in state, f"the database never died: the run finished first\n{run.output}"
    assert run.returncode not in (0, 3), run.output
    assert {"html", "json", "xml"} <= set(run.report_files()), run.report_files()
    everything = _every_output(run)
    assert "leaky" in everything  # the outputs do describe the failing connection...
    assert not _leaks(everything, pw), _leaks(everything, pw)  # ...but never its password


@pytest.mark.fault(scenario="password written into dbrunbook.toml db_url: user:pw@host, ?password=, conninfo "
                            "password=",
                   expect="usage error (exit 4) naming the file and db_url_env as the fix; the password not printed")
@pytest.mark.parametrize("db_url", [
    "postgresql://postgres:Hunter2-toml@127.0.0.1:5432/postgres",
    "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable&password=Hunter2-toml",
    "host=127.0.0.1 port=5432 user=postgres password=Hunter2-toml",
], ids=["userinfo", "query", "conninfo"])
def test_a_password_in_the_targets_file_is_refused_in_every_url_form(product: Product, db_url: str) -> None:
    toml = f"""
    [targets.t]
    kind = "url"
    db_url = "{db_url}"
    """
    run = product.run("-m", "triage", "--target=t", targets_toml=toml, timeout=60)
    assert run.returncode == 4, run.output
    assert "contains a password" in run.output and "db_url_env" in run.output, run.output
    assert "Hunter2-toml" not in run.output


@pytest.mark.parametrize(("marker", "extra"), [
    pytest.param("triage", "", marks=pytest.mark.fault(
        scenario="server frozen (SIGSTOP) in the middle of the RLS read matrix",
        expect="run ends bounded; 'stopped answering' (target_gone); no P0 and no RLS verdict from the "
               "cells after the freeze; reports written"), id="read-only"),
    # Writable: the matrix runs ahead on a second connection (dbrunbook/rls/prefetch.py) when the freeze hits.
    pytest.param("rls", "read_only = false", marks=pytest.mark.fault(
        scenario="server frozen (SIGSTOP) in the middle of the RLS matrix probed ahead on a second connection "
                 "(writable target)",
        expect="run ends bounded; 'stopped answering' (target_gone); no P0 and no RLS verdict from the "
               "cells after the freeze; reports written"), id="writable-probed-ahead"),
])
def test_frozen_server_mid_rls_matrix_gives_no_false_verdict(product: Product, marker: str, extra: str) -> None:
    in_matrix = ("select exists (select from pg_catalog.pg_stat_activity where application_name = 'dbrunbook' "
                 "and query ~ 'jsonb_build_object|dbrunbook\\.batch')")
    with own_demo_server() as (server, info):
        assert server.server is not None
        run = _run_frozen(product, ("rls_contracts/test_matrix.py", "-m", marker), demo_target(extra + _FAST),
                          info.dsn, info.admin_dsn, server.server.process.pid, in_matrix)
    assert run.returncode not in (0, 1, 3), run.output  # inconclusive, not a verdict failure nor a crash
    assert [r for r in run.results if "stopped answering at " in str(r.get("message") or "")], run.output
    assert not [r for r in run.results if r.get("severity") == "P0" and r["outcome"] == "failed"], run.output
    assert {"html", "json", "xml"} <= set(run.report_files())


BOOM = """
import os


def pytest_collection_finish(session):
    dsn = os.environ["T_DB_URL"]  # a local that -l prints in the INTERNALERROR traceback
    raise RuntimeError("a bug in a plugin, while holding " + dsn[:10])
"""


@pytest.mark.fault(scenario="INTERNALERROR (a crashing plugin hook) with -l --fulltrace while a local holds the DSN",
                   expect="exit 3 with the INTERNALERROR traceback and its locals, the password masked in every "
                          "spelling")
def test_an_internal_error_traceback_with_locals_holds_no_password(product: Product, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "boom.py").write_text(BOOM)
    pw = CATALOGUE_PASSWORD
    dsn = f"postgresql://leaky:{quote(pw, safe='')}@127.0.0.1:9/postgres?sslmode=disable"
    run = product.run("-p", "boom", "-l", "--fulltrace", "-m", "triage", "--target=t", targets_toml=url_target(),
                      timeout=60, env={"T_DB_URL": dsn, "PYTHONPATH": str(plugins)})
    assert run.returncode == 3 and "INTERNALERROR" in run.output, run.output
    assert "dsn" in run.output and "leaky" in run.output, run.output  # the locals are there...
    assert not _leaks(_every_output(run), pw), _leaks(_every_output(run), pw)  # ...without the password
