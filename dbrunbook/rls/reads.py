"""The read cell: an identity reads exactly the rows the oracle gives it (more: leak, fewer: blocking)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from dbrunbook import lockguard
from dbrunbook.exceptions import first_line
from dbrunbook.outcomes import Inconclusive
from dbrunbook.rls.batch import Program, Result, Step, plan, run_cells
from dbrunbook.rls.contract import Identity
from dbrunbook.rls.probe import CAP, SAMPLE, Outcome, Probe, inconclusive, no_data, sqlstate


def capped_count(ident: sql.Composable, where: sql.Composable) -> sql.Composed:
    """``count(*)`` that stops at CAP + 1 rows: a read probe of a 100-million-row table stays cheap."""
    return sql.SQL("select count(*) as n from (select 1 from {} t where {} limit {}) s").format(
        ident, where, sql.Literal(CAP + 1))


def missing_role(identity: Identity) -> Inconclusive:
    """The contract names an API role the target does not have."""
    return Inconclusive("not_supabase", f"role {identity.role!r} of identity {identity.name} does not exist on "
                        "the target", fix="probe a Supabase-shaped database, or fix the identity's role",
                        scope=f"role {identity.role}")


def _count(p: Probe, where: str) -> str:
    """:func:`capped_count` as text."""
    return f"select count(*) as n from (select 1 from {p.text['t']} t where {where} limit {CAP + 1}) s"


def _total_step(p: Probe) -> Step:
    """With full rights, once per batch (every plan before rolled back): the rows in the table, capped."""
    return Step(f"select to_jsonb(({_count(p, 'true')}))", once=True)


def _read_step(p: Probe, *, by_ctid: bool) -> Step:
    """As the identity, one scan: the keys and locations of the rows it sees, and so a capped count.

    At most CAP + 1 rows (the oracle checks the first CAP); ``locs`` holds the locations as one array literal.
    """
    x = p.text
    locator = "t.ctid" if by_ctid else x["key"]
    return Step(
        "select jsonb_build_object('rows', coalesce(jsonb_agg(jsonb_build_array(s.k, s.loc)), '[]'::jsonb), "
        "'locs', coalesce(array_agg(s.loc), '{}')::text, 'count', count(*)) from "
        f"(select {x['key']} as k, {locator}::text as loc from {x['t']} t limit {CAP + 1}) s", as_identity=True)


def _oracle_step(p: Probe, pred: str, *, by_ctid: bool, after_read: bool) -> Step:
    """With full rights, same transaction: the oracle's count, and the seen rows (the first CAP) it forbids."""
    x = p.text
    kind = "tid" if by_ctid else "text"
    seen = (f"(select (($1 -> 1 ->> 'locs')::{kind}[])[1:{CAP}])::{kind}[]" if after_read
            else f"'{{}}'::{kind}[]")
    found = f"t.ctid = any({seen})" if by_ctid else f"{x['key']} = any({seen})"
    return Step(
        f"select jsonb_build_object('n', ({_count(p, pred)}), 'leaked', coalesce((select jsonb_agg(x.k) from "
        f"(select {x['key']} as k from {x['t']} t where {found} and not ({pred}) limit {CAP}) x), '[]'::jsonb))")


def _missing_step(p: Probe, pred: str, visible: list[str]) -> Step:
    """With full rights: a few rows the identity should see but did not."""
    x = p.text
    return Step(
        f"select coalesce(jsonb_agg(x.k), '[]'::jsonb) from (select {x['key']} as k from {x['t']} t where {pred} "
        f"and not ({x['key']} = any({sql.Literal(visible).as_string(p.conn)}::text[])) limit {SAMPLE}) x")


