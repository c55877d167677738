"""Blocking trees built with pg_blocking_pids(), session snapshots and the mitigation a human may run."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbrunbook import resources, session
from dbrunbook.redact import REDACTOR

if TYPE_CHECKING:
    import psycopg

QUERY_CHARS = 200
RUNBOOK = "Diagnóstico 2 (Locks e queries lentas) / Mitigação (com cuidado)"

# Secrets a query can carry that the generic redactor does not know: `password 'x'` in role DDL,
# `pgp_sym_encrypt(..., 'key')`-style literals are left to the generic patterns.
_SQL_PASSWORD = re.compile(r"(?i)(\bpassword\s+)'(?:[^']|'')*'")


def clean_query(text: str | None, limit: int = QUERY_CHARS) -> str:
    """One line, truncated, with secrets removed: safe to print and to write."""
    one_line = " ".join((text or "").split())
    one_line = _SQL_PASSWORD.sub(r"\1'***'", one_line)
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return REDACTOR.text(one_line)


@dataclass(frozen=True)
class Session:
    """One row of ``activity_sessions.sql``."""

    pid: int
    datname: str | None
    application_name: str
    usename: str | None
    client: str
    state: str | None
    wait_event_type: str | None
    wait_event: str | None
    xact_age_s: float | None
    query_age_s: float | None
    state_age_s: float | None
    xmin_age: int | None
    backend_xid: str | None
    query: str

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Session:
        """Build from a dict row."""
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]

    @property
    def idle_in_transaction(self) -> bool:
        """The client opened a transaction and is not sending anything."""
        return (self.state or "").startswith("idle in transaction")

    @property
    def wait(self) -> str:
        """``Lock:relation`` style, or ``-``."""
        return f"{self.wait_event_type}:{self.wait_event}" if self.wait_event_type else "-"

    def describe(self) -> str:
        """Who this session is, on one line."""
        xact = f"{self.xact_age_s:.1f}s" if self.xact_age_s is not None else "none"
        xmin = f", backend_xmin age {self.xmin_age} xids" if self.xmin_age else ""
        return (f"app={self.application_name or '-'} user={self.usename or '-'} client={self.client} "
                f"db={self.datname or '-'} state={self.state or '-'} wait_event={self.wait} "
                f"transaction age {xact}{xmin}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, query cleaned."""
        data = dict(self.__dict__)
        data["query"] = clean_query(self.query, 500)
        return data


@dataclass(frozen=True)
class Edge:
    """``waiter`` waits for ``blocker`` on one lockable object."""

    waiter: int
    blocker: int
    locktype: str
    wanted_mode: str
    relation: str | None
    transactionid: str | None
    advisory_key: str | None
    wait_s: float | None
    blocker_holds: str | None
    blocker_queued_for: str | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Edge:
        """Build from a dict row of ``locks_blocking.sql``."""
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]

    @property
    def target(self) -> str:
        """What is being waited for, in words."""
        if self.locktype == "relation":
            return f"relation {self.relation}"
        if self.locktype in ("tuple", "transactionid"):
            on = f" on {self.relation}" if self.relation else ""
            xid = f" (transaction {self.transactionid})" if self.transactionid else ""
            return f"a row lock{on}{xid}"
        if self.locktype == "advisory":
            return f"advisory lock {self.advisory_key}"
        return f"{self.locktype} lock" + (f" on {self.relation}" if self.relation else "")

    @property
    def blocker_side(self) -> str:
        """The blocker's mode on the same object."""
        if self.blocker_holds:
            return f"holds {self.blocker_holds}"
        if self.blocker_queued_for:
            return f"is queued ahead for {self.blocker_queued_for}"
        return "holds a conflicting lock"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


