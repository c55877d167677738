"""Lock and session fault injectors for self-tests and benchmarks: real sessions on a real Postgres.

Each injector is a context manager that opens its own connections (superuser ``admin_dsn`` unless said
otherwise), makes the fault, waits until the server shows it, yields the pids involved and always
cleans up (rollback, close). Waiters are sent with libpq's asynchronous ``send_query`` so that no
thread blocks; each carries a ``statement_timeout`` so nothing outlives a crashed test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

SAFETY_TIMEOUT = "120s"
TENANT_SCHEMAS = ("public", "core")


@dataclass
class Fault:
    """Pids of one injected fault: who blocks (roots) and who waits."""

    roots: list[int] = field(default_factory=list)
    waiters: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pids(self) -> list[int]:
        return self.roots + self.waiters


def _conn(dsn: str, app: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn, application_name=app, autocommit=autocommit, connect_timeout=10)
    conn.execute(f"set statement_timeout = '{SAFETY_TIMEOUT}'")
    if not autocommit:
        conn.commit()
    return conn


def _send(dsn: str, app: str, sql: str) -> psycopg.Connection[Any]:
    """Open a connection and send ``sql`` without waiting for its result (it will block server-side)."""
    conn = _conn(dsn, app, autocommit=True)
    conn.pgconn.send_query(sql.encode())
    return conn


def wait_for(dsn: str, sql: str, params: tuple[Any, ...], *, timeout: float = 15.0) -> None:
    """Poll until ``sql`` returns true (the fault is visible to the server), bounded."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(sql, params).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"fault did not appear within {timeout}s: {sql} {params}")


def wait_lock_waiting(dsn: str, pids: list[int]) -> None:
    wait_for(dsn, "select count(*) = %s from pg_catalog.pg_stat_activity where pid = any(%s) "
                  "and wait_event_type = 'Lock'", (len(pids), pids))


def _close(conns: list[psycopg.Connection[Any]]) -> None:
    for conn in reversed(conns):
        with contextlib.suppress(Exception):
            # A query sent with send_query keeps running server-side after close (pg_sleep does not
            # notice the client left): cancel it, so no fault outlives its test.
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
                conn.cancel_safe(timeout=5)
        with contextlib.suppress(Exception):
            conn.close()


def tenant_tables(dsn: str) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("select format('%%I.%%I', n.nspname, c.relname) from pg_catalog.pg_class c "
                            "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
                            "where c.relkind in ('r', 'p') and n.nspname = any(%s) order by 1",
                            (list(TENANT_SCHEMAS),)).fetchall()
    return [r[0] for r in rows]


@contextlib.contextmanager
def access_exclusive_with_waiters(dsn: str, tables: list[str], *, waiters: int = 2,
                                  app: str = "supabase-migrate") -> Iterator[Fault]:
    """A migration-style ``LOCK TABLE ... ACCESS EXCLUSIVE`` left open, with readers queued behind it."""
    conns: list[psycopg.Connection[Any]] = []
    try:
        holder = _conn(dsn, app)
        conns.append(holder)
        holder.execute(f"lock table {', '.join(tables)} in access exclusive mode")  # idle in transaction now
        fault = Fault(roots=[holder.info.backend_pid])
        for i in range(waiters):
            waiter = _send(dsn, f"backoffice-api-{i}", f"select count(*) from {tables[0]}")
            conns.append(waiter)
            fault.waiters.append(waiter.info.backend_pid)
        wait_lock_waiting(dsn, fault.waiters)
        yield fault
    finally:
        _close(conns)


@contextlib.contextmanager
def row_lock_chain(dsn: str, table: str = "public.customers", *, depth: int = 3) -> Iterator[Fault]:
    """Three sessions updating the same row: A holds it, B waits on A's xid, C on B's tuple lock."""
    conns: list[psycopg.Connection[Any]] = []
    try:
        first = _conn(dsn, "agent-runtime-a")
        conns.append(first)
        row = first.execute(f"select id from {table} order by id limit 1").fetchone()
        assert row is not None, f"{table} has no rows"
        key = row[0]
        update = f"update {table} set updated_at = now() where id = '{key}'"
        first.execute(update)  # idle in transaction, holding the row lock
        fault = Fault(roots=[first.info.backend_pid], extra={"key": str(key)})
        for i in range(1, depth):
            waiter = _send(dsn, f"agent-runtime-{chr(97 + i)}", f"begin; {update}")
            conns.append(waiter)
            fault.waiters.append(waiter.info.backend_pid)
            wait_lock_waiting(dsn, fault.waiters)  # in order, so the chain is A <- B <- C
        yield fault
    finally:
        _close(conns)


