"""RLS contracts on examples/membership (membership table + SECURITY DEFINER helpers, restrictive aal2 policy)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from databases import clone_database, drop_database, with_db
from test_rls_demo import failures, only_failure

from conftest import REPO, Product, ProductRun, url_target
from dbrunbook.targets.embedded import EmbeddedInfo, EmbeddedServer

CONTRACT = f"--contracts={REPO / 'rls_contracts' / 'membership.toml'}"
WRITABLE = url_target("read_only = false")


@pytest.fixture(scope="session")
def membership_server() -> Iterator[EmbeddedInfo]:
    """One embedded server with the taskboard project, shared by this module."""
    server = EmbeddedServer(REPO / "examples" / "membership")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def faulty_membership(membership_server: EmbeddedInfo) -> Iterator[Callable[[str], str]]:
    made: list[str] = []

    def make(fault_sql: str) -> str:
        name = clone_database(membership_server.admin_dsn, "postgres")
        made.append(name)
        with psycopg.connect(with_db(membership_server.admin_dsn, name), autocommit=True) as conn:
            conn.execute(fault_sql)
        return with_db(membership_server.dsn, name)

    yield make
    for name in made:
        drop_database(membership_server.admin_dsn, name)


def run_rls(product: Product, dsn: str, *extra: str) -> ProductRun:
    return product.run("-m", "rls", "--target=t", CONTRACT, *extra, targets_toml=WRITABLE,
                       env={"T_DB_URL": dsn}, timeout=240)


@pytest.mark.fault(scenario="healthy membership project, RLS", expect="pass: every cell")
def test_healthy_membership_project_passes(product: Product, membership_server: EmbeddedInfo) -> None:
    run = run_rls(product, membership_server.dsn)
    assert run.returncode == 0, run.output[-4000:]
    assert run.outcome("rls.restrictive_policies") == "passed"
    assert len([r for r in run.results if r["check_id"] == "rls.read_isolation"]) == 8 * 8


@pytest.mark.fault(scenario="SECURITY DEFINER tenancy helper widened", expect="fail rls.read_isolation P0 LEAK")
def test_security_definer_helper_widened_with_identical_policies(product: Product,
                                                                 faulty_membership: Callable[[str], str]) -> None:
    # Every policy stays byte-identical; only the helper they call now returns every org.
    dsn = faulty_membership("create or replace function private.user_org_ids() returns setof uuid language sql "
                            "stable security definer set search_path = '' "
                            "as $$ select o.id from public.organizations o $$")
    run = run_rls(product, dsn, "-k", "reads")
    assert only_failure(run, "rls.read_isolation", "public.projects-quinn_quasar_owner")
    assert ("LEAK: quinn_quasar_owner (authenticated) reads 6 rows of public.projects, 5 of them not its own"
            in run.output)
    assert "identity quinn_quasar_owner (role authenticated), operation select" in run.output
    assert only_failure(run, "rls.read_isolation", "public.tasks-lena_no_org")


@pytest.mark.fault(scenario="restrictive MFA policy lost", expect="fail rls.read_isolation + restrictive_policies P0")
@pytest.mark.parametrize("fault", [
    'drop policy "Project secrets require MFA" on public.project_secrets',
    'drop policy "Project secrets require MFA" on public.project_secrets; '
    'create policy "Project secrets require MFA" on public.project_secrets as permissive for all to authenticated '
    "using ((select auth.jwt() ->> 'aal') = 'aal2') with check ((select auth.jwt() ->> 'aal') = 'aal2')",
], ids=["dropped", "made_permissive"])
def test_restrictive_mfa_policy_lost(product: Product, faulty_membership: Callable[[str], str], fault: str) -> None:
    run = run_rls(product, faulty_membership(fault), "-k", "project_secrets or restrictive")
    msg = only_failure(run, "rls.read_isolation", "public.project_secrets-oscar_orbit_member")
    assert "LEAK" in msg and "operation select" in msg
    assert "Project secrets require MFA" in run.message("rls.restrictive_policies")
    # Dropped: aal2 users keep exactly their orgs' secrets. Made permissive: aal2 alone now opens every secret.
    mfa_leak = [n for n in failures(run, "rls.read_isolation") if "noah_two_orgs_mfa" in n]
    assert bool(mfa_leak) == ("permissive" in fault), mfa_leak
