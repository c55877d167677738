"""Property: no claim set a caller can forge reveals another tenant's rows (hypothesis, shrunk on failure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from dbrunbook import lockguard
from dbrunbook.checking import Check
from dbrunbook.rls import claims as claimsets
from dbrunbook.rls import discovery, matrix
from dbrunbook.rls.contract import Contract, Identity
from dbrunbook.targets import Target

if TYPE_CHECKING:
    from hypothesis import strategies as st

# hypothesis is imported where it is used: every run collects this module, and importing hypothesis
# costs about a third of a second that `pytest -m triage` should not pay.


def _forged(contract: Contract) -> st.SearchStrategy[dict[str, Any]]:
    """Claims of one real user, then tampered: tenant id missing/null/mistyped/other/moved, role spoofed, stale."""
    from hypothesis import strategies as st

    users = [i for i in contract.identities if i.is_user]
    tenant_ids = list(contract.tenants.values())
    path = contract.tenant_claim
    tamper = st.one_of(
        st.just(("drop", None)), st.just(("null", None)), st.sampled_from([("set", 42), ("set", "acme"), ("set", "")]),
        st.sampled_from([("set", t) for t in tenant_ids] or [("set", None)]),
        st.sampled_from([("user_metadata", t) for t in tenant_ids] or [("user_metadata", None)]),
        st.sampled_from([("role", "service_role"), ("role", "postgres"), ("role", "supabase_admin")]),
        st.just(("exp", 0)), st.just(("extra", {"is_super_admin": True, "tenant": "*"})))
    return st.builds(lambda u, t: (u, t), st.sampled_from(users), st.lists(tamper, min_size=1, max_size=3)).map(
        lambda ut: _apply(ut[0], ut[1], path))


def _apply(user: Identity, tampers: list[tuple[str, Any]], path: str) -> dict[str, Any]:
    c = dict(user.claims)
    for kind, value in tampers:
        if kind == "drop":
            c = claimsets.set_path(c, path, None)
            c.pop(path, None)
        elif kind in ("null", "set"):
            c = claimsets.set_path(c, path, value)
        elif kind == "user_metadata":  # the tenant id moved where the user can write it
            c = claimsets.set_path(c, path, None)
            c.pop(path, None)
            c = claimsets.set_path(c, f"user_metadata.{path.split('.')[-1]}", value)
        elif kind == "role":
            c["role"] = value  # PostgREST overwrites it with the effective role; we send it as the caller would
        elif kind == "exp":
            c["exp"] = value
        elif kind == "extra":
            c.update(value)
    return {"user": user.name, "claims": c}


@pytest.mark.check("rls.forged_claims", severity="P0", runbook="Diagnóstico 4 (Erros de RLS)")
def test_forged_claims_never_reveal_another_tenants_rows(target: Target, db: Any, check: Check,
                                                         rls_contract: Contract) -> None:
    """For generated claim sets, every visible row belongs to the tenant whose id the claims carry (or none)."""
    from hypothesis import HealthCheck, given, settings

    tables = [t for t in rls_contract.tables if t.tenant_column and not t.is_view]
    if not tables or not rls_contract.tenants:
        pytest.skip(f"{rls_contract.path.name}: forged-claim property needs tenants and a tenant column")
    lockguard.skip_if_locked(target, db, relations=[t.name for t in tables])
    probes = [matrix.Probe(db, target.policy, t, tuple(discovery.columns(db, target.policy, t)),
                           tuple(rls_contract.tenants.values())) for t in tables]
    path = rls_contract.tenant_claim

    @settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(_forged(rls_contract))
    def prop(case: dict[str, Any]) -> None:
        carried = claimsets.get_path(case["claims"], path)
        tenant = carried if isinstance(carried, str) and carried in rls_contract.tenants.values() else None
        who = Identity(f"forged({case['user']})", "authenticated", case["claims"], tenant_id=tenant,
                       sub=case["claims"].get("sub"))
        for probe in probes:
            out = matrix.probe_select(probe, who)
            if out.problem == "leak":
                check.add_evidence("shrunk_claims", case["claims"])
                raise AssertionError(f"{out.summary}; claims: {case['claims']}")

    try:
        prop()
    except AssertionError as exc:
        check.fail(check.finding(f"LEAK with forged claims: {str(exc).splitlines()[0][:600]}",
                                 "tables " + ", ".join(t.name for t in tables),
                                 "policies must read the tenant only from a claim the user cannot set "
                                 f"({path}), cast it strictly, and deny when it is missing"))
