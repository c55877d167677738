"""The read-only proof: the suite against a read-only target whose server logs every statement.

A throwaway Supabase-shaped server (the demo project) with ``log_statement = 'all'`` and the
application_name in ``log_line_prefix``; the product runs as users run it against it, read-only.
Then its log is read back: what did our sessions (application_name ``dbrunbook*``) send?
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from conftest import Product, demo_target
from dbrunbook.resources import demo_workdir
from dbrunbook.targets.embedded import EmbeddedServer

PREFIX = "%m [%p] app=%a "
_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(?P<pid>\d+)\] app=(?P<app>\S*) "
                    r"(?P<level>[A-Z]+):\s+(?P<text>.*)$")
_STATEMENT = re.compile(r"^(?:statement|execute [^:]+):\s*(?P<sql>.*)$", re.DOTALL)
_WRITE = re.compile(r"^\s*(?:insert|update|delete|merge|create|alter|drop|truncate|grant|revoke|comment|vacuum|"
                    r"analyze|reindex|cluster|refresh|copy|security\s+label|import|reassign|lock)\b", re.IGNORECASE)
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_KILL = re.compile(r"pg_(?:cancel|terminate)_backend\s*\(", re.IGNORECASE)
_LOCAL_TIMEOUTS = re.compile(r"set_config\('statement_timeout', .*'lock_timeout'", re.DOTALL)
ALL_MARKERS = "triage or rls or drift or locks"
#: A service whose pool the pool probe opens (and whose pooling mode it probes) on the same server.
SERVICE = """
[[targets.t.services]]
name = "backoffice-api"
db_url_env = "SERVICE_DB_URL"
pool_max_size = 3
"""


@dataclass
class Entry:
    pid: int
    app: str
    level: str
    text: str


@dataclass
class ServerLog:
    path: Path
    start: int = 0
    entries: list[Entry] = field(default_factory=list)

    def read(self) -> list[Entry]:
        """Entries written since ``mark()`` (continuation lines joined to their entry)."""
        with self.path.open("rb") as handle:
            handle.seek(self.start)
            lines = handle.read().decode("utf-8", "replace").splitlines()
        entries: list[Entry] = []
        for line in lines:
            if m := _ENTRY.match(line):
                entries.append(Entry(int(m["pid"]), m["app"], m["level"], m["text"]))
            elif entries:
                entries[-1].text += "\n" + line
        return entries

    def mark(self) -> None:
        self.start = self.path.stat().st_size


@contextmanager
def logging_demo_server(setup_sql: str = "") -> Iterator[tuple[str, ServerLog]]:
    """The demo project on its own throwaway server (``setup_sql`` run first, as superuser), logging
    every statement with its pid and application_name."""
    server = EmbeddedServer(demo_workdir())
    info = server.start()
    assert server.server is not None
    try:
        with psycopg.connect(info.admin_dsn, autocommit=True) as conn:
            if setup_sql:
                conn.execute(setup_sql)
            conn.execute("alter system set log_statement = 'all'")
            conn.execute(f"alter system set log_line_prefix = '{PREFIX}'")
            conn.execute("alter system set log_min_messages = 'warning'")
            conn.execute("select pg_catalog.pg_reload_conf()")
        yield info.dsn, ServerLog(server.server.logfile)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def logged_server() -> Iterator[tuple[str, ServerLog]]:
    """The demo project on its own throwaway server, logging every statement with its application_name."""
    with logging_demo_server() as logged:
        yield logged


def _ours(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.app.startswith("dbrunbook")]


def _statements(entries: list[Entry]) -> list[tuple[int, str]]:
    found = []
    for e in entries:
        if e.level == "LOG" and (m := _STATEMENT.match(e.text)):
            found.append((e.pid, m["sql"].strip()))
    return found


def _transaction_violations(statements: list[tuple[int, str]]) -> list[str]:
    """Per session: every transaction is BEGIN READ ONLY and its first statement sets the local timeouts."""
    problems: list[str] = []
    state: dict[int, str] = {}  # pid -> "idle" | "begun" | "bounded"
    for pid, text in statements:
        head = _COMMENT.sub(" ", text).split(None, 2)[:2]
        word = head[0].lower() if head else ""
        current = state.get(pid, "idle")
        if word == "begin":
            if text.upper().rstrip(";") != "BEGIN READ ONLY":
                problems.append(f"[{pid}] {text[:120]}")
            state[pid] = "begun"
        elif word in ("rollback", "commit"):
            state[pid] = "idle"
        elif current == "begun":
            if not _LOCAL_TIMEOUTS.search(text):
                problems.append(f"[{pid}] first statement without local timeouts: {text[:160]}")
            state[pid] = "bounded"
        elif current == "idle":
            problems.append(f"[{pid}] outside a transaction: {text[:160]}")
    return problems


@pytest.mark.fault(scenario="the whole suite (-m 'triage or rls or drift or locks') against a read-only target "
                            "with log_statement = 'all'",
                   expect="the server log shows no write statement, no pg_cancel/terminate_backend, every "
                          "transaction BEGIN READ ONLY with local timeouts first")
def test_the_whole_suite_sends_only_bounded_read_only_transactions(
        product: Product, logged_server: tuple[str, ServerLog]) -> None:
    dsn, log = logged_server
    log.mark()
    run = product.run("-m", ALL_MARKERS, "--target=t", targets_toml=demo_target(SERVICE),
                      env={"T_DB_URL": dsn, "SERVICE_DB_URL": dsn}, timeout=600)
    assert run.returncode != 3 and "INTERNALERROR" not in run.output, run.output
    ours = _ours(log.read())
    statements = _statements(ours)
    assert len(statements) > 100, f"too few statements logged: {len(statements)}"
    assert run.outcome("pool.service_ready") == "passed", run.output
    assert any(e.app.startswith("dbrunbook-pool:") for e in ours), "the pool's sessions were not logged"
    writes = [f"[{pid}] {text[:160]}" for pid, text in statements
              if any(_WRITE.match(part) for part in _COMMENT.sub(" ", text).split(";"))]
    assert not writes, "\n".join(writes[:20])
    kills = [f"[{pid}] {text[:160]}" for pid, text in statements if _KILL.search(text)]
    assert not kills, "\n".join(kills)
    loose = _transaction_violations(statements)
    assert not loose, f"{len(loose)} violation(s):\n" + "\n".join(loose[:20])


@pytest.mark.fault(scenario="triage against a read-only target with log_statement = 'all'",
                   expect="zero ERROR lines from our sessions (application_name dbrunbook*) in the server log")
def test_triage_leaves_no_error_line_in_the_server_log(
        product: Product, logged_server: tuple[str, ServerLog]) -> None:
    dsn, log = logged_server
    log.mark()
    run = product.run("-m", "triage", "--target=t", targets_toml=demo_target(SERVICE),
                      env={"T_DB_URL": dsn, "SERVICE_DB_URL": dsn}, timeout=600)
    assert run.returncode != 3 and "INTERNALERROR" not in run.output, run.output
    ours = _ours(log.read())
    assert _statements(ours), "nothing of ours was logged: the proof proves nothing"
    errors = [f"[{e.pid}] {e.level}: {e.text[:300]}" for e in ours if e.level in ("ERROR", "FATAL", "PANIC")]
    assert not errors, f"{len(errors)} ERROR line(s) from our sessions:\n" + "\n".join(errors[:20])


def test_the_log_reader_catches_what_the_proof_must_refuse(tmp_path: Path) -> None:
    # The proof above is only as good as its reader: a synthetic log with each kind of violation.
    lines = [
        "2026-12-04 15:00:00.001 UTC [11] app=dbrunbook LOG:  statement: BEGIN",
        "2026-12-04 15:00:00.002 UTC [11] app=dbrunbook LOG:  execute <unnamed>: select 1",
        "2026-12-04 15:00:00.003 UTC [11] app=dbrunbook LOG:  statement: ROLLBACK",
        "2026-12-04 15:00:00.004 UTC [12] app=dbrunbook LOG:  statement: BEGIN READ ONLY",
        "2026-12-04 15:00:00.005 UTC [12] app=dbrunbook LOG:  execute <unnamed>: select set_config('statement_timeout',"
        " $1, true), set_config('lock_timeout', $2, true)",
        "2026-12-04 15:00:00.006 UTC [12] app=dbrunbook LOG:  statement: -- a comment that says lock",
        "\tupdate t set x = 1",
        "2026-12-04 15:00:00.007 UTC [12] app=dbrunbook LOG:  statement: select pg_terminate_backend(42)",
        "2026-12-04 15:00:00.008 UTC [13] app=psql LOG:  statement: delete from t",
        "2026-12-04 15:00:00.009 UTC [12] app=dbrunbook ERROR:  permission denied for table t",
    ]
    path = tmp_path / "server.log"
    path.write_text("\n".join(lines) + "\n")
    ours = _ours(ServerLog(path).read())
    statements = _statements(ours)
    assert [pid for pid, _ in statements] == [11, 11, 11, 12, 12, 12, 12]
    assert [t for _, t in statements if any(_WRITE.match(p) for p in _COMMENT.sub(" ", t).split(";"))] == [
        "-- a comment that says lock\n\tupdate t set x = 1"]
    assert [t for _, t in statements if _KILL.search(t)] == ["select pg_terminate_backend(42)"]
    assert _transaction_violations(statements) == [
        "[11] BEGIN", "[11] first statement without local timeouts: select 1"]
    assert [e.level for e in ours if e.level == "ERROR"] == ["ERROR"]


@pytest.mark.fault(scenario="-m rls (matrix, forged-claims property, structure) on a writable and on a read-only "
                            "target with log_statement = 'all'",
                   expect="zero ERROR lines from our sessions: forged claims the policies cannot cast (invalid "
                          "input syntax for type uuid) and refused writes are caught on the server")
@pytest.mark.parametrize("read_only", ["false", "true"])
def test_rls_leaves_no_error_line_in_the_server_log(
        product: Product, logged_server: tuple[str, ServerLog], read_only: str) -> None:
    # The forged-claims property sends claim values no uuid cast accepts ("42", "", "*", a boolean in
    # user_metadata) on purpose: a policy comparing text must not match them either. Each read runs in
    # the server-side batch (sql/rls_batch.sql), whose subtransaction catches the cast error.
    dsn, log = logged_server
    log.mark()
    run = product.run("-m", "rls", "--target=t", targets_toml=demo_target(f"read_only = {read_only}"),
                      env={"T_DB_URL": dsn}, timeout=600)
    assert run.returncode != 3 and "INTERNALERROR" not in run.output, run.output
    # The property ran (seeded, with its explicit sweep and generated examples), not skipped.
    assert run.outcome("rls.forged_claims") == "passed", run.output[-3000:]
    ours = _ours(log.read())
    assert _statements(ours), "nothing of ours was logged: the proof proves nothing"
    # ... and the uncastable values were sent (else the proof proves nothing about them).
    uncastable = re.compile(r'company_id\\*":(?:42\b|\\*"\*?\\*")')  # 42, "*" or "" (JSON in JSON: escaped)
    assert any(uncastable.search(e.text) for e in ours), "no uncastable forged claim was sent"
    errors = [f"[{e.pid}] {e.level}: {e.text[:300]}" for e in ours if e.level in ("ERROR", "FATAL", "PANIC")]
    assert not errors, f"{len(errors)} ERROR line(s) from our sessions:\n" + "\n".join(errors[:20])

