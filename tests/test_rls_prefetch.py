"""Probing ahead in a forked child on a second connection (dbrunbook/rls/prefetch.py): the same verdicts,
only where allowed.

The demo project on its own throwaway server that logs every statement with its backend's pid, with
two RLS faults (a leaking read policy, a missing update policy). The product runs as users run it;
the log says which sessions ran the matrix's batches, read-only (reads) or not (writes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_readonly_proof import ServerLog, _ours, _statements, logging_demo_server
from test_rls_probes import verdicts

from conftest import REPO, Product, ProductRun, demo_target

FAULTS = """
alter policy "Tenant members can view contacts" on public.contacts using (true);
drop policy "Tenant members can update customers" on public.customers;
"""
MATRIX = ("rls.read_isolation", "rls.insert_isolation", "rls.update_isolation", "rls.delete_isolation")
BATCH = "select set_config('dbrunbook.batch'"
#: A seed with fixed keys: two probe transactions running it at once would wait on each other's rows.
SEED = """
insert into public.contacts (id, company_id, name) values
  ('5eed0000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'seeded acme contact'),
  ('5eed0000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', 'seeded globex contact');
"""


@pytest.fixture(scope="module")
def faulty_logged_demo() -> Iterator[tuple[str, ServerLog]]:
    """The demo with FAULTS on its own server, logging every statement with its pid and application_name."""
    with logging_demo_server(FAULTS) as logged:
        yield logged


class Sessions:
    """Our sessions in order of their first statement, and which of them ran read and write batches."""

    def __init__(self, statements: list[tuple[int, str]]) -> None:
        self.all = list(dict.fromkeys(pid for pid, _ in statements))
        batches = [(pid, text) for pid, text in statements if text.startswith(BATCH)]
        self.reads = {pid for pid, text in batches if "transaction_read_only" in text}
        self.writes = {pid for pid, text in batches if "transaction_read_only" not in text}


def _matrix_run(product: Product, dsn: str, log: ServerLog, extra: str, *args: str,
                env: dict[str, str] | None = None) -> tuple[ProductRun, Sessions]:
    """The matrix as users run it, and what each of our sessions ran."""
    log.mark()
    run = product.run("-m", "rls", "--target=t", "rls_contracts/test_matrix.py", *args, targets_toml=demo_target(extra),
                      env={"T_DB_URL": dsn, **(env or {})}, timeout=240)
    return run, Sessions(_statements(_ours(log.read())))


NO_HEADROOM = """
read_only = false
[targets.t.thresholds]
pool_keep_free_slots = 10000
"""


@pytest.mark.fault(scenario="writable target, RLS faults: read leak on contacts, update policy dropped on customers",
                   expect="cells probed ahead on a second connection get the verdicts they get on one")
def test_cells_probed_ahead_get_the_verdicts_they_get_on_one_connection(
        product: Product, faulty_logged_demo: tuple[str, ServerLog]) -> None:
    dsn, log = faulty_logged_demo
    ahead, on_two = _matrix_run(product, dsn, log, "read_only = false")
    # No headroom for a second connection beyond pool_keep_free_slots: the same nodes probe themselves.
    alone, on_one = _matrix_run(product, dsn, log, NO_HEADROOM)
    # Ahead, no seed: the probe session reads the catalog and runs the reads (read-only batches take no
    # turn), the child's session runs every write batch. Alone: one session runs all.
    assert len(on_two.all) == 2 and on_two.reads == {on_two.all[0]} and on_two.writes == {on_two.all[1]}, vars(on_two)
    assert len(on_one.all) == 1 and on_one.reads == on_one.writes == set(on_one.all), vars(on_one)
    assert verdicts(ahead, *MATRIX) == verdicts(alone, *MATRIX)
    failed = {cell for cell, outcome in verdicts(ahead, *MATRIX).items() if outcome == "failed"}
    assert any(c.startswith("rls.read_isolation public.contacts-") for c in failed), failed
    assert any(c.startswith("rls.update_isolation public.customers-") for c in failed), failed
    assert {c.split()[1].rsplit("-", 1)[0] for c in failed} == {"public.contacts", "public.customers"}, failed
    assert ahead.returncode == alone.returncode == 1
    assert "[P0]" in ahead.output and "LEAK" in ahead.output


@pytest.mark.fault(scenario="writable target, RLS faults, a contract seed with fixed keys",
                   expect="every batch (reads too) runs in the child, taking turns; the verdicts of one connection")
def test_with_a_seed_every_batch_takes_its_turn_in_the_child(
        product: Product, faulty_logged_demo: tuple[str, ServerLog], tmp_path: Path) -> None:
    dsn, log = faulty_logged_demo
    contract = tmp_path / "contracts.toml"
    contract.write_text((REPO / "rls_contracts" / "contracts.toml").read_text().replace(
        "[contract]\n", '[contract]\nseed_sql = "seed.sql"\n', 1))
    (tmp_path / "seed.sql").write_text(SEED)
    ahead, on_two = _matrix_run(product, dsn, log, "read_only = false", f"--contracts={contract}")
    alone, _ = _matrix_run(product, dsn, log, NO_HEADROOM, f"--contracts={contract}")
    # A seeded read batch writes (the seed): the child runs it, in turn with every other.
    assert len(on_two.all) == 2 and on_two.reads | on_two.writes == {on_two.all[1]}, vars(on_two)
    assert verdicts(ahead, *MATRIX) == verdicts(alone, *MATRIX)
    assert not [r for r in ahead.results if r["outcome"] == "inconclusive"], ahead.output[-3000:]
    failed = {cell.split()[1].rsplit("-", 1)[0] for cell, outcome in verdicts(ahead, *MATRIX).items()
              if outcome == "failed"}
    assert failed == {"public.contacts", "public.customers"}, failed


def test_read_only_target_probes_on_its_one_connection(product: Product,
                                                       faulty_logged_demo: tuple[str, ServerLog]) -> None:
    dsn, log = faulty_logged_demo
    run, sessions = _matrix_run(product, dsn, log, "")
    # (a read-only session needs no per-transaction read-only setting: its batches count as writes here)
    assert len(sessions.all) == 1 and sessions.reads | sessions.writes == set(sessions.all), (vars(sessions),
                                                                                             run.output[-3000:])
    failed = {cell for cell, outcome in verdicts(run, *MATRIX).items() if outcome == "failed"}
    assert any(c.startswith("rls.read_isolation public.contacts-") for c in failed), run.output[-3000:]


#: A plugin that kills the probe-ahead child inside its second probe transaction: it dies holding the turn.
KILL_CHILD = """
import os, signal
from dbrunbook import session

PYTEST = os.getpid()
_set_local_timeouts = session.set_local_timeouts
_calls = []


def set_local_timeouts(conn, thresholds):
    if os.getpid() != PYTEST:
        _calls.append(1)
        if len(_calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    return _set_local_timeouts(conn, thresholds)


session.set_local_timeouts = set_local_timeouts
"""


@pytest.mark.fault(scenario="the probe-ahead child is killed (SIGKILL) inside a probe transaction, holding the turn",
                   expect="the nodes probe themselves, no turn timeout; the verdicts of one connection")
def test_a_child_killed_holding_the_turn_costs_no_verdict(
        product: Product, faulty_logged_demo: tuple[str, ServerLog], tmp_path: Path) -> None:
    dsn, log = faulty_logged_demo
    (tmp_path / "kill_child.py").write_text(KILL_CHILD)
    killed, sessions = _matrix_run(product, dsn, log, "read_only = false", "-p", "kill_child",
                                   env={"PYTHONPATH": str(tmp_path)})
    alone, _ = _matrix_run(product, dsn, log, NO_HEADROOM)
    assert len(sessions.all) == 2 and sessions.writes == set(sessions.all), vars(sessions)  # both wrote
    # A probe transaction of pytest's process waiting out the dead child's turn: the triage evidence
    # bundle of a failing node records its query failing with this (and the run takes minutes).
    bundles = sorted(tmp_path.glob("run*/reports/evidence/*.json"))
    assert bundles, killed.output[-3000:]
    assert not [b.name for b in bundles if "did not end within its deadlines" in b.read_text()]
    assert "did not end within its deadlines" not in killed.output, killed.output[-3000:]
    assert verdicts(killed, *MATRIX) == verdicts(alone, *MATRIX), killed.output[-3000:]
    assert killed.returncode == alone.returncode == 1
