"""Which contract applies, and a contract that cannot be used: one setup cause, never a P0, other checks run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from databases import clone_database, clones, drop_database, with_db
from test_rls_membership import membership_server  # noqa: F401 (a fixture)

from conftest import REPO, Product, ProductRun, url_target
from dbrunbook.targets.embedded import EmbeddedInfo

DEMO_CONTRACT = (REPO / "rls_contracts" / "contracts.toml").read_text()
WRITABLE = url_target("read_only = false")


def inconclusive(result: dict[str, object]) -> bool:
    """A result that reports a cause, not a verdict (before and after the report hooks classify it)."""
    return result["outcome"] in ("inconclusive", "skipped") or "Inconclusive" in str(result.get("message") or "")


def p0_verdicts(run: ProductRun) -> list[str]:
    """P0 failures that are verdicts about the database (not causes)."""
    return [r["nodeid"] for r in run.results
            if r["outcome"] in ("failed", "error") and r["severity"] == "P0" and not inconclusive(r)]


def rls_causes(run: ProductRun) -> set[str]:
    """Distinct causes of the RLS results that are not verdicts (the report's cause record, else the message)."""
    out = set()
    for r in run.results:
        if r["check_id"].startswith("rls.") and inconclusive(r) and r["outcome"] != "passed":
            cause = r.get("cause")
            if isinstance(cause, dict):
                out.add(str(cause.get("message")))
                continue
            msg = str(r.get("message") or "")
            line = next((x for x in msg.splitlines() if "Inconclusive:" in x), msg.splitlines()[0] if msg else "")
            out.add(line.split("Inconclusive:", 1)[-1].strip())
    return out


def contract_with(tmp_path: Path, text: str) -> str:
    path = tmp_path / "contracts.toml"
    path.write_text(text)
    return f"--contracts={path}"


@pytest.fixture
def demo_clone(supabase_server: EmbeddedInfo) -> Iterator[Callable[[str], str]]:
    yield from clones(supabase_server.admin_dsn, supabase_server.dsn)


@pytest.mark.fault(scenario="a user's Supabase database without a contract (not the demo)",
                   expect="one 'no contract' setup cause naming `dbrunbook contract init`; lints run; 0 P0")
def test_a_users_database_without_contract_is_not_judged_by_the_demo_contract(
        product: Product, membership_server: EmbeddedInfo) -> None:  # noqa: F811
    run = product.run("-m", "rls or triage", "--target=t", targets_toml=WRITABLE,
                      env={"T_DB_URL": membership_server.dsn}, timeout=240)
    assert not p0_verdicts(run), p0_verdicts(run)
    assert "core.companies" not in run.output  # a demo table: never reported missing on a user's database
    causes = rls_causes(run)
    assert len(causes) == 1 and "no contract" in next(iter(causes)), causes
    assert "dbrunbook contract init" in run.output
    # structural lints and the rest of triage still run
    assert run.outcome("rls.rls_disabled_in_exposed_schema") == "passed"
    assert run.outcome("triage.db_reachable") == "passed"
    assert run.returncode != 0  # behavioural isolation was selected and not checked: never green


def test_the_demo_contract_still_applies_to_the_embedded_demo(product: Product) -> None:
    run = product.run("rls_contracts/test_matrix.py", "-m", "triage", "--target=embedded", "-k", "customers",
                      timeout=240)
    assert run.returncode == 0, run.output[-3000:]
    assert [r for r in run.results if r["check_id"] == "rls.read_isolation" and r["outcome"] == "passed"]


@pytest.mark.fault(scenario="contract with a misspelled key and an unknown identity",
                   expect="setup cause naming the file, the key and its did-you-mean; other checks run; 0 P0")
def test_misspelled_keys_and_identities_are_setup_errors(product: Product, supabase_server: EmbeddedInfo,
                                                        tmp_path: Path) -> None:
    bad = DEMO_CONTRACT.replace('tenant_column = "company_id"', 'tenant_colum = "company_id"', 1)
    run = product.run("-m", "triage", "--target=t", contract_with(tmp_path, bad), targets_toml=url_target(),
                      env={"T_DB_URL": supabase_server.dsn}, timeout=240)
    assert run.outcome("triage.db_reachable") == "passed"  # collection was not stopped
    assert "locks.blocking_chains" in {r["check_id"] for r in run.results}
    assert not p0_verdicts(run), p0_verdicts(run)
    causes = rls_causes(run)
    assert len(causes) == 1, causes
    assert "'tenant_colum' (did you mean 'tenant_column'?)" in run.output and str(tmp_path) in run.output
    assert run.returncode != 0

    bad = DEMO_CONTRACT.replace("expect.acme_agent = { update", "expect.acme_agnet = { update", 1)
    run = product.run("-m", "rls", "--target=t", "-k", "companies or in_the_contract", contract_with(tmp_path, bad),
                      targets_toml=url_target(), env={"T_DB_URL": supabase_server.dsn}, timeout=240)
    assert "no identity 'acme_agnet' (did you mean 'acme_agent'?)" in run.output  # the file, before the database
    bad = DEMO_CONTRACT.replace('"graphql_public", "core"]', '"graphql_public", "core", "privat"]', 1)
    run = product.run("-m", "rls", "--target=t", "-k", "companies or in_the_contract", contract_with(tmp_path, bad),
                      targets_toml=url_target(), env={"T_DB_URL": supabase_server.dsn}, timeout=240)
    assert "exposed schema 'privat' is not in the database" in run.output, run.output[-3000:]
    assert not p0_verdicts(run), p0_verdicts(run)


@pytest.mark.fault(scenario="contract table without the contract's tenant column",
                   expect="one setup cause naming table and column (was 8 P0 UndefinedColumn); 0 P0")
def test_a_table_without_the_tenant_column_is_one_setup_cause(product: Product, supabase_server: EmbeddedInfo,
                                                              tmp_path: Path) -> None:
    bad = DEMO_CONTRACT.replace('[tables."public.contacts"]\n',
                                '[tables."public.contacts"]\ntenant_column = "tenant_id"\n')
    run = product.run("-m", "rls", "--target=t", "-k", "contacts", contract_with(tmp_path, bad),
                      targets_toml=WRITABLE, env={"T_DB_URL": supabase_server.dsn}, timeout=240)
    assert "UndefinedColumn" not in run.output
    assert not p0_verdicts(run), p0_verdicts(run)
    assert "public.contacts has no column 'tenant_id' (tenant_column)" in run.output, run.output[-3000:]
    assert len(rls_causes(run)) == 1, rls_causes(run)


@pytest.mark.fault(scenario="contract oracle with an SQL error, and a contract seed that errors",
                   expect="setup cause naming the table/seed and the server's error; no ERROR in the server log")
def test_oracle_that_does_not_plan_and_seed_that_fails(product: Product, demo_clone: Callable[[str], str],
                                                       supabase_server: EmbeddedInfo, tmp_path: Path) -> None:
    dsn = demo_clone()
    log = Path(supabase_server.datadir).parent / "server.log"
    start = log.stat().st_size
    bad = DEMO_CONTRACT.replace('[tables."core.profiles"]\n',
                                '[tables."core.profiles"]\noracle = "t.company_idd::text = :tenant"\n', 1)
    run = product.run("-m", "rls", "--target=t", "-k", "profiles", contract_with(tmp_path, bad),
                      targets_toml=WRITABLE, env={"T_DB_URL": dsn}, timeout=240)
    assert "oracle of core.profiles does not plan: column t.company_idd does not exist (SQLSTATE 42703)" \
        in run.output, run.output[-3000:]
    assert not p0_verdicts(run), p0_verdicts(run)

    seed = tmp_path / "seed.sql"
    seed.write_text("insert into public.customers (id) values ('not-a-uuid');\n")
    bad = DEMO_CONTRACT.replace("[contract]\n", '[contract]\nseed_sql = "seed.sql"\n', 1)
    run = product.run("-m", "rls", "--target=t", "-k", "customers", contract_with(tmp_path, bad),
                      targets_toml=WRITABLE, env={"T_DB_URL": dsn}, timeout=240)
    assert "seed_sql fails: invalid input syntax for type uuid" in run.output, run.output[-3000:]
    assert not p0_verdicts(run), p0_verdicts(run)
    assert len(rls_causes(run)) == 1, rls_causes(run)
    new = log.read_bytes()[start:].decode(errors="replace")
    assert "company_idd" not in new and "not-a-uuid" not in new, new[-2000:]  # errors caught as data, not logged


@pytest.mark.fault(scenario="anon granted SELECT on one tenant table that the contract waives",
                   expect="rls.anon_privileges passes for the waived table, fails P0 for an unwaived one")
def test_anon_privileges_can_be_waived_per_table(product: Product, demo_clone: Callable[[str], str],
                                                 tmp_path: Path) -> None:
    dsn = demo_clone("grant select on public.customers to anon; grant select on public.contacts to anon")
    waiver = ('\n[[waivers]]\ncheck = "rls.anon_privileges"\ntable = "public.customers"\n'
              'reason = "public price list"\nexpires = 2099-01-01\n')
    run = product.run("rls_contracts/test_structure.py", "--target=t", "-k", "anon",
                      contract_with(tmp_path, DEMO_CONTRACT + waiver), targets_toml=url_target(),
                      env={"T_DB_URL": dsn}, timeout=240)
    assert run.outcome("rls.anon_privileges") == "failed"
    message = run.message("rls.anon_privileges")
    assert "anon may SELECT on public.contacts" in message and "public.customers" not in message


def finding_severities(run: ProductRun, check_id: str, obj: str) -> set[str]:
    """Severities of the findings of ``check_id`` that name ``obj``."""
    return {f["severity"] for r in run.results if r["check_id"] == check_id
            for f in r.get("findings") or [] if obj in f"{f.get('title')} {f.get('where')}"}


@pytest.mark.fault(scenario="tenant policy reads company_id from user_metadata (user-editable)",
                   expect="rls.tenant_predicate fails P0 naming user_metadata (the claim name alone used to pass)")
def test_tenant_predicate_resolves_where_the_claim_comes_from(product: Product, demo_clone: Callable[[str], str],
                                                              tmp_path: Path) -> None:
    dsn = demo_clone('alter policy "Tenant members can view customers" on public.customers using '
                     "(company_id = ((select auth.jwt()) -> 'user_metadata' ->> 'company_id')::uuid)")
    run = product.run("rls_contracts/test_structure.py", "--target=t", "-k", "tenant_claim",
                      f"--contracts={REPO / 'rls_contracts' / 'contracts.toml'}", targets_toml=url_target(),
                      env={"T_DB_URL": dsn}, timeout=240)
    assert run.outcome("rls.tenant_predicate") == "failed", run.output[-3000:]
    message = run.message("rls.tenant_predicate")
    assert "'Tenant members can view customers' (SELECT) on public.customers reads user_metadata" in message
    assert finding_severities(run, "rls.tenant_predicate", "public.customers") == {"P0"}
    # the demo's own policies (the claim at the top level, or core.current_company_id()) pass
    assert message.count("reads user_metadata") == 1 and "neither reads" not in message


@pytest.mark.fault(scenario="table without RLS in an exposed schema the API roles have no USAGE on",
                   expect="not reachable: rls_disabled_in_exposed_schema passes; with USAGE granted it fails P0")
def test_reachability_follows_schema_usage(product: Product, demo_clone: Callable[[str], str],
                                           tmp_path: Path) -> None:
    setup = ("create schema hidden; create table hidden.secrets (id int primary key, company_id uuid);"
             "grant select on hidden.secrets to anon, authenticated;")
    contract = contract_with(tmp_path, DEMO_CONTRACT.replace('exposed_schemas = ["public", "graphql_public", "core"]',
                                                             'exposed_schemas = ["public", "graphql_public", "core", '
                                                             '"hidden"]', 1))
    args = ("checks/test_rls_lints.py", "--target=t", "-k", "rls_disabled", contract)
    run = product.run(*args, targets_toml=url_target(), env={"T_DB_URL": demo_clone(setup)}, timeout=240)
    assert run.outcome("rls.rls_disabled_in_exposed_schema") == "passed", run.output[-3000:]
    run = product.run(*args, targets_toml=url_target(),
                      env={"T_DB_URL": demo_clone(setup + "grant usage on schema hidden to anon;")}, timeout=240)
    assert run.outcome("rls.rls_disabled_in_exposed_schema") == "failed"
    assert finding_severities(run, "rls.rls_disabled_in_exposed_schema", "hidden.secrets") == {"P0"}


@pytest.mark.fault(scenario="new exposed table without RLS carrying org_id, not in a membership contract",
                   expect="P0 in rls.coverage and in rls.rls_disabled_in_exposed_schema alike (coverage said P2)")
def test_one_severity_for_one_exposure(product: Product, membership_server: EmbeddedInfo,  # noqa: F811
                                       tmp_path: Path) -> None:
    name = clone_database(membership_server.admin_dsn, "postgres")
    try:
        with psycopg.connect(with_db(membership_server.admin_dsn, name), autocommit=True) as conn:
            conn.execute("create table public.notes (id int primary key, org_id uuid, body text);"
                         "grant select, insert on public.notes to authenticated")
        run = product.run("rls_contracts/test_structure.py", "checks/test_rls_lints.py", "--target=t", "-k",
                          "in_the_contract or rls_disabled",
                          f"--contracts={REPO / 'rls_contracts' / 'membership.toml'}",
                          targets_toml=url_target(), env={"T_DB_URL": with_db(membership_server.dsn, name)},
                          timeout=240)
    finally:
        drop_database(membership_server.admin_dsn, name)
    assert finding_severities(run, "rls.coverage", "public.notes") == {"P0"}, run.output[-3000:]
    assert finding_severities(run, "rls.rls_disabled_in_exposed_schema", "public.notes") == {"P0"}


@pytest.mark.fault(scenario="a policy reads a column named user_metadata_visible (no claim), next to one that "
                            "reads user_metadata.company_id",
                   expect="rls_policy_reads_user_metadata fails P0 for the claim read only (the name alone used to)")
def test_user_metadata_lint_reads_meaning_not_names(product: Product, demo_clone: Callable[[str], str]) -> None:
    dsn = demo_clone("alter table public.documents add column user_metadata_visible boolean not null default true;"
                     'alter policy "Tenant members can view documents" on public.documents using '
                     "(user_metadata_visible and company_id = (select core.current_company_id()));"
                     + 'alter policy "Tenant members can view customers" on public.customers using '
                     "(company_id = ((select auth.jwt()) -> 'user_metadata' ->> 'company_id')::uuid)")
    run = product.run("checks/test_rls_lints.py", "--target=t", "-k", "user_metadata",
                      f"--contracts={REPO / 'rls_contracts' / 'contracts.toml'}", targets_toml=url_target(),
                      env={"T_DB_URL": dsn}, timeout=240)
    message = run.message("rls.rls_policy_reads_user_metadata")
    assert "public.customers" in message and "public.documents" not in message, run.output[-3000:]
