"""Pool readiness: open a real psycopg_pool the way a service would, and tell the pooler's mode.

A service pool is opened with the service's own URL, ``pool_min_size`` and ``pool_max_size``; then
``pool_max_size`` connections are held at once, each answers ``select 1``, and everything is
closed. Every wait is bounded by ``2 x connect_timeout_s``. Pool sessions carry
``application_name=dbrunbook-pool:<service>`` so the locks checks leave them out.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dbrunbook import connections, resources, session, urls
from dbrunbook.config import ServiceSpec, Thresholds
from dbrunbook.redact import REDACTOR
from dbrunbook.session import APPLICATION_NAME, ConnectFailure, SessionPolicy, classify
from dbrunbook.targets.url import register_url_secrets

if TYPE_CHECKING:
    import psycopg

POOL_RUNBOOK = "Sintomas comuns (ConnectionPool not started) / Diagnóstico 1"
# PgBouncer's own refusal texts, mapped to the Supavisor vocabulary classify() knows.
_PGBOUNCER = {"no more connections allowed": "(EMAXCONN) max client connections reached (pgbouncer)"}


@dataclass(frozen=True)
class ServiceUrl:
    """Where a service's pool connects, and where that came from (env var name, never the value)."""

    url: str | None = field(repr=False)  # holds the password: never in a traceback's locals
    source: str
    problem: str | None = None

    @property
    def host(self) -> str:
        """``host:port`` without credentials."""
        where = urls.address(self.url or "")
        return f"{where[0]}:{where[1]}" if where else "(unparsable URL)"


@dataclass
class PoolResult:
    """What happened when the pool was opened and filled."""

    service: str
    host: str
    wanted: int
    acquired: int = 0
    elapsed_s: float = 0.0
    failure: ConnectFailure | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every connection was acquired and answered."""
        return self.failure is None and self.acquired == self.wanted


def service_url(service: ServiceSpec, target_dsn: str | None) -> ServiceUrl:
    """The service's URL from its env chain (``db_url_env``); the target's URL when it declares none."""
    if not service.db_url_env:
        return ServiceUrl(target_dsn, "the target's DB URL (service declares no db_url_env)")
    for name in service.db_url_env:
        value = os.environ.get(name)
        if value:
            register_url_secrets(value)
            reason = urls.unparsable_reason(value)  # libpq's own error would quote a piece of the password
            if reason:
                return ServiceUrl(None, f"env {name}", f"{name} does not parse: {reason}; {service.name} "
                                                       "cannot connect with it either")
            return ServiceUrl(value, f"env {name}")
    names = " / ".join(service.db_url_env)
    return ServiceUrl(None, f"env {names}", f"{names} is not set: {service.name} would fail with "
                                            "'SUPABASE_DB_URL (or DATABASE_URL) is required'")


class _Capture(logging.Handler):
    """Keeps psycopg_pool's connection errors (the pool logs them and retries)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _classify(text: str, url: ServiceUrl, elapsed_s: float) -> ConnectFailure:
    for needle, meaning in _PGBOUNCER.items():
        if needle in text.lower():
            text = f"{meaning}: {text}"
    host, _, port = url.host.rpartition(":")
    return classify(Exception(text), host=host, port=int(port) if port.isdigit() else None, elapsed_s=elapsed_s)


@dataclass(frozen=True)
class Server:
    """The server a URL reaches, as it describes itself, with its connection slots."""

    addr: str | None
    port: int | None
    started: str
    system_identifier: str | None
    usage: connections.Usage

    @classmethod
    def of(cls, row: dict[str, Any], usage: connections.Usage) -> Server:
        """Build from a row of ``pool_server_identity.sql`` and the server's slots."""
        return cls(row["addr"], row["port"], str(row["started"]), row["system_identifier"], usage)

    def same_as(self, other: Server) -> bool:
        """The same running postmaster (a replica shares the system_identifier, not the start time)."""
        if self.system_identifier and other.system_identifier:
            return (self.system_identifier, self.started) == (other.system_identifier, other.started)
        return (self.addr, self.port, self.started) == (other.addr, other.port, other.started)

    def describe(self) -> str:
        """``127.0.0.1:5432 (system_identifier 73..., up since ...)``."""
        return (f"{self.addr or 'local socket'}:{self.port} (system_identifier {self.system_identifier or 'unreadable'}"
                f", up since {self.started})")


