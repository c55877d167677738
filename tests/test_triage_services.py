"""Runbook "Triage 2": service and Supabase API health checks fail for the right reason, bounded, and pass."""

from __future__ import annotations

from typing import Any

import pytest
from standins import (
    DEGRADED_DB,
    HEALTHY,
    READY,
    closed_port,
    fake_gateway,
    http_standin,
    silent_standin,
)

from conftest import Product, ProductRun
from dbrunbook import services

SERVICES_CHECKS = "checks/test_services.py"
ANON_KEY = "sb_publishable_standin_key_0123456789"
# A JWT-shaped service_role key and a DB password: neither may appear in any output.
SERVICE_ROLE_JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIiwiaXNzIjoic3VwYWJhc2UifQ"
                    ".c2VjcmV0LXNpZ25hdHVyZS1zZXJ2aWNlLXJvbGU")
DB_PASSWORD = "S3rvice-Leak-Passw0rd"


def _targets(api_url: str, probe_table: str, svcs: dict[str, str], timeout: float = 1.0) -> str:
    blocks = "".join(f'[[targets.t.services]]\nname = "{n}"\nhealth_url = "{u}"\n\n' for n, u in svcs.items())
    return (f'[targets.t]\nkind = "url"\ndb_url_env = "T_DB_URL"\napi_url = "{api_url}"\n'
            f'api_probe_table = "{probe_table}"\n\n{blocks}[targets.t.thresholds]\nhttp_timeout_s = {timeout}\n')


def _node(run: ProductRun, fragment: str) -> dict[str, Any]:
    found = [r for r in run.results if fragment in r["nodeid"]]
    assert len(found) == 1, (fragment, [r["nodeid"] for r in run.results], run.output)
    return found[0]


@pytest.mark.fault(scenario="healthy services and Supabase API", expect="pass: health.*")
def test_healthy_services_and_api_pass(product: Product) -> None:
    with http_standin({"/health": HEALTHY}) as api, http_standin({"/ready": READY}) as agent, \
            http_standin(fake_gateway(ANON_KEY, {"companies"})) as gateway:
        toml = _targets(gateway, "companies",
                        {"backoffice-api": f"{api}/health", "agent-runtime": f"{agent}/ready"})
        run = product.run(SERVICES_CHECKS, "--target=t", targets_toml=toml,
                          env={"SUPABASE_ANON_KEY": ANON_KEY}, timeout=60)
    assert run.returncode == 0, run.output
    outcomes = {r["nodeid"].split("::")[-1]: r["outcome"] for r in run.results}
    assert outcomes == {
        "test_service_health_url_answers_healthy[agent-runtime-t]": "passed",
        "test_service_health_url_answers_healthy[backoffice-api-t]": "passed",
        "test_supabase_auth_health_answers[t]": "passed",
        "test_supabase_rest_answers_a_table_probe[t]": "passed",
    }, run.output


