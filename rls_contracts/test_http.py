"""Tenant isolation through the Data API: every table x identity read with supabase-py, judged by the DB oracle.

Reads only (see dbrunbook/rls/http.py): PostgREST commits writes, so write verdicts stay in test_matrix.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import cell_property, pending_cell, table_probe
from dbrunbook import lockguard
from dbrunbook.checking import Check
from dbrunbook.factories import CONFIG_KEY
from dbrunbook.rls import http as rls_http
from dbrunbook.rls import loading
from dbrunbook.rls.contract import Contract
from dbrunbook.targets import Target

RUNBOOK = "Diagnóstico 4 (Erros de RLS): multi-tenant impact -> incident P0"
#: target name -> node id of the configuration failure already reported (one failure, then skips).
_REPORTED: dict[str, str] = {}
#: The one node collected when no selected target has a Data API URL (it skips saying what to export).
NO_API = ("-", "-", "select")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One node per table x identity (``api_cell``) when a selected target may have a Data API URL.

    Without one anywhere, a single node per target that skips with the reason: hundreds of nodes
    that all skip the same way cost half a second of collection and reporting.
    """
    if "api_cell" not in metafunc.fixturenames:
        return
    specs = metafunc.config.stash[CONFIG_KEY].cfg.targets
    contract = loading.collected(metafunc.config)
    if not any(rls_http.may_have_api(spec) for spec in specs):
        metafunc.parametrize("api_cell", [pytest.param(NO_API, id="no-data-api")])
    elif contract is None:  # one node that reports why (rls_contract raises the cause), not zero nodes
        metafunc.parametrize("api_cell", [pytest.param(NO_API, id="no-usable-contract")])
    else:
        metafunc.parametrize("api_cell", [pytest.param((t.name, i.name, "select"), id=f"{t.name}-{i.name}")
                                          for t in contract.tables if "select" in t.operations
                                          for i in contract.identities])


@pytest.fixture(scope="module")
def _apis() -> Iterator[dict[str, rls_http.Api]]:
    apis: dict[str, rls_http.Api] = {}
    yield apis
    for api in apis.values():
        api.close()


def _api(target: Target, apis: dict[str, rls_http.Api]) -> rls_http.Api:
    missing = rls_http.missing_config(target) or rls_http.missing_client()
    if missing:
        pytest.skip(missing)
    if target.name in _REPORTED:
        pytest.skip(f"{target.name}: the Data API refused our requests; reported by {_REPORTED[target.name]}")
    if target.name not in apis:
        apis[target.name] = rls_http.Api(target)
    return apis[target.name]


@pytest.mark.rls_operation("select")
@pytest.mark.check("rls.api_read_isolation", severity="P0", runbook=RUNBOOK)
def test_api_reads_return_exactly_own_tenant_rows(request: pytest.FixtureRequest, target: Target, check: Check,
                                                  rls_contract: Contract, api_cell: tuple[str, str, str],
                                                  _apis: dict[str, rls_http.Api]) -> None:
    """Each identity reads exactly its oracle rows through GET /rest/v1 (supabase-py): more leaks, fewer blocks."""
    table, identity_name, _ = api_cell
    if api_cell == NO_API:  # no cell: the reason, once (rls_contract already raised when there is no contract)
        _api(target, _apis)
        pytest.fail(f"{target.name} has a Data API, but the HTTP matrix was collected without its cells "
                    "(dbrunbook.rls.http.may_have_api said no): a bug, please report it", pytrace=False)
    cell_property(request.node, pending_cell(table, identity_name, "api select"))
    api = _api(target, _apis)
    db = request.getfixturevalue("db")
    waiver = rls_contract.waiver(check.meta.check_id, table, identity_name, "select")
    if waiver and waiver.expired():
        check.fail(check.finding(
            f"waiver for {table} / {identity_name} / select expired on {waiver.expires} ({waiver.reason})",
            f"{rls_contract.path}", "fix the policy, or renew the waiver with a new reason and expiry date"))
    identity = rls_contract.identity(identity_name)
    lockguard.skip_if_locked(target, db, relations=[table])
    outcome = rls_http.probe_select(table_probe(target, db, rls_contract, table), identity, api)
    check.add_evidence("api_probe", {"table": table, "identity": identity_name, "role": identity.role,
                                     "claims": identity.claims, **outcome.evidence, "problem": outcome.problem,
                                     "rows": outcome.rows})
    cell_property(request.node, {**pending_cell(table, identity_name, "api select"), "state": outcome.state,
                                 "detail": outcome.detail(), "rows": outcome.rows[:3]})
    where = f"table {table}, identity {identity_name} (role {identity.role}), operation select via {api.url}"
    if outcome.config:
        _REPORTED[target.name] = request.node.nodeid
        check.fail(check.finding(f"CONFIGURATION: {outcome.config.title}", where,
                                 outcome.config.fix + "\nthen rerun: pytest -m rls", severity="P1"))
    if outcome.problem and waiver:
        pytest.skip(f"waived until {waiver.expires}: {waiver.reason} (found: {outcome.summary})")
    if outcome.problem:
        kind = "LEAK" if outcome.problem == "leak" else "BLOCKING"
        schema, rel = table.split(".", 1)
        check.fail(check.finding(
            f"{kind}: {outcome.summary}", where,
            f"read the policies and grants: select * from pg_policies where schemaname = '{schema}' "
            f"and tablename = '{rel}'; "
            f"select grantee, privilege_type from information_schema.role_table_grants where table_schema = "
            f"'{schema}' and table_name = '{rel}';\n"
            "fix the policy (USING must compare the row with the tenant claim) or the grant, "
            "then rerun: pytest -m rls",
            detail="rows: " + ("; ".join(outcome.rows) if outcome.rows else "(see counts in the evidence)"),
        ))
