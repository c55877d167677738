"""A resolved target: connection details (secret, held apart from the spec) and its probe session."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbrunbook import resources, urls
from dbrunbook.config import TargetSpec
from dbrunbook.outcomes import Inconclusive
from dbrunbook.session import (
    ConnectFailure,
    SessionPolicy,
    classify,
    connect,
    probe_transaction,
    stopped_answering,
)

if TYPE_CHECKING:
    import psycopg


@dataclass
class Reachability:
    """Result of the first connection to a target (cached: one failure per target, not hundreds)."""

    ok: bool
    latency_ms: float
    server_version: str = ""
    server_version_num: int = 0
    current_user: str = ""
    superuser: bool = False
    bypassrls: bool = False
    database: str = ""
    failure: ConnectFailure | None = None
    reported_by: str | None = None


@dataclass
class Target:
    """What the checks get: the spec plus resolved, secret connection details."""

    spec: TargetSpec
    # Secrets stay out of repr(): pytest prints fixtures' reprs in tracebacks and with -l.
    dsn: str | None = field(default=None, repr=False)
    dsn_source: str = ""
    problem: str | None = None
    skip_reason: str | None = None
    api_url: str | None = None
    anon_key: str | None = field(default=None, repr=False)
    service_role_key: str | None = field(default=None, repr=False)
    jwt_secret: str | None = field(default=None, repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Set when the target missed a client deadline (or a reconnect timed out): every later probe of
    #: this run raises it at once instead of waiting again ("prod stopped answering at ...").
    gone: Inconclusive | None = None
    _conn: psycopg.Connection[dict[str, Any]] | None = field(default=None, repr=False)
    _reach: Reachability | None = None

    @property
    def name(self) -> str:
        """The target's name (``prod``, ``embedded``)."""
        return self.spec.name

    @property
    def policy(self) -> SessionPolicy:
        """Safety settings for this target's probe sessions."""
        return SessionPolicy(read_only=self.spec.read_only, thresholds=self.spec.thresholds)

    @property
    def host(self) -> str:
        """Host and port of the DB URL, without credentials (safe to print)."""
        if not self.dsn:
            return "(no DB URL)"
        where = urls.address(self.dsn)
        return f"{where[0]}:{where[1]}" if where else "(unparsable DB URL)"

    @property
    def port(self) -> int | None:
        """Port of the DB URL, if it has one."""
        try:
            return urls.parse(self.dsn or "").port
        except ValueError:
            return None

    def reachability(self) -> Reachability:
        """Connect once (bounded by connect_timeout) and remember what happened."""
        if self._reach is None:
            self._reach = self._probe()
        return self._reach

    def mark_gone(self, gone: Inconclusive) -> None:
        """Remember the first missed deadline: the rest of the run skips this target's probes."""
        if self.gone is None:
            self.gone = gone

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        assert self.dsn is not None
        return connect(self.dsn, self.policy, target=self.name, on_gone=self.mark_gone)

    def _probe(self) -> Reachability:
        t0 = time.monotonic()
        host = self.host.rsplit(":", 1)[0]
        try:
            conn = self._connect()
        except Exception as exc:
            elapsed = time.monotonic() - t0
            failure = classify(exc, host=host, port=self.port, elapsed_s=elapsed)
            return Reachability(ok=False, latency_ms=elapsed * 1000, failure=failure)
        latency = (time.monotonic() - t0) * 1000
        self._conn = conn
        # The same bounded, rolled-back transaction as every probe: local timeouts first (they also
        # lift a role whose own statement_timeout is tiny), then the query, then ROLLBACK.
        try:
            with probe_transaction(conn, self.policy):
                row = conn.execute(resources.sql("db_reachable").encode()).fetchone()
        except Exception as exc:  # the role's own timeouts, a frozen server, a dropped connection
            elapsed = time.monotonic() - t0
            failure = classify(exc, host=host, port=self.port, elapsed_s=elapsed)
            if getattr(exc, "sqlstate", None) == "57014":
                failure = ConnectFailure(
                    "timeout", f"{self.host} cancelled the first probe statement ({failure.summary})",
                    failure.runbook, "the probe role's own statement_timeout is too small even for "
                    "`select 1`: see `select rolname, rolconfig from pg_roles where rolname = current_user` "
                    "and ALTER ROLE ... RESET statement_timeout (dbrunbook sets its own, locally)")
            return Reachability(ok=False, latency_ms=elapsed * 1000, failure=failure)
        assert row is not None
        return Reachability(ok=True, latency_ms=latency, server_version=row["v"], server_version_num=row["n"],
                            current_user=row["u"], superuser=row["su"], bypassrls=row["br"], database=row["db"])

    def connection(self) -> psycopg.Connection[dict[str, Any]]:
        """The shared probe connection (reconnects, bounded by connect_timeout, if the previous one broke).

        :raises Inconclusive: ``target_gone`` once the target missed a deadline in this run
        """
        if self.gone is not None:
            raise self.gone
        reach = self.reachability()
        if not reach.ok:
            raise RuntimeError(f"target {self.name} is unreachable")
        if self.gone is not None:
            raise self.gone
        if self._conn is None or self._conn.closed or self._conn.broken:
            t0 = time.time()
            try:
                self._conn = self._connect()
            except Exception as exc:
                failure = classify(exc, host=self.host, port=self.port, elapsed_s=time.time() - t0)
                if failure.cause == "timeout":  # the server took our connection and never answered
                    self.mark_gone(stopped_answering(self.name, t0))
                    assert self.gone is not None
                    raise self.gone from None
                raise
        return self._conn

    def another_connection(self) -> psycopg.Connection[dict[str, Any]]:
        """A second probe connection with the same settings and deadlines; the caller proves headroom first.

        A missed deadline on it marks the target gone, as on the shared one.
        """
        return self._connect()

    def close(self) -> None:
        """Close the probe connection."""
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None
