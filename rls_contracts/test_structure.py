"""Tenant isolation by structure: coverage, restrictive policies, tenant predicates, grants, bypass audit."""

from __future__ import annotations

from typing import Any

import pytest

from dbrunbook import lockguard, resources, session
from dbrunbook.checking import Check
from dbrunbook.rls import catalog, claimsource, discovery, matrix, rowdata
from dbrunbook.rls.contract import Contract
from dbrunbook.targets import Target

RUNBOOK = "Diagnóstico 4 (Erros de RLS)"


@pytest.fixture(autouse=True)
def _not_behind_a_lock(target: Target, db: Any, rls_contract: Contract) -> None:
    """These checks read every exposed table (or deparse its policies): skip when one is locked."""
    lockguard.skip_if_locked(target, db, schemas=discovery.exposed_schemas(db, target.policy, rls_contract))


@pytest.mark.triage
@pytest.mark.check("rls.coverage", severity="P0", runbook=RUNBOOK)
def test_every_exposed_table_is_in_the_contract(target: Target, db: Any, check: Check,
                                                rls_contract: Contract) -> None:
    """Every exposed table/view is contracted; uncovered tenant tables get the default-oracle probe."""
    rels = discovery.relations(db, target.policy, rls_contract)
    missing = discovery.uncovered(rls_contract, rels)
    check.add_evidence("uncovered", missing)
    findings = []
    for rel in missing:
        leaks: list[str] = []
        if rel["has_tenant_column"] and rls_contract.tenant_column:
            spec = rls_contract.default_table(rel["qualified"], is_view=rel["kind"] in ("v", "m"))
            probe = matrix.Probe(db, target.policy, spec, tuple(discovery.columns(db, target.policy, spec)),
                                 tuple(rls_contract.tenants.values()))
            for ident in rls_contract.identities:
                out = matrix.probe_select(probe, ident)
                if out.problem:
                    leaks.append(f"{out.problem.upper()}: {out.summary}; rows {'; '.join(out.rows) or '-'}")
        findings.append(check.finding(
            f"{rel['qualified']} is exposed ({rel['schema']} is served by the Data API) but not in the contract"
            + (" and carries the tenant column" if rel["has_tenant_column"] else ""),
            f"table {rel['qualified']} (RLS {'on' if rel['rls_enabled'] else 'OFF'}, anon may "
            f"{','.join(rel['anon_privileges']) or 'nothing'}, authenticated may "
            f"{','.join(rel['authenticated_privileges']) or 'nothing'})",
            f"add [tables.\"{rel['qualified']}\"] to {rls_contract.path.name} (or list it in ignore_tables), "
            f"and if it holds tenant rows: alter table {rel['qualified']} enable row level security; plus policies",
            detail="\n".join(leaks) or "default oracle probe: nothing leaked",
            # the same exposure, the same severity as rls.rls_disabled_in_exposed_schema
            severity="P0" if leaks else discovery.exposure_severity(
                tenant_table=rel["tenant_table"], rls_enabled=rel["rls_enabled"], reachable=rel["reachable"])))
    check.require_none(findings)


@pytest.mark.triage
@pytest.mark.check("rls.restrictive_policies", severity="P0", runbook=RUNBOOK)
def test_contracted_restrictive_policies_are_present_and_restrictive(target: Target, db: Any, check: Check,
                                                                     rls_contract: Contract) -> None:
    """Each restrictive policy named in the contract exists and is still AS RESTRICTIVE."""
    if not rls_contract.restrictive:
        pytest.skip(f"{rls_contract.path.name} names no [[restrictive]] policy")
    pols = session.query(db, target.policy, resources.sql("rls_policies_of"),
                         {"tables": sorted({r.table for r in rls_contract.restrictive})})
    check.add_evidence("policies", pols)
    found = {(p["qualified"], p["policy"]): p for p in pols}
    findings = []
    for r in rls_contract.restrictive:
        pol = found.get((r.table, r.policy))
        if pol is None or pol["permissive"]:
            findings.append(check.finding(
                f"restrictive policy {r.policy!r} on {r.table} is {'missing' if pol is None else 'now PERMISSIVE'}",
                f"table {r.table}, policy {r.policy!r}",
                f"recreate it: create policy \"{r.policy}\" on {r.table} as restrictive for ... using (...); "
                "a permissive policy is ORed with the others and no longer restricts anything"))
    check.require_none(findings)


