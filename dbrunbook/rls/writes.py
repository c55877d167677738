"""The write cells, sent as PostgREST sends them and judged by what actually changed.

Each statement runs in its own PostgREST-shaped transaction (an error aborts a transaction, and we
use no savepoints): the seed, then with full rights a snapshot of where every row is and whose it
is, then the identity's statement, then with full rights again what changed. Rows are matched by
their physical location in that same transaction, so generated ids cannot make a false leak.

- UPDATE sets a constant, as a PATCH does (the identity's tenant id on the tenant column, else a
  value of its type on a column the role may write), without a filter: only the UPDATE policies
  decide. Where a tenant column exists, rows are also moved into every other tenant in turn.
- DELETE runs without a filter.
- INSERT tries every other tenant of the contract (or every foreign row, without a tenant column)
  in a stable order, plus one own row.

A 42501 that is not this table's ``new row violates row-level security policy`` is no verdict, and
a constraint error after RLS let rows through says nothing about whose rows they were: both are
inconclusive, never "denied". A role without the privilege is decided from the catalog, with no
statement (no ERROR in the server log). The only ERROR lines a healthy project makes are the
policies' own 42501 rejections of cross-tenant inserts and moves (docs/checks/rls.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import errors, sql

from dbrunbook import lockguard
from dbrunbook.exceptions import first_line
from dbrunbook.rls.claims import with_role
from dbrunbook.rls.contract import Identity, Operation
from dbrunbook.rls.probe import (
    AS_IDENTITY,
    CAP,
    FULL_RIGHTS,
    SAMPLE,
    Outcome,
    Probe,
    error_kind,
    inconclusive,
    no_data,
    sqlstate,
)
from dbrunbook.rls.reads import missing_role
from dbrunbook.rls.request import as_request

if TYPE_CHECKING:
    import psycopg

#: Without a tenant column, at most this many foreign rows are cloned for insert attempts.
INSERT_CAP = 25
_METHOD = {"insert": "POST", "update": "PATCH", "delete": "DELETE"}


@dataclass
class Attempt:
    """One statement in its own transaction: what was there, what changed, how it ended."""

    before: list[dict[str, Any]] = field(default_factory=list)  # loc, own, k
    gone: set[str] = field(default_factory=set)  # locations whose row the statement changed or removed
    new: list[dict[str, Any]] = field(default_factory=list)  # rows the statement wrote: k, own
    error: BaseException | None = None
    ran: bool = False  # the identity's statement was sent

    @property
    def own(self) -> list[dict[str, Any]]:
        """Rows the oracle gives the identity."""
        return [r for r in self.before if r["own"]]

    @property
    def foreign(self) -> list[dict[str, Any]]:
        """Rows of other tenants."""
        return [r for r in self.before if not r["own"]]

    def touched(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Those of ``rows`` the statement changed or removed."""
        return [r for r in rows if r["loc"] in self.gone]


def _identity_vars(identity: Identity) -> dict[str, str]:
    return {"role": identity.role,
            "claims": json.dumps(with_role(identity.claims or {}, identity.role), separators=(",", ":"))}


@contextmanager
def _transaction(p: Probe, identity: Identity, op: Operation) -> Iterator[psycopg.Connection[Any]]:
    with as_request(p.conn, identity.role, identity.claims, _METHOD[op], f"/{p.table.relname}",
                    schema=p.table.schema, thresholds=p.policy.thresholds) as tx:
        tx.execute(FULL_RIGHTS)
        yield tx


def _attempt(p: Probe, identity: Identity, op: Operation, statement: sql.Composed,
             params: dict[str, Any], *, own_only: bool = False,
             prepare: Any = None) -> Attempt:
    """Snapshot, the identity's statement, then what changed; all in one rolled-back transaction."""
    pred, oparams = p.oracle(identity)
    at = Attempt()
    try:
        with _transaction(p, identity, op) as tx:
            at.before = list(tx.execute(sql.SQL("select {} as loc, {} as own, {} as k from {} t limit {}").format(
                p.locator(), pred, p.key(), p.ident, sql.Literal(CAP)), oparams).fetchall())
            extra = prepare(tx, at) if prepare else {}
            if extra is None:
                return at
            where = {"seen": [r["loc"] for r in at.own]} if own_only else {}
            tx.execute(AS_IDENTITY, _identity_vars(identity))
            at.ran = True
            tx.execute(statement, {**params, **extra, **where})
            tx.execute(FULL_RIGHTS)
            if at.before:
                still = {r["loc"] for r in tx.execute(sql.SQL("select {} as loc from {} t where {}").format(
                    p.locator(), p.ident, p.located()), {"seen": [r["loc"] for r in at.before]}).fetchall()}
                at.gone = {r["loc"] for r in at.before} - still
            at.new = list(tx.execute(sql.SQL("select {} as k, {} as own from {} t where t.xmin = "
                                             "pg_current_xact_id()::xid").format(p.key(), pred, p.ident),
                                     oparams).fetchall())
    except errors.Error as exc:
        at.error = exc
    return at


