"""Runbook "Triage 1", local stack: port probes and `supabase status` fail for the right reason and pass.

The local stack is played by real listeners on free loopback ports (the shared Postgres for the DB,
stand-in HTTP servers for the API and Studio); `supabase status` by a stand-in CLI script and a
stand-in Docker engine socket (the real ones need Docker, which CI does not have).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from standins import HEALTHY, closed_port, docker_standin, http_standin

from conftest import Product, ProductRun
from dbrunbook.targets.embedded import EmbeddedInfo

LOCAL_CHECKS = "checks/test_local_stack.py"
STATUS_SECRET = "sb_secret_LocalStandinSecret0123456789"
FAKE_CLI = """#!/bin/sh
# stand-in for `supabase status --workdir DIR -o env`
if [ "$FAKE_SUPABASE_MODE" = down ]; then
  echo "failed to inspect container health: Error response from daemon: No such container: supabase_db_demo" >&2
  echo "Try rerunning the command with --debug to troubleshoot the error." >&2
  exit 1
fi
echo 'API_URL="http://127.0.0.1:54321"'
echo 'DB_URL="postgresql://postgres:postgres@127.0.0.1:54322/postgres"'
echo 'SECRET_KEY="{secret}"'
echo 'JWT_SECRET="super-secret-jwt-token-with-at-least-32-characters-long"'
"""


def _local(api_url: str, studio_url: str) -> str:
    return (f'[targets.loc]\nkind = "url"\nlocal_stack = true\ndb_url_env = "T_DB_URL"\n'
            f'api_url = "{api_url}"\nstudio_url = "{studio_url}"\n')


def _outcomes(run: ProductRun) -> dict[str, dict[str, str]]:
    return {r["nodeid"].split("::")[-1]: r for r in run.results}


@pytest.mark.fault(scenario="local stack listening", expect="pass: local.port_answers")
def test_ports_answer_when_the_stack_listens(product: Product, supabase_server: EmbeddedInfo) -> None:
    with http_standin({"*": HEALTHY}) as api, http_standin({"*": HEALTHY}) as studio:
        run = product.run(LOCAL_CHECKS, "--target=loc", "-k", "port_answers", targets_toml=_local(api, studio),
                          env={"T_DB_URL": supabase_server.dsn}, timeout=60)
    assert run.returncode == 0, run.output
    assert {n: r["outcome"] for n, r in _outcomes(run).items()} == {
        "test_local_stack_port_answers[loc-database]": "passed",
        "test_local_stack_port_answers[loc-api]": "passed",
        "test_local_stack_port_answers[loc-studio]": "passed",
    }, run.output


@pytest.mark.fault(scenario="local stack ports closed", expect="fail local.port_answers P1: npx supabase start")
def test_closed_ports_fail_with_supabase_start(product: Product) -> None:
    dsn = f"postgresql://postgres:postgres@127.0.0.1:{closed_port()}/postgres"
    run = product.run(LOCAL_CHECKS, "--target=loc", "-k", "port_answers", timeout=60, env={"T_DB_URL": dsn},
                      targets_toml=_local(f"http://127.0.0.1:{closed_port()}", f"http://127.0.0.1:{closed_port()}"))
    assert run.returncode == 1, run.output
    results = _outcomes(run)
    for part in ("database", "api"):
        result = results[f"test_local_stack_port_answers[loc-{part}]"]
        assert result["outcome"] == "failed"
        assert "ECONNREFUSED" in str(result["message"]) and "npx supabase start" in str(result["message"])
    assert results["test_local_stack_port_answers[loc-studio]"]["outcome"] == "skipped"
    assert "Studio is optional" in run.output


@pytest.mark.fault(scenario="local port checks on a non-local target", expect="skip saying why")
def test_port_checks_skip_on_a_target_that_is_not_local(product: Product) -> None:
    run = product.run(LOCAL_CHECKS, "--target=t", "-k", "port_answers", timeout=60,
                      targets_toml='[targets.t]\nkind = "url"\ndb_url_env = "T_DB_URL"\n',
                      env={"T_DB_URL": "postgresql://u@127.0.0.1:5432/postgres"})
    assert run.returncode == 0, run.output
    assert {r["outcome"] for r in run.results} == {"skipped"}
    assert "not the local Supabase stack" in run.output


@pytest.fixture
def fake_cli_path(tmp_path: Path) -> str:
    """PATH with a stand-in `supabase` script first."""
    script = tmp_path / "bin" / "supabase"
    script.parent.mkdir()
    script.write_text(FAKE_CLI.format(secret=STATUS_SECRET))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{script.parent}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture
def docker_host() -> Iterator[str]:
    # a short path: Unix socket paths are limited to ~104 bytes
    folder = tempfile.mkdtemp(prefix="dk")
    with docker_standin(os.path.join(folder, "d.sock")) as host:
        yield host
    shutil.rmtree(folder, ignore_errors=True)


LOCAL_URLS = {"T_DB_URL": "postgresql://postgres:postgres@127.0.0.1:54322/postgres"}
STATUS_ARGS = (LOCAL_CHECKS, "--target=loc", "-k", "supabase_status")
STATUS_TOML = _local("http://127.0.0.1:54321", "http://127.0.0.1:54323")


@pytest.mark.fault(scenario="no Supabase CLI / no Docker", expect="local.supabase_status skips with the reason")
def test_status_skips_without_cli_or_docker(product: Product, fake_cli_path: str) -> None:
    no_cli = product.run(*STATUS_ARGS, targets_toml=STATUS_TOML, timeout=60,
                         env={**LOCAL_URLS, "PATH": os.path.dirname(sys.executable)})
    assert no_cli.outcome("local.supabase_status") == "skipped"
    assert "the Supabase CLI is not installed" in no_cli.output
    no_docker = product.run(*STATUS_ARGS, targets_toml=STATUS_TOML, timeout=60,
                            env={**LOCAL_URLS, "PATH": fake_cli_path, "DOCKER_HOST": "unix:///nonexistent/d.sock"})
    assert no_docker.outcome("local.supabase_status") == "skipped"
    assert "needs Docker" in no_docker.output


@pytest.mark.fault(scenario="local stack stopped", expect="fail local.supabase_status P1")
def test_status_of_a_stopped_stack_fails_with_supabase_start(product: Product, fake_cli_path: str,
                                                             docker_host: str) -> None:
    run = product.run(*STATUS_ARGS, targets_toml=STATUS_TOML, timeout=60, env={
        **LOCAL_URLS, "PATH": fake_cli_path, "DOCKER_HOST": docker_host, "FAKE_SUPABASE_MODE": "down"})
    assert run.returncode == 1, run.output
    message = run.message("local.supabase_status")
    assert "not running" in message and "npx supabase start" in message and "No such container" in message


@pytest.mark.fault(scenario="local stack running", expect="pass: local.supabase_status, no key kept")
def test_status_of_a_running_stack_passes_and_keeps_no_keys(product: Product, fake_cli_path: str,
                                                           docker_host: str) -> None:
    run = product.run(*STATUS_ARGS, targets_toml=STATUS_TOML, timeout=60,
                      env={**LOCAL_URLS, "PATH": fake_cli_path, "DOCKER_HOST": docker_host})
    assert run.returncode == 0, run.output
    assert run.result("local.supabase_status")["evidence"]["supabase_status"]["urls"]["API_URL"] \
        == "http://127.0.0.1:54321"
    for path in run.report_files().values():
        assert STATUS_SECRET not in path.read_text()


@pytest.mark.fault(scenario="target URL is not the running stack's", expect="fail local.supabase_status P1")
def test_status_disagreeing_with_the_target_fails(product: Product, fake_cli_path: str, docker_host: str) -> None:
    run = product.run(*STATUS_ARGS, targets_toml=STATUS_TOML, timeout=60, env={
        "T_DB_URL": "postgresql://postgres:postgres@127.0.0.1:5432/postgres", "PATH": fake_cli_path,
        "DOCKER_HOST": docker_host})
    assert run.returncode == 1, run.output
    message = run.message("local.supabase_status")
    assert "not the running stack's DB_URL" in message and "127.0.0.1:54322" in message
