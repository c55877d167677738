"""Tenant isolation by behaviour: every table x identity x operation, run as PostgREST runs it.

One node per table x operation probes every identity of the contract at once; each cell keeps its own
verdict in every report (dbrunbook/matrix_cells.py).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

import pytest

from conftest import cell_property, pending_cell, table_probe, target_probes
from dbrunbook import lockguard, matrix_cells
from dbrunbook.checking import Check
from dbrunbook.redact import REDACTOR
from dbrunbook.rls import matrix, prefetch
from dbrunbook.rls.contract import Contract
from dbrunbook.targets import Target

RUNBOOK = "Diagnóstico 4 (Erros de RLS): multi-tenant impact -> incident P0"


def _cell(check: Check, contract: Contract, probe: matrix.Probe, out: matrix.Outcome,
          ) -> tuple[matrix_cells.CellVerdict, dict[str, Any]]:
    """One identity's verdict (a finding, a cause, a skip or ok) and its grid cell."""
    table, op = out.table, out.operation
    identity = contract.identity(out.identity)
    evidence = {"probe": {"table": table, "identity": identity.name, "operation": op, "role": identity.role,
                          "claims": identity.claims, **out.evidence, "state": out.state, "problem": out.problem,
                          "rows": out.rows}}
    verdict = matrix_cells.CellVerdict(identity.name, evidence)
    grid = matrix.cell(probe, identity, op, out)  # type: ignore[arg-type]
    waiver = contract.waiver(check.meta.check_id, table, identity.name, op)
    if waiver and waiver.expired():
        verdict.finding = check.finding(
            f"waiver for {table} / {identity.name} / {op} expired on {waiver.expires} ({waiver.reason})",
            f"{contract.path}", "fix the policy, or renew the waiver with a new reason and expiry date")
        grid["detail"] = f"waiver expired on {waiver.expires}: {grid['detail']}"
    elif out.skipped:
        verdict.skipped = out.skipped
    elif out.problem and waiver:
        verdict.skipped = f"waived until {waiver.expires}: {waiver.reason} (found: {out.summary})"
        grid.update(state="not_probed", detail=f"waived until {waiver.expires}: {out.summary}")
    elif out.problem:
        kind = "LEAK" if out.problem == "leak" else "BLOCKING"
        schema, rel = table.split(".", 1)
        verdict.finding = check.finding(
            f"{kind}: {out.summary}",
            f"table {table}, identity {identity.name} (role {identity.role}), operation {op}",
            f"read the policies: select * from pg_policies where schemaname = '{schema}' "
            f"and tablename = '{rel}';\n"
            "fix the policy (USING / WITH CHECK must compare the row with the tenant claim), "
            "then rerun: pytest -m rls",
            detail="rows: " + ("; ".join(out.rows) if out.rows else "(see counts in the evidence)"),
        )
    elif out.inconclusive is not None:
        verdict.cause = out.inconclusive
    return verdict, grid