@dataclass
class Headroom:
    """Whether opening a service's pool keeps ``keep_free`` slots free, and what that was measured on."""

    service: str
    wants: int
    keep_free: int
    mode: str = "direct"  # direct | session | transaction | unknown
    server: Server | None = None
    same_server_as_target: bool | None = None
    pooler_free: int | None = None
    proven: list[str] = field(default_factory=list)
    not_proven: list[str] = field(default_factory=list)
    refused: str | None = None
    failure: ConnectFailure | None = None

    @property
    def ok(self) -> bool:
        """The pool may be opened."""
        return self.failure is None and self.refused is None

    def as_dict(self) -> dict[str, Any]:
        """Evidence: the server's own identity, the slots, the mode, what was and was not proven."""
        return {"mode": self.mode, "wants": self.wants, "keep_free": self.keep_free,
                "server": self.server.describe() if self.server else None,
                "server_slots": self.server.usage.describe() if self.server else None,
                "server_free": self.server.usage.headroom if self.server else None,
                "same_server_as_target": self.same_server_as_target, "pooler_free": self.pooler_free,
                "proven": self.proven, "not_proven": self.not_proven, "refused": self.refused}


def measure_server(url: str, thresholds: Thresholds) -> Server:
    """One read-only, bounded, rolled-back transaction on ``url``: who answers, and its slots.

    :raises psycopg.Error: the URL does not connect (classified by the caller)
    """
    policy = SessionPolicy(read_only=True, thresholds=thresholds)
    conn = session.connect(url, policy)
    try:
        return server_of(conn, policy)
    finally:
        conn.close()


def server_of(conn: psycopg.Connection[dict[str, Any]], policy: SessionPolicy) -> Server:
    """The server behind an open probe connection, as it describes itself, with its slots (one transaction)."""
    with session.probe_transaction(conn, policy) as tx:
        identity = tx.execute(resources.sql("pool_server_identity").encode()).fetchone()
        usage = tx.execute(resources.sql("connections_usage").encode()).fetchone()
    assert identity is not None and usage is not None
    return Server.of(identity, connections.Usage(**usage))


def _pgbouncer_free(url: str, thresholds: Thresholds) -> int | None:
    """Free server connections of this URL's PgBouncer pool (SHOW DATABASES / SHOW POOLS), or None.

    Needs the URL's user in PgBouncer's ``stats_users``/``admin_users``; Supavisor has no such console.
    """
    import psycopg

    parts = urlsplit(url)
    dbname, user = parts.path.lstrip("/") or "postgres", parts.username or ""
    admin = parts._replace(path="/pgbouncer").geturl()
    try:
        # The admin console speaks the simple query protocol only: ClientCursor.
        with session.probe_connection_class().connect(admin, autocommit=True, cursor_factory=psycopg.ClientCursor,
                                                      **session.connect_params(thresholds)) as conn:
            session.bound(conn, thresholds, target=parts.hostname or "the pooler")
            shown = conn.execute("SHOW DATABASES")
            cols = [c.name for c in shown.description or []]
            databases = shown.fetchall()
            pools = conn.execute("SHOW POOLS")
            pool_cols = [c.name for c in pools.description or []]
            pool_rows = pools.fetchall()
    except Exception:  # psycopg.Error, or our client deadline: not readable, so not proven
        return None
    size = next((dict(zip(cols, r, strict=False))["pool_size"] for r in databases
                 if dict(zip(cols, r, strict=False))["name"] == dbname), None)
    if size is None:
        return None
    # Idle server connections serve any client of the pool; active, tested and logging-in ones do not,
    # and waiting clients are owed one each.
    in_use = sum(int(d.get(k) or 0) for d in (dict(zip(pool_cols, r, strict=False)) for r in pool_rows)
                 if d.get("database") == dbname and d.get("user") == user
                 for k in ("sv_active", "sv_tested", "sv_login", "cl_waiting"))
    return int(size) - in_use


