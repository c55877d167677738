"""Probing ahead on a second connection (dbrunbook/rls/prefetch.py): the same verdicts, only where allowed.

The demo project on its own throwaway server that logs every statement with its backend's pid, with
two RLS faults (a leaking read policy, a missing update policy). The product runs as users run it;
the log says which sessions ran the matrix's server-side runner.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_readonly_proof import ServerLog, _ours, _statements, logging_demo_server
from test_rls_probes import verdicts

from conftest import Product, ProductRun, demo_target

FAULTS = """
alter policy "Tenant members can view contacts" on public.contacts using (true);
drop policy "Tenant members can update customers" on public.customers;
"""
MATRIX = ("rls.read_isolation", "rls.insert_isolation", "rls.update_isolation", "rls.delete_isolation")
RUNNER = "do $dbrunbook$"


@pytest.fixture(scope="module")
def faulty_logged_demo() -> Iterator[tuple[str, ServerLog]]:
    """The demo with FAULTS on its own server, logging every statement with its pid and application_name."""
    with logging_demo_server(FAULTS) as logged:
        yield logged


def _matrix_run(product: Product, dsn: str, log: ServerLog, extra: str) -> tuple[ProductRun, list[int], set[int]]:
    """The matrix as users run it: our sessions' pids in order of their first statement, and those that
    ran the server-side runner."""
    log.mark()
    run = product.run("-m", "rls", "--target=t", "rls_contracts/test_matrix.py", targets_toml=demo_target(extra),
                      env={"T_DB_URL": dsn}, timeout=240)
    statements = _statements(_ours(log.read()))
    runners = {pid for pid, text in statements if text.startswith(RUNNER)}
    return run, list(dict.fromkeys(pid for pid, _ in statements)), runners


@pytest.mark.fault(scenario="writable target, RLS faults: read leak on contacts, update policy dropped on customers",
                   expect="cells probed ahead on a second connection get the verdicts they get on one")
def test_cells_probed_ahead_get_the_verdicts_they_get_on_one_connection(
        product: Product, faulty_logged_demo: tuple[str, ServerLog]) -> None:
    dsn, log = faulty_logged_demo
    ahead, ahead_sessions, ahead_runners = _matrix_run(product, dsn, log, "read_only = false")
    # No headroom for a second connection beyond pool_keep_free_slots: the same nodes probe themselves.
    alone, alone_sessions, alone_runners = _matrix_run(product, dsn, log, """
    read_only = false
    [targets.t.thresholds]
    pool_keep_free_slots = 10000
    """)
    # Ahead: the probe session reads the catalog, the second one runs the matrix; alone: one session.
    assert len(ahead_sessions) == 2 and ahead_sessions[0] not in ahead_runners, (ahead_sessions, ahead_runners)
    assert len(alone_sessions) == 1 and alone_runners == set(alone_sessions), (alone_sessions, alone.output[-3000:])
    assert verdicts(ahead, *MATRIX) == verdicts(alone, *MATRIX)
    failed = {cell for cell, outcome in verdicts(ahead, *MATRIX).items() if outcome == "failed"}
    assert any(c.startswith("rls.read_isolation public.contacts-") for c in failed), failed
    assert any(c.startswith("rls.update_isolation public.customers-") for c in failed), failed
    assert {c.split()[1].rsplit("-", 1)[0] for c in failed} == {"public.contacts", "public.customers"}, failed
    assert ahead.returncode == alone.returncode == 1
    assert "[P0]" in ahead.output and "LEAK" in ahead.output


def test_read_only_target_probes_on_its_one_connection(product: Product,
                                                       faulty_logged_demo: tuple[str, ServerLog]) -> None:
    dsn, log = faulty_logged_demo
    run, sessions, runners = _matrix_run(product, dsn, log, "")
    assert len(sessions) == 1 and runners == set(sessions), (sessions, run.output[-3000:])
    failed = {cell for cell, outcome in verdicts(run, *MATRIX).items() if outcome == "failed"}
    assert any(c.startswith("rls.read_isolation public.contacts-") for c in failed), run.output[-3000:]
