"""Runbook "Diagnóstico 1 (Variáveis de ambiente e URLs)": the URLs and keys point at the right things.

One rule per test. These checks only read the target's configuration: they never open a connection
(safe to run first, and on a target that is down). Rules that need a value the target does not have
(no API URL, no anon key: the embedded target) skip with the reason and how to configure it.
"""

from __future__ import annotations

import os

import pytest

from dbrunbook import urls
from dbrunbook.checking import Check
from dbrunbook.targets import Target

pytestmark = [pytest.mark.triage, pytest.mark.env]

RUNBOOK = "Diagnóstico 1 (Variáveis de ambiente e URLs)"


def _db_var(target: Target) -> str:
    """The name of where the DB URL came from (never its value)."""
    source = target.dsn_source
    if source.startswith("env "):
        return source[4:]
    return "db_url (dbrunbook.toml)" if "toml" in source else source or "the DB URL"


def _api_var(target: Target) -> str:
    env = target.spec.api_url_env
    if env and os.environ.get(env):
        return env
    return "api_url (dbrunbook.toml)" if target.spec.api_url else (env or "SUPABASE_URL")


def _db_url(target: Target) -> str:
    if target.problem or not target.dsn:
        pytest.skip(f"{target.name}: {target.problem or 'no DB URL'} (reported by env.db_url_present)")
    return target.dsn


def _api_url(target: Target) -> str:
    if not target.api_url:
        how = (f"export {target.spec.api_url_env}" if target.spec.api_url_env
               else f'api_url_env = "SUPABASE_URL" under [targets.{target.name}] in dbrunbook.toml')
        pytest.skip(f"target {target.name} has no API URL, nothing to check ({how} to check it)")
    return target.api_url


def _fail(check: Check, target: Target, var: str, problems: list[urls.Problem]) -> None:
    __tracebackhide__ = True
    check.require_none(
        check.finding(p.why, f"target {target.name}: {var}, {p.part}", p.fix) for p in problems)


@pytest.mark.check("env.db_url_is_postgres", severity="P1", runbook=RUNBOOK)
def test_db_url_points_at_postgres(target: Target, check: Check) -> None:
    """SUPABASE_DB_URL is a postgresql:// URL on a Postgres port (5432/6543, 54322 local), not the gateway."""
    url, var = _db_url(target), _db_var(target)
    problems = urls.db_url_problems(url, var)
    parts = None if problems else urls.parse(url)
    check.add_evidence("db_url", {"source": var, "host": target.host}
                       | ({"scheme": parts.scheme, "port": parts.port, "ref": urls.db_ref(url)} if parts else {}))
    _fail(check, target, var, problems)


@pytest.mark.check("env.api_url_is_gateway", severity="P1", runbook=RUNBOOK)
def test_supabase_url_points_at_the_api_gateway(target: Target, check: Check) -> None:
    """SUPABASE_URL is the http(s) API gateway (54321 locally, https://<ref>.supabase.co), not Postgres."""
    url = _api_url(target)
    var = _api_var(target)
    _fail(check, target, var, urls.api_url_problems(url, var))


@pytest.mark.check("env.project_ref_agrees", severity="P1", runbook=RUNBOOK)
def test_db_and_api_urls_name_the_same_project(target: Target, check: Check) -> None:
    """The project ref in the DB URL (db.<ref> host or postgres.<ref> user) matches SUPABASE_URL's and the key's."""
    db, api = _db_url(target), _api_url(target)
    refs = {f"{_db_var(target)} ({'pooler user' if '.pooler.' in db else 'host'})": urls.db_ref(db),
            _api_var(target): urls.api_ref(api)}
    if target.anon_key:
        refs[f"{target.spec.anon_key_env} (JWT ref claim)"] = urls.key_ref(target.anon_key)
    known = {k: v for k, v in refs.items() if v}
    check.add_evidence("project_refs", known)
    if len(known) < 2:
        pytest.skip(f"target {target.name}: fewer than two hosted project refs to compare "
                    f"(found {known or 'none'}; local and self-hosted URLs carry no ref)")
    if len(set(known.values())) > 1:
        listed = ", ".join(f"{k} -> {v}" for k, v in known.items())
        check.fail(check.finding(
            "the DB URL and the API URL name different Supabase projects",
            f"target {target.name}: {listed}",
            "copy both from the same project (Dashboard > Connect and Settings > API); a mix usually means "
            "staging credentials in a prod environment or the other way round"))


@pytest.mark.check("env.no_docker_internal_host", severity="P1", runbook=RUNBOOK)
def test_urls_do_not_use_docker_internal_hosts(target: Target, check: Check) -> None:
    """No db:5432 / kong:8000 / supabase_db_* host used from outside the Docker network."""
    if target.spec.in_docker_network:
        pytest.skip(f"target {target.name} sets in_docker_network = true: Docker service names are right there")
    problems = urls.docker_host_problems(_db_url(target), _db_var(target))
    if target.api_url:
        problems += urls.docker_host_problems(target.api_url, _api_var(target))
    check.require_none(check.finding(p.why, f"target {target.name}: {p.part}", p.fix) for p in problems)


@pytest.mark.check("env.tls_required", severity="P2", runbook=RUNBOOK)
def test_remote_urls_require_tls(target: Target, check: Check) -> None:
    """A non-loopback DB URL has sslmode=require or stricter; a remote SUPABASE_URL is https."""
    problems = [(_db_var(target), p) for p in urls.tls_problems(_db_url(target), _db_var(target))]
    if target.api_url:
        problems += [(_api_var(target), p) for p in urls.tls_problems(target.api_url, _api_var(target))]
    check.require_none(check.finding(p.why, f"target {target.name}: {var}, {p.part}", p.fix)
                       for var, p in problems)


@pytest.mark.check("env.anon_key_is_anon", severity="P0", runbook=RUNBOOK)
def test_anon_key_is_not_a_service_role_key(target: Target, check: Check) -> None:
    """The public key (SUPABASE_ANON_KEY) is not a service_role JWT nor an sb_secret_ key (those bypass RLS)."""
    var = target.spec.anon_key_env
    if not target.anon_key:
        how = f"export {var}" if var else f'anon_key_env = "SUPABASE_ANON_KEY" under [targets.{target.name}]'
        pytest.skip(f"target {target.name} has no anon key, nothing to check ({how} to check it)")
    claims = urls.jwt_claims(target.anon_key)
    key = target.anon_key
    kind = "jwt" if claims else next((p for p in ("sb_publishable", "sb_secret") if key.startswith(p)), "opaque")
    check.add_evidence("anon_key", {"env": var, "kind": kind, "role": claims.get("role") if claims else None})
    problems = urls.anon_key_problems(target.anon_key, str(var), target.service_role_key)
    check.require_none(check.finding(p.why, f"target {target.name}: {var}, {p.part}", p.fix) for p in problems)