@dataclass
class Chain:
    """A root blocker (not itself waiting) and every session queued behind it, directly or not."""

    root: int
    edges: list[Edge]
    sessions: dict[int, Session] = field(default_factory=dict)

    @property
    def waiters(self) -> list[int]:
        """Every pid waiting in this tree (each once)."""
        seen: list[int] = []
        for edge in self.edges:
            if edge.waiter not in seen:
                seen.append(edge.waiter)
        return seen

    @property
    def max_wait_s(self) -> float:
        """The longest wait in the tree."""
        return max((e.wait_s or 0.0 for e in self.edges), default=0.0)

    @property
    def root_session(self) -> Session | None:
        """The root's activity row (None if it ended meanwhile or is one of ours)."""
        return self.sessions.get(self.root)

    def _line(self, pid: int) -> str:
        s = self.sessions.get(pid)
        return s.describe() if s else "(session not visible: ended, or another database's internal backend)"

    def _query(self, pid: int) -> str:
        s = self.sessions.get(pid)
        return clean_query(s.query) if s else ""

    def render(self) -> str:
        """The tree: root first, then each waiter indented under what it waits for."""
        root = self.root_session
        flag = ""
        if root is not None and root.idle_in_transaction:
            flag = (f"  <- ROOT IS IDLE IN TRANSACTION for {root.state_age_s or 0:.1f}s: it waits for its "
                    f"client, not for the database")
        lines = [f"root pid {self.root}{flag}", f"    {self._line(self.root)}", f"    query: {self._query(self.root)}"]
        children: dict[int, list[Edge]] = {}
        for edge in self.edges:
            children.setdefault(edge.blocker, []).append(edge)
        shown = {self.root}

        def walk(pid: int, depth: int) -> None:
            for edge in children.get(pid, []):
                pad = "    " * depth
                wait = f"{edge.wait_s:.1f}s" if edge.wait_s is not None else "?"
                again = edge.waiter in shown
                lines.append(f"{pad}└─ pid {edge.waiter} waits {wait} for {edge.wanted_mode} on {edge.target}; "
                             f"pid {edge.blocker} {edge.blocker_side}" + (" (shown above)" if again else ""))
                if again:
                    continue
                shown.add(edge.waiter)
                lines.append(f"{pad}     {self._line(edge.waiter)}")
                lines.append(f"{pad}     query: {self._query(edge.waiter)}")
                walk(edge.waiter, depth + 1)

        walk(self.root, 1)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready tree."""
        return {"root": self.root, "waiters": self.waiters, "max_wait_s": self.max_wait_s,
                "root_idle_in_transaction": bool(self.root_session and self.root_session.idle_in_transaction),
                "edges": [e.as_dict() for e in self.edges],
                "sessions": {str(p): s.as_dict() for p, s in self.sessions.items()}}


def build_chains(edges: Iterable[Edge], sessions: Mapping[int, Session]) -> list[Chain]:
    """Group edges into trees under root blockers (blockers that wait for nobody).

    A pure cycle (a deadlock the server has not broken yet) has no such root: its lowest pid is used.
    """
    edges = list(edges)
    by_blocker: dict[int, list[Edge]] = {}
    for edge in edges:
        by_blocker.setdefault(edge.blocker, []).append(edge)
    chains: list[Chain] = []
    covered: set[int] = set()
    remaining = edges
    while remaining:
        waiting = {e.waiter for e in remaining}
        roots = sorted({e.blocker for e in remaining} - waiting) or [min(e.blocker for e in remaining)]
        for root in roots:
            tree: list[Edge] = []
            queue, seen = [root], {root}
            while queue:
                for edge in by_blocker.get(queue.pop(0), []):
                    tree.append(edge)
                    if edge.waiter not in seen:
                        seen.add(edge.waiter)
                        queue.append(edge.waiter)
            covered |= seen
            chains.append(Chain(root, tree, {p: sessions[p] for p in seen if p in sessions}))
        remaining = [e for e in remaining if e.blocker not in covered]
    return sorted(chains, key=lambda c: (-len(c.waiters), -c.max_wait_s))


def sessions(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy) -> list[Session]:
    """Client sessions of the cluster, ours excluded."""
    return [Session.of(r) for r in session.query(conn, policy, resources.sql("activity_sessions"))]


def blocking_chains(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy,
                    snapshot: list[Session] | None = None) -> list[Chain]:
    """Current blocking trees; our own probe sessions are never waiters in them."""
    rows = session.query(conn, policy, resources.sql("locks_blocking"))
    known = {s.pid: s for s in (snapshot if snapshot is not None else sessions(conn, policy))}
    # A waiter we cannot see in activity_sessions is one of ours (or a non-client backend): skip it.
    edges = [Edge.of(r) for r in rows if r["waiter"] in known]
    return build_chains(edges, known)


def mitigation(pid: int, *, idle_in_transaction: bool) -> str:
    """What a human may run, with the runbook's warning; the suite never runs it."""
    lines = ["Mitigação (com cuidado), for a human after confirming who this session is (the suite never "
             "runs these):"]
    if idle_in_transaction:
        lines += [f"  pid {pid} is idle in transaction: pg_cancel_backend has no query to cancel; find the client "
                  "that left the transaction open (app/client above), or end the session:",
                  f"  select pg_terminate_backend({pid});  -- ends the session, rolls back its transaction"]
    else:
        lines += [f"  select pg_cancel_backend({pid});     -- cancels its current query, the session stays",
                  f"  select pg_terminate_backend({pid});  -- only if the cancel did not help: ends the session "
                  "and rolls back its transaction"]
    return "\n".join(lines)


@dataclass(frozen=True)
class HeldExclusive:
    """One relation another session holds in ACCESS EXCLUSIVE mode (``locks_exclusive_held.sql``)."""

    pid: int
    schema_name: str
    relation_name: str
    application_name: str
    usename: str | None
    state: str | None
    xact_age_s: float | None
    query: str | None
    waiting: int

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> HeldExclusive:
        """Build from a dict row."""
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]

    @property
    def relation(self) -> str:
        """``schema.relation``."""
        return f"{self.schema_name}.{self.relation_name}"


def held_exclusive(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy) -> list[HeldExclusive]:
    """ACCESS EXCLUSIVE locks granted to other sessions on user relations, oldest transaction first."""
    return [HeldExclusive.of(r) for r in session.query(conn, policy, resources.sql("locks_exclusive_held"))]


def by_holder(held: Iterable[HeldExclusive]) -> dict[int, list[HeldExclusive]]:
    """The held locks grouped by the pid that holds them."""
    grouped: dict[int, list[HeldExclusive]] = {}
    for lock in held:
        grouped.setdefault(lock.pid, []).append(lock)
    return grouped
