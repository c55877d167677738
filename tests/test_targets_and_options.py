"""Targets, options and usage errors behave as a user expects (issue 2 "What a user gets")."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Product, url_target
from dbrunbook.targets.embedded import EmbeddedInfo

pytest_plugins = ["pytester"]
SELECT_1 = "checks/test_database.py::test_database_answers_select_1"


@pytest.mark.fault(scenario="--target names an unknown target", expect="usage error (exit 4) naming the fix")
def test_unknown_target_is_a_usage_error_naming_the_fix(product: Product) -> None:
    run = product.run("-m", "triage", "--target=prd", targets_toml="[targets.prod]\nkind = \"url\"\n")
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "unknown target 'prd'; expected one of: embedded, local, prod" in run.stderr
    assert "To fix this, either:" in run.stderr and "Traceback" not in run.output


@pytest.mark.fault(scenario="targets file is not valid TOML", expect="usage error (exit 4)")
def test_malformed_targets_file_is_a_usage_error(product: Product) -> None:
    run = product.run("-m", "triage", "--target=prod", targets_toml="[targets.prod\nkind = url\n")
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "is not valid TOML" in run.stderr and "Traceback" not in run.output


@pytest.mark.fault(scenario="password in the targets file", expect="usage error (exit 4), password never printed")
def test_password_in_targets_file_is_refused(product: Product) -> None:
    toml = '[targets.prod]\nkind = "url"\ndb_url = "postgresql://postgres:TopSecret99@db.example.test:5432/postgres"\n'
    run = product.run("-m", "triage", "--target=prod", targets_toml=toml)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "secrets never go in this file" in run.stderr
    assert "TopSecret99" not in run.output


@pytest.mark.fault(scenario="unknown key in the targets file", expect="usage error (exit 4) naming the right key")
def test_unknown_key_in_targets_file_is_a_usage_error(product: Product) -> None:
    run = product.run("-m", "triage", "--target=prod", targets_toml='[targets.prod]\nreadonly = true\n')
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "unknown key(s) 'readonly'" in run.stderr and "read_only" in run.stderr


def test_several_targets_parametrize_every_check(product: Product, supabase_server: EmbeddedInfo) -> None:
    toml = url_target() + '\n[targets.u]\nkind = "url"\ndb_url_env = "U_DB_URL"\n'
    run = product.run("-m", "triage", "--target=t", "--target=u", SELECT_1, targets_toml=toml,
                      env={"T_DB_URL": supabase_server.dsn, "U_DB_URL": supabase_server.dsn})
    assert run.returncode == 0, run.output
    nodeids = sorted(r["nodeid"] for r in run.results)
    assert nodeids == ["checks/test_database.py::test_database_answers_select_1[t]",
                       "checks/test_database.py::test_database_answers_select_1[u]"]
    assert len(run.report_files()) == 3 and run.report_files()["json"].name.startswith("t+u-")


def test_xdist_workers_share_one_embedded_server_and_one_set_of_reports(product: Product) -> None:
    run = product.run("-m", "triage", "--target=embedded", "-n", "2", "checks/test_database.py")
    assert run.returncode == 0, run.output
    assert {r["outcome"] for r in run.results} == {"passed"} and len(run.results) == 2
    assert sorted(run.report_files()) == ["html", "json", "xml"]


def test_junit_carries_check_id_severity_and_runbook_step(product: Product) -> None:
    run = product.run("-m", "triage", "--target=embedded", SELECT_1)
    case = run.junit().find(".//testcase[@name='test_database_answers_select_1[embedded]']")
    assert case is not None
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["check_id"] == "triage.db_reachable" and props["severity"] == "P1"
    assert props["runbook"].startswith("Triage 1") and props["target"] == "embedded"
    html = run.report_files()["html"].read_text()
    assert "triage.db_reachable" in html and "dbrunbook target embedded" in html


def test_no_reports_writes_nothing(product: Product) -> None:
    run = product.run("-m", "triage", "--target=embedded", SELECT_1, "--no-reports")
    assert run.returncode == 0 and run.report_files() == {}


SCOPED = """
import pytest

@pytest.mark.writes
@pytest.mark.check("demo.writes", severity="P3", runbook="none")
def test_writes(target):
    assert False, "must not run on a read-only target"

@pytest.mark.local_only
def test_local(target):
    assert False, "must not run outside the local stack"
"""


def test_scope_markers_skip_with_a_reason(pytester: pytest.Pytester, supabase_server: EmbeddedInfo,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makefile(".toml", dbrunbook=url_target())
    pytester.makepyfile(test_scoped=SCOPED)
    monkeypatch.setenv("T_DB_URL", supabase_server.dsn)
    result = pytester.runpytest_subprocess("--target=t", "-rs", "--no-reports", "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*target t is read-only: this check writes*",
                                 "*target t is not the local Supabase stack*"])


def test_unknown_marker_is_rejected(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = --strict-markers\n")
    pytester.makepyfile(test_bad="import pytest\n@pytest.mark.triag\ndef test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--no-reports", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*'triag' not found in `markers` configuration option*"])


@pytest.mark.fault(scenario="database down 15+ min after --incident-start", expect="P1 + call the infra/DBA owner")
def test_incident_start_past_15_minutes_says_to_call_the_dba(product: Product, stopped_server_dsn: str) -> None:
    run = product.run("-m", "triage", "--target=t", SELECT_1, "--incident-start", "2026-01-01T00:00Z",
                      targets_toml=url_target(), env={"T_DB_URL": stopped_server_dsn})
    assert run.returncode == 1
    assert "P1 - outage" in run.stdout
    assert "without recovery -> call the infra/DBA owner" in run.stdout


@pytest.mark.fault(scenario="escalation contact set in the targets file", expect="summary names that contact")
def test_escalation_contacts_come_from_the_targets_file(product: Product, stopped_server_dsn: str) -> None:
    toml = url_target() + '\n[escalation]\ninfra_dba = "@dba-oncall"\n'
    run = product.run("-m", "triage", "--target=t", SELECT_1, "--incident-start", "2026-01-01T00:00Z",
                      targets_toml=toml, env={"T_DB_URL": stopped_server_dsn})
    assert "without recovery -> call @dba-oncall" in run.stdout, run.output


def test_fixture_paths_exist() -> None:
    from dbrunbook.resources import demo_workdir, fixtures_dir

    assert (fixtures_dir() / "bootstrap").is_dir()
    assert (demo_workdir() / "supabase" / "migrations").is_dir()
    assert Path(demo_workdir() / "supabase" / "seed.sql").is_file()


@pytest.mark.fault(scenario="container target, no Docker engine", expect="skip at once with the reason")
def test_container_target_without_docker_skips_at_once_with_the_reason(product: Product, tmp_path: Path) -> None:
    toml = '[targets.c]\nkind = "container"\n'
    socket_path = tmp_path / "no-docker.sock"  # nothing listens here: the probe must say so, not hang
    run = product.run("checks/test_database.py", "-m", "triage", "--target=c", "-rs", targets_toml=toml,
                      env={"DOCKER_HOST": f"unix://{socket_path}"}, timeout=60)
    assert run.returncode == 0, run.output
    assert {r["outcome"] for r in run.results} == {"skipped"}
    assert f"container target 'c' needs Docker: no Docker engine answers at unix://{socket_path}" in run.stdout
    assert " ms)" in run.stdout  # the probe reports how long it took