@pytest.mark.triage
@pytest.mark.check("rls.tenant_predicate", severity="P0", runbook=RUNBOOK)
def test_tenant_table_policies_read_the_tenant_claim(target: Target, db: Any, check: Check,
                                                     rls_contract: Contract) -> None:
    """Policies of tenant tables read the tenant from where the contract says it travels, or call an approved helper.

    Resolved by path into the token (dbrunbook/rls/claimsource.py), not by the claim's name as text:
    ``user_metadata.company_id`` is user-editable, ``app_metadata.company_id`` is not, and an approved
    helper whose body reads user_metadata is as bad as a policy that does.
    """
    tables = [t.name for t in rls_contract.tables if t.tenant_column and not t.is_view]
    if not tables:
        pytest.skip(f"{rls_contract.path.name} has no table with a tenant column")
    claim = tuple(rls_contract.tenant_claim.split("."))
    helpers = [h.split(".")[-1] + "(" for h in rls_contract.approved_helpers]
    pols = session.query(db, target.policy, resources.sql("rls_policies_of"), {"tables": tables})
    sources = session.query(db, target.policy, resources.sql("rls_function_sources"),
                            {"functions": list(rls_contract.approved_helpers)})
    check.add_evidence("policies", pols)
    findings = []
    for f in sources:
        if claimsource.user_editable(f["source"]):
            findings.append(check.finding(
                f"approved helper {f['function']} reads user_metadata, which every user sets with "
                "supabase.auth.updateUser(): any user can claim any tenant through every policy that calls it",
                f"function {f['function']}",
                f"read the tenant from {'.'.join(claim)} (set by an auth hook or the service role), never from "
                "user_metadata / raw_user_meta_data; then review every policy calling it"))
    for p in pols:
        if not set(p["roles"]) & {"public", "anon", "authenticated"}:
            continue
        text = f"{p['using_expr']} {p['check_expr']}"
        where = (f"table {p['qualified']}, policy {p['policy']!r}: USING ({p['using_expr']}) "
                 f"WITH CHECK ({p['check_expr']})")
        reads = claimsource.claim_reads(text)
        if claimsource.user_editable(text):
            findings.append(check.finding(
                f"policy {p['policy']!r} ({p['command']}) on {p['qualified']} reads user_metadata, which every user "
                "sets with supabase.auth.updateUser(): anyone can claim any tenant", where,
                f"compare the row with (select auth.jwt() {_arrows(claim)}) or an approved helper, "
                "never user_metadata"))
            continue
        elsewhere = sorted({".".join(r) for r in reads if r and r[-1] == claim[-1] and r != claim})
        if elsewhere and claim not in reads:
            findings.append(check.finding(
                f"policy {p['policy']!r} ({p['command']}) on {p['qualified']} reads the tenant from "
                f"{', '.join(elsewhere)}, but the contract's tenant claim is {'.'.join(claim)}", where,
                f"compare with (select auth.jwt() {_arrows(claim)}), or fix tenant_claim in {rls_contract.path.name}"))
            continue
        if claim in reads or any(h in text for h in helpers):
            continue
        findings.append(check.finding(
            f"policy {p['policy']!r} ({p['command']}) on {p['qualified']} neither reads the tenant claim "
            f"{'.'.join(claim)} nor calls an approved helper ({', '.join(rls_contract.approved_helpers) or 'none'})",
            where,
            f"compare the row with (select auth.jwt() {_arrows(claim)}) or an approved helper; if the helper is new "
            f"and reviewed, add it to approved_helpers in {rls_contract.path.name}"))
    check.require_none(findings)


def _arrows(path: tuple[str, ...]) -> str:
    """``-> 'app_metadata' ->> 'company_id'`` for a claim path."""
    return " ".join([*(f"-> '{k}'" for k in path[:-1]), f"->> '{path[-1]}'"])


@pytest.mark.triage
@pytest.mark.check("rls.anon_privileges", severity="P0", runbook=RUNBOOK)
def test_anon_has_no_privilege_on_tenant_tables(target: Target, db: Any, check: Check,
                                                rls_contract: Contract) -> None:
    """When the contract says anon gets nothing, anon holds no privilege on any contracted table."""
    if rls_contract.anon_privileges:
        pytest.skip(f"{rls_contract.path.name} allows anon grants (anon_privileges = true); probes cover anon")
    rels = discovery.relations(db, target.policy, rls_contract)
    names = {t.name for t in rls_contract.tables}
    bad = [r for r in rels if r["qualified"] in names and r["anon_privileges"] and r["anon_schema_usage"]]
    check.add_evidence("anon_privileges", {r["qualified"]: r["anon_privileges"] for r in bad})
    findings = []
    for r in bad:
        # Per-table exception: [[waivers]] check = "rls.anon_privileges", table = "public.x" (docs/contracts.md).
        waiver = rls_contract.waiver("rls.anon_privileges", r["qualified"])
        if waiver and not waiver.expired():
            check.add_evidence(f"waived {r['qualified']}", f"until {waiver.expires}: {waiver.reason}")
            continue
        findings.append(check.finding(
            f"anon may {', '.join(r['anon_privileges'])} on {r['qualified']}; only RLS now stands between the "
            "anonymous key and the tenants' rows", f"table {r['qualified']}",
            f"revoke all on table {r['qualified']} from anon;"
            + (f" (its waiver expired on {waiver.expires})" if waiver else "")))
    check.require_none(findings)