def _not_probed(p: Probe, identity: Identity, op: Operation, out: Outcome, at: Attempt) -> bool:
    """Settle cells whose attempt reached no verdict (lock, timeout, odd errors, no rows); True if settled."""
    if at.error is not None and lockguard.gave_up(at.error):
        out.skipped = lockguard.gave_up_reason(at.error)
        return True
    if at.error is not None and (not at.ran or error_kind(at.error, p.table) in ("timeout",)):
        out.inconclusive = inconclusive(at.error, p, identity, op, f"the {op} probe")
        return True
    if at.error is None and not at.before:
        out.inconclusive = no_data(p)
        return True
    return False


def _no_privilege(p: Probe, identity: Identity, op: Operation, out: Outcome) -> Outcome:
    """The role may not run the command at all: nothing can change; blocking if the contract says allow."""
    pred, params = p.oracle(identity)
    counts = p.full(sql.SQL("select count(*) filter (where {}) as own, count(*) as total from "
                            "(select * from {} t limit {}) t").format(pred, p.ident, sql.Literal(CAP)), params)[0]
    out.evidence = {"denied_by_privileges": True, "own_rows": counts["own"]}
    if not counts["total"]:
        out.inconclusive = no_data(p)
    elif p.table.verdict(identity, op) == "allow" and counts["own"]:
        out.problem = "blocking"
        out.summary = (f"{identity.name} ({identity.role}) cannot {op} its rows of {p.table.name}: the role has no "
                       f"{op.upper()} privilege (or no USAGE on schema {p.table.schema})")
    else:
        out.summary = f"{identity.role} may not {op} {p.table.name} (privileges): nothing can change"
    return out


def _judge_unfiltered(p: Probe, identity: Identity, op: Operation, out: Outcome, at: Attempt, what: str) -> bool:
    """Cross-tenant and pinned verdicts of an unfiltered UPDATE/DELETE; False when own rows need a filtered try."""
    verdict = p.table.verdict(identity, op)
    if at.error is not None:
        if error_kind(at.error, p.table) != "rls":
            if identity.scope != "all":
                out.inconclusive = inconclusive(at.error, p, identity, op, what)
            return True
        # This table's WITH CHECK refused at least one new row: the statement changed nothing.
        out.evidence["unfiltered"] = f"rejected: {sqlstate(at.error)} {first_line(at.error)}"
        return verdict == "any"
    foreign, own = at.touched(at.foreign), at.touched(at.own)
    out.evidence.update({"own_rows": len(at.own), "other_rows": len(at.foreign), "own_changed": len(own),
                         "other_changed": len(foreign)})
    if foreign and identity.scope != "all":
        out.problem, out.rows = "leak", [r["k"] for r in foreign[:SAMPLE]]
        verb = "removed" if op == "delete" else "changed"
        out.summary = (f"{identity.name} ({identity.role}): {what} {verb} {len(foreign)} rows of other tenants "
                       f"({len(at.gone)} rows in all)")
    elif verdict == "allow" and len(own) < len(at.own):
        return False
    elif verdict == "deny" and own:
        out.problem = "leak"
        out.summary = f"{identity.name} ({identity.role}): {what} changed {len(own)} of its rows; contract: deny"
    return True


