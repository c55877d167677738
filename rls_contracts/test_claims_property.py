"""Property: no claim set a caller can bend reveals rows outside the oracle of the user its trusted claims name.

Claim sets are the contract's real users bent one to three ways (``dbrunbook.rls.claims.TAMPERS``:
the tenant claim dropped, nulled, mistyped, moved to user_metadata; user_metadata filled with other
tenants' and users' ids; app_metadata copied into user_metadata; ``sub``, ``role``, ``aal`` changed;
expired and wrong-audience tokens): every tamper class with each of its values, every candidate id
in every user-editable key, then a seeded random sample of combinations. For each, every table is
read as PostgREST would and the visible rows must stay within the oracle of the user the *trusted*
claims name (``sub`` and the contract's ``tenant_claim``): more is a leak. A failure is shrunk to
the smallest bending that still leaks (fewer tampers, then fewer user_metadata keys) and printed as
the exact claims.

All claim sets are read in one probe transaction (``dbrunbook.rls.forged``: each table's read is
prepared once and run for every claim set), so the property costs about as much as a few matrix
rows, and the same claim sets run every time (a fixed seed).

Works for tenant-claim contracts and for membership contracts (oracles on ``:sub``). On writable
targets the probe transaction starts with the contract's ``seed_sql`` (rolled back), so empty
tables do not make the property pass vacuously.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Callable
from typing import Any

import pytest

from dbrunbook import lockguard, session
from dbrunbook.checking import Check
from dbrunbook.outcomes import Inconclusive
from dbrunbook.rls import claims as claimsets
from dbrunbook.rls import forged
from dbrunbook.rls.contract import Contract, Identity
from dbrunbook.targets import Target

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)

#: Candidate ids the explicit sweep tries (tenants first, then users, then row keys).
SWEEP_IDS = 12
#: Cell budget: claim sets x tables stays near this (at least 8 random claim sets, at most 50). Read-only
#: targets read cell by cell (each its own transaction and statement_timeout): a smaller budget there.
PROBE_BUDGET = 5000
PROBE_BUDGET_READ_ONLY = 2500
#: The random part's seed: the same claim sets every run (a failure reproduces; a pass means the same).
SEED = 20261204

#: user_metadata keys a policy might (wrongly) read a tenant or a role from.
_META_KEYS = ("tenant_id", "org_id", "organization_id", "company_id", "account_id", "team_id", "workspace_id", "orgs",
              "role", "is_admin")
#: Values of the tampers that take one from a short list.
#: PostgREST runs a request as the role its token's ``role`` claim names, so a bent role is a request as
#: that role, with the user's other claims. Only ``anon``: PostgREST's authenticator cannot switch to
#: ``postgres`` or ``supabase_admin`` (the request is refused), and ``service_role`` bypasses RLS by
#: design (every row of every table, a leak of nothing but the key).
_ROLES = ("anon",)
_AALS = ("aal2", "aal3", "")
_AUDIENCES = ("anon", "service_role", None)
_JUNK_TENANTS = (42, "", "*")
_EXTRA = {"is_super_admin": True, "tenant": "*", "user_role": "admin"}

Tampers = claimsets.Tampers


def _ids(contract: Contract, keys: list[str]) -> list[list[str]]:
    """Ids worth forging, in groups: tenant ids, user ids, then row ids.

    Row ids are every uuid the seed writes and a few row keys (three per table, read with full rights):
    they give membership projects their org ids, which no contract lists but a policy reading
    ``user_metadata.org_id`` would accept.
    """
    groups = [list(contract.tenants.values()),
              sorted({i.sub for i in contract.identities if i.sub}),
              sorted({*keys, *(m.lower() for m in _UUID.findall(contract.seed_sql or ""))})[:40]]
    return [g for g in groups if g]


def _explicit(contract: Contract, user: Identity, keys: list[str]) -> list[Tampers]:
    """Every tamper class with each of its values (ids: the other tenants' and users'), one bending each."""
    others = [t for t in contract.tenants.values() if t != user.tenant_id]
    subs = sorted({i.sub for i in contract.identities if i.sub and i.sub != user.sub})
    cases: list[Tampers] = [[("tenant_drop", None)], [("tenant_null", None)], [("app_to_user_metadata", None)],
                            [("expired", None)], [("extra", _EXTRA)], [("sub", None)]]
    cases += [[("tenant_set", v)] for v in _JUNK_TENANTS]
    cases += [[("sub", v)] for v in subs[:3]]
    cases += [[(kind, v)] for kind, values in (("role", _ROLES), ("aal", _AALS), ("audience", _AUDIENCES))
              for v in values]
    return cases + _sweep(contract, user, keys, others)


def _sweep(contract: Contract, user: Identity, keys: list[str], others: list[str]) -> list[Tampers]:
    """Two cases per candidate id: that id in every user-editable key; the tenant claim moved there.

    Random combinations rarely pick the one id that matters (another org's) for the one key a
    policy reads: every candidate id in every user-editable key is tried.
    """
    leaf = contract.tenant_claim.split(".")[-1]
    tenants = list(contract.tenants.values())
    ids = [*tenants, *(i.sub for i in contract.identities if i.sub and i.sub != user.sub), *keys]
    cases: list[Tampers] = []
    for value in list(dict.fromkeys(ids))[:SWEEP_IDS]:
        cases.append([("user_metadata", dict.fromkeys((leaf, *_META_KEYS), value))])
        if value in others:  # a fallback to user_metadata when the tenant claim is absent
            cases.append([("tenant_to_user_metadata", value)])
    return cases


def _random(contract: Contract, users: list[Identity], keys: list[str], n: int) -> list[tuple[Identity, Tampers]]:
    """``n`` seeded random users with one to three tampers each (ids drawn group first)."""
    rng = random.Random(SEED)  # noqa: S311 (a reproducible sample, not a secret)
    groups = _ids(contract, keys) or [["00000000-0000-0000-0000-000000000001"]]
    leaf = contract.tenant_claim.split(".")[-1]
    meta_keys = [leaf, *(k for k in _META_KEYS if k != leaf)]

    def an_id() -> str:
        return rng.choice(rng.choice(groups))

    draws: list[Callable[[], tuple[str, Any]]] = [
        lambda: ("tenant_drop", None), lambda: ("tenant_null", None),
        lambda: ("tenant_set", an_id() if rng.random() < 0.7 else rng.choice(_JUNK_TENANTS)),
        lambda: ("tenant_to_user_metadata", an_id()),
        lambda: ("user_metadata", {rng.choice(meta_keys): an_id() if rng.random() < 0.8 else rng.random() < 0.5
                                   for _ in range(rng.randint(1, 2))}),
        lambda: ("user_metadata", dict.fromkeys(_META_KEYS, an_id())),
        lambda: ("app_to_user_metadata", None),
        lambda: ("sub", an_id() if rng.random() < 0.8 else None),
        lambda: ("role", rng.choice(_ROLES)), lambda: ("aal", rng.choice(_AALS)), lambda: ("expired", None),
        lambda: ("audience", rng.choice(_AUDIENCES)), lambda: ("extra", _EXTRA),
    ]
    return [(rng.choice(users), [rng.choice(draws)() for _ in range(rng.randint(1, 3))]) for _ in range(n)]


def _apply(user: Identity, tampers: Tampers, path: str) -> dict[str, Any]:
    c: dict[str, Any] = dict(user.claims)
    for kind, value in tampers:
        c = claimsets.tamper(c, kind, value, path)
    return c


def _trusted(contract: Contract, forged_claims: dict[str, Any], user: str) -> Identity:
    """Who the claims a user cannot edit name: the oracle's identity for this claim set."""
    carried = claimsets.get_path(forged_claims, contract.tenant_claim)
    tenant = carried if isinstance(carried, str) and carried in contract.tenants.values() else None
    sub = forged_claims.get("sub")
    sub = sub if isinstance(sub, str) and _UUID.fullmatch(sub) else None
    role = "anon" if forged_claims.get("role") == "anon" else "authenticated"  # the role the request runs as
    return Identity(f"forged({user})", role, forged_claims, tenant_id=tenant, sub=sub)


@dataclasses.dataclass
class Case:
    """One claim set: whose claims, bent how, and the identity the oracle judges it as."""

    user: Identity
    tampers: Tampers
    who: Identity

    @classmethod
    def of(cls, contract: Contract, user: Identity, tampers: Tampers) -> Case:
        return cls(user, tampers, _trusted(contract, _apply(user, tampers, contract.tenant_claim), user.name))


def _shrink(contract: Contract, reads: forged.Reads, case: Case, leak: forged.Leak) -> tuple[Case, forged.Leak]:
    """The smallest bending of ``case`` that still leaks on the same table (each round: one batch, one table)."""
    (probe,) = [p for p in reads.probes if p.table.name == leak.table]
    smallest = (case, leak)

    def first_leaking(candidates: list[Tampers]) -> int | None:
        nonlocal smallest
        tries = [Case.of(contract, case.user, t) for t in candidates]
        for i, (attempt, found) in enumerate(zip(tries, reads.leaks([t.who for t in tries], only=[probe]),
                                                 strict=True)):
            if found and found[0].problem == "leak":
                smallest = (attempt, found[0])
                return i
        return None

    claimsets.shrink(case.tampers, first_leaking)
    return smallest


@pytest.mark.check("rls.forged_claims", severity="P0", runbook="Diagnóstico 4 (Erros de RLS)")
def test_forged_claims_never_reveal_another_tenants_rows(target: Target, db: Any, check: Check,
                                                         rls_contract: Contract) -> None:
    """For every bent claim set, every visible row is within the oracle of the user the trusted claims name."""
    users = [i for i in rls_contract.identities if i.is_user and i.role == "authenticated"]
    tables = [t for t in rls_contract.tables if not t.is_view]
    if not users or not tables:
        pytest.skip(f"{rls_contract.path.name}: the forged-claim property needs a signed-in user identity "
                    "and a table")
    lockguard.skip_if_locked(target, db, relations=[t.name for t in tables])
    # Pinned own-tenant verdicts (expect.users = { select = "deny" } for an MFA table) describe the
    # real identities; a forged claim set is judged against the oracle alone (an upper bound).
    probes = forged.probes(db, target.policy, [dataclasses.replace(t, expect={}) for t in tables],
                           tuple(rls_contract.tenants.values()))
    seed = rls_contract.seed_sql if not target.spec.read_only else None
    check.add_evidence("seeded", bool(seed))
    with session.seeding(seed), forged.reading(db, target.policy, probes) as reads:
        keys = reads.row_keys()
        explicit = [Case.of(rls_contract, users[0], t) for t in _explicit(rls_contract, users[0], keys)]
        budget = PROBE_BUDGET_READ_ONLY if target.policy.read_only else PROBE_BUDGET
        n_random = max(8, min(50, budget // max(1, len(probes)) - len(explicit)))
        generated = [Case.of(rls_contract, u, t) for u, t in _random(rls_contract, users, keys, n_random)]
        cases = explicit + generated
        results = reads.leaks([c.who for c in cases])
        first = next(((c, leak) for c, ls in zip(cases, results, strict=True) for leak in ls
                      if leak.problem == "leak"), None)
        if first is not None:
            case, leak = _shrink(rls_contract, reads, *first)
    check.add_evidence("examples", {"explicit": len(explicit), "generated": len(generated), "tables": len(probes),
                                    "cells": reads.tally.cells, "failed_requests": reads.tally.failed_requests})
    if first is None:
        unjudged = [leak for ls in results for leak in ls]
        if unjudged:
            _no_verdict(target, unjudged)
        return
    check.add_evidence("shrunk_claims", case.who.claims)
    bent = "; ".join(f"{k}={json.dumps(v)}" if v is not None else k for k, v in case.tampers)
    check.fail(check.finding(
        f"LEAK with forged claims ({case.user.name}, bent: {bent}): {leak.summary}",
        f"table {leak.table}",
        "policies must read the tenant only from claims the user cannot set "
        f"({rls_contract.tenant_claim}, auth.uid()), never from user_metadata; cast strictly and deny when "
        "the claim is missing",
        detail="claims (shrunk): " + json.dumps(case.who.claims, sort_keys=True)
        + "\nrows: " + ("; ".join(leak.rows) or "-")))


def _no_verdict(target: Target, unjudged: list[forged.Leak]) -> None:
    """No leak, but some reads could not be judged: a lock (skip, as the lock guard does) or a failing oracle."""
    first = unjudged[0]
    if first.problem == "lock_timeout":
        pytest.skip(f"not probed: {first.table}: {first.summary}; see locks.blocking_chains for the blocker")
    raise Inconclusive("setup", f"{target.name}: {first.table}: {first.summary} for a forged claim set "
                       f"({len(unjudged)} reads could not be judged)",
                       fix="fix the table's oracle in the contract (docs/contracts.md) so it runs for any tenant "
                           "and sub, null included", scope=first.table)