@pytest.mark.fault(scenario="service 500, degraded, hung, down", expect="fail health.service_answers P1 per service")
def test_each_service_fault_fails_its_own_node_with_the_runbook_step(product: Product) -> None:
    leaky_500 = (500, {"error": f"connect failed: postgresql://postgres:{DB_PASSWORD}@db.internal:5432/postgres"})
    with http_standin({"/health": leaky_500}) as api, http_standin({"/ready": DEGRADED_DB}) as agent, \
            silent_standin() as hung, http_standin(fake_gateway("the-right-key-0123", {"companies"})) as gateway:
        down = f"http://127.0.0.1:{closed_port()}/health"
        toml = _targets(gateway, "missing_table", {
            "backoffice-api": f"{api}/health", "agent-runtime": f"{agent}/ready",
            "hung-svc": f"{hung}/health", "down-svc": down})
        # timeout=60: the never-answering service is bounded by http_timeout_s = 1 (the run raises if it hangs)
        run = product.run(SERVICES_CHECKS, "--target=t", targets_toml=toml, timeout=60,
                          env={"SUPABASE_ANON_KEY": SERVICE_ROLE_JWT,
                               "T_DB_URL": f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:1/postgres"})
    assert run.returncode == 1, run.output

    agent_result = _node(run, "[agent-runtime-t]")
    assert agent_result["outcome"] == "failed"
    assert "checks.db=failed" in agent_result["message"]
    assert "pytest -m triage -k db" in agent_result["message"] and "Triage 1" in agent_result["message"]

    api_result = _node(run, "[backoffice-api-t]")
    assert api_result["outcome"] == "failed"
    assert "answered HTTP 500" in api_result["message"]
    assert "Triage 2 (Checar saúde dos serviços)" in api_result["message"]
    assert "Mitigação (reiniciar serviços consumidores)" in api_result["message"]
    assert "restart backoffice-api agent-runtime" in api_result["message"]

    hung_result = _node(run, "[hung-svc-t]")
    assert hung_result["outcome"] == "failed"
    assert "did not answer" in hung_result["message"] and "within 1 s" in hung_result["message"]

    down_result = _node(run, "[down-svc-t]")
    assert down_result["outcome"] == "failed"
    assert "ECONNREFUSED" in down_result["message"] and "not listening" in down_result["message"]

    auth = _node(run, "test_supabase_auth_health_answers[t]")
    assert auth["outcome"] == "failed" and "Invalid API key" in auth["message"]
    assert "SUPABASE_ANON_KEY" in auth["message"]

    # no secret in the terminal or any report, though the 500 body carried the DB password
    for path in run.report_files().values():
        text = path.read_text()
        assert DB_PASSWORD not in text and SERVICE_ROLE_JWT not in text, path
    assert DB_PASSWORD not in run.output and SERVICE_ROLE_JWT not in run.output


@pytest.mark.fault(scenario="Data API table missing (PGRST205)", expect="fail health.supabase_rest P1 -> migrations")
def test_missing_table_is_pgrst205_pointing_at_migrations(product: Product) -> None:
    with http_standin(fake_gateway(ANON_KEY, {"companies"})) as gateway:
        run = product.run(SERVICES_CHECKS, "--target=t", "-k", "rest",
                          targets_toml=_targets(gateway, "missing_table", {}),
                          env={"SUPABASE_ANON_KEY": ANON_KEY}, timeout=60)
    assert run.returncode == 1, run.output
    message = run.message("health.supabase_rest")
    assert "PGRST205" in message and "pytest -m migrations" in message


@pytest.mark.fault(scenario="target without services", expect="one skip saying how to configure")
def test_target_without_services_gets_one_skip_saying_how_to_configure(product: Product) -> None:
    run = product.run(SERVICES_CHECKS, "--target=t", "-k", "service_health", timeout=60,
                      targets_toml='[targets.t]\nkind = "url"\ndb_url_env = "T_DB_URL"\n')
    assert run.returncode == 0, run.output
    [result] = run.results
    assert result["outcome"] == "skipped" and "[no-services-t]" in result["nodeid"]
    assert "[[targets.t.services]]" in run.output


def test_gateway_without_apikey_is_mapped() -> None:
    with http_standin(fake_gateway(ANON_KEY, set())) as gateway:
        result = services.get(f"{gateway}/auth/v1/health", timeout_s=2)
    [problem] = services.api_problems("GET /auth/v1/health", result, "SUPABASE_ANON_KEY", 2)
    assert "No API key found" in problem.part and "export SUPABASE_ANON_KEY" in problem.fix


def test_degraded_with_503_still_points_at_the_database() -> None:
    with http_standin({"/ready": (503, DEGRADED_DB[1])}) as agent:
        result = services.get(f"{agent}/ready", timeout_s=2)
    [problem] = services.service_problems("agent-runtime", result, 2)
    assert problem.part == "checks.db=failed" and "pytest -m triage -k db" in problem.fix
