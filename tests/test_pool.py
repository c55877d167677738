"""Pool readiness: real pools through a real PgBouncer in transaction mode and against a small server."""

from __future__ import annotations

from collections.abc import Iterator

import faults
import pytest
from pgbouncer import Bouncer, pgbouncer

from conftest import Product, url_target
from dbrunbook.targets.embedded import EmbeddedInfo

POOL = ("-m", "pool", "--target=t")


@pytest.fixture(scope="module")
def bouncer(supabase_server: EmbeddedInfo) -> Iterator[Bouncer]:
    with pgbouncer(supabase_server.dsn, pool_mode="transaction") as running:
        yield running


@pytest.mark.fault(scenario="healthy pool through PgBouncer",
                   expect="pass: pool.service_ready, pool.prepared_statements")
def test_healthy_pool_through_pgbouncer_passes(product: Product, bouncer: Bouncer) -> None:
    toml = url_target("""
    [[targets.t.services]]
    name = "backoffice-api"
    db_url_env = "BACKOFFICE_DB_URL"
    pool_min_size = 1
    pool_max_size = 4
    prepared_statements = false
    """)
    run = product.run(*POOL, targets_toml=toml, env={"T_DB_URL": bouncer.dsn, "BACKOFFICE_DB_URL": bouncer.dsn})
    assert run.returncode == 0, run.output
    pools = run.result("pool.service_ready")["evidence"]["pools"]
    assert pools[0]["acquired"] == 4 and pools[0]["ok"] is True
    poolers = run.result("pool.prepared_statements")["evidence"]["poolers"]
    assert poolers[0]["probe_says"] == "transaction"  # the probe tells PgBouncer's transaction mode


@pytest.mark.fault(scenario="pool cannot start (refused, timeout, auth, prepared statements)",
                   expect="fail pool.* P1 classified, runbook step")
def test_pool_failures_are_classified_with_the_runbook_step(
        product: Product, bouncer: Bouncer, supabase_server: EmbeddedInfo) -> None:
    toml = url_target("""
    [targets.t.thresholds]
    connect_timeout_s = 2

    [[targets.t.services]]
    name = "agent-runtime"
    db_url_env = "AGENT_DB_URL"
    pool_max_size = 20
    prepared_statements = true

    [[targets.t.services]]
    name = "autentique-service"
    db_url_env = "AUTENTIQUE_DB_URL"
    pool_max_size = 2
    prepared_statements = false

    [[targets.t.services]]
    name = "backoffice-api"
    db_url_env = "BACKOFFICE_DB_URL"
    pool_max_size = 2
    prepared_statements = true
    """)
    wrong = "Wr0ng-Pool-Passw0rd"
    with faults.small_cluster(max_connections=8, superuser_reserved=2) as small:
        run = product.run(*POOL, targets_toml=toml, timeout=120, env={
            "T_DB_URL": supabase_server.dsn, "AGENT_DB_URL": small.dsn,
            "AUTENTIQUE_DB_URL": small.dsn.replace(small.password, wrong),
            "BACKOFFICE_DB_URL": bouncer.dsn})
    assert run.returncode == 1, run.output
    ready = run.message("pool.service_ready")
    # a pool larger than the server's free slots is never opened (it would take the last slots)
    assert "agent-runtime's pool" not in ready and "ConnectionPool not started" in ready
    pools = {p["service"]: p for p in run.result("pool.service_ready")["evidence"]["pools"]}
    assert pools["agent-runtime"]["skipped"].startswith("not opened: agent-runtime's pool_max_size 20"), pools
    # wrong password: auth, and the password never printed
    assert "autentique-service's pool got 0 of 2 connections" in ready and "cause: auth" in ready
    assert "backoffice-api" not in ready  # through PgBouncer it opens fine
    for path in run.report_files().values():
        assert wrong not in path.read_text()
    prepared = run.message("pool.prepared_statements")
    assert "backoffice-api goes through a transaction pooler with prepared statements on" in prepared
    assert "the probe (a named prepared statement did not survive" in prepared
    assert "statement_cache_size=0" in prepared and "prepare_threshold=None" in prepared
    assert "agent-runtime" not in prepared  # a direct server keeps prepared statements across transactions


@pytest.mark.fault(scenario="pool bigger than the free slots",
                   expect="pool.service_ready skips (not opened); connections.service_pools fails")
def test_pool_probe_never_takes_the_last_slots_of_the_target(product: Product) -> None:
    # Safe on production first: a pool that would not fit the free slots is not opened by the probe.
    toml = url_target("""
    [[targets.t.services]]
    name = "agent-runtime"
    pool_max_size = 20
    """)
    with faults.small_cluster(max_connections=8, superuser_reserved=2) as small:
        run = product.run("checks/test_pool.py", "checks/test_connections.py", "--target=t", targets_toml=toml,
                          timeout=120, env={"T_DB_URL": small.dsn})
    assert run.outcome("pool.service_ready") == "skipped", run.output
    assert "not opened: agent-runtime's pool_max_size 20 would leave 0 of" in run.message("pool.service_ready")
    assert run.outcome("connections.service_pools") == "failed"  # the headroom check says it does not fit


@pytest.mark.fault(scenario="service behind a session-mode PgBouncer (pool_size 8): console readable, and not",
                   expect="pool_max_size 4 not opened (would leave 4 < 5 pooler server connections); size 2 opens; "
                          "unreadable console: not opened, says what was not proven")
def test_session_pooler_server_connections_are_counted_too(product: Product, supabase_server: EmbeddedInfo) -> None:
    toml = url_target("""
    [[targets.t.services]]
    name = "backoffice-api"
    db_url_env = "READABLE_URL"
    pooler_mode = "session"
    pool_max_size = 4

    [[targets.t.services]]
    name = "agent-runtime"
    db_url_env = "READABLE_URL"
    pooler_mode = "session"
    pool_min_size = 1
    pool_max_size = 2

    [[targets.t.services]]
    name = "autentique-service"
    db_url_env = "OPAQUE_URL"
    pooler_mode = "session"
    pool_max_size = 2
    """)
    with pgbouncer(supabase_server.dsn, pool_mode="session", pool_size=8, stats_user=True) as readable, \
            pgbouncer(supabase_server.dsn, pool_mode="session", pool_size=8) as opaque:
        run = product.run("-m", "pool", "--target=t", "-k", "every_service_pool_opens", targets_toml=toml, timeout=120,
                          env={"T_DB_URL": supabase_server.dsn, "READABLE_URL": readable.dsn,
                               "OPAQUE_URL": opaque.dsn})
    pools = {p["service"]: p for p in run.result("pool.service_ready")["evidence"]["pools"]}
    assert "would leave 4 of 8 free server connections of the session pooler" in pools["backoffice-api"]["skipped"], \
        pools
    assert pools["agent-runtime"]["ok"] is True and pools["agent-runtime"]["acquired"] == 2, pools
    assert pools["agent-runtime"]["headroom"]["pooler_free"] == 8, pools
    opaque_skip = pools["autentique-service"]["skipped"]
    assert "session-mode pooler" in opaque_skip and "could not be read" in opaque_skip, pools
    assert pools["autentique-service"]["headroom"]["not_proven"], pools
