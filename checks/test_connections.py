"""Runbook "Diagnóstico 2" / "Mitigação (aumentar pool)": connection slots and service pools that must fit."""

from __future__ import annotations

from typing import Any

import pytest

from dbrunbook import connections
from dbrunbook.checking import Check
from dbrunbook.targets import Target

pytestmark = [pytest.mark.locks, pytest.mark.triage]

RUNBOOK = "Diagnóstico 2 (Locks e queries lentas) / Mitigação (aumentar pool)"


def _reference(target: Target, usage: connections.Usage) -> str:
    return f"\n{connections.hosted_reference(usage)}" if connections.is_hosted(target.host) else ""


@pytest.mark.check("connections.headroom", severity="P1", runbook=RUNBOOK)
def test_connection_slots_have_headroom(target: Target, db: Any, check: Check) -> None:
    """Used client connections stay under connections_used_pct of max_connections minus reserved slots."""
    usage = connections.usage(db, target.policy)
    rows = connections.breakdown(db, target.policy)
    by_app = connections.totals_by(rows, "application_name")
    check.add_evidence("connections", {**usage.__dict__, "available": usage.available, "headroom": usage.headroom,
                                       "by_application": by_app, "by_role": connections.totals_by(rows, "usename"),
                                       "by_state": connections.totals_by(rows, "state"), "rows": rows})
    limit = target.spec.thresholds.connections_used_pct
    if usage.used_pct >= limit:
        top = ", ".join(f"{app}={n}" for app, n in list(by_app.items())[:8])
        states = ", ".join(f"{s}={n}" for s, n in connections.totals_by(rows, "state").items())
        check.fail(check.finding(
            f"{usage.used_pct:.0f}% of connection slots in use (>= connections_used_pct {limit:g}%): "
            f"{usage.headroom} slot(s) remain",
            f"{target.host}: {usage.describe()}",
            "Find who holds them (by application above; `pytest -m locks` for idle-in-transaction sessions). "
            "Restart the consumer whose connection is stuck (runbook 'Mitigação'), lower service pool sizes, "
            "move services to the pooler (port 6543), or raise the compute size.",
            detail=f"by application_name: {top}\nby state: {states}" + _reference(target, usage),
            metadata={"used": usage.used, "available": usage.available},
        ))


@pytest.mark.check("connections.service_pools", severity="P1", runbook=RUNBOOK)
def test_every_service_pool_fits_the_headroom(target: Target, db: Any, check: Check) -> None:
    """Each configured service's pool_max_size fits in the slots that remain (and all of them together)."""
    if not target.spec.services:
        pytest.skip(f"target {target.name} declares no services ([[targets.{target.name}.services]] with "
                    "pool_max_size)")
    usage = connections.usage(db, target.policy)
    by_app = connections.totals_by(connections.breakdown(db, target.policy), "application_name")
    needs = connections.pool_needs(target.spec.services, by_app)
    check.add_evidence("pools", {"headroom": usage.headroom, "available": usage.available,
                                 "services": [{**n.__dict__, "wants": n.wants} for n in needs]})
    direct = [n for n in needs if not n.behind_pooler]
    findings = [
        check.finding(
            f"{n.service} wants {n.wants} more connection(s) (pool_max_size {n.pool_max_size}, holds {n.holds}); "
            f"{usage.headroom} slot(s) remain",
            f"service {n.service} -> {target.host}",
            f"Lower {n.service}'s pool_max_size to at most {n.holds + usage.headroom}, free slots held by "
            "others (see connections.headroom), or route the service through the pooler (port 6543, "
            "prepared statements off). A pool that cannot open logs 'ConnectionPool not started'.",
            detail=usage.describe() + _reference(target, usage), metadata={"service": n.service},
        )
        for n in direct if n.wants > usage.headroom
    ]
    total = sum(n.pool_max_size for n in direct)
    if not findings and total > usage.available:
        findings.append(check.finding(
            f"all direct pools at max size need {total} connections; only {usage.available} usable slots exist",
            f"services {', '.join(n.service for n in direct)} -> {target.host}",
            "Size the pools so their sum stays under the usable slots (leave room for PostgREST, Auth, "
            "Storage), or route services through the pooler.",
            detail=usage.describe() + _reference(target, usage),
        ))
    check.require_none(findings)