def _judge_own(p: Probe, identity: Identity, op: Operation, out: Outcome, statement: sql.Composed,
               params: dict[str, Any], prepare: Any = None) -> None:
    """A pinned own-row verdict, with the statement filtered to the identity's rows (a PATCH/DELETE ``?id=in.``)."""
    filtered = sql.SQL("{} and {}").format(statement, p.located())
    at = _attempt(p, identity, op, filtered, params, own_only=True, prepare=prepare)
    if _not_probed(p, identity, op, out, at):
        return
    verdict = p.table.verdict(identity, op)
    changed = len(at.touched(at.own)) if at.error is None else 0
    out.evidence["own_filtered"] = {"own_rows": len(at.own), "changed": changed,
                                    "error": f"{sqlstate(at.error)} {first_line(at.error)}" if at.error else None}
    if at.error is not None and error_kind(at.error, p.table) != "rls":
        out.inconclusive = inconclusive(at.error, p, identity, op, f"{op} of its own rows")
    elif verdict == "allow" and changed < len(at.own):
        out.problem = "blocking"
        out.summary = (f"{identity.name} ({identity.role}) can {op} {changed} of its {len(at.own)} rows of "
                       f"{p.table.name}" + (f" ({sqlstate(at.error)} {first_line(at.error)})" if at.error else ""))
    elif verdict == "deny" and changed:
        out.problem = "leak"
        out.summary = f"{identity.name} ({identity.role}) {op}d {changed} of its rows of {p.table.name}; contract: deny"


#: A PATCH that hits a constraint is tried again on the next candidate column, at most this often.
PATCH_TRIES = 3


def _patch_columns(p: Probe, identity: Identity) -> list[str]:
    """Columns a PATCH may set to one constant, best first.

    The contract's ``update_column``; columns the role may write that are no key, generated or
    unique column (many rows get the same value); last the tenant column (set to the identity's own
    tenant, which composite foreign keys often refuse).
    """
    writable = p.columns_for(identity.role, "update")
    unique = set(p.facts["unique_columns"])
    keys = {c.name for c in p.columns if c.primary_key or c.generated}
    out = [p.table.update_column] if p.table.update_column in writable else []
    out += [c.name for c in p.columns if c.name in writable and c.name not in unique | keys | set(out)
            and c.name != p.table.tenant_column]
    if p.table.tenant_column in writable and identity.tenant_id:
        out.append(p.table.tenant_column)
    return out[:PATCH_TRIES]


def probe_update(p: Probe, identity: Identity) -> Outcome:
    """An unfiltered constant PATCH changes only own rows, and no row moves into another tenant."""
    out = Outcome(p.table.name, identity.name, "update")
    allowed = p.may(identity.role, "update")
    if allowed is None:
        out.inconclusive = missing_role(identity)
        return out
    if not allowed:
        return _no_privilege(p, identity, "update", out)
    columns = _patch_columns(p, identity)
    if not columns:
        out.skipped = (f"{identity.role} may update no column of {p.table.name} that a PATCH could set to one "
                       "value (set update_column in the contract)")
        return out
    for column in columns:
        ctype = next(c.type for c in p.columns if c.name == column)
        stmt = sql.SQL("update {} t set {} = %(value)s::{} where true").format(p.ident, sql.Identifier(column),
                                                                              sql.SQL(ctype))

        def value(tx: psycopg.Connection[Any], at: Attempt, column: str = column) -> dict[str, Any] | None:
            if column == p.table.tenant_column:
                return {"value": identity.tenant_id}
            # A value the column already holds: of its type, and accepted by its own checks.
            row = tx.execute(sql.SQL("select min(t.{}::text) as v from {} t").format(sql.Identifier(column),
                                                                                    p.ident)).fetchone()
            return {"value": row["v"] if row else None}

        at = _attempt(p, identity, "update", stmt, {}, prepare=value)
        out.evidence = {"statement": stmt.as_string(p.conn)}
        if at.error is None or error_kind(at.error, p.table) != "constraint" or column == columns[-1]:
            break
    if _not_probed(p, identity, "update", out, at):
        return out
    what = f"UPDATE {p.table.name} SET {column} = <constant> without a filter"
    if not _judge_unfiltered(p, identity, "update", out, at, what):
        _judge_own(p, identity, "update", out, stmt, {}, prepare=value)
    if out.problem is None and out.inconclusive is None and identity.scope != "all":
        _probe_moves(p, identity, out)
    return out


