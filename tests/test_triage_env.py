"""Runbook "Diagnóstico 1": the env/URL rules fail on each fault, name the variable, never print secrets.

Only `checks/test_env.py` runs here (never the reachability check), so the hosted-looking hosts
below are never contacted: the env checks read configuration and open no connection.
"""

from __future__ import annotations

import base64
import json

import pytest

from conftest import Product, ProductRun

ENV_CHECKS = "checks/test_env.py"
REF_A, REF_B = "abcdefghijklmnopqrst", "zyxwvutsrqponmlkjihg"
DB_PASSWORD = "Env-Secret-Passw0rd-42"
RUNBOOK = "Diagnóstico 1 (Variáveis de ambiente e URLs)"


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"


ANON_JWT = _jwt({"iss": "supabase", "ref": REF_A, "role": "anon"})
SERVICE_ROLE_JWT = _jwt({"iss": "supabase", "ref": REF_A, "role": "service_role"})


def _target(name: str, **extra: str) -> str:
    up = name.upper()
    lines = [f"[targets.{name}]", 'kind = "url"', f'db_url_env = "{up}_DB_URL"', f'api_url_env = "{up}_API_URL"',
             f'anon_key_env = "{up}_ANON_KEY"', f'service_role_key_env = "{up}_SERVICE_KEY"']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n\n"


#: target -> its env (every fault in its own target; one product run covers them all)
CASES: dict[str, dict[str, str]] = {
    "healthy_local": {"DB_URL": "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
                      "API_URL": "http://127.0.0.1:54321", "ANON_KEY": ANON_JWT},
    "healthy_hosted": {"DB_URL": f"postgresql://postgres.{REF_A}:{DB_PASSWORD}@aws-0-eu-west-1.pooler.supabase.com"
                                 ":6543/postgres?sslmode=require",
                       "API_URL": f"https://{REF_A}.supabase.co", "ANON_KEY": ANON_JWT},
    "swapped": {"DB_URL": "http://127.0.0.1:54321",
                "API_URL": f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:54322/postgres"},
    "docker": {"DB_URL": f"postgresql://postgres:{DB_PASSWORD}@db:5432/postgres", "API_URL": "http://kong:8000"},
    "no_tls": {"DB_URL": f"postgresql://postgres:{DB_PASSWORD}@db.{REF_A}.supabase.co:5432/postgres",
               "API_URL": f"http://{REF_A}.supabase.co"},
    "refs": {"DB_URL": f"postgresql://postgres:{DB_PASSWORD}@db.{REF_A}.supabase.co:5432/postgres?sslmode=require",
             "API_URL": f"https://{REF_B}.supabase.co"},
    "leaky": {"DB_URL": "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
              "API_URL": "http://127.0.0.1:54321", "ANON_KEY": SERVICE_ROLE_JWT, "SERVICE_KEY": SERVICE_ROLE_JWT},
    "sbsecret": {"DB_URL": "postgresql://postgres:postgres@127.0.0.1:54322/postgres",
               "API_URL": "http://127.0.0.1:54321", "ANON_KEY": "sb_secret_EnvLeakedSecretKey0123456789"},
}


def _run(product: Product) -> ProductRun:
    toml = "".join(_target(name) for name in CASES) + _target("in_docker", in_docker_network="true")
    env = {f"{name.upper()}_{key}": value for name, values in CASES.items() for key, value in values.items()}
    env |= {"IN_DOCKER_DB_URL": CASES["docker"]["DB_URL"], "IN_DOCKER_API_URL": CASES["docker"]["API_URL"]}
    targets = [f"--target={name}" for name in [*CASES, "in_docker"]]
    return product.run(ENV_CHECKS, *targets, targets_toml=toml, env=env, timeout=60)


@pytest.mark.fault(scenario="swapped URLs, docker host, no TLS, other ref, service key as anon",
                   expect="fail each env.* rule; secrets never printed")
def test_env_rules(product: Product) -> None:
    run = _run(product)
    assert run.returncode == 1, run.output

    def outcome(check_id: str, target: str) -> str:
        return run.outcome(check_id, target)

    def message(check_id: str, target: str) -> str:
        text = run.message(check_id, target)
        assert RUNBOOK in text, text
        return text

    # healthy targets pass every rule that applies (local URLs carry no project ref: that rule skips)
    for check_id in ("env.db_url_is_postgres", "env.api_url_is_gateway", "env.no_docker_internal_host",
                     "env.tls_required", "env.anon_key_is_anon"):
        assert outcome(check_id, "healthy_local") == "passed", (check_id, run.output)
        assert outcome(check_id, "healthy_hosted") == "passed", (check_id, run.output)
    assert outcome("env.project_ref_agrees", "healthy_hosted") == "passed"
    assert outcome("env.project_ref_agrees", "healthy_local") == "skipped"

    swapped_db = message("env.db_url_is_postgres", "swapped")
    assert "SWAPPED_DB_URL" in swapped_db and "scheme 'http'" in swapped_db and "port 54321" in swapped_db
    assert "54322" in swapped_db and "***" not in swapped_db
    swapped_api = message("env.api_url_is_gateway", "swapped")
    assert "SWAPPED_API_URL" in swapped_api and "scheme 'postgresql'" in swapped_api

    docker = message("env.no_docker_internal_host", "docker")
    assert "host db:5432" in docker and "host kong:8000" in docker and "127.0.0.1:54322" in docker
    assert outcome("env.no_docker_internal_host", "in_docker") == "skipped"

    tls = message("env.tls_required", "no_tls")
    assert "NO_TLS_DB_URL" in tls and "sslmode=require" in tls and "NO_TLS_API_URL" in tls and "https://" in tls

    refs = message("env.project_ref_agrees", "refs")
    assert REF_A in refs and REF_B in refs and "different Supabase projects" in refs

    leaky = run.result("env.anon_key_is_anon", "leaky")
    assert leaky["outcome"] == "failed" and leaky["severity"] == "P0"
    assert "LEAKY_ANON_KEY" in leaky["message"] and "bypasses RLS" in leaky["message"]
    sb_secret = message("env.anon_key_is_anon", "sbsecret")
    assert "prefix 'sb_secret_'" in sb_secret and "SBSECRET_ANON_KEY" in sb_secret

    # secrets seeded in the env appear nowhere: terminal, HTML, JUnit, JSON
    secrets = [DB_PASSWORD, SERVICE_ROLE_JWT, "EnvLeakedSecretKey0123456789"]
    for path in run.report_files().values():
        text = path.read_text()
        assert not [s for s in secrets if s in text], path
    assert not [s for s in secrets if s in run.output]
    assert {"html", "xml", "json"} <= set(run.report_files())
