"""Runbook "Triage 3": every log symptom fails its own node with the runbook step; clean logs pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Product, ProductRun
from dbrunbook import logscan

LOG_CHECKS = "checks/test_logs.py"
TARGET = '[targets.t]\nkind = "url"\ndb_url_env = "T_DB_URL"\n'
DB_PASSWORD = "L0g-Leaked-Passw0rd"

#: One line per symptom class, compose-prefixed like `docker compose logs`, and what must be reported.
SYMPTOM_LINES: dict[str, tuple[str, str]] = {
    "db_url_missing": ("backoffice-api-1  | Error: SUPABASE_DB_URL (or DATABASE_URL) is required",
                       "Diagnóstico 1"),
    "pool_not_started": ("agent-runtime-1  | RuntimeError: ConnectionPool not started", "pytest -m triage -k db"),
    "prepared_statement": ('agent-runtime-1  | asyncpg.exceptions.DuplicatePreparedStatementError: prepared '
                           'statement "__asyncpg_stmt_1__" already exists', "statement_cache_size=0"),
    "pooler_tenant": ("agent-runtime-1  | FATAL: Tenant or user not found (SQLSTATE XX000)", "postgres.<ref>"),
    "too_many_connections": ("backoffice-api-1  | error: sorry, too many clients already", "pytest -m locks"),
    "permission_denied": ("backoffice-api-1  | error: permission denied for table customers", "pytest -m rls"),
    "rls_violation": ('backoffice-api-1  | new row violates row-level security policy for table "contacts"',
                      "Diagnóstico 4"),
    "relation_missing": ('backoffice-api-1  | error: relation "core.memberships" does not exist',
                         "pytest -m migrations"),
    "statement_timeout": ("backoffice-api-1  | error: canceling statement due to statement timeout",
                          "pytest -m locks"),
    "econnrefused": ("backoffice-api-1  | Error: connect ECONNREFUSED 127.0.0.1:54322", "pytest -m env"),
    "connect_timeout": ("agent-runtime-1  | TimeoutError: timed out connecting to the database",
                        "pytest -m triage -k db"),
    "asyncpg_error": ("agent-runtime-1  | asyncpg.exceptions.ConnectionDoesNotExistError: connection was closed",
                      "restart"),
}


def _log(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "services.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def _by_symptom(run: ProductRun) -> dict[str, dict[str, object]]:
    return {r["check_id"].removeprefix("logs."): r for r in run.results}


def test_every_symptom_class_has_a_log_line_here() -> None:
    assert set(SYMPTOM_LINES) == {s.id for s in logscan.SYMPTOMS}


@pytest.mark.fault(scenario="every runbook symptom in a log file",
                   expect="fail logs.<symptom> with lines, service, step")
def test_each_symptom_fails_its_own_node_with_count_lines_service_and_step(product: Product, tmp_path: Path) -> None:
    lines = ["backoffice-api-1  | GET /health 200", "agent-runtime-1  | ready"]
    for line, _ in SYMPTOM_LINES.values():
        lines += [line, "backoffice-api-1  | GET /customers 200"]
    lines.append(f'backoffice-api-1  | error: permission denied for table customers '
                 f'(dsn postgresql://postgres:{DB_PASSWORD}@db.abcdefghijklmnopqrst.supabase.co:5432/postgres)')
    log = _log(tmp_path, lines)
    run = product.run(LOG_CHECKS, "--target=t", "--logs", str(log), targets_toml=TARGET, timeout=60,
                      env={"T_DB_URL": f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:1/postgres"})
    assert run.returncode == 1, run.output
    results = _by_symptom(run)
    for symptom_id, (line, step) in SYMPTOM_LINES.items():
        result = results[symptom_id]
        message = str(result["message"])
        assert result["outcome"] == "failed", (symptom_id, run.output)
        number = lines.index(line) + 1
        assert f"lines {number}-" in message and str(log) in message, (symptom_id, message)
        assert f"from {line.split('-1 ')[0]}" in message, (symptom_id, message)
        assert step in message, (symptom_id, step, message)
    denied = results["permission_denied"]
    assert "2 log line(s)" in str(denied["message"]) and "objects: customers" in str(denied["message"])
    for path in run.report_files().values():
        assert DB_PASSWORD not in path.read_text(), path
    assert DB_PASSWORD not in run.output


@pytest.mark.fault(scenario="clean log file", expect="pass: every logs check")
def test_clean_log_passes_every_node(product: Product, tmp_path: Path) -> None:
    log = _log(tmp_path, ["backoffice-api-1  | GET /health 200", "agent-runtime-1  | GET /ready 200 ok"])
    run = product.run(LOG_CHECKS, "--target=t", "--logs", str(log), targets_toml=TARGET, timeout=60)
    assert run.returncode == 0, run.output
    assert {r["outcome"] for r in run.results} == {"passed"}
    assert len(run.results) == len(logscan.SYMPTOMS)


@pytest.mark.fault(scenario="symptom on standard input", expect="fail logs.relation_missing")
def test_logs_from_stdin(product: Product) -> None:
    line = SYMPTOM_LINES["relation_missing"][0]
    run = product.run(LOG_CHECKS, "--target=t", "--logs", "-", targets_toml=TARGET, timeout=60,
                      stdin=f"agent-runtime-1  | ok\n{line}\n")
    assert run.returncode == 1, run.output
    results = _by_symptom(run)
    assert results["relation_missing"]["outcome"] == "failed"
    assert "standard input, lines 2-2" in str(results["relation_missing"]["message"])
    assert results["permission_denied"]["outcome"] == "passed"


@pytest.mark.fault(scenario="no --logs", expect="skip saying how to pass --logs")
def test_without_logs_every_node_skips_saying_how(product: Product) -> None:
    run = product.run(LOG_CHECKS, "--target=t", targets_toml=TARGET, timeout=60)
    assert run.returncode == 0, run.output
    assert {r["outcome"] for r in run.results} == {"skipped"}
    assert "pass --logs FILE (or - for stdin)" in run.output


@pytest.mark.fault(scenario="local target, no Docker for compose logs", expect="skip with the reason")
def test_local_target_without_docker_skips_with_the_reason(product: Product) -> None:
    run = product.run(LOG_CHECKS, "--target=loc", timeout=60, env={"DOCKER_HOST": "unix:///nonexistent/d.sock"},
                      targets_toml='[targets.loc]\nkind = "url"\nlocal_stack = true\ndb_url_env = "T_DB_URL"\n')
    assert run.returncode == 0, run.output
    assert {r["outcome"] for r in run.results} == {"skipped"}
    assert "compose logs need Docker" in run.output or "no docker command" in run.output


@pytest.mark.fault(scenario="log file larger than the 20 MiB read window, symptom near its end",
                   expect="fail logs.too_many_connections with the file's own line number; the file scanned once "
                          "for all 12 symptom nodes")
def test_a_big_log_is_scanned_once_with_true_line_numbers(product: Product, tmp_path: Path) -> None:
    filler = "backoffice-api-1  | GET /customers 200 ok " + "x" * 40  # 83 bytes + newline
    before = logscan.MAX_BYTES // (len(filler) + 1) + 1000  # the window starts ~1000 lines in
    symptom = SYMPTOM_LINES["too_many_connections"][0]
    path = tmp_path / "big.log"
    with path.open("w") as handle:
        handle.write(SYMPTOM_LINES["relation_missing"][0] + "\n")  # line 1: outside the window
        handle.write((filler + "\n") * before)
        handle.write(symptom + "\n")  # line before + 2
        handle.write((filler + "\n") * 10)
    assert path.stat().st_size > logscan.MAX_BYTES
    run = product.run(LOG_CHECKS, "--target=t", f"--logs={path}", targets_toml=TARGET, timeout=120)
    results = _by_symptom(run)
    message = str(results["too_many_connections"]["message"])
    assert results["too_many_connections"]["outcome"] == "failed", run.output
    assert f"lines {before + 2}-{before + 2}" in message, message
    assert results["relation_missing"]["outcome"] == "passed"  # line 1 is before the window: not read
    scans = {r["evidence"]["logs"]["scans"] for r in run.results}
    assert scans == {1}, scans
