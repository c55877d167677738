"""RLS contracts on the demo project: each injected fault fails the right contract, naming table, identity, rows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from databases import clone_database, drop_database, with_db

from conftest import REPO, Product, ProductRun, demo_target
from dbrunbook.targets.embedded import EmbeddedInfo

WRITABLE = demo_target("read_only = false")


@pytest.fixture
def faulty_demo(supabase_server: EmbeddedInfo) -> Iterator[Callable[[str], str]]:
    """Clone the demo database, run the fault SQL in the clone as superuser, return the clone's DSN."""
    made: list[str] = []

    def make(fault_sql: str) -> str:
        name = clone_database(supabase_server.admin_dsn, "postgres")
        made.append(name)
        with psycopg.connect(with_db(supabase_server.admin_dsn, name), autocommit=True) as conn:
            conn.execute(fault_sql)
        return with_db(supabase_server.dsn, name)

    yield make
    for name in made:
        drop_database(supabase_server.admin_dsn, name)


def cell_name(record: dict[str, Any]) -> str:
    """``schema.table-identity`` of a matrix cell's record (test_matrix.py: one record per cell of a node;
    test_http.py: one node per cell, ``[schema.table-identity-target]``)."""
    if record.get("identity"):
        return f"{record['table']}-{record['identity']}"
    return record["nodeid"].rpartition("[")[2].rsplit("-", 1)[0]


def failures(run: ProductRun, check_id: str) -> dict[str, str]:
    """Failed cells of one check: nodeid (it names table and identity) -> message."""
    return {r["nodeid"]: r.get("message") or "" for r in run.results
            if r["check_id"] == check_id and r["outcome"] == "failed"}


def only_failure(run: ProductRun, check_id: str, cell: str) -> str:
    """The failure message of one cell (``schema.table-identity``), asserting that it failed."""
    failed = {cell_name(r): r.get("message") or "" for r in run.results
              if r["check_id"] == check_id and r["outcome"] == "failed"}
    assert cell in failed, f"{check_id} did not fail for {cell}; failed: {sorted(failed)}\n{run.output[-3000:]}"
    return failed[cell]


def cell_record(run: ProductRun, check_id: str, cell: str) -> dict[str, Any]:
    """The result record of one matrix cell (``schema.table-identity``)."""
    hits = [r for r in run.results if r["check_id"] == check_id and cell_name(r) == cell]
    assert hits, f"no record of {check_id} for {cell}\n{run.output[-3000:]}"
    return hits[0]


def junit_cells(run: ProductRun) -> list[dict[str, Any]]:
    """Every matrix cell of the JUnit file (the ``rls_cell`` property: a JSON list of cells)."""
    return [c for p in run.junit().iter("property") if p.get("name") == "rls_cell"
            for c in json.loads(p.get("value", "[]"))]


def run_rls(product: Product, dsn: str, *extra: str, toml: str = WRITABLE) -> ProductRun:
    return product.run("-m", "rls", "--target=t", *extra, targets_toml=toml, env={"T_DB_URL": dsn}, timeout=240)


@pytest.mark.fault(scenario="healthy demo, RLS contract", expect="pass: every RLS cell and lint")
def test_healthy_demo_passes_every_rls_contract(product: Product, supabase_server: EmbeddedInfo) -> None:
    run = run_rls(product, supabase_server.dsn)
    assert run.returncode == 0, run.output[-4000:]
    checks = {r["check_id"] for r in run.results}
    assert {"rls.read_isolation", "rls.insert_isolation", "rls.update_isolation", "rls.delete_isolation",
            "rls.coverage", "rls.tenant_predicate", "rls.rls_disabled_in_exposed_schema"} <= checks
    cells = [r for r in run.results if r["check_id"] == "rls.insert_isolation" and r["outcome"] == "passed"]
    assert len(cells) >= 60  # 13 tables x 6 identities, minus views
    assert "RLS matrix" in run.report_files()["html"].read_text()
    # Every matrix cell is a JUnit test case of its own and carries its state, as JSON
    # (rls_contracts/conftest.py); one result record per cell, none for the nodes.
    cells = [c for c in junit_cells(run) if c["operation"] != "api select"]  # the Data API's are test_http's
    matrix = ("rls.read_isolation", "rls.insert_isolation", "rls.update_isolation", "rls.delete_isolation")
    assert len(cells) == len([r for r in run.results if r["check_id"] in matrix])
    assert all(c["state"] in ("ok", "not_probed") for c in cells), cells[:3]
    cases = [c for c in run.junit().iter("testcase") if "test_reads_return_exactly_own" in c.get("name", "")]
    assert len(cases) == len([r for r in run.results if r["check_id"] == "rls.read_isolation"])


