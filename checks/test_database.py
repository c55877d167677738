"""Runbook "Triage 1) Validar se o banco está acessível": URL present, database reachable."""

from __future__ import annotations

import pytest

from dbrunbook.checking import Check
from dbrunbook.targets import Target

pytestmark = [pytest.mark.triage]


@pytest.mark.env
@pytest.mark.check("env.db_url_present", severity="P1", runbook="Diagnóstico 1 (Variáveis de ambiente e URLs)")
def test_db_url_is_configured(target: Target, check: Check) -> None:
    """The target has a database URL (env chain SUPABASE_DB_URL, then DATABASE_URL)."""
    check.add_evidence("db_url_source", target.dsn_source or None)
    if target.problem:
        names = " / ".join(target.spec.db_url_env) or "(embedded server)"
        check.fail(check.finding(
            target.problem, f"target {target.name}: env {names}",
            f"export {target.spec.db_url_env[0] if target.spec.db_url_env else 'SUPABASE_DB_URL'}="
            "<the connection string from dashboard > Connect (pooler user postgres.<ref>, port 5432 or 6543)>, "
            "or set db_url_env for this target in dbrunbook.toml",
        ))


@pytest.mark.check("triage.db_reachable", severity="P1", runbook="Triage 1 (psql \"$SUPABASE_DB_URL\" -c 'select 1')")
def test_database_answers_select_1(target: Target, check: Check) -> None:
    """`select 1` answers within connect_timeout; records latency, version and the connected role."""
    if target.problem:
        pytest.skip(f"{target.name}: {target.problem} (reported by env.db_url_present)")
    reach = target.reachability()
    check.add_evidence("connection", {
        "host": target.host, "source": target.dsn_source, "ok": reach.ok, "latency_ms": round(reach.latency_ms, 1),
        "server_version": reach.server_version, "user": reach.current_user, "superuser": reach.superuser,
        "bypassrls": reach.bypassrls, "database": reach.database, "read_only": target.spec.read_only,
        **({"embedded_start_s": target.info.get("start_s"), "embedded_cached": target.info.get("cached")}
           if target.info else {}),
    })
    if not reach.ok:
        assert reach.failure is not None
        reach.reported_by = reach.reported_by or "triage.db_reachable"
        check.fail(check.finding(
            reach.failure.summary, f"{target.host} ({target.dsn_source}); cause: {reach.failure.cause}",
            reach.failure.fix, detail=f"runbook step: {reach.failure.runbook}",
        ))