def _probe_moves(p: Probe, identity: Identity, out: Outcome) -> None:
    """Rows cannot be moved into another tenant: each other tenant in turn, in the contract's order."""
    column = p.table.tenant_column
    if not column or column not in p.columns_for(identity.role, "update"):
        return
    ctype = next((c.type for c in p.columns if c.name == column), "text")
    stmt = sql.SQL("update {} t set {} = %(other)s::{} where true").format(p.ident, sql.Identifier(column),
                                                                          sql.SQL(ctype))
    moves = []
    for other in p.tenants:
        if other == identity.tenant_id:
            continue
        at = _attempt(p, identity, "update", stmt, {"other": other})
        if _not_probed(p, identity, "update", out, at):
            return
        kind = error_kind(at.error, p.table) if at.error is not None else None
        moved = [r for r in at.new if not r["own"]] if at.error is None else []
        moves.append({"tenant": other, "rows": len(moved), "sqlstate": sqlstate(at.error) if at.error else None})
        if moved or kind == "constraint":
            out.problem, out.rows = "leak", [r["k"] for r in moved[:SAMPLE]]
            out.summary = (f"{identity.name} ({identity.role}) moved rows of {p.table.name} into tenant {other} "
                           f"({column} = other tenant"
                           + (f"; RLS let it through, then {sqlstate(at.error)}" if at.error
                              else f"; {len(moved)} rows")
                           + "); expected 42501 new row violates row-level security policy")
            break
        if at.error is not None and kind != "rls":
            out.inconclusive = inconclusive(at.error, p, identity, "update", f"moving rows into tenant {other}")
            break
    out.evidence["moves_into_other_tenants"] = moves


def probe_delete(p: Probe, identity: Identity) -> Outcome:
    """A DELETE without a filter removes only own rows."""
    out = Outcome(p.table.name, identity.name, "delete")
    allowed = p.may(identity.role, "delete")
    if allowed is None:
        out.inconclusive = missing_role(identity)
        return out
    if not allowed:
        return _no_privilege(p, identity, "delete", out)
    stmt = sql.SQL("delete from {} t where true").format(p.ident)
    at = _attempt(p, identity, "delete", stmt, {})
    if _not_probed(p, identity, "delete", out, at):
        return out
    if not _judge_unfiltered(p, identity, "delete", out, at, f"DELETE FROM {p.table.name} without a filter"):
        _judge_own(p, identity, "delete", out, stmt, {})
    return out


