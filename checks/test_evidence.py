"""Runbook "Coleta para pós-incidente": the evidence bundle is collected, redacted, written and attached."""

from __future__ import annotations

from typing import Any

import pytest

from dbrunbook import evidence
from dbrunbook.checking import Check
from dbrunbook.config import RunbookConfig
from dbrunbook.reporting import STATE_KEY
from dbrunbook.targets import Target

pytestmark = [pytest.mark.evidence]


@pytest.mark.check("evidence.bundle", severity="P3", runbook="Coleta para pós-incidente")
def test_evidence_bundle_is_complete(target: Target, db: Any, check: Check, runbook_config: RunbookConfig,
                                     pytestconfig: pytest.Config) -> None:
    """Every section of the bundle was collected and probe latency p95 is under probe_latency_warn_ms."""
    started = pytestconfig.stash[STATE_KEY]["started"] if STATE_KEY in pytestconfig.stash else None
    bundle = evidence.collect(target, run_started_at=started)
    path = evidence.write(bundle, runbook_config.reports_dir) if runbook_config.write_reports else None
    check.add_evidence("bundle_path", str(path) if path else "(reports off: not written)")
    check.add_evidence("bundle", bundle)
    findings = [check.finding(f"evidence section {name!r} could not be collected: {error}",
                              f"target {target.name} ({target.host})",
                              "Collect it by hand for the post-mortem (runbook 'Coleta para pós-incidente': "
                              "pg_stat_activity / pg_locks queries), and check the probe role's grants "
                              "(pg_monitor) and the lock_timeout/statement_timeout thresholds.")
                for name, error in bundle["errors"].items()]
    latency = bundle.get("probe_latency") or {}
    limit = target.spec.thresholds.probe_latency_warn_ms
    if latency and latency["p95_ms"] > limit:
        findings.append(check.finding(
            f"probe latency p95 {latency['p95_ms']} ms > probe_latency_warn_ms {limit:g} ms "
            f"(p50 {latency['p50_ms']} ms over {latency['probes']} probes of select 1)",
            f"target {target.name} ({target.host})",
            "The database answers slowly even to select 1: check CPU/IO on the project's dashboard, blockers "
            "(pytest -m locks) and connection headroom; record it in the post-mortem with this bundle.",
            detail=f"bundle: {path}"))
    check.require_none(findings)
