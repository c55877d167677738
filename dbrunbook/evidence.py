"""Post-incident evidence bundle (runbook "Coleta para pós-incidente"): one redacted, timestamped JSON.

Every section is collected in its own bounded probe transaction; a section that fails (timeout,
permission) is recorded under ``errors`` instead of stopping the others. Bundles are written to
``<reports>/evidence/evidence-<target>-<UTC>.json`` (a subfolder, so the run's own JSON report stays
the only ``*.json`` at the top of ``reports/``) and compared with ``dbrunbook evidence-diff A B``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dbrunbook import connections, locks, resources, session
from dbrunbook.redact import REDACTOR, jsonable

if TYPE_CHECKING:
    import psycopg

    from dbrunbook.targets import Target

FORMAT = 1
PROBES = 10


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


def probe_latency(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy,
                  probes: int = PROBES) -> dict[str, Any]:
    """``select 1`` round trips (ms) over ``probes`` probes: p50, p95, max."""
    samples = []
    for _ in range(probes):
        t0 = time.perf_counter()
        session.query(conn, policy, "select 1")
        samples.append((time.perf_counter() - t0) * 1000)
    return {"probes": probes, "p50_ms": _percentile(samples, 50), "p95_ms": _percentile(samples, 95),
            "max_ms": round(max(samples), 2), "mean_ms": round(statistics.fmean(samples), 2)}


def collect(target: Target, *, run_started_at: datetime | None = None, probes: int = PROBES) -> dict[str, Any]:
    """Collect the bundle for one reachable target (redacted, JSON types only)."""
    conn = target.connection()
    policy = target.policy
    t = target.spec.thresholds
    now = datetime.now(UTC)
    bundle: dict[str, Any] = {
        "format": FORMAT, "tool": "dbrunbook",
        "window": {"run_started_at": run_started_at.isoformat() if run_started_at else None,
                   "collected_at": now.isoformat()},
        "target": {"name": target.name, "host": target.host, "kind": target.spec.kind,
                   "read_only": target.spec.read_only},
        "errors": {},
    }

    def section(name: str, build: Callable[[], Any]) -> None:
        try:
            bundle[name] = build()
        except Exception as exc:  # one failing section must not cost the others
            bundle["errors"][name] = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
            if conn.broken:
                raise

    def settings() -> dict[str, Any]:
        rows = session.query(conn, policy, resources.sql("evidence_settings"))
        return {r["name"]: r["setting"] + (f" {r['unit']}" if r["unit"] else "") for r in rows}

    def activity() -> list[dict[str, Any]]:
        return [s.as_dict() for s in snapshot]

    snapshot: list[locks.Session] = []

    def take_snapshot() -> list[dict[str, Any]]:
        snapshot.extend(locks.sessions(conn, policy))
        return activity()

    def conns() -> dict[str, Any]:
        usage = connections.usage(conn, policy)
        rows = connections.breakdown(conn, policy)
        return {**usage.__dict__, "available": usage.available, "headroom": usage.headroom,
                "by_application": connections.totals_by(rows, "application_name"),
                "by_role": connections.totals_by(rows, "usename"), "by_state": connections.totals_by(rows, "state")}

    def history() -> dict[str, Any]:
        present = session.query(conn, policy, resources.sql("evidence_history_table"))[0]["present"]
        if not present:
            return {"present": False, "head": []}
        return {"present": True, "head": session.query(conn, policy, resources.sql("evidence_migrations"))}

    section("server", settings)
    section("pg_stat_activity", take_snapshot)
    section("pg_locks", lambda: session.query(conn, policy, resources.sql("evidence_locks")))
    section("blocking_trees", lambda: [c.as_dict() for c in locks.blocking_chains(conn, policy, snapshot)])
    section("connections", conns)
    section("pg_stat_database", lambda: session.query(conn, policy, resources.sql("locks_db_counters")))
    section("long_running", lambda: [s.pid for s in snapshot
                                     if s.state == "active" and (s.query_age_s or 0) > t.long_query_s])
    section("idle_in_transaction", lambda: [s.pid for s in snapshot if s.idle_in_transaction
                                            and (s.state_age_s or 0) > t.idle_in_transaction_s])
    section("oldest_transaction", lambda: max((s.as_dict() for s in snapshot if s.xact_age_s is not None),
                                              key=lambda d: d["xact_age_s"], default=None))
    section("prepared_xacts", lambda: session.query(conn, policy, resources.sql("activity_prepared_xacts")))
    section("migrations", history)
    section("probe_latency", lambda: probe_latency(conn, policy, probes))
    bundle["thresholds"] = dict(t.__dict__)
    return jsonable(bundle)  # type: ignore[no-any-return]


def write(bundle: dict[str, Any], reports_dir: Path) -> Path:
    """Write ``evidence/evidence-<target>-<UTC>.json`` under ``reports_dir`` (redacted again)."""
    folder = reports_dir / "evidence"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(bundle["window"]["collected_at"]).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / f"evidence-{bundle['target']['name']}-{stamp}.json"
    path.write_text(REDACTOR.text(json.dumps(REDACTOR.data(bundle), indent=2, default=str)), encoding="utf-8")
    return path


class AutoCapture:
    """Collects one bundle per target when a ``triage`` check fails (registered by the plugin)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.captured: dict[str, str] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
            None, pytest.TestReport, pytest.TestReport]:
        """After a failed triage check, capture evidence for its target once."""
        report = yield
        if report.when != "call" or not report.failed or item.get_closest_marker("triage") is None \
                or item.get_closest_marker("evidence") is not None:
            return report
        target = getattr(item, "funcargs", {}).get("target")
        name = getattr(target, "name", None)
        if target is None or name is None or name in self.captured:
            return report
        self.captured[name] = "(in progress)"
        try:
            from dbrunbook.factories import CONFIG_KEY

            cfg = self.config.stash[CONFIG_KEY].cfg
            if target.problem or not target.reachability().ok:
                self.captured[name] = "(target unreachable: nothing to collect)"
            else:
                bundle = collect(target)
                self.captured[name] = str(write(bundle, cfg.reports_dir)) if cfg.write_reports else "(reports off)"
        except Exception as exc:  # evidence must never break the run it documents
            self.captured[name] = f"(capture failed: {type(exc).__name__}: {exc})"
        report.sections.append(("dbrunbook evidence", REDACTOR.text(
            f"first triage failure on {name}: evidence bundle {self.captured[name]}")))
        return report
