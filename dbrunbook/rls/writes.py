"""The write cells, sent as PostgREST sends them and judged by what actually changed.

Each attempt is one plan (dbrunbook/rls/batch.py), run in its own rolled-back subtransaction on the
server: with full rights a snapshot of where every row is and whose it is, then the identity's
statement, then with full rights again what changed. Rows are matched by their physical location
inside that same transaction, so generated ids cannot make a false leak.

- UPDATE sets a constant, as a PATCH does (a value of its type on a column the role may write, the
  tenant column last), without a filter: only the UPDATE policies decide. Where a tenant column
  exists, rows are also moved into every other tenant of the contract, in the contract's order.
- DELETE runs without a filter.
- INSERT tries every other tenant of the contract (every foreign row, up to INSERT_CAP, without a
  tenant column) in a stable order, plus one own row.

A 42501 that is not this table's ``new row violates row-level security policy``, a constraint error
after RLS let rows through (nobody can tell whose), a trigger's error, a timeout: inconclusive, never
"denied". A role without the privilege is decided from the catalog, with no statement. The errors a
healthy project's policies raise (cross-tenant inserts and moves refused with 42501) are caught by
the server-side runner and never reach the server log (docs/checks/rls.md).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from dbrunbook import lockguard
from dbrunbook.exceptions import first_line
from dbrunbook.rls.batch import Plan, Program, Result, Step, plan
from dbrunbook.rls.contract import Identity, Operation
from dbrunbook.rls.probe import CAP, SAMPLE, Outcome, Probe, error_kind, inconclusive, no_data, sqlstate
from dbrunbook.rls.reads import missing_role

#: Without a tenant column, at most this many foreign rows are cloned for insert attempts.
INSERT_CAP = 25
#: A PATCH that hits a constraint is tried again on the next candidate column, at most this often.
PATCH_TRIES = 3
_METHOD = {"insert": "POST", "update": "PATCH", "delete": "DELETE"}


@dataclass
class Attempt:
    """What one write plan saw: the rows before, which changed, the rows it wrote, how it ended."""

    before: list[list[Any]]  # [loc, own, key]
    gone: set[str]
    new: list[list[Any]]  # [key, own]
    error: BaseException | None
    ran: bool  # the identity's statement was sent (it may have failed)
    failed_before: bool  # the plan failed before the identity's statement
    value: Any = None

    @property
    def own(self) -> list[list[Any]]:
        """Rows the oracle gives the identity."""
        return [r for r in self.before if r[1]]

    @property
    def foreign(self) -> list[list[Any]]:
        """Rows of other tenants."""
        return [r for r in self.before if not r[1]]

    def touched(self, rows: list[list[Any]]) -> list[list[Any]]:
        """Those of ``rows`` the statement changed or removed."""
        return [r for r in rows if r[0] in self.gone]


def _snapshot(p: Probe, owners: tuple[str, ...]) -> Step:
    """Full rights: every row's location and key (at most CAP), whose it is, and the next xid to come.

    Taken once per batch (``once``): every plan before this one rolled back, so the rows are where they
    were, and rows with an xmin at or above the watermark can only be the current plan's. ``owners``
    are the oracle predicates of the batch's identities (UPDATE and DELETE judge own rows): a row
    carries one flag per predicate, and ``own`` holds, per predicate, its rows' locations as one
    array literal; ``locs`` holds every location so. The steps that look rows up cast them once.
    """
    x = p.text
    flags = "".join(f", s.o{i}" for i in range(len(owners)))
    own = ", ".join(f"coalesce(array_agg(s.loc) filter (where s.o{i}), '{{}}')::text" for i in range(len(owners)))
    cols = "".join(f", {pred} as o{i}" for i, pred in enumerate(owners))
    return Step(
        f"select jsonb_build_object('rows', coalesce(jsonb_agg(jsonb_build_array(s.loc, s.k{flags})), '[]'::jsonb), "
        f"'locs', coalesce(array_agg(s.loc), '{{}}')::text, 'own', jsonb_build_array({own}), "
        "'xid', pg_snapshot_xmax(pg_current_snapshot())::text::bigint % 4294967296) from "
        f"(select {x['loc']} as loc, {x['key']} as k{cols} from {x['t']} t limit {CAP}) s", once=True)


def _at(p: Probe, own: int | None = None) -> str:
    """Rows at the snapshot's locations (all, or those of owner ``own``): a TID scan in ordinary tables.

    The array is cast once (an InitPlan; the outer cast only makes ``any`` read an array, not a subquery).
    """
    locs = "$1 -> 0 ->> 'locs'" if own is None else f"$1 -> 0 -> 'own' ->> {own}"
    if p.plain:
        return f"t.ctid = any((select ({locs})::tid[])::tid[])"
    return f"(t.tableoid::text || ':' || t.ctid::text) = any((select ({locs})::text[])::text[])"


def owners(p: Probe, identity: Identity, peers: Sequence[Identity]) -> tuple[str, ...]:
    """The distinct oracle predicates of the identities probed together (the snapshot flags each)."""
    return tuple(sorted({p.pred(i) for i in (*peers, identity)}))


#: What a plan's measuring step reads: "still" (which snapshot rows are where they were: UPDATE and
#: DELETE) or "new" (rows written by the plan, with ownership: INSERT and moves into other tenants).
#: Steps: snapshot, [prepare], statement, measure.
Measure = str


def _measure(p: Probe, pred: str, what: Measure) -> Step:
    """Full rights again: which snapshot rows are no longer where they were, or the rows written since."""
    x = p.text
    if what == "still":
        return Step(f"select jsonb_build_object('still', coalesce(jsonb_agg({x['loc']}), '[]'::jsonb)) "
                    f"from {x['t']} t where {_at(p)}")
    # Rows at a snapshot location are never new (xmin is 32 bits: an old row may look newer after wraparound).
    return Step(f"select jsonb_build_object('new', coalesce(jsonb_agg(jsonb_build_array({x['key']}, {pred})), "
                f"'[]'::jsonb)) from {x['t']} t where t.xmin::text::bigint >= ($1 -> 0 ->> 'xid')::bigint "
                f"and not ({_at(p)})")


def _plan(p: Probe, identity: Identity, op: Operation, statement: str, what: Measure,
          prepare: Step | None = None, owned: tuple[str, ...] = ()) -> Plan:
    pred = p.pred(identity)
    key = ("write", what, owned, pred)
    around = p.rendered.get(key)
    if around is None:
        around = p.rendered[key] = (_snapshot(p, owned), _measure(p, pred, what))
    steps = [around[0], *([prepare] if prepare else [])]
    steps += [Step(statement, as_identity=True, returns=False), around[1]]
    return plan(p, identity, _METHOD[op], steps)


def _attempt(res: Result, *, prepared: bool = False, own: int | None = None) -> Attempt:
    """Read a write plan's result (steps: snapshot, [prepare], statement, measure); ``own``: the owner's flag."""
    stmt = 1 + prepared
    snap = res.value(0) or {"rows": []}
    measured = res.value(stmt + 1) or {}
    before = [[r[0], own is not None and bool(r[2 + own]), r[1]] for r in snap["rows"]]
    ran = res.failed is None or res.failed >= stmt
    still = measured.get("still")  # None: the plan measured new rows only (nothing is judged as gone)
    gone = {r[0] for r in before} - set(still) if res.error is None and still is not None else set()
    return Attempt(before, gone, list(measured.get("new") or []), res.error, ran,
                   res.error is not None and (res.failed is None or res.failed < stmt),
                   res.value(1) if prepared else None)


def _not_probed(p: Probe, identity: Identity, op: Operation, out: Outcome, at: Attempt) -> bool:
    """Settle cells whose attempt reached no verdict (lock, timeout, odd errors, no rows); True if settled."""
    if at.error is not None and lockguard.gave_up(at.error):
        out.skipped = lockguard.gave_up_reason(at.error)
        return True
    if at.error is not None and (at.failed_before or error_kind(at.error, p.table) == "timeout"):
        out.inconclusive = inconclusive(at.error, p, identity, op, f"the {op} probe")
        return True
    if at.error is None and not at.before:
        out.inconclusive = no_data(p)
        return True
    return False


def _settled_by_rights(p: Probe, identity: Identity, op: Operation,
                       out: Outcome) -> Generator[list[Plan], list[Result], bool]:
    """A missing role or privilege decides the cell from the catalog, with no statement; True if so."""
    allowed = p.may(identity.role, op)
    if allowed is None:
        out.inconclusive = missing_role(identity)
        return True
    if not allowed:
        yield from _no_privilege(p, identity, op, out)
        return True
    return False


def _no_privilege(p: Probe, identity: Identity, op: Operation, out: Outcome) -> Program:
    """The role may not run the command at all: nothing can change; blocking if the contract says allow."""
    (res,) = yield [plan(p, identity, _METHOD[op], (Step(
        f"select jsonb_build_object('own', count(*) filter (where {p.pred(identity)}), 'total', count(*)) from "
        f"(select * from {p.text['t']} t limit {CAP}) t"),))]
    if res.error is not None:
        out.inconclusive = inconclusive(res.error, p, identity, op, "counting rows")
        return out
    counts = res.value(0)
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
            if identity.scope == "all" and verdict == "any":
                # A key that sees everything, with no pinned verdict: there is no rule to break here.
                out.summary = f"no rule to judge ({identity.role} sees every row); {what} failed: " + first_line(
                    at.error)
            else:
                out.inconclusive = inconclusive(at.error, p, identity, op, what)
            return True
        # This table's WITH CHECK refused at least one new row: the statement changed nothing.
        out.evidence["unfiltered"] = f"rejected: {sqlstate(at.error)} {first_line(at.error)}"
        return verdict == "any"
    foreign, own = at.touched(at.foreign), at.touched(at.own)
    out.evidence.update({"own_rows": len(at.own), "other_rows": len(at.foreign), "own_changed": len(own),
                         "other_changed": len(foreign)})
    if foreign and identity.scope != "all":
        verb = "removed" if op == "delete" else "changed"
        out.problem, out.rows = "leak", [r[2] for r in foreign[:SAMPLE]]
        out.summary = (f"{identity.name} ({identity.role}): {what} {verb} {len(foreign)} rows of other tenants "
                       f"({len(at.gone)} rows in all)")
    elif verdict == "allow" and len(own) < len(at.own):
        return False
    elif verdict == "deny" and own:
        out.problem = "leak"
        out.summary = f"{identity.name} ({identity.role}): {what} changed {len(own)} of its rows; contract: deny"
    return True


def _judge_own(p: Probe, identity: Identity, op: Operation, out: Outcome, at: Attempt) -> None:
    """A pinned own-row verdict, from the statement filtered to the identity's rows (a PATCH/DELETE ``?id=in.``)."""
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