@contextlib.contextmanager
def advisory_wait(dsn: str, key: int = 424242) -> Iterator[Fault]:
    """A session holding a session-level advisory lock and another waiting for it."""
    conns: list[psycopg.Connection[Any]] = []
    try:
        holder = _conn(dsn, "evolution-manager", autocommit=True)
        conns.append(holder)
        holder.execute("select pg_catalog.pg_advisory_lock(%s)", (key,))
        waiter = _send(dsn, "evolution-worker", f"select pg_catalog.pg_advisory_lock({key})")
        conns.append(waiter)
        fault = Fault(roots=[holder.info.backend_pid], waiters=[waiter.info.backend_pid])
        wait_lock_waiting(dsn, fault.waiters)
        yield fault
    finally:
        _close(conns)


@contextlib.contextmanager
def idle_in_transaction(dsn: str, *, app: str = "autentique-service") -> Iterator[Fault]:
    """A session that began a transaction, read something and went quiet (holds its snapshot/xmin)."""
    conn = _conn(dsn, app)
    try:
        conn.execute("select pg_catalog.txid_current(), count(*) from pg_catalog.pg_class")
        yield Fault(roots=[conn.info.backend_pid])
    finally:
        _close([conn])


@contextlib.contextmanager
def long_query(dsn: str, seconds: int = 90, *, app: str = "facebook-capi") -> Iterator[Fault]:
    """A running ``pg_sleep`` query (state active)."""
    conn = _send(dsn, app, f"select pg_catalog.pg_sleep({seconds})")
    pid = conn.info.backend_pid
    try:
        wait_for(dsn, "select exists (select from pg_catalog.pg_stat_activity where pid = %s and state = 'active')",
                 (pid,))
        yield Fault(roots=[pid])
    finally:
        _close([conn])


