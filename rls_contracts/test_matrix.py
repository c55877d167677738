"""Tenant isolation by behaviour: every table x identity x operation, run as PostgREST runs it."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from conftest import cell_outcome, cell_property, pending_cell
from dbrunbook import lockguard
from dbrunbook.checking import Check
from dbrunbook.outcomes import Inconclusive
from dbrunbook.rls import matrix
from dbrunbook.rls.contract import Contract
from dbrunbook.targets import Target

RUNBOOK = "Diagnóstico 4 (Erros de RLS): multi-tenant impact -> incident P0"


def _run(request: pytest.FixtureRequest, target: Target, db: Any, check: Check, contract: Contract,
         cell: tuple[str, str, str]) -> None:
    __tracebackhide__ = True
    table, identity_name, op = cell
    cell_property(request.node, pending_cell(table, identity_name, op))
    reach = target.reachability()
    if not (reach.bypassrls or reach.superuser):
        cause = Inconclusive("rights", f"{target.name}: the probe role {reach.current_user!r} lacks BYPASSRLS, so the "
                             "oracle cannot see every row: no RLS cell has a verdict",
                             fix="connect as postgres (NOSUPERUSER BYPASSRLS on Supabase)", scope="bypassrls")
        cell_property(request.node, {**pending_cell(table, identity_name, op), "state": "inconclusive",
                                     "detail": cause.message})
        raise cause
    waiver = contract.waiver(check.meta.check_id, table, identity_name, op)
    if waiver and waiver.expired():
        check.fail(check.finding(
            f"waiver for {table} / {identity_name} / {op} expired on {waiver.expires} ({waiver.reason})",
            f"{contract.path}", "fix the policy, or renew the waiver with a new reason and expiry date"))
    identity = contract.identity(identity_name)
    lockguard.skip_if_locked(target, db, relations=[table])
    probe, outcome = cell_outcome(target, db, contract, table, identity_name, op)  # type: ignore[arg-type]
    check.add_evidence("probe", {"table": table, "identity": identity_name, "operation": op,
                                 "role": identity.role, "claims": identity.claims, **outcome.evidence,
                                 "state": outcome.state, "problem": outcome.problem, "rows": outcome.rows})
    waived = bool(outcome.problem and waiver)
    cell_property(request.node, matrix.cell(probe, identity, op, outcome,  # type: ignore[arg-type]
                                            state="not_probed" if waived else None,
                                            detail=f"waived until {waiver.expires}: {outcome.summary}"
                                            if waived and waiver else None))
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    if waived and waiver:
        pytest.skip(f"waived until {waiver.expires}: {waiver.reason} (found: {outcome.summary})")
    if outcome.problem:
        kind = "LEAK" if outcome.problem == "leak" else "BLOCKING"
        check.fail(check.finding(
            f"{kind}: {outcome.summary}",
            f"table {table}, identity {identity_name} (role {identity.role}), operation {op}",
            f"read the policies: select * from pg_policies where schemaname = '{table.split('.')[0]}' "
            f"and tablename = '{table.split('.')[1]}';\n"
            "fix the policy (USING / WITH CHECK must compare the row with the tenant claim), "
            "then rerun: pytest -m rls",
            detail="rows: " + ("; ".join(outcome.rows) if outcome.rows else "(see counts in the evidence)"),
        ))
    if outcome.inconclusive is not None:
        raise outcome.inconclusive


@pytest.mark.triage  # read-only and ~2 ms a node: "is RLS leaking or blocking tenants?" belongs in triage
@pytest.mark.rls_operation("select")
@pytest.mark.check("rls.read_isolation", severity="P0", runbook=RUNBOOK)
def test_reads_return_exactly_own_tenant_rows(request: pytest.FixtureRequest, target: Target, db: Any,
                                              check: Check, rls_contract: Contract,
                                              rls_cell: tuple[str, str, str]) -> None:
    """Each identity reads exactly the rows the oracle gives it: more is a leak, fewer is blocking."""
    _run(request, target, db, check, rls_contract, rls_cell)


@pytest.mark.rls_operation("insert")
@pytest.mark.check("rls.insert_isolation", severity="P0", runbook=RUNBOOK)
def test_inserts_into_other_tenants_are_rejected(request: pytest.FixtureRequest, target: Target, db: Any,
                                                 check: Check, rls_contract: Contract,
                                                 rls_cell: tuple[str, str, str]) -> None:
    """A row belonging to another tenant is rejected with 42501; pinned own-tenant verdicts hold."""
    _run(request, target, db, check, rls_contract, rls_cell)


@pytest.mark.rls_operation("update")
@pytest.mark.check("rls.update_isolation", severity="P0", runbook=RUNBOOK)
def test_unfiltered_updates_touch_only_own_rows(request: pytest.FixtureRequest, target: Target, db: Any,
                                                check: Check, rls_contract: Contract,
                                                rls_cell: tuple[str, str, str]) -> None:
    """UPDATE without a filter changes only own-tenant rows and cannot move rows to another tenant."""
    _run(request, target, db, check, rls_contract, rls_cell)


@pytest.mark.rls_operation("delete")
@pytest.mark.check("rls.delete_isolation", severity="P0", runbook=RUNBOOK)
def test_unfiltered_deletes_remove_only_own_rows(request: pytest.FixtureRequest, target: Target, db: Any,
                                                 check: Check, rls_contract: Contract,
                                                 rls_cell: tuple[str, str, str]) -> None:
    """DELETE without a filter removes only own-tenant rows."""
    _run(request, target, db, check, rls_contract, rls_cell)


def test_waivers_have_not_expired(rls_contract: Contract) -> None:
    """Every waiver in the contract is still valid (an expired waiver is a failure, not silence)."""
    expired = [w for w in rls_contract.waivers if w.expired(date.today())]
    assert not expired, [f"{w.table}/{w.identity}/{w.operation}: expired {w.expires} ({w.reason})" for w in expired]
