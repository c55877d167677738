"""RLS contract glue: load the contract once and generate the matrix at collection (no database needed)."""

from __future__ import annotations

from typing import Any

import pytest

from dbrunbook.rls import discovery, loading, matrix
from dbrunbook.rls.contract import Contract
from dbrunbook.targets import Target

#: One probe per (target, table) for the run: its columns are read once.
_PROBES: dict[tuple[str, str], matrix.Probe] = {}


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


@pytest.fixture
def rls_contract(pytestconfig: pytest.Config, target: Target, db: Any) -> Contract:
    """The target's contract, validated against its database (docs/contracts.md).

    No contract, or an unusable one, is one inconclusive setup cause (dbrunbook/rls/loading.py).
    """
    return loading.checked_contract(pytestconfig, target, db)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One node per table x identity (x operation, one test function per operation)."""
    if "rls_cell" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("rls_operation")
    op = marker.args[0] if marker else "select"
    contract = loading.collected(metafunc.config)
    if contract is None:  # one node that reports why (rls_contract raises the cause), not zero nodes
        metafunc.parametrize("rls_cell", [pytest.param(("-", "-", op), id="no-usable-contract")])
        return
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


def cell_property(item: Any, cell: tuple[str, str, str]) -> None:
    """Tag a test report with its matrix cell."""
    item.user_properties.append(("rls_cell", "|".join(cell)))
