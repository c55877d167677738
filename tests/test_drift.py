"""Drift checks: every kind of drift injected into a real database is reported, named precisely."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from test_drift_support import cloned_database, copy_project

from conftest import REPO, Product, ProductRun, url_target
from dbrunbook.catalog import KINDS
from dbrunbook.resources import demo_workdir
from dbrunbook.targets.embedded import EmbeddedInfo, EmbeddedServer

MEMBERSHIP = REPO / "examples" / "membership"
DRIFT = ("checks/test_drift.py",)


def _toml(workdir: Path) -> str:
    return url_target(f'workdir = "{workdir}"\n')


def drifted(run: ProductRun) -> dict[str, set[tuple[str, str]]]:
    """kind -> {(change, object)} of every failed drift node."""
    out: dict[str, set[tuple[str, str]]] = {}
    for r in run.results:
        if r["check_id"].startswith("drift.") and r["outcome"] == "failed" and r["check_id"] != "drift.baseline":
            out[r["check_id"].removeprefix("drift.")] = {
                (f["metadata"]["change"], f["metadata"]["object"]) for f in r["findings"]}
    return out


def drift_report(run: ProductRun) -> dict[str, object]:
    [path] = list(run.reports_dir.glob("*-drift.json"))
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def membership_server() -> Iterator[EmbeddedInfo]:
    """Its own cluster: role settings are cluster-wide, so they are not injected into the shared one."""
    server = EmbeddedServer(MEMBERSHIP)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.mark.fault(scenario="healthy demo vs its migrations", expect="pass: every drift kind, snapshot written")
def test_clean_demo_reports_no_drift_and_writes_the_reports(product: Product, supabase_server: EmbeddedInfo,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "snap-{target}.json"
    run = product.run(*DRIFT, "--target=t", f"--snapshot-out={out}", targets_toml=_toml(demo_workdir()),
                      env={"T_DB_URL": supabase_server.dsn})
    assert run.returncode == 0, run.output
    assert {r["check_id"] for r in run.results} == {"drift.baseline", *(f"drift.{k}" for k in KINDS)}
    assert all(r["outcome"] == "passed" for r in run.results), run.output
    report = drift_report(run)
    assert report["drift"] is False and report["targets"][0]["status"] == "clean"  # type: ignore[index]
    snapshot = json.loads((tmp_path / "snap-t.json").read_text())
    assert "public.customers" in snapshot["objects"]["tables"]
    assert supabase_server.password not in (tmp_path / "snap-t.json").read_text()


DEMO_FAULTS = (
    "create schema reporting authorization postgres",
    "create extension if not exists pg_trgm schema extensions",
    "alter table core.companies force row level security",
    "alter table public.customers disable row level security",
    "alter table public.capi_events add column retry_at timestamptz",
    "alter table public.capi_events alter column attempts set default 1",
    "alter table public.capi_events drop constraint capi_events_status_check",
    "create index customers_created_at_idx on public.customers (created_at)",
    'alter policy "Tenant members can view contacts" on public.contacts using (true)',
    "create or replace function core.current_company_role() returns text language sql stable "
    "set search_path = '' as $$ select 'owner'::text $$",
    "alter table public.documents disable trigger audit_documents",
    "alter view public.conversation_overview set (security_invoker = false)",
    "alter sequence public.messages_id_seq cache 10",
    "create type public.mood as enum ('happy', 'sad')",
    "alter publication supabase_realtime add table public.contacts",
    "grant update (name) on public.customers to anon",
    "grant execute on function private.write_audit_log() to anon",
    "alter default privileges for role postgres in schema core grant select on tables to anon",
    "alter table core.audit_log owner to service_role",
    # per database: the shared server's cluster-wide settings stay untouched
    "alter role authenticator in database drift_demo set statement_timeout = '1min'",
)

DEMO_EXPECTED = {
    "schemas": {("unexpected", "reporting")},
    "extensions": {("unexpected", "pg_trgm")},
    "tables": {("changed", "core.companies"), ("changed", "public.customers")},
    "columns": {("changed", "public.capi_events.attempts"), ("unexpected", "public.capi_events.retry_at")},
    "constraints": {("missing", "public.capi_events.capi_events_status_check")},
    "indexes": {("unexpected", "public.customers_created_at_idx")},
    "policies": {("changed", "public.contacts.Tenant members can view contacts")},
    "functions": {("changed", "core.current_company_role()")},
    "triggers": {("changed", "public.documents.audit_documents")},
    "views": {("changed", "public.conversation_overview")},
    "sequences": {("changed", "public.messages_id_seq")},
    "types": {("unexpected", "public.mood")},
    "publications": {("changed", "supabase_realtime")},
    "privileges": {
        ("unexpected", "column public.customers.name to anon"),
        ("unexpected", "function private.write_audit_log() to anon"),
        ("unexpected", "schema reporting to postgres"),
        # the owner change moves the owner's implicit grants from postgres to service_role
        ("missing", "sequence core.audit_log_id_seq to postgres"),
        ("unexpected", "sequence core.audit_log_id_seq to service_role"),
        ("missing", "table core.audit_log to postgres"),
        ("changed", "table core.audit_log to service_role"),
    },
    "default_privileges": {("unexpected", "for role postgres in core on tables to anon")},
    "ownership": {("unexpected", "schema reporting"), ("changed", "sequence core.audit_log_id_seq"),
                  ("changed", "table core.audit_log"), ("unexpected", "type public.mood")},
    "role_settings": {("unexpected", "role authenticator in this database: statement_timeout")},
}


@pytest.mark.fault(scenario="schema drift of every kind in the demo",
                   expect="fail drift.<kind> per object (RLS off/policy: P0)")
def test_every_kind_of_drift_in_the_demo_is_named(product: Product, supabase_server: EmbeddedInfo) -> None:
    with cloned_database(supabase_server, "drift_demo") as clone:
        clone.admin(*DEMO_FAULTS)
        run = product.run(*DRIFT, "--target=t", targets_toml=_toml(demo_workdir()), env={"T_DB_URL": clone.dsn})
    assert run.returncode == 1, run.output
    assert drifted(run) == DEMO_EXPECTED
    assert run.outcome("drift.baseline") == "passed" and run.outcome("drift.cron_jobs") == "passed"
    tables = run.message("drift.tables")
    assert "table public.customers: rls_enabled differs between supabase/migrations and t" in tables
    assert "rls_enabled: expected true" in tables and "actual   false" in tables
    # drift that opens tenant data is P0, as in the RLS checks (the kind's own severity is P2)
    severities = {f["metadata"]["object"]: f["severity"] for r in run.results if r["check_id"].startswith("drift.")
                  for f in r["findings"]}
    assert severities["public.customers"] == "P0"  # RLS disabled on a table anon/authenticated can reach
    assert severities["column public.customers.name to anon"] == "P0"
    assert severities["core.current_company_role()"] == "P0"  # a helper the policies call
    assert severities["core.companies"] == "P2"  # FORCE RLS: no exposure
    assert severities["function private.write_audit_log() to anon"] == "P2"
    assert "[P0] drift.tables" in tables
    policy = run.message("drift.policies")
    assert "[P0] drift.policies" in policy and "using_expr: expected" in policy and "actual   true" in policy
    function = run.message("drift.functions")
    assert "+ select 'owner'::text" in function and "SECURITY DEFINER" in function
    report = drift_report(run)
    counts = report["targets"][0]["counts"]  # type: ignore[index]
    assert counts == {k: len(v) for k, v in DEMO_EXPECTED.items()}


MEMBERSHIP_FAULTS = (
    # the helper every policy calls now says yes to everyone; no policy changes
    "create or replace function private.is_org_member(org uuid) returns boolean language sql stable "
    "security definer set search_path = '' as $$ select true $$",
    'drop policy "Project secrets require MFA" on public.project_secrets',
    'create policy "Project secrets require MFA" on public.project_secrets as permissive for all to authenticated '
    "using ((select auth.jwt() ->> 'aal') = 'aal2') with check ((select auth.jwt() ->> 'aal') = 'aal2')",
    "drop trigger on_auth_user_created on auth.users",
    "update cron.job set schedule = '0 4 * * *' where jobname = 'purge-old-events'",
    "alter role authenticator set statement_timeout = '1min'",
)


#: What MEMBERSHIP_FAULTS plant, role settings apart (cluster-wide or per database, per test).
MEMBERSHIP_EXPECTED = {
    "functions": {("changed", "private.is_org_member(org uuid)")},
    "policies": {("changed", "public.project_secrets.Project secrets require MFA")},
    "triggers": {("missing", "auth.users.on_auth_user_created")},
    "cron_jobs": {("changed", "purge-old-events")},
}


@pytest.mark.fault(scenario="tampered helper, restrictive policy, auth trigger, cron, role setting",
                   expect="fail drift.functions/policies/triggers/cron_jobs/role_settings")
def test_membership_drift_tampered_helper_restrictive_policy_auth_trigger_cron_role(
        product: Product, membership_server: EmbeddedInfo) -> None:
    env = {"T_DB_URL": membership_server.dsn}
    clean = product.run(*DRIFT, "--target=t", targets_toml=_toml(MEMBERSHIP), env=env)
    assert clean.returncode == 0, clean.output
    with psycopg.connect(membership_server.admin_dsn, autocommit=True) as conn:
        for statement in MEMBERSHIP_FAULTS:
            conn.execute(statement.encode())
    run = product.run(*DRIFT, "--target=t", targets_toml=_toml(MEMBERSHIP), env=env)
    assert run.returncode == 1, run.output
    assert drifted(run) == {**MEMBERSHIP_EXPECTED,
                            "role_settings": {("changed", "role authenticator: statement_timeout")}}
    assert "body_fingerprint differs" in run.message("drift.functions")
    assert "[P0] drift.functions" in run.message("drift.functions")  # the SECURITY DEFINER tenancy helper
    assert "+ select true" in run.message("drift.functions")
    assert "mode: expected RESTRICTIVE" in run.message("drift.policies")
    assert "actual   PERMISSIVE" in run.message("drift.policies")
    role = run.message("drift.role_settings")
    assert "value: expected 8s" in role and "actual   1min" in role and "reload config" in role
    assert "schedule: expected 0 4 * * *" not in run.message("drift.cron_jobs")
    assert "schedule: expected 0 3 * * *" in run.message("drift.cron_jobs")


@pytest.mark.fault(scenario="migration that cannot apply to the shadow",
                   expect="fail drift.baseline naming file + statement; drift kinds skip")
def test_shadow_that_cannot_apply_names_file_and_statement_and_history_still_runs(
        product: Product, supabase_server: EmbeddedInfo, tmp_path: Path) -> None:
    folder = copy_project(demo_workdir(), tmp_path / "demo")
    (folder / "20250501000000_broken.sql").write_text(
        "create table public.ok_table (id int);\nalter table public.no_such_table add column x int;\n")
    run = product.run(*DRIFT, "checks/test_migrations.py", "--target=t", targets_toml=_toml(tmp_path / "demo"),
                      env={"T_DB_URL": supabase_server.dsn})
    assert run.returncode == 1, run.output
    message = run.message("drift.baseline")
    assert "20250501000000_broken.sql, statement 2" in message
    assert 'relation "public.no_such_table" does not exist' in message
    assert all(run.outcome(f"drift.{k}") == "skipped" for k in KINDS)
    assert "migration did not land on t: 20250501000000_broken.sql" in run.message("migrations.no_pending")
    failed = drift_report(run)["targets"][0]["baseline"]["migration_failed"]  # type: ignore[index]
    assert failed["statement_no"] == 2 and failed["file"].endswith("20250501000000_broken.sql")


@pytest.mark.fault(scenario="two migration files with one version (drift's shadow)",
                   expect="inconclusive setup: drift.baseline names the second file and the fix")
def test_a_version_used_twice_stops_the_shadow_with_one_clear_line(
        product: Product, supabase_server: EmbeddedInfo, tmp_path: Path) -> None:
    folder = copy_project(demo_workdir(), tmp_path / "demo")
    (folder / "20250321160000_zz_followup.sql").write_text("alter table public.capi_events add column x int;\n")
    run = product.run(*DRIFT, "--target=t", targets_toml=_toml(tmp_path / "demo"),
                      env={"T_DB_URL": supabase_server.dsn})
    assert run.returncode == 6, run.output
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output
    result = run.result("drift.baseline")
    assert result["outcome"] == "inconclusive" and result["cause"]["kind"] == "setup", result
    assert result["cause"]["message"].startswith(
        f"{folder / '20250321160000_zz_followup.sql'}: version 20250321160000 is also used by "
        "20250321160000_facebook_capi_events.sql")
    assert "give this file its own timestamp" in result["cause"]["fix"]


@pytest.mark.fault(scenario="a migration holding ACCESS EXCLUSIVE on a tenant table during drift",
                   expect="inconclusive locked: drift.baseline names the blocker's pid; drift kinds skip")
def test_drift_skips_a_locked_catalog_naming_the_blocker(product: Product, supabase_server: EmbeddedInfo) -> None:
    with cloned_database(supabase_server, "drift_locked") as clone, psycopg.connect(clone.dsn) as migration:
        migration.execute("alter table public.customers add column locked_by_migration int")  # not committed
        blocker = migration.info.backend_pid
        run = product.run(*DRIFT, "checks/test_migrations.py", "--target=t", targets_toml=_toml(demo_workdir()),
                          env={"T_DB_URL": clone.dsn})
        migration.rollback()
    assert run.returncode == 6, run.output
    result = run.result("drift.baseline")
    assert result["outcome"] == "inconclusive" and result["cause"]["kind"] == "locked", result
    assert "public.customers" in result["cause"]["message"] and f"pid {blocker}" in result["cause"]["message"]
    assert "cannot read" not in run.output and "connect as postgres" not in run.output
    assert all(run.outcome(f"drift.{k}") == "skipped" for k in KINDS)
    assert run.outcome("migrations.no_pending") == "passed"  # the history table is not locked


@pytest.mark.fault(scenario="a new table without RLS that anon can read, created by hand",
                   expect="fail P0: drift.tables (a tenant-exposure finding in drift, as in the RLS checks)")
def test_a_new_exposed_table_without_rls_is_p0(product: Product, supabase_server: EmbeddedInfo) -> None:
    with cloned_database(supabase_server, "drift_leaky") as clone:
        clone.as_postgres("create table public.leaky_exports (id bigint primary key, customer_email text)",
                          "grant select on public.leaky_exports to anon, authenticated")
        run = product.run(*DRIFT, "--target=t", targets_toml=_toml(demo_workdir()), env={"T_DB_URL": clone.dsn})
    assert run.returncode == 1, run.output
    tables = run.result("drift.tables")
    assert [(f["metadata"]["change"], f["metadata"]["object"], f["severity"]) for f in tables["findings"]] == [
        ("unexpected", "public.leaky_exports", "P0")]
    assert tables["severity"] == "P0"
    anon = [f for f in run.result("drift.privileges")["findings"] if f["metadata"]["object"].endswith(" to anon")]
    assert anon and all(f["severity"] == "P0" for f in anon)


TWO_TARGETS = """
[targets.t]
kind = "url"
db_url_env = "T_DB_URL"

