"""`dbrunbook contract init`: the skeleton it writes runs green on the healthy project and catches the faults.

Edited lines (docs/contracts.md "What init writes"): on examples/membership, the 5-line waiver of
rls.rls_grants_without_policy (the project grants commands it has no policy for: a real finding of
that project, which its hand-written contract waives too); on examples/demo and the 100-table project, none.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from databases import clone_database, clones, drop_database, with_db
from test_rls_demo import cell_name
from test_rls_membership import membership_server  # noqa: F401 (a fixture)

from bench.rls import project as bench_project
from conftest import REPO, Product, ProductRun, url_target
from dbrunbook.targets.embedded import EmbeddedInfo, EmbeddedServer

WRITABLE = url_target("read_only = false")
#: The one edit the membership skeleton needs to run green (docs/contracts.md).
MEMBERSHIP_EDIT = """
[[waivers]]
check = "rls.rls_grants_without_policy"
table = "*"
reason = "taskboard relies on RLS to deny granted commands that have no policy"
expires = 2099-12-31
"""


def contract_init(workdir: Path, out: Path) -> str:
    """Run the command as users do; return the contract it wrote."""
    proc = subprocess.run([sys.executable, "-m", "dbrunbook.cli", "contract", "init", "--workdir", str(workdir),
                           "--out", str(out)], capture_output=True, text=True, timeout=300, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"wrote {out}" in proc.stdout and out.with_name(out.stem + ".seed.sql").is_file()
    return out.read_text()


def green_then_faulty(product: Product, server: EmbeddedInfo, contract: Path, fault_sql: str, *,
                      healthy_k: tuple[str, ...], fault_k: str) -> ProductRun:
    """``-m rls`` with the skeleton on the healthy database (must exit 0), then on a clone with ``fault_sql``."""
    healthy = product.run("-m", "rls", "--target=t", f"--contracts={contract}", *healthy_k, targets_toml=WRITABLE,
                          env={"T_DB_URL": server.dsn}, timeout=300)
    assert healthy.returncode == 0, healthy.output[-4000:]
    name = clone_database(server.admin_dsn, "postgres")
    try:
        with psycopg.connect(with_db(server.admin_dsn, name), autocommit=True) as conn:
            conn.execute(fault_sql)
        return product.run("-m", "rls", "--target=t", f"--contracts={contract}", "-k", fault_k, targets_toml=WRITABLE,
                           env={"T_DB_URL": with_db(server.dsn, name)}, timeout=300)
    finally:
        drop_database(server.admin_dsn, name)


def failed(run: ProductRun, check_id: str) -> list[str]:
    """Failed records of one check: a matrix cell as ``schema.table-identity``, any other check by node id."""
    return [cell_name(r) if r.get("identity") else r["nodeid"] for r in run.results
            if r["check_id"] == check_id and r["outcome"] == "failed"]


@pytest.fixture
def clone(membership_server: EmbeddedInfo) -> Iterator[Callable[[str], str]]:  # noqa: F811
    yield from clones(membership_server.admin_dsn, membership_server.dsn)


@pytest.mark.fault(scenario="contract init on examples/membership, then: helper widened, MFA policy dropped, "
                            "org id read from user_metadata",
                   expect="skeleton + 1 waiver green on the healthy project; each fault fails P0")
def test_membership_skeleton_is_green_and_catches_the_faults(product: Product, membership_server: EmbeddedInfo,  # noqa: F811
                                                           clone: Callable[[str], str], tmp_path: Path) -> None:
    out = tmp_path / "contracts.toml"
    text = contract_init(REPO / "examples" / "membership", out)
    assert "Membership tenancy: public.org_members" in text and 'policy = "Project secrets require MFA"' in text
    assert 'expect.org1_user_mfa = { select = "allow" }' in text
    out.write_text(text + MEMBERSHIP_EDIT)
    contract = f"--contracts={out}"

    def run(dsn: str, *extra: str) -> ProductRun:
        return product.run("-m", "rls", "--target=t", contract, *extra, targets_toml=WRITABLE, env={"T_DB_URL": dsn},
                           timeout=300)

    healthy = run(membership_server.dsn)
    assert healthy.returncode == 0, healthy.output[-4000:]
    assert len([r for r in healthy.results if r["check_id"] == "rls.read_isolation"]) == 8 * 5

    widened = run(clone("create or replace function private.user_org_ids() returns setof uuid language sql stable "
                        "security definer set search_path = '' as $$ select o.id from public.organizations o $$"),
                  "-k", "reads")
    leaks = failed(widened, "rls.read_isolation")
    assert [n for n in leaks if "public.projects-org1_user" in n], widened.output[-3000:]

    mfa = run(clone('drop policy "Project secrets require MFA" on public.project_secrets'),
              "-k", "project_secrets or restrictive")
    assert failed(mfa, "rls.restrictive_policies") and failed(mfa, "rls.read_isolation"), mfa.output[-3000:]

    forged = run(clone("create policy \"forged org\" on public.projects for select to authenticated using "
                       "(org_id = ((select auth.jwt()) -> 'user_metadata' ->> 'org_id')::uuid)"), "-k", "forged")
    assert failed(forged, "rls.forged_claims"), forged.output[-3000:]


@pytest.fixture(scope="module")
def bench_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedInfo]:
    root = bench_project.write_project(tmp_path_factory.mktemp("bench-rls"))
    server = EmbeddedServer(root)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.mark.fault(scenario="contract init on the generated 100-table project, then a read policy USING (true) "
                            "and RLS disabled on another table",
                   expect="skeleton green unedited; the faults fail rls.read_isolation and the lint at P0")
def test_hundred_table_skeleton_is_green_and_catches_the_faults(product: Product, bench_server: EmbeddedInfo,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "contracts.toml"
    text = contract_init(Path(bench_server.workdir), out)
    assert text.count("[tables.") == 100 and 'tenant_column = "company_id"' in text
    # Healthy: a tenth of the tables, every check kind (the whole -m rls is green too: docs/contracts.md).
    run = green_then_faulty(product, bench_server, out, 'alter policy "t042 tenant read" on public.t042 using (true);'
                            "alter table public.t007 disable row level security",
                            healthy_k=("-k", "t00 or lint or in_the_contract or forged"),
                            fault_k="t042 or t007 or rls_disabled")
    reads = failed(run, "rls.read_isolation")
    assert any("public.t042-tenant_a_user" in n for n in reads) and any("public.t007" in n for n in reads), reads
    assert failed(run, "rls.rls_disabled_in_exposed_schema")


@pytest.mark.fault(scenario="contract init on the demo (company_id claim, helpers, app_metadata roles), then a "
                            "policy reading the tenant from user_metadata",
                   expect="skeleton green unedited; the fault fails rls.tenant_predicate and rls.forged_claims P0")
def test_demo_skeleton_is_green_and_catches_a_user_metadata_read(product: Product, supabase_server: EmbeddedInfo,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "contracts.toml"
    text = contract_init(REPO / "examples" / "demo", out)
    assert '"company_role" = "owner"' in text and 'tenant_column = "id"' in text  # core.companies
    run = green_then_faulty(product, supabase_server, out,
                            'alter policy "Tenant members can view customers" on public.customers using (company_id = '
                            "coalesce((select auth.jwt() ->> 'company_id'), "
                            "(select auth.jwt() -> 'user_metadata' ->> 'company_id'))::uuid)",
                            healthy_k=(), fault_k="forged or tenant_claim")
    assert failed(run, "rls.tenant_predicate") and failed(run, "rls.forged_claims"), run.output[-3000:]


def test_init_reads_a_url_target_and_refuses_bad_input(supabase_server: EmbeddedInfo, tmp_path: Path) -> None:
    toml = tmp_path / "dbrunbook.toml"
    toml.write_text(url_target())
    out = tmp_path / "c.toml"
    base = [sys.executable, "-m", "dbrunbook.cli", "contract", "init", f"--targets-file={toml}", f"--out={out}"]
    env = {"PATH": "/usr/bin:/bin", "T_DB_URL": supabase_server.dsn}

    def init(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
                              env={**env, **extra})

    done = init("--target=t", "--schemas=public,core,graphql_public")
    assert done.returncode == 0, done.stderr
    assert out.read_text().count("[tables.") == 13 and supabase_server.password not in out.read_text()
    again = init("--target=t")
    assert again.returncode == 4 and "exists; pass --force" in again.stderr
    assert init("--target=nope", "--force").returncode == 4
    missing = init("--force")
    assert missing.returncode == 4 and "--workdir DIR" in missing.stderr


@pytest.mark.fault(scenario="contract init on a project whose membership rows hold no user (no tenant user found)",
                   expect="the seed template parses (the user INSERT is a CHECK comment, not an INSERT with no row)")
def test_seed_template_without_users_parses(supabase_server: EmbeddedInfo) -> None:
    from dbrunbook.rls.init import Skeleton, seed_template

    empty = Skeleton(project="p", schemas=["public"], tenant_claim=None, tenant_column=None, tenants={}, users=[],
                     tables={"public.chats": {}}, ignored={}, restrictive=[], helpers=[], claims_read=[],
                     anon_privileges=False, signup_triggers=[], has_rows=False, membership=None)
    seed = seed_template(empty)
    assert "CHECK: no tenant user was found" in seed
    with psycopg.connect(supabase_server.admin_dsn, autocommit=True) as conn, conn.transaction(force_rollback=True):
        conn.execute(seed)  # comments only: it must parse and run (a seed that fails stops every RLS cell)


@pytest.mark.fault(scenario="contract init on a project whose migration fails to apply (a role setting the throwaway "
                            "target refuses)",
                   expect="exit 6, one line naming file, statement and error; no Python traceback")
def test_init_on_a_project_that_does_not_build_says_why(tmp_path: Path) -> None:
    migrations = tmp_path / "project" / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "20240101000000_rows.sql").write_text("alter role postgres set pgrst.db_max_rows = -1;\n")
    proc = subprocess.run([sys.executable, "-m", "dbrunbook.cli", "contract", "init", "--workdir",
                           str(tmp_path / "project"), "--out", str(tmp_path / "c.toml")],
                          capture_output=True, text=True, timeout=300, check=False, cwd=REPO)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "could not be built" in proc.stderr and "20240101000000_rows.sql" in proc.stderr
    assert "pgrst.db_max_rows" in proc.stderr


@pytest.mark.fault(scenario="contract init on a project whose membership table references a profile table "
                            "(public.users keyed by auth.users), with a SECURITY DEFINER helper over documents "
                            "and their author too",
                   expect="the membership is organization_members (two helpers), not documents; the skeleton's "
                          "matrix is green, and a widened helper fails rls.read_isolation P0")
def test_membership_through_a_profile_table_is_found(product: Product, tmp_path: Path) -> None:
    workdir = REPO / "examples" / "profile-members"
    out = tmp_path / "contracts.toml"
    text = contract_init(workdir, out)
    # Before: public.documents (its created_by references auth.users, and one helper reads it).
    assert "Membership tenancy: public.organization_members (user_id -> public.users, organization_id" in text, text
    assert "from public.documents m" not in text, text
    healthy = product.run("-m", "rls", f"--workdir={workdir}", f"--contracts={out}", "rls_contracts/test_matrix.py",
                          timeout=300)
    assert healthy.returncode == 0, healthy.output[-4000:]
    assert len([r for r in healthy.results if r["check_id"] == "rls.read_isolation"]) == 4 * 4  # 4 tables x 4 ids
    # The same skeleton against a copy whose helper admits every organization: the leak shows.
    leaky = tmp_path / "leaky"
    shutil.copytree(workdir, leaky)
    (leaky / "supabase" / "migrations" / "20250110092000_widen_helper.sql").write_text(
        "create or replace function public.is_org_member(_org_id uuid) returns boolean language sql stable "
        "security definer set search_path = '' as $$ select true $$;\n")
    run = product.run("-m", "rls", f"--workdir={leaky}", f"--contracts={out}", "rls_contracts/test_matrix.py",
                      "-k", "reads", timeout=300)
    leaks = failed(run, "rls.read_isolation")
    assert any(n.startswith("public.documents-") for n in leaks), run.output[-3000:]
    assert "[P0]" in run.output
