"""Connection slots: a small max_connections server filled up fails headroom and the service pool fit."""

from __future__ import annotations

from collections.abc import Iterator

import faults
import pytest

from conftest import Product, url_target

CHECKS = ("-m", "locks", "--target=t", "-k", "connection or pool")


def services(size: int) -> str:
    return f"""
    [[targets.t.services]]
    name = "agent-runtime"
    pool_max_size = {size}
    """


@pytest.fixture(scope="module")
def small() -> Iterator[faults.SmallCluster]:
    # max_connections 8 - superuser_reserved 2 = 6 usable slots
    with faults.small_cluster(max_connections=8, superuser_reserved=2) as cluster:
        yield cluster


@pytest.mark.fault(scenario="healthy small server (8 slots)",
                   expect="pass: connections.headroom, connections.service_pools")
def test_healthy_small_server_passes(product: Product, small: faults.SmallCluster) -> None:
    run = product.run(*CHECKS, targets_toml=url_target(services(3)), env={"T_DB_URL": small.dsn})
    assert run.outcome("connections.headroom") == "passed", run.output
    assert run.outcome("connections.service_pools") == "passed", run.output
    evidence = run.result("connections.headroom")["evidence"]["connections"]
    assert evidence["available"] == 6 and evidence["max_connections"] == 8


@pytest.mark.fault(scenario="connection slots nearly exhausted by a service",
                   expect="fail connections.headroom P1 + service_pools P1 with counts")
def test_filled_server_fails_with_counts_and_the_pool_that_no_longer_fits(
        product: Product, small: faults.SmallCluster) -> None:
    with faults.hold_connections(small.dsn, 4, app="agent-runtime"):
        run = product.run(*CHECKS, targets_toml=url_target(services(20)), env={"T_DB_URL": small.dsn})
    assert run.returncode == 1, run.output
    headroom = run.message("connections.headroom")
    assert "1 slot(s) remain" in headroom, headroom
    assert "5 of 6 usable slots in use" in headroom and "max_connections 8" in headroom
    assert "agent-runtime=4" in headroom and "dbrunbook=1" in headroom
    pools = run.message("connections.service_pools")
    assert "agent-runtime wants 16 more connection(s) (pool_max_size 20, holds 4); 1 slot(s) remain" in pools
    assert "ConnectionPool not started" in pools