def _target_of(item: pytest.Item) -> str | None:
    """The name of the target a node runs against (the plugin parametrizes every check by target)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("_dbrunbook_target") if callspec is not None else None


def _later_tables(items: list[pytest.Item], at: int, target: str, locked: Collection[str], op: str) -> tuple[str, ...]:
    """The tables of the next selected nodes of the same operation and target (matrix.run_table batches them).

    Taken from the run's selected items, so a -k run never probes a deselected table; tables the
    lock guard saw locked are left to their own node (which skips them) instead of waiting in a batch.
    """
    return tuple(n.table for item in items[at + 1:at + 1 + matrix.AHEAD_TABLES]
                 if (n := matrix_cells.node_of(item)) is not None and n.operation == op and n.table not in locked
                 and _target_of(item) == target)


#: The prefetch of each target (None: this target probes on its one connection), from its first matrix node.
_PREFETCH: dict[str, prefetch.Prefetch | None] = {}


def _prefetched(request: pytest.FixtureRequest, target: Target, db: Any, contract: Contract,
                node: matrix_cells.MatrixNode) -> list[matrix.Outcome] | None:
    """The node's outcomes probed ahead on a second connection (rls/prefetch.py); None: probe here.

    The first matrix node of a target plans the later selected matrix nodes of it (minus tables the
    lock guard saw locked) up to the first node of another check, and forks the child, when the
    target allows a second connection. Up to that node only: each node waits for its outcome, so the
    child is done before another check's probe transaction (forged claims holds one for its whole
    test) could keep it waiting for its turn; matrix nodes after it probe themselves.
    """
    if target.name not in _PREFETCH:
        _PREFETCH[target.name] = None
        if prefetch.refusal(target, db) is None:
            items = request.session.items
            start = items.index(request.node)
            end = next((at for at in range(start, len(items)) if matrix_cells.node_of(items[at]) is None), len(items))
            locked = lockguard.exclusive_locks(target, db)
            steps = [prefetch.Step(n.table, n.operation, _later_tables(items, at, target.name, locked,  # type: ignore[arg-type]
                                                                        n.operation))
                     for at in range(start, end)
                     if (n := matrix_cells.node_of(items[at])) is not None and _target_of(items[at]) == target.name
                     and n.table not in locked]
            started = prefetch.Prefetch(target, target_probes(target, db, contract), contract.identities, steps).start()
            request.config.add_cleanup(started.stop)
            _PREFETCH[target.name] = started
    running = _PREFETCH[target.name]
    return running.outcomes(node.table, node.operation) if running is not None else None  # type: ignore[arg-type]


def _run(request: pytest.FixtureRequest, target: Target, db: Any, check: Check, contract: Contract,
         node: matrix_cells.MatrixNode) -> None:
    """Probe every identity of one table and operation; each cell gets its own verdict (matrix_cells.py).

    The node fails when a cell leaks or blocks (its message lists each such cell, then the cells with
    no verdict); else it is inconclusive when a cell has no verdict; it never passes over one.
    """
    __tracebackhide__ = True
    table, op = node.table, node.operation
    cell_property(request.node, [pending_cell(table, i, op) for i in node.identities])
    # A probe role without BYPASSRLS never gets here: the target fixture raises the one ``rights`` cause
    # for every check marked bypassrls (dbrunbook/plugin.py ORACLE_CHECKS, factories._require_bypassrls).
    lockguard.skip_if_locked(target, db, relations=[table])
    probe = table_probe(target, db, contract, table)
    outcomes = _prefetched(request, target, db, contract, node)
    if outcomes is None:
        items = request.session.items
        probes = target_probes(target, db, contract)
        later = _later_tables(items, items.index(request.node), target.name, lockguard.exclusive_locks(target, db), op)
        outcomes = matrix.run_table(probe, contract.identities, op,  # type: ignore[arg-type]
                                    ahead=[probes[t] for t in later if t in probes])
    cells = [_cell(check, contract, probe, out) for out in outcomes]
    request.node.stash[matrix_cells.VERDICTS] = {v.identity: v for v, _ in cells}
    cell_property(request.node, [grid for _, grid in cells])
    failing = [(v, grid) for v, grid in cells if v.finding is not None]
    if failing:
        check.findings.extend(v.finding for v, _ in failing if v.finding is not None)
        pytest.fail(REDACTOR.text(_node_text(check, node, cells, failing)), pytrace=False)
    stopped = [v.cause for v, _ in cells if v.cause is not None]
    if stopped:
        raise stopped[0]
    if all(v.skipped for v, _ in cells):
        pytest.skip(str(cells[0][0].skipped))


def _node_text(check: Check, node: matrix_cells.MatrixNode,
               cells: list[tuple[matrix_cells.CellVerdict, dict[str, Any]]],
               failing: list[tuple[matrix_cells.CellVerdict, dict[str, Any]]]) -> str:
    """A failing node's message: each failing cell (what, who, rows), the fix once, then the other cells.

    Each cell's own record carries its full finding; this is the terminal's and the HTML row's view.
    """
    findings = [v.finding for v, _ in failing if v.finding is not None]
    kinds: dict[str, int] = {}
    lines = []
    for v, grid in failing:
        assert v.finding is not None
        kind = v.finding.title.partition(":")[0]
        kind = kind if kind in ("LEAK", "BLOCKING") else "expired waiver"  # an expired contract waiver fails
        kinds[kind] = kinds.get(kind, 0) + 1
        lines += [f"  {v.finding.title}", f"      where: {v.finding.where}"]
        if grid["rows"]:
            lines.append(f"      rows:  {'; '.join(grid['rows'])}")
    head = (f"[{findings[0].severity}] {check.meta.check_id}: {node.table}, {node.operation}: "
            f"{', '.join(f'{n} {k}' for k, n in kinds.items())} of {len(cells)} identities")
    fixes = list(dict.fromkeys(f.remediation for f in findings))
    lines.append(f"  runbook: {findings[0].runbook}")
    lines += [f"  {'do:' if i == 0 else '   '}      {line}" for i, line in enumerate("\n".join(fixes).splitlines())]
    others = [f"  {v.identity}: {'inconclusive: ' + str(v.cause) if v.cause else 'not probed: ' + str(v.skipped)}"
              for v, _ in cells if v.finding is None and (v.cause or v.skipped)]
    return "\n".join([head, *lines, *(["other cells:", *others] if others else [])])


@pytest.mark.triage  # read-only and a few ms a table: "is RLS leaking or blocking tenants?" belongs in triage
@pytest.mark.rls_operation("select")
@pytest.mark.check("rls.read_isolation", severity="P0", runbook=RUNBOOK)
def test_reads_return_exactly_own_tenant_rows(request: pytest.FixtureRequest, target: Target, db: Any,
                                              check: Check, rls_contract: Contract,
                                              rls_table: matrix_cells.MatrixNode) -> None:
    """Each identity reads exactly the rows the oracle gives it: more is a leak, fewer is blocking."""
    _run(request, target, db, check, rls_contract, rls_table)


@pytest.mark.rls_operation("insert")
@pytest.mark.check("rls.insert_isolation", severity="P0", runbook=RUNBOOK)
def test_inserts_into_other_tenants_are_rejected(request: pytest.FixtureRequest, target: Target, db: Any,
                                                 check: Check, rls_contract: Contract,
                                                 rls_table: matrix_cells.MatrixNode) -> None:
    """A row belonging to another tenant is rejected with 42501; pinned own-tenant verdicts hold."""
    _run(request, target, db, check, rls_contract, rls_table)


@pytest.mark.rls_operation("update")
@pytest.mark.check("rls.update_isolation", severity="P0", runbook=RUNBOOK)
def test_unfiltered_updates_touch_only_own_rows(request: pytest.FixtureRequest, target: Target, db: Any,
                                                check: Check, rls_contract: Contract,
                                                rls_table: matrix_cells.MatrixNode) -> None:
    """UPDATE without a filter changes only own-tenant rows and cannot move rows to another tenant."""
    _run(request, target, db, check, rls_contract, rls_table)


@pytest.mark.rls_operation("delete")
@pytest.mark.check("rls.delete_isolation", severity="P0", runbook=RUNBOOK)
def test_unfiltered_deletes_remove_only_own_rows(request: pytest.FixtureRequest, target: Target, db: Any,
                                                 check: Check, rls_contract: Contract,
                                                 rls_table: matrix_cells.MatrixNode) -> None:
    """DELETE without a filter removes only own-tenant rows."""
    _run(request, target, db, check, rls_contract, rls_table)


def test_waivers_have_not_expired(rls_contract: Contract) -> None:
    """Every waiver in the contract is still valid (an expired waiver is a failure, not silence)."""
    expired = [w for w in rls_contract.waivers if w.expired(date.today())]
    assert not expired, [f"{w.table}/{w.identity}/{w.operation}: expired {w.expires} ({w.reason})" for w in expired]
