"""RLS contract glue: load the contract once and generate the matrix at collection (no database needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dbrunbook.matrix_cells import MatrixNode
from dbrunbook.rls import loading, matrix
from dbrunbook.rls.contract import Contract
from dbrunbook.targets import Target

#: One probe per (target, table) for the run: its columns are read once.
_PROBES: dict[tuple[str, str], matrix.Probe] = {}


def table_probe(target: Target, db: Any, contract: Contract, table: str) -> matrix.Probe:
    """The probe of one contracted table (fails the node when the table is not in the database).

    The first call reads the catalog of every contracted table in one query (matrix.probes).
    """
    key = (target.name, table)
    if key not in _PROBES:
        found = target_probes(target, db, contract)
        if table not in found:
            pytest.fail(f"{table} is in the contract {contract.path} but not in the database of {target.name}: "
                        f"remove it from the contract or apply the migration that creates it", pytrace=False)
        _PROBES[key] = found[table]
    return _PROBES[key]


def target_probes(target: Target, db: Any, contract: Contract) -> dict[str, matrix.Probe]:
    """The probe of every contracted table the database has, with its columns (one catalog query, cached)."""
    # The contract's seed writes, so it runs only where writes are allowed (always rolled back);
    # read-only targets are probed on their real rows.
    seed = contract.seed_sql if not target.spec.read_only else None
    found = matrix.probes(db, target.policy, contract.tables, tuple(contract.tenants.values()), seed)
    return {name: p for name, p in found.items() if p.columns}


@pytest.fixture
def rls_contract(pytestconfig: pytest.Config, target: Target, db: Any) -> Contract:
    """The target's contract, validated against its database (docs/contracts.md).

    No contract, or an unusable one, is one inconclusive setup cause (dbrunbook/rls/loading.py).
    """
    return loading.checked_contract(pytestconfig, target, db)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One node per table x operation (``rls_table``, a ``MatrixNode``: every identity of the contract in
    one node, each cell with its own verdict); one test function per operation. (test_http.py makes
    its own nodes, one per table x identity.)
    """
    if "rls_table" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("rls_operation")
    op = marker.args[0] if marker else "select"
    contract = loading.collected(metafunc.config)
    if contract is None:  # one node that reports why (rls_contract raises the cause), not zero nodes
        metafunc.parametrize("rls_table", [pytest.param(MatrixNode("-", op, ()), id="no-usable-contract")])
        return
    marks = [pytest.mark.writes] if op != "select" else []
    identities = tuple(i.name for i in contract.identities)
    metafunc.parametrize("rls_table", [pytest.param(MatrixNode(t.name, op, identities), id=t.name, marks=marks)
                                       for t in contract.tables if op in t.operations])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rls_operation(op): the matrix operation a test function probes")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Cells the test left pending get their state from how the test ended (skipped: not probed)."""
    report = yield
    if report.when != "call" and report.passed:
        return report
    for key, value in report.user_properties:
        if key == CELL_PROPERTY and '"pending"' in value:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr or "")
            state = "not_probed" if report.skipped else "inconclusive" if report.failed else "ok"
            detail = reason.strip().splitlines()[0] if reason.strip() else ""
            cells = [{**c, "state": state, "detail": detail} if c.get("state") == "pending" else c
                     for c in json.loads(value)]
            cell_property(item, cells)  # the teardown report, which JUnit reads, copies the item's
            report.user_properties = [(k, cells_json(cells) if k == CELL_PROPERTY else v)
                                      for k, v in report.user_properties]
            break
    return report


#: The user property every matrix node's report carries (``report.user_properties``; JUnit
#: ``<property name="rls_cell">``, one per cell's test case; dbrunbook/rls_grid.py draws the HTML grid
#: from it): JSON text of a list of cells, one per identity the node probed (all of the contract's for
#: a test_matrix.py node, one for a test_http.py node), each a dict:
#:
#: - ``table``: ``schema.table``; ``identity``: the contract's identity name; ``operation``: select,
#:   insert, update, delete (``api select`` for the Data API cells of test_http.py)
#: - ``state``: ``ok`` (probed, the contract held), ``leak`` / ``blocking`` (the P0 verdicts),
#:   ``inconclusive`` (probed, no verdict: no row to judge, a timeout, a missing right ...; never a
#:   pass), ``not_probed`` (skipped: read-only target, lock, waiver, no column to set ...)
#: - ``detail``: one line saying what the probe saw or why it has no verdict
#: - ``rows``: at most 3 rows as keys (primary key and tenant column, never the row's content)
#: - ``policy_sql``: ``create policy`` text of the policies that apply to the identity's role for
#:   that command ("" when none, or when the probe never reached the database)
#:
#: Each cell's verdict (outcome, severity, message) is its own record in the JSON bundle
#: (dbrunbook/matrix_cells.py).
CELL_PROPERTY = "rls_cell"


def cells_json(cells: list[dict[str, Any]]) -> str:
    """The ``rls_cell`` property value of ``cells``."""
    return json.dumps(cells, default=str)


def cell_property(item: Any, cells: dict[str, Any] | list[dict[str, Any]]) -> None:
    """Tag a test report with its matrix cell(s) (replacing an earlier value); see ``CELL_PROPERTY``."""
    item.user_properties[:] = [(k, v) for k, v in item.user_properties if k != CELL_PROPERTY]
    item.user_properties.append((CELL_PROPERTY, cells_json(cells if isinstance(cells, list) else [cells])))


def pending_cell(table: str, identity: str, operation: str) -> dict[str, Any]:
    """A cell before its probe ran: the report hook settles ``pending`` from how the test ended."""
    return {"table": table, "identity": identity, "operation": operation, "state": "pending", "detail": "",
            "rows": [], "policy_sql": ""}
