"""Splinter-style security lints, our own SQL (dbrunbook/sql/rls_*.sql), over the exposed schemas."""

from __future__ import annotations

from typing import Any

import pytest

from dbrunbook import lockguard, resources, session
from dbrunbook.checking import Check
from dbrunbook.outcomes import Inconclusive
from dbrunbook.rls import claimsource, discovery, loading
from dbrunbook.severity import Severity
from dbrunbook.targets import Target

pytestmark = [pytest.mark.rls, pytest.mark.supabase]
RUNBOOK = "Diagnóstico 4 (Erros de RLS)"

#: lint id (= SQL file stem = docs/checks/rls.md section) -> severity
LINTS: dict[str, str] = {
    "rls_disabled_in_exposed_schema": "P0",
    "rls_policy_exists_rls_disabled": "P0",
    "rls_policy_always_true_write": "P0",
    "rls_policy_reads_user_metadata": "P0",
    "rls_auth_users_exposed": "P0",
    "rls_security_definer_view": "P1",
    "rls_sensitive_columns_exposed": "P1",
    "rls_security_definer_function_executable": "P2",
    "rls_grants_without_policy": "P2",
    "rls_enabled_no_policy": "P3",
    "rls_function_search_path_mutable": "P3",
}


@pytest.mark.parametrize("lint", [
    # The P0 lints (one catalog query each) also answer triage's "is RLS leaking?".
    pytest.param(name, id=name, marks=[pytest.mark.check(f"rls.{name}", severity=sev, runbook=RUNBOOK),
                                       *([pytest.mark.triage] if sev == "P0" else [])])
    for name, sev in LINTS.items()])
def test_security_lint_finds_nothing(lint: str, target: Target, db: Any, check: Check,
                                     request: pytest.FixtureRequest) -> None:
    """The lint's SQL returns no row over the exposed schemas (pgrst.db_schemas, else the contract's)."""
    try:  # the lints need no contract: without one (or with a broken one) they use Supabase's defaults
        contract = loading.for_target(request.config, target.spec)
    except Inconclusive:
        contract = None
    schemas = discovery.exposed_schemas(db, target.policy, contract)
    lockguard.skip_if_locked(target, db, schemas=schemas)  # pg_policies deparses: it would wait
    rows = session.query(db, target.policy, resources.sql(lint),
                         {"schemas": schemas, **discovery.tenancy(contract)})
    check.add_evidence("exposed_schemas", schemas)
    check.add_evidence("rows", rows)
    findings = []
    for r in rows:
        meta = r["metadata"]
        obj = f"{meta.get('schema')}.{meta.get('name')}" + (f" policy {meta['policy']!r}" if meta.get("policy") else "")
        if lint == "rls_policy_reads_user_metadata" and not claimsource.user_editable(str(meta.get("expr", ""))):
            continue  # e.g. a column named user_metadata_visible: the policy reads no user-editable claim
        waiver = contract.waiver(f"rls.{lint}", f"{meta.get('schema')}.{meta.get('name')}") if contract else None
        if waiver and not waiver.expired():
            continue
        severity: Severity | None = None
        if lint == "rls_disabled_in_exposed_schema":
            # RLS off: the same exposure has the same severity here and in rls.coverage.
            severity = discovery.exposure_severity(tenant_table=bool(meta.get("tenant_table")), rls_enabled=False,
                                                   reachable=True)
        elif meta.get("insert_only_untenanted"):
            severity = "P2"  # anyone may create rows (their own organization): no tenant boundary is crossed
        findings.append(check.finding(r["detail"], obj, r["remediation"], severity=severity,
                                      detail=f"{r['title']} [{r['level']}], cache_key {r['cache_key']}"
                                      + (f"; waiver expired {waiver.expires}" if waiver else ""),
                                      metadata=meta))
    check.require_none(findings)
