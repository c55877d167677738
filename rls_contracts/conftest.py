"""RLS contract glue: load the contract once and generate the matrix at collection (no database needed)."""

from __future__ import annotations

from typing import Any

import pytest

from dbrunbook.rls import discovery, matrix
from dbrunbook.rls.contract import OPERATIONS, Contract
from dbrunbook.rls.loading import contract_of
from dbrunbook.targets import Target

#: One probe per (target, table) for the run: its columns are read once.
_PROBES: dict[tuple[str, str], matrix.Probe] = {}

#: Matrix cells for the HTML summary table: (table, identity) -> {operation: outcome}.
_MATRIX: dict[tuple[str, str], dict[str, str]] = {}


def table_probe(target: Target, db: Any, contract: Contract, table: str) -> matrix.Probe:
    """The probe of one contracted table (fails the node when the table is not in the database)."""
    key = (target.name, table)
    if key not in _PROBES:
        spec = contract.table(table)
        cols = tuple(discovery.columns(db, target.policy, spec))
        if not cols:
            pytest.fail(f"{table} is in the contract {contract.path} but not in the database of {target.name}: "
                        f"remove it from the contract or apply the migration that creates it", pytrace=False)
        # The contract's seed writes, so it runs only where writes are allowed (always rolled back);
        # read-only targets are probed on their real rows.
        seed = contract.seed_sql if not target.spec.read_only else None
        _PROBES[key] = matrix.Probe(db, target.policy, spec, cols, tuple(contract.tenants.values()), seed)
    return _PROBES[key]


@pytest.fixture(scope="session")
def rls_contract(pytestconfig: pytest.Config) -> Contract:
    """The parsed contract (see docs/contracts.md)."""
    return contract_of(pytestconfig)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One node per table x identity (x operation, one test function per operation)."""
    if "rls_cell" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("rls_operation")
    op = marker.args[0] if marker else "select"
    contract = contract_of(metafunc.config)
    params = []
    for table in contract.tables:
        if op not in table.operations:
            continue
        for ident in contract.identities:
            marks = [pytest.mark.writes] if op != "select" else []
            params.append(pytest.param((table.name, ident.name, op), id=f"{table.name}-{ident.name}", marks=marks))
    metafunc.parametrize("rls_cell", params)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rls_operation(op): the matrix operation a test function probes")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    cell = dict(report.user_properties).get("rls_cell")
    if cell and (report.when == "call" or report.outcome != "passed"):
        table, identity, op = str(cell).split("|")
        _MATRIX.setdefault((table, identity), {})[op] = report.outcome


def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str],
                                session: pytest.Session) -> None:
    """The matrix as a table: rows = table x identity, columns = operations."""
    if not _MATRIX:
        return
    import html

    mark = {"passed": "ok", "failed": "FAIL", "skipped": "skip"}
    # The DB operations, then extra columns such as "api select" (rls_contracts/test_http.py).
    ops = [*OPERATIONS, *sorted({op for cells in _MATRIX.values() for op in cells} - set(OPERATIONS))]
    head = "".join(f"<th>{html.escape(op)}</th>" for op in ops)
    rows = []
    for (table, identity), cells in sorted(_MATRIX.items()):
        tds = "".join(f"<td>{mark.get(cells.get(op, ''), '-')}</td>" for op in ops)
        rows.append(f"<tr><td>{html.escape(table)}</td><td>{html.escape(identity)}</td>{tds}</tr>")
    postfix.append("<h2>RLS matrix</h2><table><tr><th>table</th><th>identity</th>" + head + "</tr>"
                   + "".join(rows) + "</table>")


def cell_property(item: Any, cell: tuple[str, str, str]) -> None:
    """Tag a test report with its matrix cell."""
    item.user_properties.append(("rls_cell", "|".join(cell)))