[targets.s]
kind = "url"
db_url_env = "S_DB_URL"
"""


@pytest.mark.fault(scenario="RLS disabled vs another target / a saved snapshot",
                   expect="fail drift.tables naming the baseline")
def test_compare_target_and_saved_snapshot(product: Product, supabase_server: EmbeddedInfo,
                                           tmp_path: Path) -> None:
    snapshot = tmp_path / "staging.json"
    saved = product.run(*DRIFT, "--target=s", f"--snapshot-out={snapshot}",
                        targets_toml=TWO_TARGETS, env={"S_DB_URL": supabase_server.dsn})
    # No migrations folder for s: one setup cause (exit 6), never a drift verdict; the snapshot is written.
    assert saved.returncode == 6, saved.output
    assert saved.outcome("drift.baseline") == "inconclusive"
    assert "no migrations folder" in saved.message("drift.baseline")
    assert snapshot.is_file()
    with cloned_database(supabase_server, "drift_cmp") as clone:
        clone.as_postgres("alter table public.contacts disable row level security")
        env = {"T_DB_URL": clone.dsn, "S_DB_URL": supabase_server.dsn}
        vs_target = product.run(*DRIFT, "--target=t", "--compare-target=s", targets_toml=TWO_TARGETS, env=env)
        vs_snapshot = product.run(*DRIFT, "--target=t", f"--compare-snapshot={snapshot}", targets_toml=TWO_TARGETS,
                                  env=env)
    for run in (vs_target, vs_snapshot):
        assert run.returncode == 1, run.output
        assert drifted(run) == {"tables": {("changed", "public.contacts")}}
    assert "between target s and t" in vs_target.message("drift.tables")
    assert f"between snapshot {snapshot} and t" in vs_snapshot.message("drift.tables")


@pytest.mark.fault(scenario="same migrations on another PostgreSQL major", expect="pass: no drift, version note")
@pytest.mark.slow
@pytest.mark.parametrize("major", [16, 18])
def test_clean_apply_on_another_major_reports_no_drift(product: Product, supabase_server: EmbeddedInfo,
                                                       major: int) -> None:
    server = EmbeddedServer(demo_workdir(), pg_major=major)
    try:
        other = server.start()
        run = product.run(*DRIFT, "--target=t", "--compare-target=s", targets_toml=TWO_TARGETS,
                          env={"T_DB_URL": other.dsn, "S_DB_URL": supabase_server.dsn})
    finally:
        server.stop()
    assert run.returncode == 0, run.output
    notes = run.result("drift.baseline")["evidence"]["baseline"]["notes"]
    assert any(f"runs 15, t runs {major}" in n or f"runs PostgreSQL 15, t runs {major}" in n for n in notes), notes


FAKE_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlLW9mLWEta2V5"


@pytest.mark.fault(scenario="secret JWT in a function body",
                   expect="fail drift.functions; secret absent from every output")
def test_secrets_in_bodies_never_reach_reports_or_snapshots(product: Product, supabase_server: EmbeddedInfo,
                                                             tmp_path: Path) -> None:
    snapshot = tmp_path / "snap.json"
    with cloned_database(supabase_server, "drift_secret") as clone:
        clone.as_postgres("create function public.call_edge() returns text language sql as "
                          f"$$ select 'Bearer {FAKE_JWT}'::text $$")
        run = product.run(*DRIFT, "--target=t", f"--snapshot-out={snapshot}", targets_toml=_toml(demo_workdir()),
                          env={"T_DB_URL": clone.dsn})
    assert run.returncode == 1
    assert ("unexpected", "public.call_edge()") in drifted(run)["functions"]
    for path in [snapshot, *run.report_files().values(), *run.reports_dir.glob("*-drift.json")]:
        assert FAKE_JWT not in path.read_text(), path
    assert FAKE_JWT not in run.output


@pytest.mark.fault(scenario="target on PostgreSQL 18", expect="pass: shadow built on 18")
@pytest.mark.slow
def test_shadow_uses_the_targets_major_when_installed(product: Product) -> None:
    server = EmbeddedServer(demo_workdir(), pg_major=18)
    try:
        target = server.start()
        run = product.run(*DRIFT, "--target=t", targets_toml=_toml(demo_workdir()), env={"T_DB_URL": target.dsn})
    finally:
        server.stop()
    assert run.returncode == 0, run.output
    assert "shadow on PostgreSQL 18" in run.result("drift.baseline")["evidence"]["baseline"]["label"]