def prove_headroom(service: ServiceSpec, url: ServiceUrl, thresholds: Thresholds, *,
                   target_server: Server | None = None) -> Headroom:
    """Open a pool only when, measured on the server the pool connects to, ``keep_free`` slots stay free.

    The server is identified by what it says about itself (``inet_server_addr()``, ``inet_server_port()``,
    ``system_identifier``, ``pg_postmaster_start_time()``), never by the host string of the URL. Through a
    session-mode pooler each client connection is a server connection of the pooler's pool: its free
    server connections must also keep ``keep_free`` (read from PgBouncer's console; unreadable means not
    proven, and the pool is not opened). Through a transaction-mode pooler the server is checked the same
    way; the pooler's client limit is not proven (said in ``not_proven``).
    """
    assert url.url is not None
    keep = thresholds.pool_keep_free_slots
    room = Headroom(service.name, service.pool_max_size, keep)
    t0 = time.monotonic()
    try:
        server = measure_server(url.url, thresholds)
    except Exception as exc:  # psycopg.Error, or Inconclusive when the server stops answering
        room.failure = _classify(str(exc), url, time.monotonic() - t0)
        return room
    room.server = server
    if target_server is not None:
        room.same_server_as_target = server.same_as(target_server)
    free = server.usage.headroom
    left = free - service.pool_max_size
    room.proven.append(f"server {server.describe()}: {server.usage.describe()}; {free} slot(s) free for ordinary "
                       f"roles, {left} after this pool")
    if left < keep:
        room.mode = service.pooler_mode or urls.pooler_hint(url.url) or "unknown"
        room.refused = (f"not opened: {service.name}'s pool_max_size {service.pool_max_size} would leave "
                        f"{max(0, left)} of {free} free slots on {server.describe()} (the probe keeps at least "
                        f"{keep}, pool_keep_free_slots); connections.service_pools reports the headroom")
        return room
    room.mode = _mode(service, url, server, thresholds)
    if room.mode == "session":
        room.pooler_free = _pgbouncer_free(url.url, thresholds)
        if room.pooler_free is None:
            room.not_proven.append("the session pooler's free server connections (its console is not readable "
                                   "as this user; Supavisor has none)")
            room.refused = (f"not opened: {service.name} connects through a session-mode pooler ({url.host}) whose "
                            f"free server connections could not be read, so the probe cannot prove that "
                            f"{keep} stay free for the services; the server itself has {free} free slot(s)")
            return room
        room.proven.append(f"session pooler {url.host}: {room.pooler_free} free server connection(s) in this "
                           f"pool, {room.pooler_free - service.pool_max_size} after this pool")
        if room.pooler_free - service.pool_max_size < keep:
            room.refused = (f"not opened: {service.name}'s pool_max_size {service.pool_max_size} would leave "
                            f"{max(0, room.pooler_free - service.pool_max_size)} of {room.pooler_free} free server "
                            f"connections of the session pooler {url.host} (the probe keeps at least {keep})")
    elif room.mode == "transaction":
        room.proven.append("transaction pooler: each probe transaction is rolled back at once, so held client "
                           "connections pin no server connection")
        room.not_proven.append(f"the transaction pooler's client limit (max_client_conn / Supavisor max clients): "
                               f"the pool holds {service.pool_max_size} client connections of it at once")
    elif room.mode == "unknown":
        room.not_proven.append(f"what sits between {url.host} and the server's port {server.port} (a port mapping "
                               "or a pooler: the prepared-statement probe could not tell)")
    return room


def _mode(service: ServiceSpec, url: ServiceUrl, server: Server, thresholds: Thresholds) -> str:
    """direct, session or transaction: declared, told by the URL, or probed when the ports differ."""
    assert url.url is not None
    said = service.pooler_mode or urls.pooler_hint(url.url)
    if said:
        return said
    where = urls.address(url.url)
    if where is None:
        return "unknown"
    port = where[1]
    if server.port is None or port == server.port:
        return "direct"
    if not server.usage.room_for(PROBE_CONNECTIONS, thresholds.pool_keep_free_slots):
        return "unknown"
    try:
        # Another port than the server's: a pooler or a port mapping (Docker 54322 -> 5432). A
        # transaction pooler shows itself; a session pooler looks like a mapping: said as not proven.
        probed = probe_pooling(url.url, thresholds)
    except Exception:  # a failure here leaves the mode unknown, the server's headroom still holds
        return "unknown"
    return "transaction" if probed == "transaction" else "unknown"


