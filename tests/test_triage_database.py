"""Runbook "Triage 1": the database checks fail for the right reason, fast, and pass when healthy."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from standins import silent_standin

from conftest import Product, url_target
from dbrunbook.targets.embedded import EmbeddedInfo

DB_CHECKS = ("checks/test_database.py", "-m", "triage", "--target=t")


@pytest.mark.fault(scenario="healthy embedded target", expect="pass: triage.db_reachable")
def test_healthy_embedded_target_passes(product: Product) -> None:
    run = product.run("-m", "triage", "--target=embedded", "checks/test_database.py")
    assert run.returncode == 0, run.output
    assert run.outcome("triage.db_reachable") == "passed"
    evidence = run.result("triage.db_reachable")["evidence"]["connection"]
    assert evidence["user"] == "postgres" and evidence["bypassrls"] is True and evidence["superuser"] is False
    assert set(run.report_files()) == {"html", "xml", "json"}
    assert "no check failed" in run.stdout


@pytest.mark.fault(scenario="healthy url target", expect="pass: database checks")
def test_healthy_url_target_passes(product: Product, supabase_server: EmbeddedInfo) -> None:
    run = product.run(*DB_CHECKS, targets_toml=url_target(), env={"T_DB_URL": supabase_server.dsn})
    assert run.returncode == 0, run.output
    assert "test_database_answers_select_1[t]" in run.result("triage.db_reachable")["nodeid"]


@pytest.mark.fault(scenario="no SUPABASE_DB_URL", expect="fail env.db_url_present P1; reachability skips")
def test_missing_url_fails_with_the_runbooks_words(product: Product) -> None:
    run = product.run("-m", "triage", "--target=prod", "checks/test_database.py",
                      targets_toml="[targets.prod]\nkind = \"url\"\n")
    assert run.returncode == 1
    assert run.outcome("env.db_url_present") == "failed"
    assert "SUPABASE_DB_URL (or DATABASE_URL) is required" in run.message("env.db_url_present")
    assert run.outcome("triage.db_reachable") == "skipped"


@pytest.mark.fault(scenario="database stopped", expect="fail triage.db_reachable P1 (refused)")
def test_stopped_database_is_refused_with_the_runbook_step(product: Product, stopped_server_dsn: str) -> None:
    run = product.run(*DB_CHECKS, targets_toml=url_target(), env={"T_DB_URL": stopped_server_dsn})
    assert run.returncode == 1
    message = run.message("triage.db_reachable")
    assert "ECONNREFUSED" in message and "cause: refused" in message
    assert "Triage 1" in message


@pytest.mark.fault(scenario="wrong database password",
                   expect="fail triage.db_reachable P1 (auth), password never printed")
def test_wrong_password_is_an_auth_failure_and_never_printed(product: Product, supabase_server: EmbeddedInfo) -> None:
    parts = urlsplit(supabase_server.dsn)
    wrong = "Wr0ng-Secret-Passw0rd"
    dsn = urlunsplit(parts._replace(netloc=f"postgres:{wrong}@127.0.0.1:{parts.port}"))
    run = product.run(*DB_CHECKS, targets_toml=url_target(), env={"T_DB_URL": dsn})
    assert run.returncode == 1
    assert "cause: auth" in run.message("triage.db_reachable")
    assert "password authentication failed" in run.message("triage.db_reachable")
    for path in run.report_files().values():
        assert wrong not in path.read_text(), path
    assert wrong not in run.output


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP listener on 127.0.0.1 that accepts connections and never answers."""
    with silent_standin() as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.mark.fault(scenario="listener that never answers", expect="one timeout failure, not one per check")
def test_listener_that_never_answers_times_out_once_and_fast(product: Product, silent_listener: int) -> None:
    toml = url_target("[targets.t.thresholds]\nconnect_timeout_s = 2\n")
    dsn = f"postgresql://postgres:x@127.0.0.1:{silent_listener}/postgres?sslmode=disable"
    # timeout=60: bounded by one connect timeout, not one per check (the run raises if it hangs)
    run = product.run("-m", "triage", "--target=t", targets_toml=toml, env={"T_DB_URL": dsn}, timeout=60)
    assert run.returncode == 1
    assert "cause: timeout" in run.message("triage.db_reachable")
    failed = [r for r in run.results if r["outcome"] == "failed" and r["check_id"] != "env.db_url_present"]
    db_failures = [r for r in failed if "timeout" in (r.get("message") or "")]
    assert len(db_failures) == 1, [r["check_id"] for r in failed]
