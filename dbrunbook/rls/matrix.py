"""The behavioural matrix: one probe per table x identity x operation, compared with the oracle.

Every probe runs the operation exactly as PostgREST would (``as_request``), and measures what
happened with full rights (the probe session's BYPASSRLS role): inside the same, rolled-back
transaction after ``RESET ROLE`` for writes, or in a separate read-only transaction for reads.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import errors, sql

from dbrunbook import lockguard, session
from dbrunbook.exceptions import first_line
from dbrunbook.rls.contract import Identity, Operation, TableContract
from dbrunbook.rls.discovery import Column
from dbrunbook.rls.request import as_request

if TYPE_CHECKING:
    import psycopg

#: At most this many row keys are fetched per side; beyond it reads compare counts and a sample.
CAP = 10000
SAMPLE = 5
Problem = str  # "leak" | "blocking"


@dataclass
class Outcome:
    """What one probe found; ``problem`` is None when the contract held."""

    table: str
    identity: str
    operation: str
    problem: Problem | None = None
    summary: str = ""
    rows: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


@dataclass(frozen=True)
class Probe:
    """Everything a probe needs about one table."""

    conn: psycopg.Connection[dict[str, Any]]
    policy: session.SessionPolicy
    table: TableContract
    columns: tuple[Column, ...]
    tenants: tuple[str, ...]  # every tenant id of the contract
    seed_sql: str | None = None  # the contract's seed, run at the start of every probe transaction

    @property
    def ident(self) -> sql.Identifier:
        """``schema.table`` as an identifier."""
        return sql.Identifier(self.table.schema, self.table.relname)

    def key(self, *, with_tenant: bool = True) -> sql.Composable:
        """Row key: primary key (plus the tenant column, for display) as JSON text, else the whole row."""
        cols = [c.name for c in self.columns if c.primary_key]
        if with_tenant and self.table.tenant_column and self.table.tenant_column not in cols:
            cols.append(self.table.tenant_column)
        if not cols or self.table.is_view:
            return sql.SQL("to_jsonb(t)::text")
        parts = sql.SQL(", ").join(sql.SQL("{}, t.{}").format(sql.Literal(c), sql.Identifier(c)) for c in cols)
        return sql.SQL("jsonb_build_object({})::text").format(parts)

    def oracle(self, identity: Identity) -> tuple[sql.Composable, dict[str, Any]]:
        """The predicate saying which rows ``identity`` should see, with its parameters."""
        if identity.scope == "all":
            return sql.SQL("true"), {}
        if identity.scope == "none":
            return sql.SQL("false"), {}
        text = self.table.oracle.replace("%", "%%")
        text = re.sub(r"(?<!:):tenant\b", "%(tenant)s", text)
        text = re.sub(r"(?<!:):sub\b", "%(sub)s", text)
        return sql.SQL("coalesce((" + text + "), false)"), {"tenant": identity.tenant_id,
                                                            "sub": identity.sub}

    def full(self, query: sql.Composable, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """A query with full rights (the probe role), in its own rolled-back transaction."""
        return session.query(self.conn, self.policy, query.as_string(self.conn), params)


def _sqlstate(exc: BaseException | None) -> str:
    return getattr(exc, "sqlstate", None) or type(exc).__name__


def _accepted_by_rls(exc: BaseException | None) -> bool:
    """RLS ``WITH CHECK`` runs before constraints: a class 23 error means RLS let the row through."""
    if exc is None:
        return True
    return _sqlstate(exc).startswith("23")


#: Back to the probe's own rights inside the request's transaction, without the identity's claims:
#: what the oracle sees then is what a separate full-rights query would see.
_FULL_RIGHTS = "select set_config('role', 'none', true), set_config('request.jwt.claims', '', true)"


_RELKINDS: dict[tuple[int, str], str] = {}


def _plain_table(p: Probe) -> bool:
    """Whether rows can be found again by ctid: only in an ordinary table.

    A partitioned table's ctids repeat across partitions, and views have none.
    """
    key = (id(p.conn), p.table.name)
    if key not in _RELKINDS:
        rows = p.full(sql.SQL("select c.relkind::text as k from pg_catalog.pg_class c join pg_catalog.pg_namespace n "
                              "on n.oid = c.relnamespace where n.nspname = %(s)s and c.relname = %(r)s"),
                      {"s": p.table.schema, "r": p.table.relname})
        _RELKINDS[key] = rows[0]["k"] if rows else "?"
    return _RELKINDS[key] == "r"


def capped_count(ident: sql.Composable, where: sql.Composable) -> sql.Composed:
    """``count(*)`` that stops at CAP + 1 rows: a read probe of a 100-million-row table stays cheap."""
    return sql.SQL("select count(*) as n from (select 1 from {} t where {} limit {}) s").format(
        ident, where, sql.Literal(CAP + 1))


def probe_select(p: Probe, identity: Identity) -> Outcome:
    """Reads return exactly the oracle's rows: more is a leak, fewer is blocking.

    One transaction does it all (the request, then the oracle with full rights on the same data), and
    every query is bounded: at most CAP visible rows are checked for leaks (found again by ctid, no
    scan), and counts stop at CAP + 1. On production data this is the sampled, read-only variant;
    on seeded or small tables it is exact.
    """
    out = Outcome(p.table.name, identity.name, "select")
    pred, params = p.oracle(identity)
    if p.table.verdict(identity, "select") == "deny":
        pred, params = sql.SQL("false"), {}
    # Ordinary tables: rows seen by the identity are found again by ctid (a TID scan). Views and
    # partitioned tables: by their key (a scan, bounded by statement_timeout).
    by_ctid = not p.table.is_view and _plain_table(p)
    locator = sql.SQL("t.ctid") if by_ctid else p.key()
    found = sql.SQL("t.ctid = any(%(seen)s::tid[])") if by_ctid else sql.SQL("{} = any(%(seen)s)").format(p.key())
    leaked_q = sql.SQL("select {} as k from {} t where {} and not ({})").format(p.key(), p.ident, found, pred)
    visible: list[str] = []
    seen: list[str] = []
    count = 0
    expected: int | None = None
    leaked: list[str] = []
    error = None
    try:
        with as_request(p.conn, identity.role, identity.claims, "GET", f"/{p.table.relname}",
                        schema=p.table.schema, thresholds=p.policy.thresholds) as tx:
            rows = tx.execute(sql.SQL("select {} as k, {}::text as loc from {} t limit {}").format(
                p.key(), locator, p.ident, sql.Literal(CAP))).fetchall()
            visible, seen = [r["k"] for r in rows], [r["loc"] for r in rows]
            count = tx.execute(capped_count(p.ident, sql.SQL("true"))).fetchone()["n"]  # type: ignore[index]
            tx.execute(_FULL_RIGHTS)
            expected = tx.execute(capped_count(p.ident, pred), params).fetchone()["n"]  # type: ignore[index]
            leaked = [r["k"] for r in tx.execute(leaked_q, {**params, "seen": seen}).fetchall()]
    except errors.Error as exc:
        if lockguard.gave_up(exc):
            out.skipped = lockguard.gave_up_reason(exc)
            return out
        error = f"{_sqlstate(exc)} {first_line(exc)}"
    if expected is None:  # the request failed (e.g. 42501): ask the oracle on its own
        expected = p.full(capped_count(p.ident, pred), params)[0]["n"]
    capped = count > CAP or expected > CAP
    out.evidence = {"expected_rows": expected, "visible_rows": count, "error": error,
                    **({"capped_at": CAP} if capped else {})}
    shown = f"{CAP}+" if count > CAP else str(count)
    if leaked or count > expected:
        out.problem = "leak"
        out.rows = leaked[:SAMPLE]
        out.summary = (f"{identity.name} ({identity.role}) reads {shown} rows of {p.table.name}, "
                       f"{max(len(leaked), count - expected)} of them not its own (oracle allows {expected})")
    elif count < expected:
        out.problem = "blocking"
        out.summary = (f"{identity.name} ({identity.role}) reads {count} of the {expected} rows of "
                       f"{p.table.name} it should see" + (f" ({error})" if error else ""))
        if count < CAP:
            out.rows = [r["k"] for r in p.full(sql.SQL(
                "select {} as k from {} t where {} and not ({} = any(%(keys)s)) limit {}").format(
                p.key(), p.ident, pred, p.key(), sql.Literal(SAMPLE)), {**params, "keys": visible})]
    return out


def _clone(p: Probe, row: dict[str, Any]) -> dict[str, Any]:
    """A new row from an existing one: fresh primary key, generated columns left to the server."""
    new = dict(row)
    for c in p.columns:
        if c.generated or (c.primary_key and c.has_default):
            new.pop(c.name, None)
        elif c.primary_key:
            value = new.get(c.name)
            if c.type == "uuid":
                new[c.name] = str(uuid.uuid4())
            elif isinstance(value, int):
                new[c.name] = value + 1_000_000_007
            elif isinstance(value, str):
                new[c.name] = f"{value}-dbrunbook-{uuid.uuid4().hex[:8]}"
    return new


def _insert_sql(p: Probe, row: dict[str, Any]) -> sql.Composed:
    cols = [c.name for c in p.columns if c.name in row]
    names = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    return sql.SQL("insert into {} ({}) select {} from jsonb_populate_record(null::{}, %(row)s::jsonb)").format(
        p.ident, names, names, p.ident)


def _touched(tx: psycopg.Connection[Any], p: Probe, pred: sql.Composable, params: dict[str, Any]) -> tuple[
        int, list[str]]:
    """After a write, with full rights again: rows this transaction wrote, and those outside the oracle."""
    tx.execute("reset role")
    rows = tx.execute(sql.SQL("select {} as k, {} as own from {} t where t.xmin = pg_current_xact_id()::xid")
                      .format(p.key(), pred, p.ident), params).fetchall()
    return len(rows), [r["k"] for r in rows if not r["own"]]


def probe_insert(p: Probe, identity: Identity) -> Outcome:
    """Rows of another tenant are rejected (42501); pinned own-tenant verdicts hold."""
    out = Outcome(p.table.name, identity.name, "insert")
    pred, params = p.oracle(identity)
    sources = p.full(sql.SQL("(select to_jsonb(t) as r, false as own from {t} t where not {p} limit 3) union all "
                             "(select to_jsonb(t), true from {t} t where {p} limit 1)").format(t=p.ident, p=pred),
                     params)
    attempts = [("own" if r["own"] else "foreign", r["r"]) for r in sources]
    if not attempts:
        out.skipped = f"{p.table.name} has no rows to clone for an insert probe (seed it: see docs/contracts.md)"
        return out
    verdict = p.table.verdict(identity, "insert")
    log = []
    for kind, source in attempts:
        row = _clone(p, source)
        exc: BaseException | None = None
        strays: list[str] = []
        try:
            with as_request(p.conn, identity.role, identity.claims, "POST", f"/{p.table.relname}",
                            schema=p.table.schema, thresholds=p.policy.thresholds) as tx:
                tx.execute(_insert_sql(p, row), {"row": json.dumps(row)})
                _, strays = _touched(tx, p, pred, params)
        except errors.Error as e:
            exc = e
        accepted = _accepted_by_rls(exc)
        log.append({"kind": kind, "accepted": accepted, "sqlstate": _sqlstate(exc) if exc else None})
        shown = json.dumps({k: row[k] for k in list(row)[:3]}, default=str)
        if kind == "foreign" and identity.scope != "all" and accepted and (exc is not None or strays):
            out.problem = "leak"
            out.rows.append(shown)
            out.summary = (f"{identity.name} ({identity.role}) inserted a row it must not own into {p.table.name}"
                           + (f" (RLS let it through; it then failed on {_sqlstate(exc)})" if exc is not None else "")
                           + "; expected 42501 new row violates row-level security policy")
        elif kind == "own" and verdict == "allow" and not accepted:
            out.problem = out.problem or "blocking"
            out.rows.append(shown)
            out.summary = out.summary or (f"{identity.name} ({identity.role}) cannot insert its own row into "
                                          f"{p.table.name} ({_sqlstate(exc)})")
        elif kind == "own" and verdict == "deny" and accepted and exc is None:
            out.problem = out.problem or "leak"
            out.rows.append(shown)
            out.summary = out.summary or (f"{identity.name} ({identity.role}) inserted into {p.table.name}, "
                                          "which the contract denies it")
    out.evidence = {"attempts": log}
    return out


def _update_column(p: Probe) -> str | None:
    if p.table.update_column:
        return p.table.update_column
    if p.table.tenant_column:
        return p.table.tenant_column
    return next((c.name for c in p.columns if not c.primary_key and not c.generated), None)


def probe_update(p: Probe, identity: Identity) -> Outcome:
    """An UPDATE without a filter touches only own rows, and cannot move rows into another tenant.

    As PostgREST's PATCH, the SET is a constant (the identity's own tenant id on the tenant column),
    so SELECT policies are not added to the UPDATE: only its own USING / WITH CHECK decide.
    """
    out = Outcome(p.table.name, identity.name, "update")
    pred, params = p.oracle(identity)
    if p.table.tenant_column and identity.tenant_id:
        column = p.table.tenant_column
        stmt = sql.SQL("update {} set {} = %(own)s where true").format(p.ident, sql.Identifier(column))
    else:
        fallback = _update_column(p)
        if fallback is None:
            out.skipped = f"{p.table.name} has no column an update probe can set"
            return out
        stmt = sql.SQL("update {} set {} = {} where true").format(p.ident, sql.Identifier(fallback),
                                                                  sql.Identifier(fallback))
    before = p.full(sql.SQL("select {} as k, {} as own from {} t limit {}").format(
        p.key(with_tenant=False), pred, p.ident, sql.Literal(CAP)), params)
    own_keys = {r["k"] for r in before if r["own"]}
    touched: list[str] = []
    error, exc = None, None
    try:
        with as_request(p.conn, identity.role, identity.claims, "PATCH", f"/{p.table.relname}",
                        schema=p.table.schema, thresholds=p.policy.thresholds) as tx:
            tx.execute(stmt, {"own": identity.tenant_id})
            tx.execute("reset role")
            touched = [r["k"] for r in tx.execute(sql.SQL("select {} as k from {} t where t.xmin = "
                                                          "pg_current_xact_id()::xid").format(
                p.key(with_tenant=False), p.ident)).fetchall()]
    except errors.Error as e:
        exc = e
        error = f"{_sqlstate(e)} {first_line(e)}"
    strays = [k for k in touched if k not in own_keys]
    own_touched = len(touched) - len(strays)
    out.evidence = {"statement": stmt.as_string(p.conn), "touched": len(touched), "own_rows": len(own_keys),
                    "error": error}
    verdict = p.table.verdict(identity, "update")
    if identity.scope != "all" and (strays or (exc is not None and _sqlstate(exc).startswith("23"))):
        out.problem, out.rows = "leak", strays[:SAMPLE]
        out.summary = (f"{identity.name} ({identity.role}): UPDATE {p.table.name} without a filter changed "
                       f"{len(strays)} rows of other tenants ({len(touched)} rows in all)"
                       + (f"; RLS let other tenants' rows through, then {error}" if exc is not None else ""))
    elif verdict == "allow" and own_touched < len(own_keys):
        out.problem = "blocking"
        out.summary = (f"{identity.name} ({identity.role}) can update {own_touched} of its {len(own_keys)} rows "
                       f"of {p.table.name}" + (f" ({error})" if error else ""))
    elif verdict == "deny" and own_touched:
        out.problem = "leak"
        out.summary = (f"{identity.name} ({identity.role}) updated {own_touched} rows of {p.table.name}; "
                       "contract: deny")
    if out.problem is None and p.table.tenant_column and identity.scope == "oracle":
        _probe_move(p, identity, out)
    return out


def _probe_move(p: Probe, identity: Identity, out: Outcome) -> None:
    """Moving own rows into another tenant must be rejected (42501) or touch nothing."""
    assert p.table.tenant_column is not None
    others = [t for t in p.tenants if t != identity.tenant_id]
    if not others:
        return
    column = sql.Identifier(p.table.tenant_column)
    stmt = sql.SQL("update {} set {} = %(other)s where true").format(p.ident, column)
    moved = 0
    exc: BaseException | None = None
    try:
        with as_request(p.conn, identity.role, identity.claims, "PATCH", f"/{p.table.relname}",
                        schema=p.table.schema, thresholds=p.policy.thresholds) as tx:
            moved = tx.execute(stmt, {"other": others[0]}).rowcount
    except errors.Error as e:
        exc = e
    out.evidence["move_into_other_tenant"] = {"rows": moved, "sqlstate": _sqlstate(exc) if exc else None}
    if (exc is None and moved > 0) or (exc is not None and _accepted_by_rls(exc)):
        out.problem = "leak"
        out.summary = (f"{identity.name} ({identity.role}) moved rows of {p.table.name} into tenant {others[0]} "
                       f"({p.table.tenant_column} = other tenant"
                       + (f"; RLS let it through, then {_sqlstate(exc)}" if exc else f"; {moved} rows")
                       + "); expected 42501 new row violates row-level security policy")


def probe_delete(p: Probe, identity: Identity) -> Outcome:
    """A DELETE without a filter removes only own rows."""
    out = Outcome(p.table.name, identity.name, "delete")
    pred, params = p.oracle(identity)
    before = p.full(sql.SQL("select {} as k, {} as own from {} t limit {}").format(
        p.key(), pred, p.ident, sql.Literal(CAP)), params)
    foreign = [r["k"] for r in before if not r["own"]]
    own = [r["k"] for r in before if r["own"]]
    gone: set[str] = set()
    error = None
    try:
        with as_request(p.conn, identity.role, identity.claims, "DELETE", f"/{p.table.relname}",
                        schema=p.table.schema, thresholds=p.policy.thresholds) as tx:
            tx.execute(sql.SQL("delete from {} where true").format(p.ident))
            tx.execute("reset role")
            left = {r["k"] for r in tx.execute(sql.SQL("select {} as k from {} t where {} = any(%(keys)s)").format(
                p.key(), p.ident, p.key()), {"keys": [r["k"] for r in before]}).fetchall()}
            gone = {r["k"] for r in before} - left
    except errors.Error as exc:
        error = f"{_sqlstate(exc)} {first_line(exc)}"
    strays = [k for k in foreign if k in gone]
    own_gone = sum(1 for k in own if k in gone)
    out.evidence = {"deleted": len(gone), "own_rows": len(own), "error": error}
    verdict = p.table.verdict(identity, "delete")
    if strays and identity.scope != "all":
        out.problem, out.rows = "leak", strays[:SAMPLE]
        out.summary = (f"{identity.name} ({identity.role}): DELETE FROM {p.table.name} without a filter removed "
                       f"{len(strays)} rows of other tenants ({len(gone)} rows in all)")
    elif verdict == "allow" and own_gone < len(own):
        out.problem = "blocking"
        out.summary = (f"{identity.name} ({identity.role}) can delete {own_gone} of its {len(own)} rows of "
                       f"{p.table.name}" + (f" ({error})" if error else ""))
    elif verdict == "deny" and own_gone:
        out.problem = "leak"
        out.summary = f"{identity.name} ({identity.role}) deleted {own_gone} rows of {p.table.name}; contract: deny"
    return out


PROBES = {"select": probe_select, "insert": probe_insert, "update": probe_update, "delete": probe_delete}


def run(p: Probe, identity: Identity, op: Operation) -> Outcome:
    """Run one cell of the matrix (every transaction of it starts with the contract's seed, if any)."""
    with session.seeding(p.seed_sql):
        return PROBES[op](p, identity)