def _ctype(p: Probe, column: str) -> str:
    return next((c.type for c in p.columns if c.name == column), "text")


def _patch(p: Probe, identity: Identity, column: str, owned: tuple[str, ...], *, own_only: bool = False) -> Plan:
    """``update t set column = <constant>``: the identity's tenant id, else a value the column already holds."""
    where = f" and {_at(p, owned.index(p.pred(identity)))}" if own_only else ""
    t, col, ctype = p.text["t"], p.name(column), _ctype(p, column)
    if column == p.table.tenant_column:
        return _plan(p, identity, "update",
                     f"update {t} t set {col} = {p.lit(identity.tenant_id)}::{ctype} where true{where}", "still",
                     owned=owned)
    # Read with full rights before the request (step 1), used as a constant: no column is referenced,
    # so PostgreSQL adds no SELECT policy to the UPDATE, exactly as for a PATCH's body.
    value = Step(f"select to_jsonb(min(t.{col}::text)) from {t} t", once=True)
    return _plan(p, identity, "update", f"update {t} t set {col} = (($1 -> 1) #>> '{{}}')::{ctype} where true{where}",
                 "still", prepare=value, owned=owned)


def update_program(p: Probe, identity: Identity, peers: Sequence[Identity] = ()) -> Program:
    """An unfiltered constant PATCH changes only own rows, and no row moves into another tenant.

    ``peers``: the identities probed in the same batch (their rows are flagged by one snapshot).
    """
    out = Outcome(p.table.name, identity.name, "update")
    owned = owners(p, identity, peers)
    own = owned.index(p.pred(identity))
    if (yield from _settled_by_rights(p, identity, "update", out)):
        return out
    columns = _patch_columns(p, identity)
    if not columns:
        out.skipped = (f"{identity.role} may update no column of {p.table.name} that a PATCH could set to one "
                       "value (set update_column in the contract)")
        return out
    moves = _move_plans(p, identity, owned)
    results = yield [_patch(p, identity, columns[0], owned), *[plan for _, plan in moves]]
    column, at = columns[0], _attempt(results[0], prepared=columns[0] != p.table.tenant_column, own=own)
    for candidate in columns[1:]:  # a constraint refused the constant: try the next column
        if at.error is None or error_kind(at.error, p.table) != "constraint":
            break
        (res,) = yield [_patch(p, identity, candidate, owned)]
        column, at = candidate, _attempt(res, prepared=candidate != p.table.tenant_column, own=own)
    out.evidence = {"statement": f"update {p.table.name} set {column} = <constant> where true"}
    if _not_probed(p, identity, "update", out, at):
        return out
    if not _judge_unfiltered(p, identity, "update", out, at,
                             f"UPDATE {p.table.name} SET {column} = <constant> without a filter"):
        (res,) = yield [_patch(p, identity, column, owned, own_only=True)]
        _judge_own(p, identity, "update", out, _attempt(res, prepared=column != p.table.tenant_column, own=own))
    if out.problem is None and out.inconclusive is None and out.skipped is None:
        _judge_moves(p, identity, out, [(t, _attempt(r, own=own))
                                        for (t, _), r in zip(moves, results[1:], strict=True)])
    return out


