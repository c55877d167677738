"""Runbook "Triage 2 (Checar saúde dos serviços)": each service's health URL, and the Supabase API.

One node per configured service (``[[targets.<name>.services]]`` in dbrunbook.toml). Every request is
bounded by the target's ``thresholds.http_timeout_s``; nothing here touches the database.
"""

from __future__ import annotations

import os

import pytest

from dbrunbook import services
from dbrunbook.checking import Check
from dbrunbook.config import RunbookConfig, ServiceSpec
from dbrunbook.factories import CONFIG_KEY
from dbrunbook.targets import Target

pytestmark = [pytest.mark.triage, pytest.mark.health]

RUNBOOK = f"{services.TRIAGE_2}; {services.MITIGATION}"
NO_SERVICES = "no-services"
HOW_TO_CONFIGURE = """\
[[targets.{name}.services]]
name = "backoffice-api"
health_url = "http://localhost:4000/health"   # or health_url_env = "BACKOFFICE_HEALTH_URL"
"""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One node per service name configured on any selected target (ids: ``[backoffice-api-prod]``)."""
    if "service_name" in metafunc.fixturenames:
        cfg: RunbookConfig = metafunc.config.stash[CONFIG_KEY].cfg
        names = sorted({s.name for t in cfg.targets for s in t.services}) or [NO_SERVICES]
        metafunc.parametrize("service_name", names)


def _service(target: Target, name: str) -> ServiceSpec:
    if name == NO_SERVICES or not target.spec.services:
        pytest.skip(f"target {target.name} has no services to check; configure them in dbrunbook.toml:\n"
                    + HOW_TO_CONFIGURE.format(name=target.name))
    for spec in target.spec.services:
        if spec.name == name:
            return spec
    pytest.skip(f"target {target.name} has no service {name!r} (configured on another selected target)")


@pytest.mark.check("health.service_answers", severity="P1", runbook=RUNBOOK)
def test_service_health_url_answers_healthy(target: Target, service_name: str, check: Check) -> None:
    """GET <health_url> answers 2xx within http_timeout_s and its JSON does not say status=degraded."""
    spec = _service(target, service_name)
    # the env var, when set, overrides the file's URL (same file for laptops and CI, URLs per environment)
    url = (os.environ.get(spec.health_url_env) if spec.health_url_env else None) or spec.health_url
    if not url:
        where = f"env {spec.health_url_env}" if spec.health_url_env else "health_url"
        check.fail(check.finding(
            f"service {spec.name} has no health URL", f"target {target.name}: services[{spec.name}], {where}",
            f"export {spec.health_url_env}=http://localhost:4000/health" if spec.health_url_env else
            f'health_url = "http://localhost:4000/health" (or health_url_env) for {spec.name} in dbrunbook.toml'))
    timeout = target.spec.thresholds.http_timeout_s
    result = services.get(url, timeout_s=timeout)
    check.add_evidence("health", {"service": spec.name, "url": result.where, "status": result.status,
                                  "error": result.error, "elapsed_ms": round(result.elapsed_ms, 1),
                                  "body": result.json() if result.json() is not None else
                                  result.body[:500].decode("utf-8", "replace")})
    check.require_none(
        check.finding(p.why, f"target {target.name}: service {spec.name}, {p.part}",
                      p.fix.replace("--target=<target>", f"--target={target.name}"))
        for p in services.service_problems(spec.name, result, timeout))


def _api(target: Target) -> tuple[str, str]:
    if not target.api_url:
        pytest.skip(f"target {target.name} has no API URL (export {target.spec.api_url_env or 'SUPABASE_URL'}, "
                    "or api_url_env / api_url in dbrunbook.toml)")
    if not target.anon_key:
        pytest.skip(f"target {target.name} has no anon key (export {target.spec.anon_key_env or 'SUPABASE_ANON_KEY'}, "
                    "or anon_key_env in dbrunbook.toml)")
    return target.api_url, target.anon_key


@pytest.mark.check("health.supabase_auth", severity="P1", runbook=services.TRIAGE_2)
def test_supabase_auth_health_answers(target: Target, check: Check) -> None:
    """GET <SUPABASE_URL>/auth/v1/health with the anon apikey answers 2xx (gateway + GoTrue up)."""
    api_url, key = _api(target)
    timeout = target.spec.thresholds.http_timeout_s
    result = services.get(f"{api_url.rstrip('/')}/auth/v1/health", timeout_s=timeout,
                          headers=services.api_headers(key))
    check.add_evidence("auth_health", {"url": result.where, "status": result.status, "error": result.error,
                                       "elapsed_ms": round(result.elapsed_ms, 1)})
    check.require_none(
        check.finding(p.why, f"target {target.name}: {p.part}", p.fix.replace("<target>", target.name))
        for p in services.api_problems("GET /auth/v1/health", result, str(target.spec.anon_key_env), timeout))


@pytest.mark.check("health.supabase_rest", severity="P1", runbook=services.TRIAGE_2)
def test_supabase_rest_answers_a_table_probe(target: Target, check: Check) -> None:
    """GET <SUPABASE_URL>/rest/v1/<api_probe_table>?select=*&limit=1 answers 2xx (PostgREST sees the table)."""
    api_url, key = _api(target)
    table = target.spec.api_probe_table
    if not table:
        pytest.skip(f"target {target.name} has no api_probe_table: set api_probe_table = \"core.companies\" "
                    f"(a table the anon key may read) under [targets.{target.name}] in dbrunbook.toml")
    url, headers = services.rest_probe_url(api_url, table)
    timeout = target.spec.thresholds.http_timeout_s
    result = services.get(url, timeout_s=timeout, headers={**services.api_headers(key), **headers})
    check.add_evidence("rest_probe", {"table": table, "url": result.where, "status": result.status,
                                      "error": result.error, "elapsed_ms": round(result.elapsed_ms, 1)})
    check.require_none(
        check.finding(p.why, f"target {target.name}: {p.part}", p.fix.replace("<target>", target.name))
        for p in services.api_problems(f"GET /rest/v1/{table}", result, str(target.spec.anon_key_env), timeout))