@pytest.mark.fault(scenario="select policy weakened to true", expect="fail rls.read_isolation P0 LEAK")
@pytest.mark.slow
def test_policy_weakened_to_true_leaks_reads(product: Product, faulty_demo: Callable[[str], str]) -> None:
    dsn = faulty_demo('alter policy "Tenant members can view customers" on public.customers using (true)')
    run = run_rls(product, dsn, "-k", "customers or lint")
    msg = only_failure(run, "rls.read_isolation", "public.customers-acme_owner")
    assert "LEAK" in msg and "identity acme_owner" in msg and "operation select" in msg
    assert "22222222-2222-4222-8222-222222222222" in msg or "33333333" in msg  # the leaked rows' tenant
    assert not failures(run, "rls.read_isolation").keys() - {n for n in failures(run, "rls.read_isolation")
                                                            if "public.customers" in n}


@pytest.mark.fault(scenario="RLS disabled on a tenant table",
                   expect="fail rls.read_isolation + rls_disabled_in_exposed_schema P0")
def test_rls_disabled_on_a_tenant_table(product: Product, faulty_demo: Callable[[str], str]) -> None:
    dsn = faulty_demo("alter table public.documents disable row level security")
    run = run_rls(product, dsn, "-k", "documents or lint")
    msg = only_failure(run, "rls.read_isolation", "public.documents-globex_admin")
    assert "LEAK" in msg and "public.documents" in msg
    assert "public.documents" in run.message("rls.rls_disabled_in_exposed_schema")
    assert "enable row level security" in run.message("rls.rls_disabled_in_exposed_schema")
    assert "rls.rls_policy_exists_rls_disabled" in {r["check_id"] for r in run.results if r["outcome"] == "failed"}


@pytest.mark.fault(scenario="insert policy with check (true)",
                   expect="fail rls.insert_isolation + always_true_write P0")
def test_with_check_true_lets_a_tenant_insert_into_another(product: Product,
                                                            faulty_demo: Callable[[str], str]) -> None:
    dsn = faulty_demo('alter policy "Tenant members can create customers" on public.customers with check (true)')
    run = run_rls(product, dsn, "-k", "customers or lint")
    msg = only_failure(run, "rls.insert_isolation", "public.customers-acme_agent")
    assert "inserted a row it must not own" in msg and "operation insert" in msg and "42501" in msg
    assert "Tenant members can create customers" in run.message("rls.rls_policy_always_true_write")
    assert not failures(run, "rls.read_isolation")


@pytest.mark.fault(scenario="update/delete policies using (true)",
                   expect="fail rls.update_isolation + delete_isolation P0")
def test_using_true_on_update_and_delete_touches_other_tenants(product: Product,
                                                               faulty_demo: Callable[[str], str]) -> None:
    dsn = faulty_demo('alter policy "Tenant members can delete contacts" on public.contacts using (true);'
                      'alter policy "Tenant members can update contacts" on public.contacts'
                      ' using (true) with check (true)')
    run = run_rls(product, dsn, "-k", "contacts")
    msg = only_failure(run, "rls.delete_isolation", "public.contacts-initech_agent")
    assert "DELETE FROM public.contacts without a filter removed" in msg and "rows of other tenants" in msg
    msg = only_failure(run, "rls.update_isolation", "public.contacts-acme_owner")
    assert "LEAK" in msg and "UPDATE public.contacts SET name = <constant> without a f" in msg
    assert not [n for n in failures(run, "rls.delete_isolation") if "service_role" in n]