def _clone(p: Probe, row: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """A new row from an existing one: fresh primary key, generated columns left to the server."""
    new = {k: v for k, v in row.items() if k in columns}
    for c in p.columns:
        if c.generated or (c.primary_key and c.has_default):
            new.pop(c.name, None)
        elif c.primary_key and c.name in new:
            value = new[c.name]
            if c.type == "uuid":
                new[c.name] = str(uuid.uuid4())
            elif isinstance(value, int):
                new[c.name] = value + 1_000_000_007
            elif isinstance(value, str):
                new[c.name] = f"{value}-dbrunbook-{uuid.uuid4().hex[:8]}"
    return new


def _insert_sql(p: Probe, cols: list[str]) -> sql.Composed:
    names = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    return sql.SQL("insert into {} ({}) select {} from jsonb_populate_record(null::{}, %(row)s::jsonb)").format(
        p.ident, names, names, p.ident)


def _stable_order(p: Probe) -> tuple[sql.Composable, list[str]]:
    """Row order that survives generated ids and physical order: content without keys and defaults."""
    return (sql.SQL("(to_jsonb(t) - %(volatile)s::text[])::text"),
            [c.name for c in p.columns if c.primary_key or c.generated or c.has_default])


def _attempts(p: Probe, identity: Identity) -> list[tuple[str, str | None, int]]:
    """(kind, tenant id to write or None, index among the template rows), in a stable order.

    With a tenant column: every other tenant of the contract, then the identity's own; without: every
    foreign row (up to INSERT_CAP), then one own row. An API key that sees everything: one row.
    """
    if identity.scope == "all":
        return [("own", None, 0)]
    tenant_col = p.table.tenant_column
    if tenant_col and p.tenants:
        out: list[tuple[str, str | None, int]] = [("foreign", t, 0) for t in p.tenants if t != identity.tenant_id]
    else:
        pred, params = p.oracle(identity)
        n = p.full(sql.SQL("select count(*) as n from (select 1 from {} t where not {} limit {}) s").format(
            p.ident, pred, sql.Literal(INSERT_CAP)), params)[0]["n"]
        out = [("foreign", None, i) for i in range(n)]
    if identity.scope == "oracle":
        out.append(("own", identity.tenant_id if tenant_col else None, 0))
    return out


def _insert_one(p: Probe, identity: Identity, columns: list[str], kind: str, tenant: str | None,
                index: int) -> tuple[Attempt, dict[str, Any]]:
    """One insert in its own transaction: the template row is read inside it, then cloned and inserted."""
    pred, oparams = p.oracle(identity)
    order, volatile = _stable_order(p)
    if tenant or identity.scope == "all":
        where: sql.Composable = sql.SQL("true")
    else:
        where = pred if kind == "own" else sql.SQL("not ({})").format(pred)
    at, shown = Attempt(), dict[str, Any]()
    try:
        with _transaction(p, identity, "insert") as tx:
            row = tx.execute(sql.SQL("select to_jsonb(t) as r from {} t where {} order by {} offset {} limit 1")
                             .format(p.ident, where, order, sql.Literal(index)),
                             {**oparams, "volatile": volatile}).fetchone()
            if row is None:
                return at, shown
            at.before = [{"loc": "", "own": kind == "own", "k": ""}]  # inserts judge new rows, not old ones
            new = _clone(p, row["r"], columns)
            if tenant and p.table.tenant_column:
                new[p.table.tenant_column] = tenant
            shown = {k: new[k] for k in list(new)[:3]}
            tx.execute(AS_IDENTITY, _identity_vars(identity))
            at.ran = True
            tx.execute(_insert_sql(p, list(new)), {"row": json.dumps(new, default=str)})
            tx.execute(FULL_RIGHTS)
            at.new = list(tx.execute(sql.SQL("select {} as k, {} as own from {} t where t.xmin = "
                                             "pg_current_xact_id()::xid").format(p.key(), pred, p.ident),
                                     oparams).fetchall())
    except errors.Error as exc:
        at.error = exc
    return at, shown


def probe_insert(p: Probe, identity: Identity) -> Outcome:
    """Rows of every other tenant are rejected (42501); pinned own-tenant verdicts hold."""
    out = Outcome(p.table.name, identity.name, "insert")
    allowed = p.may(identity.role, "insert")
    if allowed is None:
        out.inconclusive = missing_role(identity)
        return out
    if not allowed:
        return _no_privilege(p, identity, "insert", out)
    columns = p.columns_for(identity.role, "insert")
    verdict = p.table.verdict(identity, "insert")
    log = []
    for kind, tenant, index in _attempts(p, identity):
        at, shown = _insert_one(p, identity, columns, kind, tenant, index)
        if at.error is None and not at.ran:
            continue  # no template row of that kind
        if _not_probed(p, identity, "insert", out, at):
            return out
        ekind = error_kind(at.error, p.table) if at.error is not None else None
        accepted = at.error is None or ekind == "constraint"
        strays = [r for r in at.new if not r["own"]]
        log.append({"kind": kind, "tenant": tenant, "accepted": accepted,
                    "sqlstate": sqlstate(at.error) if at.error else None})
        if at.error is not None and ekind not in ("rls", "constraint"):
            out.inconclusive = inconclusive(at.error, p, identity, "insert", "an insert")
            break
        row = json.dumps(shown, default=str)
        if kind == "foreign" and accepted and (at.error is not None or strays):
            out.problem = "leak"
            out.rows.append(row)
            out.summary = (f"{identity.name} ({identity.role}) inserted a row it must not own into {p.table.name}"
                           + (f" (tenant {tenant})" if tenant else "")
                           + (f" (RLS let it through; it then failed on {sqlstate(at.error)})"
                              if at.error is not None else "")
                           + "; expected 42501 new row violates row-level security policy")
        elif kind == "own" and verdict == "allow" and not accepted:
            out.problem = out.problem or "blocking"
            out.rows.append(row)
            out.summary = out.summary or (f"{identity.name} ({identity.role}) cannot insert its own row into "
                                          f"{p.table.name} ({sqlstate(at.error)})")
        elif kind == "own" and verdict == "deny" and accepted and at.error is None:
            out.problem = out.problem or "leak"
            out.rows.append(row)
            out.summary = out.summary or (f"{identity.name} ({identity.role}) inserted into {p.table.name}, "
                                          "which the contract denies it")
    out.evidence = {"attempts": log}
    if not log and out.problem is None and out.inconclusive is None:
        out.inconclusive = no_data(p)
    return out
