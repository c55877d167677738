"""rls.forged_claims: bent claim sets, the contract's seed, membership tenancy, shrunk counterexamples."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from databases import clones
from test_rls_membership import membership_server  # noqa: F401 (a fixture)

from conftest import REPO, Product, ProductRun, demo_target, url_target
from dbrunbook.targets.embedded import EmbeddedInfo

TEST_FILE = "rls_contracts/test_claims_property.py"
WRITABLE = url_target("read_only = false")
DEMO_CONTRACT = (REPO / "rls_contracts" / "contracts.toml").read_text()
MEMBERSHIP = f"--contracts={REPO / 'rls_contracts' / 'membership.toml'}"
#: The tenant read from where the user writes it.
USER_METADATA_READ = ('alter policy "Tenant members can view customers" on public.customers using '
                      "(company_id = ((select auth.jwt()) -> 'user_metadata' ->> 'company_id')::uuid);")
SEED = """
insert into public.customers (id, company_id, name) values
  ('c0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', 'Seeded Acme customer'),
  ('c0000000-0000-4000-8000-00000000000b', '22222222-2222-4222-8222-222222222222', 'Seeded Globex customer')
on conflict do nothing;
"""


@pytest.fixture
def demo_clone(supabase_server: EmbeddedInfo) -> Iterator[Callable[[str], str]]:
    yield from clones(supabase_server.admin_dsn, supabase_server.dsn)


@pytest.fixture
def membership_clone(membership_server: EmbeddedInfo) -> Iterator[Callable[[str], str]]:  # noqa: F811
    yield from clones(membership_server.admin_dsn, membership_server.dsn)


def forged(run: ProductRun) -> dict[str, object]:
    return run.result("rls.forged_claims")


@pytest.mark.fault(scenario="tenant read from user_metadata, tenant table empty, contract seed_sql gives it rows",
                   expect="rls.forged_claims fails P0 with the shrunk claims (it used to pass on the empty table)")
def test_user_metadata_tenant_read_caught_with_the_contract_seed(product: Product, demo_clone: Callable[[str], str],
                                                                 tmp_path: Path) -> None:
    dsn = demo_clone(USER_METADATA_READ + "truncate public.customers cascade;")
    (tmp_path / "seed.sql").write_text(SEED)
    contract = tmp_path / "contracts.toml"
    contract.write_text(DEMO_CONTRACT.replace("[contract]\n", '[contract]\nseed_sql = "seed.sql"\n', 1))
    run = product.run(TEST_FILE, "--target=t", f"--contracts={contract}", targets_toml=WRITABLE,
                      env={"T_DB_URL": dsn}, timeout=240)
    assert forged(run)["outcome"] == "failed", run.output[-3000:]
    message = str(forged(run)["message"])
    assert "LEAK with forged claims" in message and "public.customers" in message
    assert "user_metadata" in message and "claims (shrunk): {" in message
    evidence = forged(run)["evidence"]
    assert evidence["seeded"] is True and "user_metadata" in evidence["shrunk_claims"]
    # shrunk: one bending is enough to leak, and the report says which
    assert message.count("bent: ") == 1 and ";" not in message.split("bent: ")[1].split(")")[0]


def test_healthy_projects_pass_the_forged_claims_property(product: Product, supabase_server: EmbeddedInfo,
                                                          membership_server: EmbeddedInfo) -> None:  # noqa: F811
    run = product.run(TEST_FILE, "--target=t", targets_toml=url_target(f'contracts = "{REPO}/rls_contracts/'
                                                                      'contracts.toml"\nread_only = false'),
                      env={"T_DB_URL": supabase_server.dsn}, timeout=240)
    assert forged(run)["outcome"] == "passed", run.output[-3000:]
    run = product.run(TEST_FILE, "--target=t", MEMBERSHIP, targets_toml=WRITABLE,
                      env={"T_DB_URL": membership_server.dsn}, timeout=240)
    assert forged(run)["outcome"] == "passed", run.output[-3000:]  # it used to skip membership tenancy


@pytest.mark.fault(scenario="membership tenancy: a policy also accepts an org id from user_metadata",
                   expect="rls.forged_claims fails P0: user_metadata org_id reveals another org's projects")
def test_membership_policy_trusting_user_metadata_is_caught(product: Product,
                                                            membership_clone: Callable[[str], str]) -> None:
    dsn = membership_clone(
        "drop policy if exists \"forged org\" on public.projects;"
        "create policy \"forged org\" on public.projects for select to authenticated using "
        "(org_id = ((select auth.jwt()) -> 'user_metadata' ->> 'org_id')::uuid)")
    run = product.run(TEST_FILE, "--target=t", MEMBERSHIP, targets_toml=WRITABLE, env={"T_DB_URL": dsn},
                      timeout=240)
    assert forged(run)["outcome"] == "failed", run.output[-3000:]
    message = str(forged(run)["message"])
    assert "public.projects" in message and "org_id" in message and "claims (shrunk): {" in message


#: A policy for anon that trusts a user's claims (anon granted SELECT, as hosted grants it by default):
#: only a request as anon carrying them reads anything.
ANON_TRUSTS_SUB = ("grant select on public.contacts to anon; "
                   'create policy "Anon with a user token reads contacts" on public.contacts for select to anon '
                   "using (((select auth.jwt()) ->> 'sub') is not null);")


@pytest.mark.fault(scenario="a policy for anon that reads the sub claim (the role claim bent to anon, the user's "
                            "other claims kept)",
                   expect="rls.forged_claims fails P0, bent: role=\"anon\" (the role tamper used to be overwritten "
                          "by the identity's role: it probed nothing)")
def test_role_claim_bent_to_anon_runs_the_request_as_anon(product: Product,
                                                          demo_clone: Callable[[str], str]) -> None:
    dsn = demo_clone(ANON_TRUSTS_SUB)
    run = product.run(TEST_FILE, "--target=t", targets_toml=demo_target("read_only = false"), env={"T_DB_URL": dsn},
                      timeout=240)
    assert forged(run)["outcome"] == "failed", run.output[-3000:]
    message = str(forged(run)["message"])
    assert "LEAK with forged claims" in message and "public.contacts" in message, message
    assert 'bent: role="anon")' in message, message