@pytest.mark.fault(scenario="select re-granted to anon", expect="fail rls.anon_privileges P0")
def test_select_regranted_to_anon(product: Product, faulty_demo: Callable[[str], str]) -> None:
    dsn = faulty_demo("grant select on public.customers to anon")
    run = run_rls(product, dsn, "-k", "anon or lint")
    assert run.outcome("rls.anon_privileges") == "failed"
    assert "anon may SELECT on public.customers" in run.message("rls.anon_privileges")
    assert "revoke all on table public.customers from anon" in run.message("rls.anon_privileges")


@pytest.mark.fault(scenario="policy reads the wrong JWT claim", expect="fail rls.read_isolation P0 BLOCKING")
def test_policy_reading_the_wrong_claim_blocks(product: Product, faulty_demo: Callable[[str], str]) -> None:
    dsn = faulty_demo('alter policy "Tenant members can view customers" on public.customers '
                      "using (company_id = (select auth.jwt() ->> 'companyId')::uuid)")
    run = run_rls(product, dsn, "-k", "customers or tenant_table")
    msg = only_failure(run, "rls.read_isolation", "public.customers-acme_owner")
    assert "BLOCKING" in msg and "reads 0 of the 3 rows" in msg
    assert "Tenant members can view customers" in run.message("rls.tenant_predicate")


@pytest.mark.fault(scenario="new exposed tenant table without RLS", expect="fail rls.coverage P0")
def test_new_tenant_table_without_rls(product: Product, faulty_demo: Callable[[str], str]) -> None:
    dsn = faulty_demo("set role postgres;"
                      "create table public.leads (id uuid primary key default gen_random_uuid(),"
                      " company_id uuid not null references core.companies (id), email text);"
                      "insert into public.leads (company_id) select id from core.companies;"
                      "grant select on public.leads to anon, authenticated")
    run = run_rls(product, dsn, "-k", "in_the_contract or lint")
    msg = run.message("rls.coverage")
    assert "public.leads is exposed" in msg and "carries the tenant column" in msg and "RLS OFF" in msg
    assert "LEAK: acme_owner" in msg and "[P0]" in msg
    assert "public.leads" in run.message("rls.rls_disabled_in_exposed_schema")


@pytest.mark.fault(scenario="leak on a read-only target", expect="fail rls.read_isolation; write cells skip")
def test_read_only_target_runs_the_read_variant_only(product: Product, faulty_demo: Callable[[str], str]) -> None:
    dsn = faulty_demo('alter policy "Tenant members can view customers" on public.customers using (true)')
    run = run_rls(product, dsn, "-k", "customers", toml=demo_target())
    assert only_failure(run, "rls.read_isolation", "public.customers-acme_owner")
    writes = [r for r in run.results if r["check_id"] == "rls.insert_isolation"]
    assert writes and all(r["outcome"] == "skipped" for r in writes)


@pytest.mark.fault(scenario="expired RLS waiver in the contract", expect="fail rls.read_isolation naming the expiry")
def test_expired_waiver_fails(product: Product, supabase_server: EmbeddedInfo, tmp_path: Path) -> None:

    contract = tmp_path / "contracts.toml"
    contract.write_text((REPO / "rls_contracts" / "contracts.toml").read_text() + (
        '\n[[waivers]]\ncheck = "rls.read_isolation"\ntable = "public.customers"\nidentity = "anon"\n'
        'operation = "select"\nreason = "legacy import"\nexpires = 2020-01-01\n'))
    run = run_rls(product, supabase_server.dsn, "-k", "customers and reads", f"--contracts={contract}")
    msg = only_failure(run, "rls.read_isolation", "public.customers-anon")
    assert "waiver for public.customers / anon / select expired on 2020-01-01" in msg
    assert not failures(run, "rls.read_isolation").keys() - {cell_record(run, "rls.read_isolation",
                                                                         "public.customers-anon")["nodeid"]}


@pytest.mark.fault(scenario="policy falls back to user_metadata", expect="fail rls.forged_claims P0 + lint")
def test_forged_claims_property_finds_a_user_metadata_fallback(product: Product,
                                                               faulty_demo: Callable[[str], str]) -> None:
    dsn = faulty_demo('alter policy "Tenant members can view customers" on public.customers using (company_id = '
                      "coalesce((select auth.jwt() ->> 'company_id'), "
                      "(select auth.jwt() -> 'user_metadata' ->> 'company_id'))::uuid)")
    run = run_rls(product, dsn, "-k", "forged or lint")
    assert "LEAK with forged claims" in run.message("rls.forged_claims")
    assert "user_metadata" in run.message("rls.forged_claims")
    assert "Tenant members can view customers" in run.message("rls.rls_policy_reads_user_metadata")