def _move_plans(p: Probe, identity: Identity, owned: tuple[str, ...]) -> list[tuple[str, Plan]]:
    """Rows moved into each other tenant in turn (the contract's order): one plan per tenant."""
    column = p.table.tenant_column
    if identity.scope == "all" or not column or column not in p.columns_for(identity.role, "update"):
        return []
    t, col, ctype = p.text["t"], p.name(column), _ctype(p, column)
    return [(other, _plan(p, identity, "update", f"update {t} t set {col} = {p.lit(other)}::{ctype} where true",
                          "new", owned=owned)) for other in p.tenants if other != identity.tenant_id]


def _judge_moves(p: Probe, identity: Identity, out: Outcome, moves: list[tuple[str, Attempt]]) -> None:
    log = []
    for other, at in moves:
        if _not_probed(p, identity, "update", out, at):
            return
        kind = error_kind(at.error, p.table) if at.error is not None else None
        moved = [r for r in at.new if not r[1]] if at.error is None else []
        log.append({"tenant": other, "rows": len(moved), "sqlstate": sqlstate(at.error) if at.error else None})
        if moved or kind == "constraint":
            out.problem, out.rows = "leak", [r[0] for r in moved[:SAMPLE]]
            out.summary = (f"{identity.name} ({identity.role}) moved rows of {p.table.name} into tenant {other} "
                           f"({p.table.tenant_column} = other tenant"
                           + (f"; RLS let it through, then {sqlstate(at.error)}" if at.error
                              else f"; {len(moved)} rows")
                           + "); expected 42501 new row violates row-level security policy")
            break
        if at.error is not None and kind != "rls":
            out.inconclusive = inconclusive(at.error, p, identity, "update", f"moving rows into tenant {other}")
            break
    out.evidence["moves_into_other_tenants"] = log


