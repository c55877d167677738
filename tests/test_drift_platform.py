"""Drift against a production whose platform layer differs on purpose: only the project's drift counts.

"Production" here is the embedded platform layer changed by ``tests/platform_b.sql`` (other extension
versions and pre-installed extensions, extra platform schemas and grants, platform roles' default
privileges and settings, a platform publication), then the project's migrations applied and recorded
as the Supabase CLI does. The shadow drift is compared with is built on the unchanged embedded layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from test_drift import DRIFT, MEMBERSHIP, MEMBERSHIP_EXPECTED, MEMBERSHIP_FAULTS, _toml, drift_report, drifted
from test_drift_support import cloned_database

from conftest import Product
from dbrunbook import migrations
from dbrunbook.targets.embedded import EmbeddedInfo, EmbeddedServer, resolve_platform

PLATFORM_B = Path(__file__).with_name("platform_b.sql")


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedInfo]:
    """The membership project on platform layer B (its own cluster: role settings are cluster-wide)."""
    era = resolve_platform("auto", MEMBERSHIP)
    server = EmbeddedServer(tmp_path_factory.mktemp("platform-only"), platform=era)
    try:
        info = server.start()
        with psycopg.connect(info.admin_dsn, autocommit=True) as conn:
            conn.execute(PLATFORM_B.read_bytes())
        with psycopg.connect(info.dsn, autocommit=True) as conn:  # as postgres, as `supabase db push`
            migrations.apply_all(conn, MEMBERSHIP, platform=era)
        yield info
    finally:
        server.stop()


@pytest.mark.fault(scenario="healthy production on a different platform layer (tests/platform_b.sql)",
                   expect="pass: every drift kind; platform-layer differences listed in the drift report only")
def test_a_different_platform_layer_is_not_drift(product: Product, production: EmbeddedInfo) -> None:
    run = product.run(*DRIFT, "--target=t", targets_toml=_toml(MEMBERSHIP), env={"T_DB_URL": production.dsn})
    assert run.returncode == 0, run.output
    assert drifted(run) == {}
    report = drift_report(run)["targets"][0]  # type: ignore[index]
    hidden = {(h["kind"], h["object"]) for h in report["platform_layer_not_shown"]}
    for expected in [("extensions", "pg_stat_statements"), ("schemas", "platform_ops"),
                     ("default_privileges", "for role postgres in public on tables to supabase_read_only_user"),
                     ("tables", "_supavisor.tenants"),
                     ("role_settings", "role authenticator: pgrst.db_pre_config"),
                     ("publications", "supabase_realtime_messages_publication")]:
        assert expected in hidden, (expected, sorted(hidden))
    notes = run.result("drift.baseline")["evidence"]["baseline"]["notes"]
    assert any("platform-layer difference(s) not shown" in n and "--drift-scope=all" in n for n in notes), notes

    everything = product.run(*DRIFT, "--target=t", "--drift-scope=all", targets_toml=_toml(MEMBERSHIP),
                             env={"T_DB_URL": production.dsn})
    assert everything.returncode == 1, everything.output
    shown = drifted(everything)
    assert ("changed", "pg_stat_statements") in shown["extensions"]
    assert ("unexpected", "role authenticator: pgrst.db_pre_config") in shown["role_settings"]
    assert "platform layer" not in everything.message("drift.extensions") or \
        "not a missing migration" not in everything.message("drift.extensions")


@pytest.mark.fault(scenario="user-owned drift on a production with a different platform layer",
                   expect="fail drift.functions/policies/triggers/cron_jobs/role_settings, nothing else")
def test_user_owned_drift_is_still_found_on_another_platform_layer(product: Product, production: EmbeddedInfo) -> None:
    with cloned_database(production, "prod_drift") as clone:
        clone.admin(*(s.replace("alter role authenticator", "alter role authenticator in database prod_drift")
                      for s in MEMBERSHIP_FAULTS))  # role settings per database: the cluster stays healthy
        run = product.run(*DRIFT, "--target=t", targets_toml=_toml(MEMBERSHIP), env={"T_DB_URL": clone.dsn})
    assert run.returncode == 1, run.output
    assert drifted(run) == {**MEMBERSHIP_EXPECTED,
                            "role_settings": {("unexpected", "role authenticator in this database: statement_timeout")}}


@pytest.mark.fault(scenario="--drift-scope / DBRUNBOOK_DRIFT_SCOPE with an unknown value",
                   expect="usage error (exit 4) naming the option and the choices")
@pytest.mark.parametrize("how", ["flag", "env"])
def test_an_unknown_drift_scope_is_a_usage_error(product: Product, how: str) -> None:
    args = ["--drift-scope=everything"] if how == "flag" else []
    env = {"DBRUNBOOK_DRIFT_SCOPE": "everything"} if how == "env" else {}
    run = product.run(*DRIFT, "--target=t", *args, targets_toml=_toml(MEMBERSHIP), env={"T_DB_URL": "x", **env})
    assert run.returncode == 4, run.output
    assert "everything" in run.output and "user" in run.output and "all" in run.output
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output
