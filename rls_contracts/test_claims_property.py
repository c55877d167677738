"""Property: no claim set a caller can bend reveals rows outside the oracle of the user its trusted claims name.

hypothesis generates claim sets from the contract's real users, bent one to three ways
(``dbrunbook.rls.claims.TAMPERS``: the tenant claim dropped, nulled, mistyped, moved to
user_metadata; user_metadata filled with other tenants' and users' ids; app_metadata copied into
user_metadata; ``sub``, ``role``, ``aal`` changed; expired and wrong-audience tokens). For each,
every table is read as PostgREST would and the visible rows must stay within the oracle of the user
the *trusted* claims name (``sub`` and the contract's ``tenant_claim``): more is a leak. A failure is
shrunk by hypothesis to the smallest bending, printed as the exact claims.

Works for tenant-claim contracts and for membership contracts (oracles on ``:sub``). On writable
targets every probe transaction starts with the contract's ``seed_sql`` (rolled back), so empty
tables do not make the property pass vacuously.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from psycopg import sql

from dbrunbook import lockguard, session
from dbrunbook.checking import Check
from dbrunbook.rls import claims as claimsets
from dbrunbook.rls import discovery, matrix
from dbrunbook.rls.contract import Contract, Identity
from dbrunbook.targets import Target

if TYPE_CHECKING:
    from hypothesis import strategies as st

# hypothesis is imported where it is used: every run collects this module, and importing hypothesis
# costs about a third of a second that `pytest -m triage` should not pay.

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def _values(contract: Contract, keys: list[str]) -> st.SearchStrategy[str]:
    """Ids worth forging, each group as likely as the others: tenant ids, user ids, then row ids.

    Row ids are every uuid the seed writes and a few row keys (three per table, read with full rights):
    they give membership projects their org ids, which no contract lists but a policy reading
    ``user_metadata.org_id`` would accept.
    """
    from hypothesis import strategies as st

    groups = [list(contract.tenants.values()),
              sorted({i.sub for i in contract.identities if i.sub}),
              sorted({*keys, *(m.lower() for m in _UUID.findall(contract.seed_sql or ""))})[:40]]
    return st.one_of(*[st.sampled_from(g) for g in groups if g] or [st.just(str(uuid.UUID(int=1)))])


def _row_keys(probe: matrix.Probe) -> list[str]:
    """Up to three single-column uuid primary key values of the table (seed included when active).

    Only uuids: tenant and org ids are uuids in Supabase projects, and a bigint row id in a claim
    proves nothing the tenant ids do not.
    """
    pk = [c for c in probe.columns if c.primary_key]
    if len(pk) != 1 or pk[0].type != "uuid":
        return []
    with session.probe_transaction(probe.conn, probe.policy) as tx:
        rows = tx.execute(sql.SQL("select {}::text as k from {} limit 3").format(sql.Identifier(pk[0].name),
                                                                                 probe.ident)).fetchall()
    return [r["k"] for r in rows]


def _forged(contract: Contract, users: list[Identity], keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    from hypothesis import strategies as st

    ids = _values(contract, keys)
    leaf = contract.tenant_claim.split(".")[-1]
    meta_keys = st.sampled_from([leaf, *(k for k in _META_KEYS if k != leaf)])
    tamper = st.one_of(
        st.just(("tenant_drop", None)), st.just(("tenant_null", None)),
        st.tuples(st.just("tenant_set"), st.one_of(ids, st.sampled_from([42, "", "*"]))),
        st.tuples(st.just("tenant_to_user_metadata"), ids),
        st.tuples(st.just("user_metadata"), st.dictionaries(meta_keys, st.one_of(ids, st.booleans()),
                                                            min_size=1, max_size=2)),
        st.tuples(st.just("user_metadata"), ids.map(lambda v: dict.fromkeys(_META_KEYS, v))),
        st.just(("app_to_user_metadata", None)),
        st.tuples(st.just("sub"), st.one_of(ids, st.none())),
        st.tuples(st.just("role"), st.sampled_from(["service_role", "postgres", "supabase_admin", "anon"])),
        st.tuples(st.just("aal"), st.sampled_from(["aal2", "aal3", ""])),
        st.just(("expired", None)),
        st.tuples(st.just("audience"), st.sampled_from(["anon", "service_role", None])),
        st.just(("extra", {"is_super_admin": True, "tenant": "*", "user_role": "admin"})),
    )
    return st.builds(lambda u, ts: {"user": u.name, "tampers": ts,
                                    "claims": _apply(u, ts, contract.tenant_claim)},
                     st.sampled_from(users), st.lists(tamper, min_size=1, max_size=3))


#: Candidate ids the explicit sweep tries (tenants first, then users, then row keys).
SWEEP_IDS = 12
#: Probe budget of the random part: examples x tables stays near this (at least 10 examples).
PROBE_BUDGET = 2500

#: user_metadata keys a policy might (wrongly) read a tenant or a role from.
_META_KEYS = ("tenant_id", "org_id", "organization_id", "company_id", "account_id", "team_id", "workspace_id", "orgs",
              "role", "is_admin")


def _sweep(contract: Contract, user: Identity, keys: list[str]) -> list[dict[str, Any]]:
    """Two explicit cases per candidate id: that id in every user-editable key; the tenant claim moved there."""
    leaf = contract.tenant_claim.split(".")[-1]
    tenants = list(contract.tenants.values())
    ids = [*tenants, *(i.sub for i in contract.identities if i.sub and i.sub != user.sub), *keys]
    cases = []
    for value in list(dict.fromkeys(ids))[:SWEEP_IDS]:
        bents = [[("user_metadata", dict.fromkeys((leaf, *_META_KEYS), value))]]
        if value in tenants:  # a fallback to user_metadata when the tenant claim is absent
            bents.append([("tenant_to_user_metadata", value)])
        cases += [{"user": user.name, "tampers": b, "claims": _apply(user, b, contract.tenant_claim)} for b in bents]
    return cases


def _apply(user: Identity, tampers: list[tuple[str, Any]], path: str) -> dict[str, Any]:
    c: dict[str, Any] = dict(user.claims)
    for kind, value in tampers:
        c = claimsets.tamper(c, kind, value, path)
    return c


def _trusted(contract: Contract, forged: dict[str, Any], user: str) -> Identity:
    """Who the claims a user cannot edit name: the oracle's identity for this claim set."""
    carried = claimsets.get_path(forged, contract.tenant_claim)
    tenant = carried if isinstance(carried, str) and carried in contract.tenants.values() else None
    sub = forged.get("sub")
    sub = sub if isinstance(sub, str) and _UUID.fullmatch(sub) else None
    return Identity(f"forged({user})", "authenticated", forged, tenant_id=tenant, sub=sub)