@pytest.mark.triage
@pytest.mark.check("rls.bypass_audit", severity="P0", runbook=RUNBOOK)
def test_nothing_bypasses_tenant_rls(target: Target, db: Any, check: Check, rls_contract: Contract) -> None:
    """Service login roles neither bypass RLS nor own tenant tables unforced; tenant views are invokers."""
    findings = []
    roles = session.query(db, target.policy, resources.sql("rls_login_roles"),
                          {"roles": list(rls_contract.service_login_roles)})
    rels = discovery.relations(db, target.policy, rls_contract)
    tenant_tables = {t.name for t in rls_contract.tables if t.tenant_column and not t.is_view} | {
        r["qualified"] for r in rels if r["has_tenant_column"] and r["kind"] in ("r", "p")}
    for r in roles:
        if r["superuser"] or r["bypassrls"]:
            findings.append(check.finding(
                f"service login role {r['role']} is {'SUPERUSER' if r['superuser'] else 'BYPASSRLS'}: every "
                "query of that service ignores tenant policies", f"role {r['role']}",
                f"alter role {r['role']} nosuperuser nobypassrls; (services reach tenants through policies)"))
    for rel in rels:
        if rel["qualified"] in tenant_tables and rel["owner"] in rls_contract.service_login_roles \
                and not rel["rls_forced"]:
            findings.append(check.finding(
                f"{rel['qualified']} is owned by service login role {rel['owner']} without FORCE ROW LEVEL SECURITY: "
                "the owner skips its policies", f"table {rel['qualified']}",
                f"alter table {rel['qualified']} force row level security;"))
    views = session.query(db, target.policy, resources.sql("rls_views_over_tables"),
                          {"schemas": discovery.exposed_schemas(db, target.policy, rls_contract)})
    for v in views:
        if v["base_table"] in tenant_tables and not v["security_invoker"]:
            findings.append(check.finding(
                f"view {v['view']} reads tenant table {v['base_table']} as its owner {v['owner']} "
                "(no security_invoker): the table's policies are not applied to the caller",
                f"view {v['view']}", f"alter view {v['view']} set (security_invoker = true);"))
    check.add_evidence("service_login_roles", roles)
    check.require_none(findings)


# In triage too: on production a contract whose tenants own no rows would make the read matrix pass
# vacuously; this says so in one EXISTS per tenant (or identity) and table.
@pytest.mark.triage
@pytest.mark.check("rls.matrix_has_data", severity="P2", runbook=RUNBOOK)
def test_every_tenant_has_rows_the_matrix_can_judge(target: Target, db: Any, check: Check,
                                                    rls_contract: Contract) -> None:
    """Every contracted table holds rows of each tenant (each user identity, without a tenant column).

    Counted after the contract's ``seed_sql`` on writable targets, as the probes see the data. A read
    cell where the oracle expects 0 rows and the identity sees 0 proves nothing; the matrix reports
    such cells inconclusive, and this check names the tables and tenants so that the seed can fix it.
    """
    seed = rls_contract.seed_sql if not target.spec.read_only else None
    columns = {name: list(rel.columns) for name, rel in catalog.relations(db, target.policy,
                                                                           rls_contract.tables).items()}
    empty = rowdata.missing(db, target.policy, rls_contract, columns, seed=seed)
    check.add_evidence("no_rows", empty)
    check.add_evidence("counted_after", f"seed_sql of {rls_contract.path.name}" if seed else "no seed")
    findings = []
    for table, who in sorted(empty.items()):
        spec = rls_contract.table(table)
        whose = ("no row at all" if who == ["*"] else
                 f"no row of {'tenant' if spec.tenant_column else 'identity'}(s) {', '.join(who)}")
        findings.append(check.finding(
            f"{table} has {whose}: the RLS matrix cannot tell a leak or a block there",
            f"table {table}" + (f", {spec.tenant_column} = the tenant ids of {rls_contract.path.name}"
                                if spec.tenant_column else f", oracle of {rls_contract.path.name}"),
            f"add rows for them to seed_sql in {rls_contract.path.name} (rolled back after each probe, on "
            "writable targets; docs/contracts.md), or contract tenants that own rows here",
            metadata={"missing": who}))
    check.require_none(findings)
