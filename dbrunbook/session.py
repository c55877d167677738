"""Safe probe sessions (design.md "Safety"): bounded, labelled, read-only where required.

Every probe connection carries ``connect_timeout``, TCP keepalives, ``tcp_user_timeout``,
``application_name=dbrunbook`` and ``prepare_threshold=None`` (so it works through a transaction
pooler); every probe transaction starts by setting ``statement_timeout``, ``lock_timeout`` and
``idle_in_transaction_session_timeout`` *locally*, which also holds behind a transaction pooler
where session ``SET``s do not stick. On read-only targets transactions are ``BEGIN READ ONLY``.

The server's timeouts only help while the server runs. A frozen server (SIGSTOP, a hung VM, a
partition that still ACKs) answers nothing, and keepalives are answered by its kernel. So every
wait on a probe connection (statement, fetch, commit, rollback) also has a *client* deadline,
``statement_timeout`` + :data:`CLIENT_GRACE_S`: when it passes, we shut our own socket (the statement
is abandoned on our side; nothing is cancelled on the server) and raise
``Inconclusive("target_gone")``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dbrunbook.config import Thresholds
from dbrunbook.outcomes import Inconclusive

if TYPE_CHECKING:
    import psycopg

APPLICATION_NAME = "dbrunbook"

_LOCAL_TIMEOUTS = (
    "select set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true),"
    " set_config('idle_in_transaction_session_timeout', %s, true)"
)


@dataclass(frozen=True)
class SessionPolicy:
    """What a probe session may do and how long it may wait."""

    read_only: bool
    thresholds: Thresholds


#: Seconds the client waits for an answer beyond the server's own statement_timeout before it
#: concludes that the server stopped answering (the server's timeout normally answers first).
CLIENT_GRACE_S = 2.0

#: What a person does when a target stops answering mid-run.
GONE_FIX = ("check the server from another shell (psql \"$SUPABASE_DB_URL\" -c 'select 1'; Supabase: "
            "Dashboard > Database health / Logs); rerun when it answers")


def client_timeout_s(thresholds: Thresholds) -> float:
    """The client deadline of one wait on a probe connection (statement, fetch, commit)."""
    return thresholds.statement_timeout_ms / 1000 + CLIENT_GRACE_S


def connect_params(thresholds: Thresholds, application_name: str = APPLICATION_NAME) -> dict[str, Any]:
    """The libpq settings every connection we open carries: bounded connect, dead peers noticed."""
    connect_s = max(1, round(thresholds.connect_timeout_s))
    return {
        "connect_timeout": connect_s,
        "application_name": application_name,
        # Dead peers are noticed instead of waited on forever: keepalives for an idle socket,
        # tcp_user_timeout for data the peer never acknowledges (a partition, a dead host).
        "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
        "tcp_user_timeout": int((connect_s + client_timeout_s(thresholds)) * 1000),
    }


def stopped_answering(target: str, since: float | None = None) -> Inconclusive:
    """The ``target_gone`` cause: ``prod stopped answering at 03:12:09 UTC``."""
    at = datetime.fromtimestamp(since if since is not None else time.time(), UTC).strftime("%H:%M:%S")
    return Inconclusive("target_gone", f"{target} stopped answering at {at} UTC", fix=GONE_FIX)


def abandon(conn: psycopg.Connection[Any]) -> None:
    """Shut our own socket and close: a wait on it ends at once; nothing is sent to cancel anything."""
    with contextlib.suppress(Exception):
        fd = conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        conn.close()


@functools.cache
def probe_connection_class() -> type[psycopg.Connection[Any]]:
    """``psycopg.Connection`` whose every wait has a client deadline (built lazily: psycopg is optional)."""
    import psycopg
    from psycopg.errors import _WaitTimeout

    class ProbeConnection(psycopg.Connection[Any]):
        """A connection that gives up on a server that does not answer within ``client_timeout_s``."""

        client_timeout_s: float | None = None
        target_label: str = "the target"
        on_gone: Callable[[Inconclusive], None] | None = None
        #: Set when this connection missed its deadline: later use raises it (the same cause), and
        #: ``rollback()`` is a no-op (the server rolls back when it sees the socket closed).
        gone: Inconclusive | None = None

        def execute(self, *args: Any, **kwargs: Any) -> Any:
            if self.gone is not None:
                raise self.gone
            return super().execute(*args, **kwargs)

        def cursor(self, *args: Any, **kwargs: Any) -> Any:
            if self.gone is not None:
                raise self.gone
            return super().cursor(*args, **kwargs)

        def commit(self) -> None:
            if self.gone is not None:
                raise self.gone
            super().commit()

        def rollback(self) -> None:
            if self.gone is None:
                super().rollback()

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            limit = self.client_timeout_s
            if limit is not None and (timeout is None or timeout > limit):
                timeout = limit
            since = time.time()
            try:
                return super().wait(gen, interval, timeout)
            except _WaitTimeout:
                gone = self.gone = stopped_answering(self.target_label, since)
                abandon(self)
                if self.on_gone is not None:
                    self.on_gone(gone)
                raise gone from None

    return ProbeConnection


def bound(conn: psycopg.Connection[Any], thresholds: Thresholds, *, target: str = "the target",
          on_gone: Callable[[Inconclusive], None] | None = None) -> None:
    """Give a connection made by :func:`probe_connection_class` its client deadline (pools call this)."""
    conn.client_timeout_s = client_timeout_s(thresholds)  # type: ignore[attr-defined]
    conn.target_label = target  # type: ignore[attr-defined]
    conn.on_gone = on_gone  # type: ignore[attr-defined]


def connect(dsn: str, policy: SessionPolicy, *, application_name: str = APPLICATION_NAME, target: str = "the target",
            on_gone: Callable[[Inconclusive], None] | None = None,
            **overrides: Any) -> psycopg.Connection[dict[str, Any]]:
    """Open one probe connection with the safety settings; psycopg is imported lazily.

    The connect is bounded by ``connect_timeout``; every later wait by :func:`client_timeout_s`, after
    which ``on_gone`` is told and ``Inconclusive("target_gone")`` raised.

    :raises psycopg.OperationalError: unreachable, refused, auth, TLS... (see ``classify``)
    """
    from psycopg.rows import dict_row

    params = connect_params(policy.thresholds, application_name)
    params.update(overrides)
    conn: psycopg.Connection[dict[str, Any]] = probe_connection_class().connect(
        dsn, autocommit=False, prepare_threshold=None, row_factory=dict_row, **params)
    bound(conn, policy.thresholds, target=target, on_gone=on_gone)
    conn.read_only = policy.read_only
    return conn


#: Seed SQL every probe transaction starts with (RLS write probes on writable targets); see ``seeding``.
_SEED: ContextVar[str | None] = ContextVar("dbrunbook_seed", default=None)


@contextmanager
def seeding(seed_sql: str | None) -> Iterator[None]:
    """Every probe transaction opened inside this block starts by running ``seed_sql``.

    The seed is rolled back with each transaction, like everything a probe writes; use it only on
    targets that allow writes. Empty tenant tables then still get a meaningful isolation verdict.
    """
    token = _SEED.set(seed_sql)
    try:
        yield
    finally:
        _SEED.reset(token)


def seed_active() -> bool:
    """Whether probe transactions start with a seed right now."""
    return bool(_SEED.get())


def run_seed(conn: psycopg.Connection[Any]) -> None:
    """Run the active seed, if any, inside a released savepoint.

    Rows the seed writes then carry a subtransaction id as xmin, so write probes that find their own
    rows with ``xmin = pg_current_xact_id()`` never mistake seed rows for theirs.
    """
    seed = _SEED.get()
    if seed:
        conn.execute("savepoint dbrunbook_seed")
        conn.execute(seed.encode())
        conn.execute("release savepoint dbrunbook_seed")


#: Probe transactions that write (a seed, a write probe) take turns, whichever connection of the
#: target they run on (the RLS matrix probes ahead in a forked child, dbrunbook/rls/prefetch.py): two
#: transactions seeding or inserting the same keys would otherwise wait on each other's uncommitted
#: rows until lock_timeout, and a verdict would depend on timing. A read-only transaction without a
#: seed holds no row lock and waits on none of theirs: it runs beside them.
class _Turns:
    """Reentrant for the thread that holds it, exclusive for every other thread and, once shared, process.

    Not a ``multiprocessing`` RLock: a child forked while this process holds the turn would copy its
    owner (same thread id) and think it holds it too. Here the owner includes the pid.
    """

    #: While waiting for the turn, look this often whether a forked holder died (``on_wait``).
    POLL_S = 0.2

    def __init__(self) -> None:
        self._lock: Any = threading.Lock()
        self._owner: tuple[int, int] | None = None
        self._depth = 0
        self.shared = False
        #: Called between slices of a wait: reaps dead children (a killed one never releases the turn).
        self.on_wait: Callable[[], None] | None = None

    def share(self, on_wait: Callable[[], None]) -> None:
        """Exclusive across processes forked from now on (called while no probe transaction runs)."""
        self.on_wait = on_wait
        if not self.shared:
            self._lock, self.shared = _fork_shared_lock(), True

    def forget_dead_holder(self) -> None:
        """A fresh shared lock: the only other process that took turns died, maybe holding the turn.

        A killed child never releases it, and every later probe transaction would wait out its timeout.
        Called by this process between its probe transactions (it holds no turn then).
        """
        if self.shared and self._owner is None:
            self._lock = _fork_shared_lock()

    def acquire(self, timeout: float) -> bool:
        me = (os.getpid(), threading.get_ident())
        if self._owner == me:
            self._depth += 1
            return True
        deadline = time.monotonic() + timeout
        while not self._lock.acquire(timeout=max(0.0, min(self.POLL_S, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return False
            if self.on_wait is not None:
                self.on_wait()  # may give us a fresh lock (forget_dead_holder)
        self._owner, self._depth = me, 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()


def _fork_shared_lock() -> Any:
    """A lock this process and the children it forks from now on share (a semaphore, unlinked at once)."""
    import multiprocessing

    return multiprocessing.get_context("fork").Lock()


_TURN = _Turns()


def forget_dead_turn_holder() -> None:
    """The forked child that took turns with this process died (killed): its turn, if it held one, is void."""
    _TURN.forget_dead_holder()


def share_turns_with_forks(on_wait: Callable[[], None]) -> None:
    """From now on turns are taken across processes too.

    A child forked after this call (the RLS matrix's probe-ahead process, rls/prefetch.py) and this
    process never run writing probe transactions at once. ``on_wait`` runs while this process waits
    for the turn: it reaps children that died and calls :func:`forget_dead_turn_holder`.
    """
    _TURN.share(on_wait)


@contextmanager
def probe_transaction(conn: psycopg.Connection[dict[str, Any]], policy: SessionPolicy, *,
                      writes: bool = True) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """One bounded transaction that always ends in ROLLBACK: probes never commit anything.

    ``writes=False``: the caller makes the transaction read-only before anything else runs in it, so
    without a seed it takes no turn.
    """
    from psycopg.pq import TransactionStatus

    turn = writes or seed_active()
    # The other connection's transaction is bounded by its own deadlines; twice that is a bug, not a wait.
    if turn and not _TURN.acquire(timeout=2 * (client_timeout_s(policy.thresholds) + CLIENT_GRACE_S)):
        raise Inconclusive("timeout", "another probe transaction of this run did not end within its deadlines",
                           fix="rerun; report it as a dbrunbook bug if it repeats")
    try:
        if conn.info.transaction_status == TransactionStatus.INERROR:
            # A statement run outside a probe transaction failed (a 1 ms statement_timeout can cancel
            # anything) and left the session aborted: this probe starts clean instead of failing with
            # InFailedSqlTransaction, which would read as a crashed check.
            conn.rollback()
        try:
            set_local_timeouts(conn, policy.thresholds)
            run_seed(conn)
            yield conn
        finally:
            if not conn.closed:
                conn.rollback()
    finally:
        if turn:
            _TURN.release()


#: Tries of the first statement of a transaction: a role whose own statement_timeout is tiny (1 ms)
#: may cancel even ``BEGIN`` or the ``set_config`` that lifts it; after that our local value holds.
_SET_LOCAL_TRIES = 3


def set_local_timeouts(conn: psycopg.Connection[Any], thresholds: Thresholds) -> None:
    """First statement of every probe transaction: our statement/lock/idle timeouts, ``SET LOCAL``.

    :raises psycopg.errors.QueryCanceled: the role's own statement_timeout cancelled it every time
    """
    import psycopg

    values = (f"{thresholds.statement_timeout_ms}ms", f"{thresholds.lock_timeout_ms}ms",
              f"{thresholds.idle_in_transaction_session_timeout_ms}ms")
    for attempt in range(_SET_LOCAL_TRIES):
        try:
            conn.execute(_LOCAL_TIMEOUTS, values)
            return
        except psycopg.errors.QueryCanceled:
            conn.rollback()
            if attempt == _SET_LOCAL_TRIES - 1:
                raise


def query(conn: psycopg.Connection[dict[str, Any]], policy: SessionPolicy, text: str,
          params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run one probe query in its own bounded, rolled-back transaction."""
    with probe_transaction(conn, policy) as tx:
        cur = tx.execute(text.encode(), params)
        return list(cur.fetchall()) if cur.description else []


@dataclass(frozen=True)
class ConnectFailure:
    """Why a connection failed, in the runbook's vocabulary."""

    cause: str  # refused | timeout | dns | auth | tls | pooler_tenant | pooler_limit | too_many | other
    summary: str
    runbook: str
    fix: str


def classify(exc: BaseException, *, host: str, port: int | None, elapsed_s: float) -> ConnectFailure:
    """Turn a libpq/psycopg connect error into a cause, a runbook step and a fix."""
    text = str(exc)
    low = text.lower()
    where = f"{host}:{port}" if port else host
    step = "Triage 1 / Diagnóstico 1 (Variáveis de ambiente e URLs)"
    if "tenant or user not found" in low or "enotfound" in low or "(enotfound)" in low:
        return ConnectFailure("pooler_tenant", f"pooler at {where} does not know this tenant/user ({_first(text)})",
                              step, "use the pooler user postgres.<project-ref> and the aws-N host shown in the "
                                    "dashboard's Connect dialog")
    if "emaxconn" in low or "max client connections" in low or "max clients reached" in low:
        return ConnectFailure("pooler_limit", f"pooler at {where} refuses more clients ({_first(text)})",
                              "Diagnóstico 2 (Locks e queries lentas) / Mitigação", "find who holds the pool "
                              "(pytest -m locks), lower service pool sizes or raise the pool size")
    if "too many clients" in low or "remaining connection slots are reserved" in low:
        return ConnectFailure("too_many", f"{where} has no free connection slots ({_first(text)})",
                              "Diagnóstico 2 / Mitigação (aumentar pool)",
                              "see pg_stat_activity for who holds connections (pytest -m locks)")
    if "password authentication failed" in low or "authentication failed" in low or "no password supplied" in low \
            or ("role \"" in low and "does not exist" in low):
        return ConnectFailure("auth", f"{where} rejected the credentials ({_first(text)})", step,
                              "check the user and password in SUPABASE_DB_URL (dashboard > Database > "
                              "Connection string); a pooler URL needs user postgres.<project-ref>")
    if "ssl" in low and ("required" in low or "certificate" in low or "handshake" in low or "unsupported" in low):
        return ConnectFailure("tls", f"TLS negotiation with {where} failed ({_first(text)})", step,
                              "remote Supabase needs sslmode=require; a local server may need sslmode=disable")
    if "could not translate host name" in low or "name or service not known" in low \
            or "temporary failure in name resolution" in low or "nodename nor servname" in low:
        return ConnectFailure("dns", f"host name {host!r} does not resolve", step,
                              "check the host in SUPABASE_DB_URL; docker-internal names like 'db' only "
                              "resolve inside the compose network (use 127.0.0.1:54322 from the host)")
    if "connection refused" in low or "econnrefused" in low:
        return ConnectFailure("refused", f"nothing accepts connections at {where} (ECONNREFUSED)", step,
                              "start the database (local: npx supabase start / supabase status) or fix the "
                              "host/port (5432 direct, 6543 pooler, 54322 local)")
    if "timeout" in low or "timed out" in low or "connection timeout expired" in low:
        return ConnectFailure("timeout", f"{where} did not answer within {elapsed_s:.1f}s (timeout)", step,
                              "the host is up but not answering as Postgres: firewall, wrong port "
                              "(API gateway?), or the server is overloaded")
    return ConnectFailure("other", f"cannot connect to {where}: {_first(text)}", step,
                          "run psql \"$SUPABASE_DB_URL\" -c 'select 1' to see the full error")


def _first(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else text[:300]


def timed_connect(dsn: str, policy: SessionPolicy) -> tuple[psycopg.Connection[dict[str, Any]], float]:
    """Connect and return the connection with the time it took (seconds)."""
    t0 = time.monotonic()
    conn = connect(dsn, policy)
    return conn, time.monotonic() - t0