def open_pool(service: ServiceSpec, url: ServiceUrl, thresholds: Thresholds) -> PoolResult:
    """Open the service's pool, hold ``pool_max_size`` connections at once, ``select 1`` on each, close."""
    from psycopg_pool import ConnectionPool, PoolTimeout

    assert url.url is not None
    budget = max(2.0, 2 * thresholds.connect_timeout_s)
    result = PoolResult(service.name, url.host, service.pool_max_size)
    capture = _Capture()
    logger = logging.getLogger("psycopg.pool")
    logger.addHandler(capture)
    kwargs: dict[str, Any] = {
        **session.connect_params(thresholds, f"{APPLICATION_NAME}-pool:{service.name}"[:63]),
        # The service's own setting: None turns psycopg's automatic prepared statements off.
        "prepare_threshold": None if service.prepared_statements is not True else 5,
    }

    def configure(conn: psycopg.Connection[Any]) -> None:
        # Every wait bounded on our side too; transactions read-only (prove_headroom connected first,
        # so a refused port or a bad password was already answered without the pool's retries).
        session.bound(conn, thresholds, target=url.host)
        conn.read_only = True

    pool = ConnectionPool(url.url, min_size=min(service.pool_min_size, service.pool_max_size),
                          max_size=service.pool_max_size, open=False, timeout=budget, kwargs=kwargs,
                          connection_class=session.probe_connection_class(), configure=configure,
                          name=f"dbrunbook-{service.name}", reconnect_timeout=budget, num_workers=3)
    held: list[psycopg.Connection[Any]] = []
    t0 = time.monotonic()
    try:
        pool.open(wait=True, timeout=budget)

        def acquire() -> psycopg.Connection[Any]:
            conn = pool.getconn(timeout=max(0.5, budget - (time.monotonic() - t0)))
            try:
                session.set_local_timeouts(conn, thresholds)
                conn.execute("select 1").fetchone()
            finally:
                conn.rollback()  # behind a transaction pooler a held connection then pins no server connection
            return conn

        with ThreadPoolExecutor(max_workers=min(service.pool_max_size, 32)) as executor:
            futures = [executor.submit(acquire) for _ in range(service.pool_max_size)]
            for future in futures:
                try:
                    held.append(future.result())
                except Exception as exc:  # PoolTimeout, OperationalError: keep the first few
                    result.errors.append(f"{type(exc).__name__}: {exc}")
    except PoolTimeout as exc:
        result.errors.append(f"PoolTimeout: {exc}")
    finally:
        result.acquired = len(held)
        result.elapsed_s = time.monotonic() - t0
        for conn in held:
            pool.putconn(conn)
        pool.close(timeout=5)
        logger.removeHandler(capture)
    if not result.ok:
        # The pool's own log says why connecting failed; PoolTimeout alone only says that it did.
        reasons = [m for m in capture.messages if "error connecting" in m or "connection failed" in m]
        text = reasons[-1] if reasons else (result.errors[0] if result.errors else "no connection acquired")
        result.failure = _classify(text, url, result.elapsed_s)
        if result.failure.cause == "other" and "PoolTimeout" in " ".join(result.errors) and not reasons:
            result.failure = ConnectFailure(
                "timeout", f"{url.host} did not hand out {service.pool_max_size} connections within {budget:.0f}s",
                POOL_RUNBOOK, "the server or pooler is slow to accept connections; see connections.headroom")
        result.errors = [REDACTOR.text(e) for e in [*result.errors[:3], *reasons[-3:]]]
    return result


#: Connections :func:`probe_pooling` holds at once.
PROBE_CONNECTIONS = 2


def probe_pooling_if_room(url: str, thresholds: Thresholds) -> str:
    """:func:`probe_pooling`, only when its two connections leave ``pool_keep_free_slots`` free on that server."""
    server = measure_server(url, thresholds)
    if not server.usage.room_for(PROBE_CONNECTIONS, thresholds.pool_keep_free_slots):
        left = server.usage.headroom - PROBE_CONNECTIONS
        return (f"not probed: its {PROBE_CONNECTIONS} connections would leave {max(0, left)} free slots on "
                f"{server.describe()} (keeps at least {thresholds.pool_keep_free_slots})")
    return probe_pooling(url, thresholds)


def probe_pooling(url: str, thresholds: Thresholds) -> str:
    """``transaction`` if a named prepared statement does not survive into the next transaction.

    Two clients: A prepares a statement and commits (a transaction pooler releases A's server
    connection); B starts a transaction (taking that server connection); A then looks for the statement
    in ``pg_prepared_statements``: on a transaction pooler A now sits on another server connection,
    where it does not exist. Session poolers and direct connections keep it. Looking it up instead
    of executing it, and deallocating only where it exists, leaves no ERROR line in the server log.
    """
    from psycopg import sql

    raw = f"dbrunbook_pooling_probe_{secrets.token_hex(4)}"
    name = sql.Identifier(raw)
    exists = "select exists (select from pg_catalog.pg_prepared_statements where name = %s) as here"
    # Read-only, client deadlines, and (a pooler may refuse an `options` startup parameter) every
    # transaction bounded with SET LOCAL.
    policy = SessionPolicy(read_only=True, thresholds=thresholds)
    with session.connect(url, policy) as a, session.connect(url, policy) as b:
        session.set_local_timeouts(a, thresholds)
        a.execute(sql.SQL("prepare {} as select 1").format(name))
        a.commit()
        session.set_local_timeouts(b, thresholds)
        b.execute("select 1")
        session.set_local_timeouts(a, thresholds)
        row = a.execute(exists, (raw,)).fetchone()
        mode = "session" if row and row["here"] else "transaction"
        a.rollback()
        for conn in (b, a):  # the statement lives on B's server connection (pooler) or A's (session)
            if conn is a:
                session.set_local_timeouts(a, thresholds)
            found = conn.execute(exists, (raw,)).fetchone()
            if found and found["here"]:
                conn.execute(sql.SQL("deallocate {}").format(name))
            conn.commit()
    return mode
