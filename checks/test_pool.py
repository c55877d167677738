"""Runbook "Sintomas comuns" (ConnectionPool not started, asyncpg errors): service pools can start.

Each configured service (``[[targets.X.services]]``: db_url_env, pool_min_size, pool_max_size,
pooler_mode, prepared_statements) gets a real psycopg_pool opened the way the service opens its own,
bounded by 2 x connect_timeout_s, and closed again.
"""

from __future__ import annotations

import pytest

from dbrunbook import pool, urls
from dbrunbook.checking import Check
from dbrunbook.config import ServiceSpec
from dbrunbook.outcomes import Inconclusive
from dbrunbook.targets import Target

pytestmark = [pytest.mark.pool, pytest.mark.triage]


def _services(target: Target) -> tuple[ServiceSpec, ...]:
    if target.gone is not None:  # the target stopped answering: no connect_timeout per service URL
        raise target.gone
    if target.problem:
        pytest.skip(f"{target.name}: {target.problem} (see the env checks)")
    if not target.spec.services:
        pytest.skip(f"target {target.name} declares no services ([[targets.{target.name}.services]])")
    return target.spec.services


def _target_server(target: Target) -> pool.Server | None:
    """The target's own server identity, to say whether a service URL names the same server."""
    if target.problem or not target.reachability().ok:
        return None
    try:
        return pool.server_of(target.connection(), target.policy)
    except Inconclusive:
        raise
    except Exception:  # informational only: the headroom is measured on the service's URL itself
        return None


@pytest.mark.check("pool.service_ready", severity="P1", runbook=pool.POOL_RUNBOOK)
def test_every_service_pool_opens_at_max_size(target: Target, check: Check) -> None:
    """Each service's pool opens and hands out pool_max_size connections that answer select 1."""
    findings, evidence = [], []
    for service in _services(target):
        url = pool.service_url(service, target.dsn)
        if url.url is None:
            findings.append(check.finding(
                f"{service.name}: {url.problem}", f"service {service.name} ({url.source})",
                f"export {service.db_url_env[0]}=<the service's DB URL> in this run's environment, or drop "
                "db_url_env to use the target's URL", detail="runbook: Diagnóstico 1 (Variáveis de ambiente e URLs)"))
            continue
        room = pool.prove_headroom(service, url, target.spec.thresholds, target_server=_target_server(target))
        if room.refused:
            evidence.append({"service": service.name, "host": url.host, "skipped": room.refused,
                             "headroom": room.as_dict()})
            continue
        result = (pool.open_pool(service, url, target.spec.thresholds) if room.failure is None else
                  pool.PoolResult(service.name, url.host, service.pool_max_size, failure=room.failure))
        evidence.append({"service": service.name, "host": url.host, "source": url.source, "ok": result.ok,
                         "acquired": result.acquired, "wanted": result.wanted,
                         "elapsed_s": round(result.elapsed_s, 3), "headroom": room.as_dict(),
                         "cause": result.failure.cause if result.failure else None, "errors": result.errors})
        if result.failure is not None:
            findings.append(check.finding(
                f"{service.name}'s pool got {result.acquired} of {result.wanted} connections: "
                f"{result.failure.summary} (cause: {result.failure.cause})",
                f"service {service.name} -> {url.host} ({url.source}); pool_min_size {service.pool_min_size}, "
                f"pool_max_size {service.pool_max_size}",
                f"{result.failure.fix}\nThe service logs 'ConnectionPool not started' (agent-runtime /ready: "
                "checks.db=failed) until this works.",
                detail=f"runbook: {result.failure.runbook}\n" + "\n".join(result.errors),
                metadata={"service": service.name, "cause": result.failure.cause}))
    check.add_evidence("pools", evidence)
    check.require_none(findings)
    held = [e["skipped"] for e in evidence if "skipped" in e]
    if held and len(held) == len(evidence):
        pytest.skip("; ".join(held))


@pytest.mark.check("pool.prepared_statements", severity="P1", runbook="Sintomas comuns (asyncpg errors)")
def test_services_behind_a_transaction_pooler_turn_prepared_statements_off(target: Target, check: Check) -> None:
    """A service whose URL or pooler is in transaction mode declares prepared_statements = false."""
    findings, evidence = [], []
    for service in _services(target):
        url = pool.service_url(service, target.dsn)
        if url.url is None:
            continue
        hint = urls.pooler_hint(url.url)
        try:
            probed = pool.probe_pooling_if_room(url.url, target.spec.thresholds)
        except Exception as exc:  # unreachable: pool.service_ready reports why
            probed = f"unknown ({type(exc).__name__})"
        evidence.append({"service": service.name, "host": url.host, "url_says": hint, "probe_says": probed,
                         "declared_pooler_mode": service.pooler_mode,
                         "prepared_statements": service.prepared_statements})
        transaction = "transaction" in (hint, probed, service.pooler_mode)
        if transaction and service.prepared_statements is not False:
            why = [f"{w} says transaction pooling" for w, v in (
                ("the URL (port 6543)", hint), ("the probe (a named prepared statement did not survive into the "
                                                "next transaction)", probed),
                ("pooler_mode", service.pooler_mode)) if v == "transaction"]
            declared = "on" if service.prepared_statements else "undeclared"
            findings.append(check.finding(
                f"{service.name} goes through a transaction pooler with prepared statements {declared}",
                f"service {service.name} -> {url.host} ({url.source})",
                "Turn prepared statements off in the service, then set prepared_statements = false for it in "
                "dbrunbook.toml: asyncpg statement_cache_size=0 (SQLAlchemy+asyncpg also "
                "prepared_statement_cache_size=0), psycopg 3 prepare_threshold=None; or use the session "
                "pooler (port 5432).",
                detail="; ".join(why) + "\nexpect: prepared statement \"__asyncpg_stmt_N__\" already exists / "
                       "does not exist, or \"_pg3_0\" already exists",
                metadata={"service": service.name}))
    check.add_evidence("poolers", evidence)
    check.require_none(findings)
