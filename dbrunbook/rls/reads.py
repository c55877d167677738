"""The read cell: an identity reads exactly the rows the oracle gives it (more: leak, fewer: blocking)."""

from __future__ import annotations

from typing import Any

from psycopg import errors, sql

from dbrunbook import lockguard
from dbrunbook.exceptions import first_line
from dbrunbook.outcomes import Inconclusive
from dbrunbook.rls.contract import Identity
from dbrunbook.rls.probe import CAP, FULL_RIGHTS, SAMPLE, Outcome, Probe, inconclusive, no_data, sqlstate
from dbrunbook.rls.request import as_request


def capped_count(ident: sql.Composable, where: sql.Composable) -> sql.Composed:
    """``count(*)`` that stops at CAP + 1 rows: a read probe of a 100-million-row table stays cheap."""
    return sql.SQL("select count(*) as n from (select 1 from {} t where {} limit {}) s").format(
        ident, where, sql.Literal(CAP + 1))


def _expected_and_total(p: Probe, pred: sql.Composable) -> sql.Composed:
    """Oracle rows and all rows, both capped, in one statement (full rights)."""
    return sql.SQL("select ({}) as n, ({}) as total").format(capped_count(p.ident, pred),
                                                             capped_count(p.ident, sql.SQL("true")))


def missing_role(identity: Identity) -> Inconclusive:
    """The contract names an API role the target does not have."""
    return Inconclusive("not_supabase", f"role {identity.role!r} of identity {identity.name} does not exist on "
                        "the target", fix="probe a Supabase-shaped database, or fix the identity's role",
                        scope=f"role {identity.role}")


def probe_select(p: Probe, identity: Identity) -> Outcome:
    """Reads return exactly the oracle's rows: more is a leak, fewer is blocking.

    One transaction does it all (the request, then the oracle with full rights on the same data), and
    every query is bounded: at most CAP visible rows are checked for leaks (found again by ctid, no
    scan), and counts stop at CAP + 1. A role without SELECT or schema USAGE is decided from the
    catalog without a statement (no ERROR in the server log): it reads nothing.
    """
    out = Outcome(p.table.name, identity.name, "select")
    pred, params = p.oracle(identity)
    if p.table.verdict(identity, "select") == "deny":
        pred, params = sql.SQL("false"), {}
    allowed = p.may(identity.role, "select")
    if allowed is None:
        out.inconclusive = missing_role(identity)
        return out
    # Ordinary tables: rows seen by the identity are found again by ctid (a TID scan). Views and
    # partitioned tables: by their key (a scan, bounded by statement_timeout).
    by_ctid = not p.table.is_view and p.plain
    locator = sql.SQL("t.ctid") if by_ctid else p.key()
    found = sql.SQL("t.ctid = any(%(seen)s::tid[])") if by_ctid else sql.SQL("{} = any(%(seen)s)").format(p.key())
    leaked_q = sql.SQL("select {} as k from {} t where {} and not ({})").format(p.key(), p.ident, found, pred)
    visible: list[str] = []
    count = 0
    counts: dict[str, Any] | None = None
    leaked: list[str] = []
    error = None
    try:
        with as_request(p.conn, identity.role, identity.claims, "GET", f"/{p.table.relname}",
                        schema=p.table.schema, thresholds=p.policy.thresholds) as tx:
            seen: list[str] = []
            if allowed:
                rows = tx.execute(sql.SQL("select {} as k, {}::text as loc from {} t limit {}").format(
                    p.key(), locator, p.ident, sql.Literal(CAP))).fetchall()
                visible, seen = [r["k"] for r in rows], [r["loc"] for r in rows]
                count = tx.execute(capped_count(p.ident, sql.SQL("true"))).fetchone()["n"]  # type: ignore[index]
            tx.execute(FULL_RIGHTS)
            counts = tx.execute(_expected_and_total(p, pred), params).fetchone()
            if seen:
                leaked = [r["k"] for r in tx.execute(leaked_q, {**params, "seen": seen}).fetchall()]
    except errors.Error as exc:
        if lockguard.gave_up(exc):
            out.skipped = lockguard.gave_up_reason(exc)
            return out
        if sqlstate(exc) == "57014":
            out.inconclusive = inconclusive(exc, p, identity, "select", "a read")
            return out
        error = f"{sqlstate(exc)} {first_line(exc)}"
    if counts is None:  # the request failed: ask the oracle on its own
        counts = p.full(_expected_and_total(p, pred), params)[0]
    expected, total = int(counts["n"]), int(counts["total"])
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
            out.rows = [r["k"] for r in p.full(sql.SQL(
                "select {} as k from {} t where {} and not ({} = any(%(keys)s)) limit {}").format(
                p.key(), p.ident, pred, p.key(), sql.Literal(SAMPLE)), {**params, "keys": visible})]
    elif total == 0:
        out.inconclusive = no_data(p)
    elif error:
        out.summary = f"the request failed ({error}): reads nothing, and the oracle allows nothing"
    else:
        out.summary = (f"reads {count} rows, the oracle's {expected}" if allowed
                       else f"{identity.role} may not read {p.table.name} (privileges): reads nothing")
    return out
