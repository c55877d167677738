"""Runbook "Diagnóstico 2": real blockers, long and idle transactions make the locks checks fail with pids."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import faults
import psycopg
import pytest

from conftest import Product, ProductRun, demo_target
from dbrunbook.targets.embedded import EmbeddedInfo

LOW = """
[targets.t.thresholds]
long_query_s = 0.5
idle_in_transaction_s = 0.5
oldest_transaction_s = 0.5
lock_wait_s = 0.2
"""
LOCK_CHECKS = ("locks.blocking_chains", "locks.long_running_queries", "locks.idle_in_transaction",
               "locks.oldest_transaction", "locks.prepared_transactions", "locks.deadlocks")


def text(run: ProductRun, check_id: str) -> str:
    """The failure message plus every finding in full (the JSON message is capped at 4000 chars)."""
    findings = run.result(check_id)["findings"]
    return "\n".join([run.message(check_id)] + [
        "\n".join((f["title"], f["where"], f["detail"], f["remediation"])) for f in findings])


def _alive(dsn: str, pids: list[int]) -> set[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("select pid from pg_catalog.pg_stat_activity where pid = any(%s)", (pids,)).fetchall()
    return {r[0] for r in rows}


@pytest.mark.fault(scenario="healthy target, locks", expect="pass: every locks check")
def test_healthy_target_passes_every_locks_check(product: Product, supabase_server: EmbeddedInfo) -> None:
    run = product.run("-m", "locks", "--target=t", targets_toml=demo_target(LOW),
                      env={"T_DB_URL": supabase_server.dsn})
    for check_id in LOCK_CHECKS:
        assert run.outcome(check_id) == "passed", run.output


@pytest.fixture
def many_faults(supabase_server: EmbeddedInfo) -> Iterator[dict[str, faults.Fault]]:
    admin = supabase_server.admin_dsn
    with ExitStack() as stack:
        found = {
            "ddl": stack.enter_context(faults.access_exclusive_with_waiters(admin, ["public.contacts"])),
            "rows": stack.enter_context(faults.row_lock_chain(admin, "public.customers")),
            "advisory": stack.enter_context(faults.advisory_wait(admin)),
            "long": stack.enter_context(faults.long_query(admin)),
            "2pc": stack.enter_context(faults.prepared_transaction(admin)),
        }
        time.sleep(0.6)  # let the faults age past the 0.5 s thresholds (not a timing assertion)
        yield found


@pytest.mark.fault(scenario="DDL/row/advisory blockers, long, idle, 2PC transactions",
                   expect="fail locks.* P2 with pids + mitigation; nothing killed")
def test_blockers_long_and_idle_transactions_fail_with_pids_and_mitigation(
        product: Product, supabase_server: EmbeddedInfo, many_faults: dict[str, faults.Fault]) -> None:
    run = product.run("-m", "locks", "--target=t", targets_toml=demo_target(LOW),
                      env={"T_DB_URL": supabase_server.dsn}, timeout=120)
    assert run.returncode == 1, run.output
    blocking = text(run, "locks.blocking_chains")
    assert run.outcome("locks.blocking_chains") == "failed"
    ddl, rows, advisory = many_faults["ddl"], many_faults["rows"], many_faults["advisory"]
    # migration-style ACCESS EXCLUSIVE: root, both waiters, both lock modes, the relation, idle in transaction
    assert f"root pid {ddl.roots[0]}  <- ROOT IS IDLE IN TRANSACTION" in blocking, blocking
    for pid in ddl.waiters:
        assert f"pid {pid} waits" in blocking
    assert "AccessShareLock on relation public.contacts; " \
           f"pid {ddl.roots[0]} holds AccessExclusiveLock" in blocking, blocking
    assert "app=supabase-migrate" in blocking and "query: lock table public.contacts" in blocking
    # three-deep row-lock chain: A <- B (transactionid) <- C (tuple)
    a, b, c = rows.roots[0], *rows.waiters
    assert f"pid {b} waits" in blocking and "for ShareLock on a row lock on public.customers" in blocking
    assert f"pid {c} waits" in blocking and f"pid {b} holds ExclusiveLock" in blocking, blocking
    assert blocking.index(f"root pid {a}") < blocking.index(f"pid {b} waits") < blocking.index(f"pid {c} waits")
    # advisory lock
    assert f"pid {advisory.waiters[0]} waits" in blocking and "advisory lock 424242" in blocking, blocking
    # the mitigation, for a human, with the runbook's warning
    assert f"select pg_terminate_backend({ddl.roots[0]});" in blocking
    assert f"select pg_cancel_backend({a})" not in blocking  # idle in transaction: cancel cannot help
    assert "com cuidado" in blocking and "the suite never runs these" in blocking
    long = many_faults["long"].roots[0]
    assert f"pid {long}" in text(run, "locks.long_running_queries")
    assert f"select pg_cancel_backend({long});" in text(run, "locks.long_running_queries")
    idle = text(run, "locks.idle_in_transaction")
    assert f"pid {ddl.roots[0]}" in idle and f"pid {a}" in idle
    oldest = text(run, "locks.oldest_transaction")
    assert "holds back vacuum (backend_xmin age" in oldest and f"pid {ddl.roots[0]}" in oldest
    prepared = text(run, "locks.prepared_transactions")
    assert "rollback prepared 'dbrunbook-selftest-2pc';" in prepared
    assert run.outcome("locks.deadlocks") == "passed"
    # the suite printed the mitigation and ran none of it: every faulty session is still there
    everyone = [p for f in many_faults.values() for p in f.pids]
    assert _alive(supabase_server.admin_dsn, everyone) == set(everyone)


@pytest.mark.fault(scenario="ACCESS EXCLUSIVE on every tenant table",
                   expect="fail locks.blocking_chains; RLS probes skip naming the pid")
def test_probes_never_wait_behind_access_exclusive_on_every_tenant_table(
        product: Product, supabase_server: EmbeddedInfo) -> None:
    admin = supabase_server.admin_dsn
    tables = faults.tenant_tables(admin)
    with faults.access_exclusive_with_waiters(admin, tables, waiters=1) as ddl:
        time.sleep(0.3)
        # timeout=150: the whole run is bounded; a probe queued behind the lock would hang it
        run = product.run("-m", "locks or triage", "--target=t", targets_toml=demo_target(LOW),
                          env={"T_DB_URL": supabase_server.dsn}, timeout=150)
    assert run.outcome("triage.db_reachable") == "passed", run.output
    assert run.outcome("locks.blocking_chains") == "failed"
    message = text(run, "locks.blocking_chains")
    assert f"root pid {ddl.roots[0]}" in message and f"pid {ddl.waiters[0]} waits" in message
    assert "AccessExclusiveLock" in message
    # RLS probes read tenant tables: they skip the locked ones (naming the lock) instead of waiting
    # lock_timeout per node and reporting a false "RLS blocking" P0.
    rls = [r for r in run.results if r["check_id"].startswith("rls.")]
    assert rls and {r["outcome"] for r in rls} == {"skipped"}, [(r["nodeid"], r["outcome"]) for r in rls]
    assert f"locked ACCESS EXCLUSIVE by pid {ddl.roots[0]}" in run.result("rls.read_isolation")["message"]


@pytest.mark.fault(scenario="one tenant table locked", expect="its RLS cells skip with the pid; others pass")
def test_one_locked_table_skips_only_its_rls_probes(product: Product, supabase_server: EmbeddedInfo) -> None:
    admin = supabase_server.admin_dsn
    with faults.access_exclusive_with_waiters(admin, ["public.customers"], waiters=0) as ddl:
        run = product.run("rls_contracts/test_matrix.py", "-m", "triage", "--target=t", targets_toml=demo_target(),
                          env={"T_DB_URL": supabase_server.dsn}, timeout=150)
    cells = [r for r in run.results if r["check_id"] == "rls.read_isolation"]
    locked = [r for r in cells if "public.customers" in r["nodeid"]]
    assert locked and all(r["outcome"] == "skipped" for r in locked)
    assert all(f"pid {ddl.roots[0]}" in r["message"] for r in locked)
    others = [r for r in cells if r not in locked and "conversation_overview" not in r["nodeid"]]
    assert others and {r["outcome"] for r in others} == {"passed"}


@pytest.mark.fault(scenario="deadlocks during the run", expect="fail locks.deadlocks P2 (40P01)")
def test_deadlocks_during_the_run_window_fail(product: Product, supabase_server: EmbeddedInfo) -> None:
    with faults.deadlocks(supabase_server.admin_dsn) as made:
        run = product.run("-m", "locks", "--target=t", "-k", "deadlock or blocker",
                          targets_toml=demo_target(), env={"T_DB_URL": supabase_server.dsn})
    assert made["deadlocks"] > 0
    assert run.outcome("locks.deadlocks") == "failed", run.output
    message = text(run, "locks.deadlocks")
    assert "deadlock(s) in database postgres" in message and "40P01" in message


@pytest.mark.fault(scenario="ACCESS EXCLUSIVE held on a tenant table with nobody waiting, past exclusive_lock_held_s",
                   expect="fail locks.exclusive_lock_held P1 naming the pid, the table and 0 waiting; triage exits "
                          "non-zero (before: exit 0, the lock only in skip reasons); healthy: pass")
def test_a_held_access_exclusive_lock_is_a_finding_even_with_nobody_waiting(
        product: Product, supabase_server: EmbeddedInfo) -> None:
    toml = demo_target("""
    [targets.t.thresholds]
    exclusive_lock_held_s = 0.5
    """)
    env = {"T_DB_URL": supabase_server.dsn}
    with faults.access_exclusive_with_waiters(supabase_server.admin_dsn, ["public.customers"], waiters=0) as ddl:
        time.sleep(0.6)  # let the holder's transaction age past the 0.5 s threshold (not a timing assertion)
        run = product.run("-m", "triage", "--target=t", targets_toml=toml, env=env, timeout=150)
    assert run.returncode != 0, run.output
    assert run.outcome("locks.exclusive_lock_held") == "failed", run.output
    message = text(run, "locks.exclusive_lock_held")
    assert f"pid {ddl.roots[0]} holds ACCESS EXCLUSIVE on 1 relation(s) (public.customers)" in message, message
    assert "0 session(s) waiting now" in message and "pg_terminate_backend" in message, message
    assert "P1" in run.output
    healthy = product.run("-m", "triage", "-k", "exclusive_lock", "--target=t", targets_toml=toml, env=env)
    assert healthy.outcome("locks.exclusive_lock_held") == "passed", healthy.output