SEED = """
insert into public.contacts (company_id, name) values
  ('11111111-1111-4111-8111-111111111111', 'seeded acme contact'),
  ('22222222-2222-4222-8222-222222222222', 'seeded globex contact'),
  ('33333333-3333-4333-8333-333333333333', 'seeded initech contact');
"""


@pytest.mark.fault(scenario="leak on an empty table, contract seed",
                   expect="fail rls.read_isolation P0; seed rolled back")
def test_contract_seed_gives_empty_tables_a_verdict_and_is_rolled_back(
        product: Product, faulty_demo: Callable[[str], str], tmp_path: Path) -> None:
    # An empty tenant table with a policy weakened to true: without rows there is nothing to leak...
    dsn = faulty_demo("""delete from public.contacts;
        alter policy "Tenant members can view contacts" on public.contacts using (true);""")
    contract = tmp_path / "contracts.toml"
    contract.write_text((REPO / "rls_contracts" / "contracts.toml").read_text().replace(
        "[contract]\n", '[contract]\nseed_sql = "seed.sql"\n', 1))
    (tmp_path / "seed.sql").write_text(SEED)
    run = run_rls(product, dsn, "rls_contracts/test_matrix.py", f"--contracts={contract}", "-k", "contacts")
    # ... with the contract's seed, every tenant has a contact, and the leak shows.
    message = only_failure(run, "rls.read_isolation", "public.contacts-acme_owner")
    assert "LEAK" in message and "not its own" in message
    assert "seeded globex contact" not in message  # rows are shown by key, never by content
    # Seeded rows were rolled back with each probe: the table is still empty.
    with psycopg.connect(dsn) as conn:  # postgres: BYPASSRLS, sees every row
        assert conn.execute("select count(*) from public.contacts").fetchone() == (0,)


@pytest.mark.fault(scenario="tenant table over the 10,000-row cap", expect="pass capped; leak still found")
def test_read_probes_stay_bounded_on_big_tables(product: Product, faulty_demo: Callable[[str], str]) -> None:
    # More rows than the probe's cap (10,000): counts stop at the cap and leaks are still found among
    # the rows an identity sees, so a triage run on production-sized tables stays cheap.
    dsn = faulty_demo("""insert into public.customers (company_id, name)
        select '11111111-1111-4111-8111-111111111111', 'bulk ' || g from generate_series(1, 10050) g;""")
    healthy = run_rls(product, dsn, "rls_contracts/test_matrix.py", "-m", "not writes", "-k", "customers")
    assert not failures(healthy, "rls.read_isolation"), healthy.output[-3000:]
    acme = cell_record(healthy, "rls.read_isolation", "public.customers-acme_owner")
    assert acme["evidence"]["probe"]["capped_at"] == 10000
    leaking = faulty_demo("""insert into public.customers (company_id, name)
        select '11111111-1111-4111-8111-111111111111', 'bulk ' || g from generate_series(1, 10050) g;
        alter policy "Tenant members can view customers" on public.customers using (true);""")
    run = run_rls(product, leaking, "rls_contracts/test_matrix.py", "-m", "not writes", "-k", "customers")
    assert "LEAK" in only_failure(run, "rls.read_isolation", "public.customers-globex_admin")


@pytest.mark.fault(scenario="a tenant owns no row in a contracted table",
                   expect="fail rls.matrix_has_data P2, seed_sql fix")
