"""Evidence bundle: collected and redacted, captured on a triage failure, compared by `dbrunbook evidence-diff`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import faults
import pytest

from conftest import REPO, Product, url_target
from dbrunbook.targets.embedded import EmbeddedInfo

SECTIONS = ("server", "pg_stat_activity", "pg_locks", "blocking_trees", "connections", "pg_stat_database",
            "long_running", "idle_in_transaction", "oldest_transaction", "prepared_xacts", "migrations",
            "probe_latency")


def bundles(reports: Path) -> list[Path]:
    return sorted((reports / "evidence").glob("evidence-t-*.json"))


@pytest.mark.fault(scenario="blocker + slow probes during evidence capture",
                   expect="fail evidence.bundle P3 (latency); diff names the blocker")
def test_bundle_is_complete_redacted_and_diffable(product: Product, supabase_server: EmbeddedInfo) -> None:
    env = {"T_DB_URL": supabase_server.dsn}
    healthy = product.run("-m", "evidence", "--target=t", targets_toml=url_target(), env=env)
    assert healthy.outcome("evidence.bundle") == "passed", healthy.output
    [before] = bundles(healthy.reports_dir)
    data = json.loads(before.read_text())
    assert set(SECTIONS) <= set(data) and data["errors"] == {}
    assert data["migrations"]["present"] is True and data["migrations"]["head"]
    assert data["window"]["collected_at"].endswith("+00:00")
    assert supabase_server.password not in before.read_text()
    assert "evidence" in healthy.report_files()["html"].read_text()
    # the same target during an incident: a blocker, and latency over a zero threshold fails the check
    with faults.access_exclusive_with_waiters(supabase_server.admin_dsn, ["public.documents"]) as ddl:
        slow = product.run("-m", "evidence", "--target=t", env=env,
                           targets_toml=url_target("[targets.t.thresholds]\nprobe_latency_warn_ms = 0\n"))
    assert slow.outcome("evidence.bundle") == "failed"
    assert "probe latency p95" in slow.message("evidence.bundle")
    [after] = bundles(slow.reports_dir)
    assert ddl.roots[0] in [t["root"] for t in json.loads(after.read_text())["blocking_trees"]]
    diff = subprocess.run([sys.executable, "-m", "dbrunbook.cli", "evidence-diff", str(before), str(after)],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=True).stdout
    assert f"new: [{ddl.roots[0]}]" in diff, diff
    assert "connections by application" in diff and "supabase-migrate" in diff
    assert "probe latency: p50" in diff


@pytest.mark.fault(scenario="long query during triage", expect="fail locks.long_running_queries; bundle captured")
def test_triage_failure_captures_evidence_automatically(product: Product, supabase_server: EmbeddedInfo) -> None:
    with faults.long_query(supabase_server.admin_dsn) as long:
        run = product.run("-m", "triage", "--target=t", "-k", "long", env={"T_DB_URL": supabase_server.dsn},
                          targets_toml=url_target("[targets.t.thresholds]\nlong_query_s = 0.1\n"))
    assert run.outcome("locks.long_running_queries") == "failed", run.output
    [bundle] = bundles(run.reports_dir)
    assert long.roots[0] in json.loads(bundle.read_text())["long_running"]
    assert f"first triage failure on t: evidence bundle {bundle}" in run.output
