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

from dbrunbook import connections
from dbrunbook.config import ServiceSpec, Thresholds
from dbrunbook.redact import REDACTOR
from dbrunbook.session import APPLICATION_NAME, ConnectFailure, classify

if TYPE_CHECKING:
    import psycopg

    from dbrunbook.targets import Target

POOL_RUNBOOK = "Sintomas comuns (ConnectionPool not started) / Diagnóstico 1"
# PgBouncer's own refusal texts, mapped to the Supavisor vocabulary classify() knows.
_PGBOUNCER = {"no more connections allowed": "(EMAXCONN) max client connections reached (pgbouncer)"}


@dataclass(frozen=True)
class ServiceUrl:
    """Where a service's pool connects, and where that came from (env var name, never the value)."""

    url: str | None
    source: str
    problem: str | None = None

    @property
    def host(self) -> str:
        """``host:port`` without credentials."""
        try:
            parts = urlsplit(self.url or "")
            return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        except ValueError:
            return "(unparsable URL)"


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
            parts = urlsplit(value)
            REDACTOR.add(parts.password)
            return ServiceUrl(value, f"env {name}")
    names = " / ".join(service.db_url_env)
    return ServiceUrl(None, f"env {names}", f"{names} is not set: {service.name} would fail with "
                                            "'SUPABASE_DB_URL (or DATABASE_URL) is required'")


def pooler_hint(url: str) -> str | None:
    """What the URL says about a pooler: ``transaction`` (port 6543), ``session`` (pooler host :5432), or None."""
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    user = parts.username or ""
    if port == 6543:
        return "transaction"
    if host.endswith(".pooler.supabase.com") or (user.startswith("postgres.") and len(user) > len("postgres.")):
        return "session"
    return None


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


#: Slots a pool probe leaves free on a direct connection, at least (safe on production first: the
#: probe must never be what exhausts max_connections during an incident).
KEEP_FREE_SLOTS = 5


def would_exhaust(target: Target, service: ServiceSpec, url: ServiceUrl) -> str | None:
    """Why opening this pool could take the last connection slots of the target's server, if it could."""
    if url.url is None or pooler_hint(url.url) or url.host != target.host or target.problem:
        return None  # a pooler multiplexes; another server's headroom is not ours to read
    if not target.reachability().ok:
        return None
    room = connections.usage(target.connection(), target.policy).headroom
    if room - service.pool_max_size < KEEP_FREE_SLOTS:
        return (f"not opened: {service.name}'s pool_max_size {service.pool_max_size} would leave "
                f"{max(0, room - service.pool_max_size)} of {room} free slots (the probe keeps at least "
                f"{KEEP_FREE_SLOTS}); connections.service_pools reports the headroom")
    return None


def open_pool(service: ServiceSpec, url: ServiceUrl, thresholds: Thresholds) -> PoolResult:
    """Open the service's pool, hold ``pool_max_size`` connections at once, ``select 1`` on each, close."""
    import psycopg
    from psycopg_pool import ConnectionPool, PoolTimeout

    assert url.url is not None
    budget = max(2.0, 2 * thresholds.connect_timeout_s)
    result = PoolResult(service.name, url.host, service.pool_max_size)
    capture = _Capture()
    t_probe = time.monotonic()
    logger = logging.getLogger("psycopg.pool")
    logger.addHandler(capture)
    kwargs: dict[str, Any] = {
        "connect_timeout": max(1, round(thresholds.connect_timeout_s)),
        "application_name": f"{APPLICATION_NAME}-pool:{service.name}"[:63],
        # The service's own setting: None turns psycopg's automatic prepared statements off.
        "prepare_threshold": None if service.prepared_statements is not True else 5,
    }
    # One plain connection first: a refused port or a bad password answers at once, while the pool
    # would retry with backoff until its whole budget is spent.
    try:
        psycopg.connect(url.url, **kwargs).close()
    except psycopg.Error as exc:
        result.elapsed_s = time.monotonic() - t_probe
        result.failure = _classify(str(exc), url, result.elapsed_s)
        result.errors = [REDACTOR.text(f"{type(exc).__name__}: {exc}")]
        logger.removeHandler(capture)
        return result
    pool = ConnectionPool(url.url, min_size=min(service.pool_min_size, service.pool_max_size),
                          max_size=service.pool_max_size, open=False, timeout=budget, kwargs=kwargs,
                          name=f"dbrunbook-{service.name}", reconnect_timeout=budget, num_workers=3)
    held: list[psycopg.Connection[Any]] = []
    t0 = time.monotonic()
    try:
        pool.open(wait=True, timeout=budget)

        def acquire() -> psycopg.Connection[Any]:
            conn = pool.getconn(timeout=max(0.5, budget - (time.monotonic() - t0)))
            conn.execute("select 1").fetchone()
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


def probe_pooling(url: str, thresholds: Thresholds) -> str:
    """``transaction`` if a named prepared statement does not survive into the next transaction.

    Two clients: A prepares a statement and commits (a transaction pooler releases A's server
    connection); B starts a transaction (taking that server connection); A then executes the
    statement: on a transaction pooler A now sits on another server connection, where it does not
    exist. Session poolers and direct connections keep it. B removes the statement where it lives.
    """
    import psycopg
    from psycopg import sql

    name = sql.Identifier(f"dbrunbook_pooling_probe_{secrets.token_hex(4)}")
    params: dict[str, Any] = {"connect_timeout": max(1, round(thresholds.connect_timeout_s)),
                              "application_name": APPLICATION_NAME, "prepare_threshold": None}
    # A pooler may refuse an `options` startup parameter: bound each transaction with SET LOCAL instead.
    timeout = f"{thresholds.statement_timeout_ms}ms"
    bound = "select set_config('statement_timeout', %s, true)"
    with psycopg.connect(url, **params) as a, psycopg.connect(url, **params) as b:
        a.execute(bound, (timeout,))
        a.execute(sql.SQL("prepare {} as select 1").format(name))
        a.commit()
        b.execute(bound, (timeout,))
        b.execute("select 1")
        try:
            a.execute(bound, (timeout,))
            a.execute(sql.SQL("execute {}").format(name))
            mode = "session"
        except psycopg.errors.InvalidSqlStatementName:
            mode = "transaction"
        a.rollback()
        for conn in (b, a):  # the statement lives on B's server connection (pooler) or A's (session)
            try:
                conn.execute(bound, (timeout,))
                conn.execute(sql.SQL("deallocate {}").format(name))
                conn.commit()
                break
            except psycopg.Error:
                conn.rollback()
    return mode
