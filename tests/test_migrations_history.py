"""History checks: each disagreement between supabase/migrations and the target is named precisely."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from test_drift_support import cloned_database, copy_project

from conftest import Product, url_target
from dbrunbook.resources import demo_workdir
from dbrunbook.targets.embedded import EmbeddedInfo

HISTORY = ("migrations.folder_hygiene", "migrations.history_table_present", "migrations.no_remote_only_versions",
           "migrations.no_pending", "migrations.applied_files_unchanged", "migrations.no_renamed_versions")


def _target(workdir: Path) -> str:
    return url_target(f'workdir = "{workdir}"\n')


@pytest.mark.fault(scenario="healthy migration history", expect="pass: every migrations check")
def test_clean_project_passes_every_history_check(product: Product, supabase_server: EmbeddedInfo,
                                                  tmp_path: Path) -> None:
    copy_project(demo_workdir(), tmp_path / "demo")
    run = product.run("-m", "migrations", "--target=t", targets_toml=_target(tmp_path / "demo"),
                      env={"T_DB_URL": supabase_server.dsn})
    assert run.returncode == 0, run.output
    assert {r["check_id"]: r["outcome"] for r in run.results} == dict.fromkeys(HISTORY, "passed")


@pytest.mark.fault(scenario="edited, renamed, missing, pending, duplicate, misnamed migrations",
                   expect="fail every migrations.* history check")
def test_every_history_fault_is_named(product: Product, supabase_server: EmbeddedInfo, tmp_path: Path) -> None:
    folder = copy_project(demo_workdir(), tmp_path / "demo")
    # edited after apply: statement 1 of the capi migration gets a new column
    capi = folder / "20250321160000_facebook_capi_events.sql"
    capi.write_text(capi.read_text().replace("  sent_at          timestamptz,",
                                             "  sent_at          timestamptz,\n  retry_at timestamptz,"))
    # renamed: same statements under a new timestamp
    (folder / "20250402083000_evolution_manager_instances.sql").rename(
        folder / "20250403000000_evolution_manager_instances.sql")
    # missing local: the audit-log file is gone
    (folder / "20250305110000_autentique_documents_and_audit_log.sql").unlink()
    # pending (after the last applied) and pending-before-last (--include-all)
    (folder / "20250601000000_add_tags.sql").write_text("alter table public.customers add column tags text[];\n")
    (folder / "20250301000000_backfill.sql").write_text("select 1;\n")
    # hygiene: a file the CLI skips, a duplicate version, a version that is not a timestamp
    (folder / "add_index.sql").write_text("create index on public.customers (name);\n")
    (folder / "20250601000000_dup.sql").write_text("select 2;\n")
    (folder / "42_short.sql").write_text("select 3;\n")
    run = product.run("-m", "migrations", "--target=t", targets_toml=_target(tmp_path / "demo"),
                      env={"T_DB_URL": supabase_server.dsn})
    assert run.returncode == 1
    outcomes = {r["check_id"]: r["outcome"] for r in run.results}
    assert outcomes == {**dict.fromkeys(HISTORY, "failed"), "migrations.history_table_present": "passed"}, outcomes

    edited = run.message("migrations.applied_files_unchanged")
    assert "20250321160000_facebook_capi_events.sql was edited after it was applied to t: statement(s) 1 differ" \
        in edited
    assert "+  retry_at timestamptz," in edited and "git log -p" in edited

    renamed = run.result("migrations.no_renamed_versions")["findings"]
    assert [f["title"] for f in renamed] == [
        "20250403000000_evolution_manager_instances.sql holds the statements applied to t as version "
        "20250402083000 (evolution_manager_instances): the file was renamed or re-timestamped"]

    missing = run.result("migrations.no_remote_only_versions")["findings"]
    assert [f["title"] for f in missing] == [
        "applied on t but no local file: 20250305110000_autentique_documents_and_audit_log.sql"]
    assert "supabase migration repair --status reverted 20250305110000" in missing[0]["remediation"]
    assert "Remote migration versions not found in local migrations directory." in missing[0]["detail"]

    pending = [f["title"] for f in run.result("migrations.no_pending")["findings"]]
    assert "migration did not land on t: 20250601000000_add_tags.sql" in pending
    assert "migration did not land on t: 20250601000000_dup.sql" in pending
    assert any("20250301000000_backfill.sql" in t and "older than the last applied one" in t for t in pending)
    assert not any("evolution" in t for t in pending), "a renamed file is not also pending"
    assert "--include-all" in run.message("migrations.no_pending")
    # a lost history row is recorded, not re-run (`db push --include-all` fails with 'already exists')
    assert "supabase migration repair --status applied 20250301000000" in run.message("migrations.no_pending")

    hygiene = run.message("migrations.folder_hygiene")
    assert 'Skipping migration add_index.sql... (file name must match pattern "<timestamp>_name.sql")' in hygiene
    assert "version 20250601000000 is used by 2 files" in hygiene
    assert "version 42 is not a 14-digit UTC timestamp" in hygiene


@pytest.mark.fault(scenario="no supabase_migrations history table",
                   expect="fail migrations.history_table_present P2; dependents skip")
def test_target_without_history_table_is_reported_not_a_crash(product: Product, supabase_server: EmbeddedInfo,
                                                              tmp_path: Path) -> None:
    with cloned_database(supabase_server, "hist_none") as clone:
        clone.admin("drop schema supabase_migrations cascade")
        run = product.run("-m", "migrations", "--target=t", targets_toml=_target(demo_workdir()),
                          env={"T_DB_URL": clone.dsn})
    assert run.returncode == 1, run.output
    assert run.outcome("migrations.history_table_present") == "failed"
    assert "the target has no migration history table" in run.message("migrations.history_table_present")
    assert run.outcome("migrations.folder_hygiene") == "passed"
    for check_id in HISTORY[2:]:
        assert run.outcome(check_id) == "skipped", check_id


#: A file with CRLF line ends and an ``atomic_*`` column, and the statements CLI 2.117.0 records for it
#: (checked with ``supabase migration repair --status applied``; see tests/test_sqlsplit.py).
CRLF_ATOMIC = (b"-- counters\r\ncreate table public.drift_counters (\r\n  atomic_id bigint primary key,\r\n"
               b"  is_atomic boolean not null default true\r\n);\r\n"
               b"alter table public.drift_counters enable row level security;\r\n")
CRLF_ATOMIC_RECORDED = ["-- counters\r\ncreate table public.drift_counters (\r\n  atomic_id bigint primary key,\r\n"
                        "  is_atomic boolean not null default true\r\n)",
                        "alter table public.drift_counters enable row level security"]


@pytest.mark.fault(scenario="applied file with CRLF line ends and an atomic_* column",
                   expect="pass: migrations.applied_files_unchanged (no false 'edited')")
def test_crlf_and_atomic_identifiers_compare_as_the_cli_recorded_them(
        product: Product, supabase_server: EmbeddedInfo, tmp_path: Path) -> None:
    folder = copy_project(demo_workdir(), tmp_path / "demo")
    (folder / "20250701000000_counters.sql").write_bytes(CRLF_ATOMIC)
    with cloned_database(supabase_server, "hist_crlf") as clone:
        clone.as_postgres(*CRLF_ATOMIC_RECORDED)
        with psycopg.connect(clone.dsn, autocommit=True) as conn:
            conn.execute("insert into supabase_migrations.schema_migrations(version, name, statements) "
                         "values ('20250701000000', 'counters', %s)", (CRLF_ATOMIC_RECORDED,))
        run = product.run("-m", "migrations", "--target=t", targets_toml=_target(tmp_path / "demo"),
                          env={"T_DB_URL": clone.dsn})
    assert run.returncode == 0, run.output
    assert run.outcome("migrations.applied_files_unchanged") == "passed"
    assert "20250701000000" in run.result("migrations.applied_files_unchanged")["evidence"]["compared"]


@pytest.mark.fault(scenario="history rows recorded without statements",
                   expect="inconclusive no_data: migrations.applied_files_unchanged (compared nothing)")
def test_history_without_statements_compared_nothing(product: Product, supabase_server: EmbeddedInfo,
                                                     tmp_path: Path) -> None:
    with cloned_database(supabase_server, "hist_nostmt") as clone:
        clone.admin("update supabase_migrations.schema_migrations set statements = null")
        run = product.run("-m", "migrations", "--target=t", targets_toml=_target(demo_workdir()),
                          env={"T_DB_URL": clone.dsn})
    assert run.returncode == 6, run.output
    result = run.result("migrations.applied_files_unchanged")
    assert result["outcome"] == "inconclusive" and result["cause"]["kind"] == "no_data", result
    assert "compared nothing" in result["cause"]["message"]
    assert "supabase migration repair --status applied 2025" in result["cause"]["fix"]
    assert run.outcome("migrations.no_pending") == "passed"


@pytest.mark.fault(scenario="an applied migration file that is not UTF-8",
                   expect="inconclusive setup: migrations.applied_files_unchanged names the file and iconv")
def test_a_migration_that_is_not_utf8_is_named_not_a_crash(product: Product, supabase_server: EmbeddedInfo,
                                                           tmp_path: Path) -> None:
    folder = copy_project(demo_workdir(), tmp_path / "demo")
    capi = folder / "20250321160000_facebook_capi_events.sql"
    capi.write_bytes(b"-- r\xe9sum\xe9 of the events\n" + capi.read_bytes())
    run = product.run("-m", "migrations", "--target=t", targets_toml=_target(tmp_path / "demo"),
                      env={"T_DB_URL": supabase_server.dsn})
    assert run.returncode == 6, run.output
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output
    result = run.result("migrations.applied_files_unchanged")
    assert result["outcome"] == "inconclusive" and result["cause"]["kind"] == "setup", result
    assert result["cause"]["message"] == f"{capi}: not UTF-8 (byte 0xe9 at line 1): `supabase db push` cannot " \
                                         "store it in the history table of a UTF-8 database"
    assert "iconv -f latin1 -t utf-8" in result["cause"]["fix"]
    for check_id in ("migrations.folder_hygiene", "migrations.no_pending", "migrations.no_remote_only_versions"):
        assert run.outcome(check_id) == "passed", check_id


@pytest.mark.fault(scenario="a second file with an applied migration's version",
                   expect="fail P3: migrations.folder_hygiene names it; no false 'edited'")
def test_a_duplicate_of_an_applied_version_is_not_an_edit(product: Product, supabase_server: EmbeddedInfo,
                                                          tmp_path: Path) -> None:
    folder = copy_project(demo_workdir(), tmp_path / "demo")
    (folder / "20250321160000_zz_followup.sql").write_text("alter table public.capi_events add column x int;\n")
    run = product.run("-m", "migrations", "--target=t", targets_toml=_target(tmp_path / "demo"),
                      env={"T_DB_URL": supabase_server.dsn})
    assert run.returncode == 1, run.output
    assert run.outcome("migrations.applied_files_unchanged") == "passed"
    assert "version 20250321160000 is used by 2 files" in run.message("migrations.folder_hygiene")


@pytest.mark.fault(scenario="history table locked ACCESS EXCLUSIVE (a `migration repair` in progress)",
                   expect="skip: history checks name the blocker's pid, no wait")
def test_a_locked_history_table_is_skipped_naming_the_blocker(product: Product, supabase_server: EmbeddedInfo,
                                                              tmp_path: Path) -> None:
    with cloned_database(supabase_server, "hist_locked") as clone, psycopg.connect(clone.admin_dsn) as repair:
        repair.execute("lock table supabase_migrations.schema_migrations in access exclusive mode")
        blocker = repair.info.backend_pid
        run = product.run("-m", "migrations", "--target=t", targets_toml=_target(demo_workdir()),
                          env={"T_DB_URL": clone.dsn})
        repair.rollback()
    assert run.returncode == 0, run.output
    for check_id in HISTORY[1:]:
        result = run.result(check_id)
        assert result["outcome"] == "skipped", result
        assert f"locked ACCESS EXCLUSIVE by pid {blocker}" in str(result.get("message") or result), result
    assert run.outcome("migrations.folder_hygiene") == "passed"