def test_tenants_without_rows_are_reported_not_passed_vacuously(
        product: Product, faulty_demo: Callable[[str], str], tmp_path: Path) -> None:
    dsn = faulty_demo("delete from public.contacts where company_id = '22222222-2222-4222-8222-222222222222';")
    run = run_rls(product, dsn, "rls_contracts/test_structure.py")
    message = run.message("rls.matrix_has_data")
    assert run.outcome("rls.matrix_has_data") == "failed", run.output[-3000:]
    assert "public.contacts has no row of tenant(s) globex" in message and "seed_sql" in message
    # With the contract's seed on a writable target contacts have rows again (counted after the seed);
    # the rows the delete cascaded to (conversations, agent_runs ...) are still reported.
    contract = tmp_path / "contracts.toml"
    contract.write_text((REPO / "rls_contracts" / "contracts.toml").read_text().replace(
        "[contract]\n", '[contract]\nseed_sql = "seed.sql"\n', 1))
    (tmp_path / "seed.sql").write_text(SEED)
    seeded = run_rls(product, dsn, "rls_contracts/test_structure.py", f"--contracts={contract}")
    assert "public.contacts" not in seeded.message("rls.matrix_has_data")
    assert "public.conversations has no row of tenant(s) globex" in seeded.message("rls.matrix_has_data")


PARTITIONED = """
create table public.events_p (id bigint generated always as identity, company_id uuid not null, kind text,
                              primary key (id, company_id)) partition by list (company_id);
create table public.events_p_acme partition of public.events_p for values in ('11111111-1111-4111-8111-111111111111');
create table public.events_p_globex partition of public.events_p for values in ('22222222-2222-4222-8222-222222222222');
create table public.events_p_initech partition of public.events_p
  for values in ('33333333-3333-4333-8333-333333333333');
alter table public.events_p enable row level security;
create policy "tenant reads" on public.events_p for select to authenticated
  using (company_id = (select auth.jwt() ->> 'company_id')::uuid);
grant select on public.events_p to authenticated;
insert into public.events_p (company_id, kind)
  select c, 'k' || g from unnest(array['11111111-1111-4111-8111-111111111111',
    '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333']::uuid[]) c,
    generate_series(1, 3) g;
"""


@pytest.mark.fault(scenario="partitioned tenant table (repeating ctids)", expect="pass: no false leak")
def test_partitioned_tenant_table_is_judged_by_key_not_ctid(
        product: Product, faulty_demo: Callable[[str], str], tmp_path: Path) -> None:
    # Every partition starts at ctid (0,1): finding a tenant's rows again by ctid on the parent would
    # match other tenants' rows and report a false leak.
    dsn = faulty_demo(PARTITIONED)
    contract = tmp_path / "contracts.toml"
    contract.write_text((REPO / "rls_contracts" / "contracts.toml").read_text()
                        + '\n[tables."public.events_p"]\noperations = ["select"]\n')
    run = run_rls(product, dsn, "rls_contracts/test_matrix.py", f"--contracts={contract}", "-k", "events_p")
    cells = [r for r in run.results if r["check_id"] == "rls.read_isolation"]
    assert cells and {r["outcome"] for r in cells} == {"passed"}, run.output[-3000:]


#: Any signed-in user may create an organization of their own (a real, published project does this):
#: a table that holds no tenant rows, an INSERT policy WITH CHECK (true).
OPEN_SIGNUP_TABLE = """
create table public.workspaces (id uuid primary key default gen_random_uuid(), name text not null);
alter table public.workspaces enable row level security;
grant insert on public.workspaces to authenticated;
create policy "Anyone signed in can create a workspace" on public.workspaces for insert to authenticated
  with check (true);
"""


@pytest.mark.fault(scenario="INSERT policy WITH CHECK (true) on a table that holds no tenant rows (any user creates "
                            "their own workspace)",
                   expect="rls.rls_policy_always_true_write fails P2 (weakened defence), not P0; 0 P0")
def test_insert_anyone_on_a_table_without_tenant_rows_is_not_p0(product: Product,
                                                                faulty_demo: Callable[[str], str]) -> None:
    run = run_rls(product, faulty_demo(OPEN_SIGNUP_TABLE), "-k", "lint")
    result = run.result("rls.rls_policy_always_true_write")
    assert result["outcome"] == "failed" and result["severity"] == "P2", run.output[-3000:]
    assert "public.workspaces" in run.message("rls.rls_policy_always_true_write")
    assert "holds no tenant rows" in run.message("rls.rls_policy_always_true_write")
    assert not [r for r in run.results if r["outcome"] == "failed" and r["severity"] == "P0"], run.output[-3000:]