def delete_program(p: Probe, identity: Identity, peers: Sequence[Identity] = ()) -> Program:
    """A DELETE without a filter removes only own rows (``peers``: as for :func:`update_program`)."""
    out = Outcome(p.table.name, identity.name, "delete")
    owned = owners(p, identity, peers)
    own = owned.index(p.pred(identity))
    if (yield from _settled_by_rights(p, identity, "delete", out)):
        return out
    (res,) = yield [_plan(p, identity, "delete", f"delete from {p.text['t']} t where true", "still", owned=owned)]
    at = _attempt(res, own=own)
    if _not_probed(p, identity, "delete", out, at):
        return out
    if not _judge_unfiltered(p, identity, "delete", out, at, f"DELETE FROM {p.table.name} without a filter"):
        (res,) = yield [_plan(p, identity, "delete", f"delete from {p.text['t']} t where true and {_at(p, own)}",
                              "still", owned=owned)]
        _judge_own(p, identity, "delete", out, _attempt(res, own=own))
    return out


def _attempts(p: Probe, identity: Identity) -> list[tuple[str, str | None, int]]:
    """(kind, tenant id to write or None, index among the template rows), in a stable order.

    With a tenant column: every other tenant of the contract, then the identity's own; without: every
    foreign row (up to INSERT_CAP), then one own row. An API key that sees everything: one row.
    """
    if identity.scope == "all":
        return [("own", None, 0)]
    if p.table.tenant_column and p.tenants:
        out: list[tuple[str, str | None, int]] = [("foreign", t, 0) for t in p.tenants if t != identity.tenant_id]
    else:
        out = [("foreign", None, i) for i in range(INSERT_CAP)]
    if identity.scope == "oracle":
        out.append(("own", identity.tenant_id if p.table.tenant_column else None, 0))
    return out


