"""Probe transactions that write take turns across processes; read-only ones without a seed run beside them.

The RLS matrix's probe-ahead child (dbrunbook/rls/prefetch.py) runs on its own connection; a seed with
fixed keys run by it and by pytest's process at once would wait on each other's rows until
lock_timeout, and a verdict would depend on timing. tests/turns_scenario.py holds a seeded
transaction in one process while a forked child opens its own, on the shared demo server.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import REPO
from dbrunbook.targets.embedded import EmbeddedInfo

SCENARIO = Path(__file__).with_name("turns_scenario.py")


@pytest.fixture
def keyed_table(supabase_server: EmbeddedInfo) -> Iterator[str]:
    name = f"public.dbrunbook_turns_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(supabase_server.admin_dsn, autocommit=True) as conn:
        conn.execute(f"create table {name} (id int primary key)")
    try:
        yield name
    finally:
        with psycopg.connect(supabase_server.admin_dsn, autocommit=True) as conn:
            conn.execute(f"drop table {name}")


def _child_result(supabase_server: EmbeddedInfo, table: str, mode: str) -> tuple[str, Any]:
    proc = subprocess.run([sys.executable, str(SCENARIO), table, mode], input=supabase_server.admin_dsn + "\n",
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status, _, value = proc.stdout.strip().partition(" ")
    assert status in ("ok", "error"), proc.stdout + proc.stderr
    return status, float(value) if status == "ok" else value


@pytest.mark.fault(scenario="a seeded probe transaction in a forked child while the parent holds one seeding the "
                            "same key",
                   expect="the child waits for its turn, not on the parent's row (no 55P03 lock timeout)")
def test_a_seeded_transaction_in_the_child_waits_for_its_turn_not_for_a_lock(
        supabase_server: EmbeddedInfo, keyed_table: str) -> None:
    status, waited = _child_result(supabase_server, keyed_table, "seeded-write")
    # Without shared turns the child's seed waits on the parent's row and fails with 55P03 after 300 ms.
    assert status == "ok", (status, waited)
    assert waited >= 1.0  # it started once the parent's 1.5 s transaction had ended


@pytest.mark.fault(scenario="a seedless read-only probe transaction in a forked child while the parent holds a "
                            "writing one", expect="it runs beside it, without waiting for the turn")
def test_a_seedless_read_only_transaction_runs_beside_a_writing_one(
        supabase_server: EmbeddedInfo, keyed_table: str) -> None:
    status, waited = _child_result(supabase_server, keyed_table, "seedless-read")
    assert status == "ok" and waited < 1.0, (status, waited)  # it did not wait for the 1.5 s turn