@contextlib.contextmanager
def prepared_transaction(dsn: str, gid: str = "dbrunbook-selftest-2pc") -> Iterator[Fault]:
    """A two-phase transaction left prepared (needs max_prepared_transactions > 0)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("begin")
        conn.execute("select pg_catalog.txid_current()")
        conn.execute(f"prepare transaction '{gid}'")
    try:
        yield Fault(extra={"gid": gid})
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"rollback prepared '{gid}'")


@contextlib.contextmanager
def deadlocks(dsn: str) -> Iterator[dict[str, int]]:
    """Keep producing deadlocks in the background (two sessions locking two advisory keys crosswise)."""
    stop = threading.Event()
    made = {"deadlocks": 0}

    def one_round(a: psycopg.Connection[Any], b: psycopg.Connection[Any]) -> None:
        a.execute("begin")
        b.execute("begin")
        a.execute("select pg_catalog.pg_advisory_xact_lock(9001)")
        b.execute("select pg_catalog.pg_advisory_xact_lock(9002)")
        b.pgconn.send_query(b"select pg_catalog.pg_advisory_xact_lock(9001)")
        try:
            a.execute("select pg_catalog.pg_advisory_xact_lock(9002)")
        except psycopg.errors.DeadlockDetected:
            made["deadlocks"] += 1
        with contextlib.suppress(Exception):
            a.execute("rollback")
        while b.pgconn.get_result() is not None:  # drain b's (granted or failed) result
            pass
        with contextlib.suppress(Exception):
            b.execute("rollback")

    def loop() -> None:
        a = _conn(dsn, "deadlock-a", autocommit=True)
        b = _conn(dsn, "deadlock-b", autocommit=True)
        for conn in (a, b):
            conn.execute("set deadlock_timeout = '10ms'")
        try:
            while not stop.is_set():
                with contextlib.suppress(psycopg.Error):
                    one_round(a, b)
                time.sleep(0.05)
        finally:
            _close([a, b])

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while made["deadlocks"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield made
    finally:
        stop.set()
        thread.join(timeout=10)


@contextlib.contextmanager
def hold_connections(dsn: str, count: int, *, app: str = "agent-runtime") -> Iterator[list[int]]:
    """Open ``count`` idle connections (what a pool at max size looks like to the server)."""
    conns = [_conn(dsn, app, autocommit=True) for _ in range(count)]
    try:
        yield [c.info.backend_pid for c in conns]
    finally:
        _close(conns)


@dataclass
class SmallCluster:
    """A throwaway PostgreSQL with few connection slots; ``dsn`` logs in as a non-superuser."""

    dsn: str
    admin_dsn: str
    password: str
    port: int
    max_connections: int
    reserved: int
    server_pid: int = 0
    logfile: Path | None = None


@contextlib.contextmanager
def small_cluster(max_connections: int = 8, superuser_reserved: int = 2,
                  settings: dict[str, str] | None = None) -> Iterator[SmallCluster]:
    """initdb + start a raw cluster with ``max_connections`` (no Supabase bootstrap: fast)."""
    from dbrunbook.targets import cluster, pginstall

    root = cluster.cache_root()
    run_as = cluster.RunAs.pick()
    install = pginstall.choose(None)
    run_dir = root / "run" / f"{os.getpid()}-small-{int(time.time() * 1000) % 100000000}"
    password = cluster.new_password()
    server = None
    try:
        cluster.initdb(install, run_dir / "data", password, run_as)
        server = cluster.start(install, run_dir / "data", run_as, owner_dir=run_dir, settings={
            "max_connections": str(max_connections),
            "superuser_reserved_connections": str(superuser_reserved),
            "shared_buffers": "16MB",
            **(settings or {}),
        })
        admin = f"postgresql://{cluster.SUPERUSER}:{password}@127.0.0.1:{server.port}/postgres?sslmode=disable"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"create role postgres login password '{password}' createdb")
            conn.execute("grant pg_monitor to postgres")
        yield SmallCluster(f"postgresql://postgres:{password}@127.0.0.1:{server.port}/postgres?sslmode=disable",
                           admin, password, server.port, max_connections, superuser_reserved,
                           server.process.pid, server.logfile)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


@contextlib.contextmanager
def frozen(postmaster_pid: int) -> Iterator[list[int]]:
    """SIGSTOP the postmaster and all its children (a hung server whose kernel still ACKs); SIGCONT after."""
    stopped: list[int] = []
    try:
        os.kill(postmaster_pid, signal.SIGSTOP)
        stopped.append(postmaster_pid)
        for child in _children(postmaster_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGSTOP)
                stopped.append(child)
        yield stopped
    finally:
        for pid in reversed(stopped):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _poll_until(admin_dsn: str, sql: str, deadline: float, release: threading.Event) -> bool:
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        while time.monotonic() < deadline and not release.is_set():
            row = conn.execute(sql).fetchone()
            if row and row[0]:
                return True
            time.sleep(0.01)
    return False


def freeze_when(admin_dsn: str, postmaster_pid: int, sql: str, *, timeout: float = 60.0) -> tuple[
        threading.Thread, threading.Event, dict[str, Any]]:
    """In a thread: poll ``sql`` (autocommit) until it returns true, then freeze the server until ``release``.

    Returns the thread, the release event and a dict that gets ``frozen_at`` (monotonic) and ``pids``.
    """
    release = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        if not _poll_until(admin_dsn, sql, time.monotonic() + timeout, release):
            return
        with frozen(postmaster_pid) as pids:
            state.update(frozen_at=time.monotonic(), pids=pids)
            release.wait(timeout=300)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, release, state


def crash_when(admin_dsn: str, postmaster_pid: int, sql: str, *, timeout: float = 60.0) -> tuple[
        threading.Thread, threading.Event, dict[str, Any]]:
    """In a thread: poll ``sql`` until true, then crash the server (SIGQUIT: immediate shutdown, backends die)."""
    release = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        if _poll_until(admin_dsn, sql, time.monotonic() + timeout, release):
            os.kill(postmaster_pid, signal.SIGQUIT)
            state["crashed_at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, release, state


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