def _fresh_key(p: Probe, column: str, ctype: str) -> str:
    """A new value for a primary key column without a default, from the template row's."""
    if ctype == "uuid":
        return "to_jsonb(gen_random_uuid())"
    if ctype in ("smallint", "integer", "bigint", "numeric"):
        return f"to_jsonb(t.{p.name(column)} + 1000000007)"
    return f"to_jsonb(t.{p.name(column)}::text || '-dbrunbook-' || substr(md5(random()::text), 1, 8))"


def _insert_plan(p: Probe, identity: Identity, columns: list[str], kind: str, tenant: str | None,
                 index: int) -> Plan:
    """Clone a template row (read inside the plan, in a stable order) and insert it as the identity.

    The template rows of one kind are read once per batch (``once``: the same for every identity of
    the role, and for every tenant: the tenant column is set in the statement), as a list in the
    stable order; the plan inserts the one at ``index``, nothing if there is none.
    """
    if tenant or identity.scope == "all":
        where, n = "true", 1
    else:
        pred = p.pred(identity)
        where, n = (pred, 1) if kind == "own" else (f"not ({pred})", INSERT_CAP)
    keep = [c for c in p.columns if c.name in columns and not c.generated and not (c.primary_key and c.has_default)]
    fresh = ", ".join(f"{p.lit(c.name)}, {_fresh_key(p, c.name, c.type)}" for c in keep if c.primary_key)
    volatile = [c.name for c in p.columns if c.primary_key or c.generated or c.has_default]
    t = p.text["t"]
    template = Step(
        "select coalesce(jsonb_agg(x.r order by x.o), '[]'::jsonb) from (select "
        f"(to_jsonb(t) - {p.lit([c.name for c in p.columns if c not in keep])}::text[]) || jsonb_build_object({fresh}) "
        f"as r, (to_jsonb(t) - {p.lit(volatile)}::text[])::text as o from {t} t where {where} order by o limit {n}) x",
        once=True)
    row = f"($1 -> 1 -> {index})"
    merged = (f"{row} || jsonb_build_object({p.lit(p.table.tenant_column)}, {p.lit(tenant)}::text)"
              if tenant and p.table.tenant_column in columns else row)
    names = ", ".join(p.name(c.name) for c in keep)
    stmt = (f"insert into {t} ({names}) select {names} from jsonb_populate_record(null::{t}, {merged}) "
            f"where {row} is not null")
    return _plan(p, identity, "insert", stmt, "new", prepare=template)


def _template_row(p: Probe, at: Attempt, columns: list[str], tenant: str | None, index: int) -> Any:
    """The row an insert plan cloned (None: there was none of that kind), with the tenant it was given."""
    rows = at.value if isinstance(at.value, list) else []
    row = rows[index] if index < len(rows) else None
    if row is not None and tenant and p.table.tenant_column in columns:
        row = {**row, str(p.table.tenant_column): tenant}
    return row


def insert_program(p: Probe, identity: Identity, peers: Sequence[Identity] = ()) -> Program:
    """Rows of every other tenant are rejected (42501); pinned own-tenant verdicts hold (``peers``: unused)."""
    out = Outcome(p.table.name, identity.name, "insert")
    if (yield from _settled_by_rights(p, identity, "insert", out)):
        return out
    columns = p.columns_for(identity.role, "insert")
    verdict = p.table.verdict(identity, "insert")
    attempts = _attempts(p, identity)
    results = yield [_insert_plan(p, identity, columns, *a) for a in attempts]
    log = []
    for (kind, tenant, index), res in zip(attempts, results, strict=True):
        at = _attempt(res, prepared=True)
        at.value = _template_row(p, at, columns, tenant, index)
        if at.error is None and at.value is None:
            continue  # no template row of that kind
        if _not_probed(p, identity, "insert", out, at):
            return out
        ekind = error_kind(at.error, p.table) if at.error is not None else None
        accepted = at.error is None or ekind == "constraint"
        strays = [r for r in at.new if not r[1]]
        log.append({"kind": kind, "tenant": tenant, "accepted": accepted,
                    "sqlstate": sqlstate(at.error) if at.error else None})
        if at.error is not None and ekind not in ("rls", "constraint"):
            out.inconclusive = inconclusive(at.error, p, identity, "insert", "an insert")
            break
        shown = {c.name for c in p.columns if c.primary_key} | {p.table.tenant_column}
        row = str({k: v for k, v in (at.value or {}).items() if k in shown})  # keys only, never content
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


__all__ = ["Result", "delete_program", "insert_program", "update_program"]