def select_program(p: Probe, identity: Identity, peers: Sequence[Identity] = ()) -> Program:
    """Reads return exactly the oracle's rows: more is a leak, fewer is blocking.

    One transaction does it all (the request, then the oracle with full rights on the same data), and
    every query is bounded: at most CAP visible rows are checked for leaks (found again by ctid, no
    scan), and counts stop at CAP + 1. A role without SELECT or schema USAGE is decided from the
    catalog without a statement (no ERROR in the server log): it reads nothing. (``peers``: unused, a
    read needs no other identity's rows flagged.)
    """
    out = Outcome(p.table.name, identity.name, "select")
    allowed = p.may(identity.role, "select")
    if allowed is None:
        out.inconclusive = missing_role(identity)
        return out
    pred = p.pred(identity, "select")
    # Ordinary tables: rows seen by the identity are found again by ctid (a TID scan). Views and
    # partitioned tables: by their key (a scan, bounded by statement_timeout).
    by_ctid = not p.table.is_view and p.plain
    # The same steps for every cell of the table with this predicate: built once (Probe.rendered).
    memo_key = ("select", by_ctid, allowed, pred)
    steps = p.rendered.get(memo_key)
    if steps is None:
        steps = p.rendered[memo_key] = (_total_step(p), *((_read_step(p, by_ctid=by_ctid),) if allowed else ()),
                                        _oracle_step(p, pred, by_ctid=by_ctid, after_read=allowed))
    (res,) = yield [plan(p, identity, "GET", steps)]
    error = None
    if res.error is not None:
        if lockguard.gave_up(res.error):
            out.skipped = lockguard.gave_up_reason(res.error)
            return out
        if sqlstate(res.error) == "57014" or res.failed != 1 or not allowed:
            out.inconclusive = inconclusive(res.error, p, identity, "select", "a read")
            return out
        # The request itself failed (a policy calling a function the role may not run ...): it reads
        # nothing; ask the oracle on its own.
        error = f"{sqlstate(res.error)} {first_line(res.error)}"
        (res,) = yield [plan(p, identity, "GET", (_total_step(p),
                                                  _oracle_step(p, pred, by_ctid=by_ctid, after_read=False)))]
        if res.error is not None:
            out.inconclusive = inconclusive(res.error, p, identity, "select", "the oracle")
            return out
        read: dict[str, Any] = {"rows": [], "count": 0}
        oracle: dict[str, Any] = res.value(1)
    else:
        read, oracle = (res.value(1), res.value(2)) if allowed else ({"rows": [], "count": 0}, res.value(1))
    visible = [r[0] for r in read["rows"][:CAP]]
    count, expected, total = int(read["count"]), int(oracle["n"]), int(res.value(0))
    leaked = list(oracle["leaked"])
    capped = count > CAP or expected > CAP
    out.evidence = {"expected_rows": expected, "visible_rows": count, "rows_in_table": total, "error": error,
                    **({"denied_by_privileges": True} if not allowed else {}),
                    **({"capped_at": CAP} if capped else {})}
    shown = f"{CAP}+" if count > CAP else str(count)
    if leaked or count > expected:
        out.problem = "leak"
        out.rows = leaked[:SAMPLE]
        out.summary = (f"{identity.name} ({identity.role}) reads {shown} rows of {p.table.name}, "
                       f"{max(len(leaked), count - expected)} of them not its own (oracle allows {expected})")
    elif count < expected:
        out.problem = "blocking"
        why = error or ("" if allowed else f"{identity.role} has no SELECT privilege or schema USAGE")
        out.summary = (f"{identity.name} ({identity.role}) reads {count} of the {expected} rows of "
                       f"{p.table.name} it should see" + (f" ({why})" if why else ""))
        if count < CAP:
            (res,) = yield [plan(p, identity, "GET", (_missing_step(p, pred, visible),))]
            out.rows = list(res.value(0) or [])
    elif total == 0:
        out.inconclusive = no_data(p)
    elif error:
        out.summary = f"the request failed ({error}): reads nothing, and the oracle allows nothing"
    else:
        out.summary = (f"reads {count} rows, the oracle's {expected}" if allowed
                       else f"{identity.role} may not read {p.table.name} (privileges): reads nothing")
    return out


def probe_select(p: Probe, identity: Identity) -> Outcome:
    """One read cell on its own (the coverage check uses it)."""
    return run_cells(p, [select_program(p, identity)])[0]


def probe_selects(probes: Sequence[Probe], identity: Identity) -> list[Outcome]:
    """One identity's read cell on each table.

    One server-side batch on writable targets (the forged-claims property asks this for every
    generated claim set); one cell at a time on read-only targets, where each keeps its own
    statement_timeout.
    """
    if not probes:
        return []
    if probes[0].policy.read_only:
        return [probe_select(p, identity) for p in probes]
    return run_cells(probes[0], [select_program(p, identity) for p in probes])


__all__ = ["Result", "capped_count", "missing_role", "probe_select", "probe_selects", "select_program"]