@pytest.mark.check("rls.forged_claims", severity="P0", runbook="Diagnóstico 4 (Erros de RLS)")
def test_forged_claims_never_reveal_another_tenants_rows(target: Target, db: Any, check: Check,
                                                         rls_contract: Contract) -> None:
    """For generated claim sets, every visible row is within the oracle of the user the trusted claims name."""
    from hypothesis import HealthCheck, example, given, settings

    users = [i for i in rls_contract.identities if i.is_user and i.role == "authenticated"]
    tables = [t for t in rls_contract.tables if not t.is_view]
    if not users or not tables:
        pytest.skip(f"{rls_contract.path.name}: the forged-claim property needs a signed-in user identity "
                    "and a table")
    lockguard.skip_if_locked(target, db, relations=[t.name for t in tables])
    # Pinned own-tenant verdicts (expect.users = { select = "deny" } for an MFA table) describe the
    # real identities; a forged claim set is judged against the oracle alone (an upper bound).
    probes = [matrix.Probe(db, target.policy, dataclasses.replace(t, expect={}),
                           tuple(discovery.columns(db, target.policy, t)), tuple(rls_contract.tenants.values()))
              for t in tables]
    seed = rls_contract.seed_sql if not target.spec.read_only else None
    check.add_evidence("seeded", bool(seed))
    failure: dict[str, Any] = {}
    with session.seeding(seed):
        keys = [k for probe in probes for k in _row_keys(probe)]

    def body(case: dict[str, Any]) -> None:
        who = _trusted(rls_contract, case["claims"], case["user"])
        for probe, out in zip(probes, matrix.probe_selects(probes, who), strict=True):
            if out.problem == "leak":
                failure.clear()  # hypothesis replays the shrunk example last: keep that one
                failure.update(case=case, summary=out.summary, rows=out.rows, table=probe.table.name)
                raise AssertionError(out.summary)

    prop = given(_forged(rls_contract, users, keys))(body)
    # Random combinations rarely pick the one id that matters (another org's) for the one key a
    # policy reads: every candidate id in every user-editable key is tried first, one bending each.
    sweep = _sweep(rls_contract, users[0], keys)
    for case in sweep:
        prop = example(case)(prop)
    # Bounded work on a 100-table project too: the sweep and the random examples share one budget.
    examples = max(10, min(50, PROBE_BUDGET // len(probes) - len(sweep)))
    check.add_evidence("examples", {"explicit": len(sweep), "generated": examples, "tables": len(probes)})
    prop = settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))(prop)

    with session.seeding(seed):
        try:
            prop()
        except AssertionError:
            if not failure:
                raise
    if not failure:
        return
    case = failure["case"]
    check.add_evidence("shrunk_claims", case["claims"])
    bent = "; ".join(f"{k}={json.dumps(v)}" if v is not None else k for k, v in case["tampers"])
    check.fail(check.finding(
        f"LEAK with forged claims ({case['user']}, bent: {bent}): {failure['summary']}",
        f"table {failure['table']}",
        "policies must read the tenant only from claims the user cannot set "
        f"({rls_contract.tenant_claim}, auth.uid()), never from user_metadata; cast strictly and deny when "
        "the claim is missing",
        detail="claims (shrunk): " + json.dumps(case["claims"], sort_keys=True)
        + "\nrows: " + ("; ".join(failure["rows"]) or "-")))
