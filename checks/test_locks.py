"""Runbook "Diagnóstico 2 (Locks e queries lentas)": blockers, long and idle transactions, deadlocks.

Every probe here reads catalog and statistics views only (pg_stat_activity, pg_locks,
pg_prepared_xacts, pg_stat_database) under the target's lock_timeout: it never touches a user
table, so it cannot queue behind the locks it reports. Nothing is cancelled or terminated; the
mitigation is printed for a human.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from dbrunbook import locks, resources, session
from dbrunbook.checking import Check
from dbrunbook.redact import jsonable
from dbrunbook.targets import Target

pytestmark = [pytest.mark.locks]

RUNBOOK = "Diagnóstico 2 (Locks e queries lentas)"
#: pg_stat_database is sampled at the first check of this module and again by the deadlock check.
_COUNTERS_AT_START: dict[str, tuple[float, dict[str, Any]]] = {}
#: Backends flush their pg_stat_database counters at most once a second (PostgreSQL 15+ shared-memory
#: stats), so a shorter window could read the same value twice.
MIN_WINDOW_S = 1.5


def _counters(db: Any, target: Target) -> dict[str, Any]:
    rows = session.query(db, target.policy, resources.sql("locks_db_counters"))
    return rows[0] if rows else {}


@pytest.fixture(autouse=True)
def _run_window_start(target: Target, request: pytest.FixtureRequest) -> None:
    """Take the start-of-window counter sample once per target (silently skipped if unreachable)."""
    if target.name in _COUNTERS_AT_START or target.problem or not target.reachability().ok:
        return
    db = request.getfixturevalue("db")
    _COUNTERS_AT_START[target.name] = (time.monotonic(), _counters(db, target))


def _session_finding(check: Check, s: locks.Session, title: str) -> Any:
    return check.finding(
        title, f"pid {s.pid} ({s.application_name or 'no application_name'}, user {s.usename}, "
               f"client {s.client}, db {s.datname})",
        locks.mitigation(s.pid, idle_in_transaction=s.idle_in_transaction),
        detail=f"{s.describe()}\nquery: {locks.clean_query(s.query)}", metadata={"pid": s.pid},
    )


@pytest.mark.triage
@pytest.mark.check("locks.blocking_chains", severity="P2", runbook=locks.RUNBOOK)
def test_no_session_waits_behind_a_blocker(target: Target, db: Any, check: Check) -> None:
    """No session has waited longer than lock_wait_s behind another (relation, row, advisory, xid locks)."""
    limit = target.spec.thresholds.lock_wait_s
    chains = locks.blocking_chains(db, target.policy)
    check.add_evidence("blocking_trees", [c.as_dict() for c in chains])
    check.require_none(
        check.finding(
            f"pid {c.root} blocks {len(c.waiters)} session(s) (pids {', '.join(map(str, c.waiters))}); "
            f"longest wait {c.max_wait_s:.1f}s > lock_wait_s {limit:g}s"
            + ("; the root is IDLE IN TRANSACTION" if c.root_session and c.root_session.idle_in_transaction
               else ""),
            f"root blocker pid {c.root} on {c.edges[0].target}",
            locks.mitigation(c.root, idle_in_transaction=bool(c.root_session and c.root_session.idle_in_transaction)),
            detail=c.render(), metadata={"root": c.root, "waiters": c.waiters},
        )
        for c in chains if c.max_wait_s >= limit
    )


@pytest.mark.triage
@pytest.mark.check("locks.exclusive_lock_held", severity="P1", runbook=locks.RUNBOOK)
def test_no_access_exclusive_lock_is_held_on_user_tables(target: Target, db: Any, check: Check) -> None:
    """No session holds ACCESS EXCLUSIVE on a user table longer than exclusive_lock_held_s, waiters or not.

    Every read of such a table (the app's, PostgREST's) queues behind it: an outage of those tables
    even before anyone waits, and the reason the RLS probes skip them (lockguard).
    """
    limit = target.spec.thresholds.exclusive_lock_held_s
    held = locks.held_exclusive(db, target.policy)
    check.add_evidence("access_exclusive_held", [h.__dict__ | {"query": locks.clean_query(h.query, 500)}
                                                 for h in held])
    findings = []
    for pid, mine in locks.by_holder(held).items():
        age = mine[0].xact_age_s or 0.0
        if age < limit:
            continue
        names = ", ".join(h.relation for h in mine[:8]) + (" ..." if len(mine) > 8 else "")
        waiting = sum(h.waiting for h in mine)
        first = mine[0]
        findings.append(check.finding(
            f"pid {pid} holds ACCESS EXCLUSIVE on {len(mine)} relation(s) ({names}) in a transaction open for "
            f"{age:.1f}s >= exclusive_lock_held_s {limit:g}s; {waiting} session(s) waiting now"
            + ("; the holder is IDLE IN TRANSACTION" if (first.state or "").startswith("idle in transaction")
               else ""),
            f"pid {pid} ({first.application_name or 'no application_name'}, user {first.usename}, state "
            f"{first.state})",
            "Every read of these tables waits behind this lock (the app's, PostgREST's, the RLS probes, which "
            "skip them). If it is a migration, let it finish or roll it back from its own client; otherwise:\n"
            + locks.mitigation(pid, idle_in_transaction=(first.state or "").startswith("idle in transaction")),
            detail=f"query: {locks.clean_query(first.query)}", metadata={"pid": pid, "relations": len(mine)},
        ))
    check.require_none(findings)


@pytest.mark.triage
@pytest.mark.check("locks.long_running_queries", severity="P2", runbook=RUNBOOK)
def test_no_query_runs_longer_than_the_threshold(target: Target, db: Any, check: Check) -> None:
    """No active query has run longer than long_query_s."""
    limit = target.spec.thresholds.long_query_s
    found = [s for s in locks.sessions(db, target.policy)
             if s.state == "active" and (s.query_age_s or 0) > limit]
    check.add_evidence("long_running", [s.as_dict() for s in found])
    check.require_none(_session_finding(check, s, f"query running for {s.query_age_s:.1f}s > long_query_s {limit:g}s")
                       for s in found)


@pytest.mark.triage
@pytest.mark.check("locks.idle_in_transaction", severity="P2", runbook=RUNBOOK)
def test_no_session_idles_in_a_transaction(target: Target, db: Any, check: Check) -> None:
    """No session has been idle in transaction longer than idle_in_transaction_s (it holds locks and xmin)."""
    limit = target.spec.thresholds.idle_in_transaction_s
    found = [s for s in locks.sessions(db, target.policy)
             if s.idle_in_transaction and (s.state_age_s or 0) > limit]
    check.add_evidence("idle_in_transaction", [s.as_dict() for s in found])
    check.require_none(_session_finding(
        check, s, f"{s.state} for {s.state_age_s:.1f}s > idle_in_transaction_s {limit:g}s "
                  "(holds its locks and its snapshot until the client commits or rolls back)")
        for s in found)


@pytest.mark.triage
@pytest.mark.check("locks.oldest_transaction", severity="P2", runbook=RUNBOOK)
def test_oldest_transaction_is_younger_than_the_threshold(target: Target, db: Any, check: Check) -> None:
    """The oldest open transaction is younger than oldest_transaction_s (old ones hold back vacuum)."""
    limit = target.spec.thresholds.oldest_transaction_s
    open_xacts = sorted((s for s in locks.sessions(db, target.policy) if s.xact_age_s is not None),
                        key=lambda s: -(s.xact_age_s or 0))
    check.add_evidence("oldest_transactions", [s.as_dict() for s in open_xacts[:5]])
    check.require_none(_session_finding(
        check, s, f"transaction open for {s.xact_age_s:.1f}s > oldest_transaction_s {limit:g}s; "
                  f"it holds back vacuum (backend_xmin age {s.xmin_age if s.xmin_age is not None else '?'} xids)")
        for s in open_xacts if (s.xact_age_s or 0) > limit)


@pytest.mark.triage
@pytest.mark.check("locks.prepared_transactions", severity="P2", runbook=RUNBOOK)
def test_no_prepared_transaction_is_left_behind(target: Target, db: Any, check: Check) -> None:
    """No two-phase transaction has stayed prepared longer than idle_in_transaction_s."""
    limit = target.spec.thresholds.idle_in_transaction_s
    rows = session.query(db, target.policy, resources.sql("activity_prepared_xacts"))
    check.add_evidence("prepared_xacts", jsonable(rows))
    check.require_none(
        check.finding(
            f"prepared transaction {r['gid']!r} left for {r['age_s']:.1f}s > idle_in_transaction_s {limit:g}s "
            f"(holds its locks and the xmin horizon; xid age {r['xid_age']}; survives restarts)",
            f"gid {r['gid']!r} in database {r['database']} (owner {r['owner']})",
            "Mitigação (com cuidado), for a human after asking the transaction manager that prepared it (the "
            f"suite never runs this), connected to database {r['database']}:\n"
            f"  rollback prepared '{r['gid']}';   -- or commit prepared, if its coordinator says it committed",
            metadata={"gid": r["gid"]},
        )
        for r in rows if (r["age_s"] or 0) > limit
    )


# Not part of triage: its counter window needs MIN_WINDOW_S, and triage must answer in seconds.
@pytest.mark.check("locks.deadlocks", severity="P2", runbook=RUNBOOK)
def test_no_deadlock_during_the_run(target: Target, db: Any, check: Check) -> None:
    """pg_stat_database.deadlocks did not move during the run window.

    PostgreSQL keeps no lock-timeout counter (lock timeouts only reach the server log), so the window
    also reports conflicts, sessions_killed/fatal/abandoned and rollbacks, as evidence.
    """
    started, before = _COUNTERS_AT_START.get(target.name, (time.monotonic(), {}))
    if not before:
        before = _counters(db, target)
    time.sleep(max(0.0, MIN_WINDOW_S - (time.monotonic() - started)))
    after = _counters(db, target)
    keys = ("deadlocks", "conflicts", "sessions_killed", "sessions_fatal", "sessions_abandoned", "xact_rollback")
    delta = {k: (after.get(k) or 0) - (before.get(k) or 0) for k in keys}
    window = round(time.monotonic() - started, 2)
    check.add_evidence("pg_stat_database_window", jsonable(
        {"window_s": window, "before": before, "after": after, "delta": delta}))
    if delta["deadlocks"] > 0:
        check.fail(check.finding(
            f"{delta['deadlocks']} deadlock(s) in database {after.get('datname')} during the last {window}s "
            f"(pg_stat_database.deadlocks {before.get('deadlocks')} -> {after.get('deadlocks')})",
            f"database {after.get('datname')}",
            "Deadlocks are broken by the server (one transaction gets SQLSTATE 40P01). Find the pair in the "
            "server log ('deadlock detected' with both queries; Supabase: Dashboard > Logs > Postgres), make "
            "both code paths lock rows/tables in the same order, and retry 40P01 in the service.",
            detail=f"other counters in the window: {delta}", metadata=delta,
        ))
