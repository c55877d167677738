"""The runbook's escalation rules ("Escalação"): whom to call, and when, for a run's graded results.

One function, read by the terminal summary (reporting.py) and the HTML first screen (html_report.py):
both must say the same thing to on-call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from dbrunbook import runbook
from dbrunbook.config import RunbookConfig

#: "Se não houver recuperação em 15 minutos: acionar responsável de infra/DBA".
ESCALATION_AFTER = timedelta(minutes=15)


def graded(results: Iterable[dict[str, Any]]) -> defaultdict[str, list[dict[str, Any]]]:
    """Verdicts, and causes that carry a severity (a target gone is an outage), grouped by severity.

    >>> dict(graded([{"outcome": "failed", "severity": "P0"}, {"outcome": "inconclusive", "severity": None}]))
    {'P0': [{'outcome': 'failed', 'severity': 'P0'}]}
    """
    found: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        if result.get("outcome") in ("failed", "inconclusive") and result.get("severity"):
            found[str(result["severity"])].append(result)
    return found


def escalation_lines(cfg: RunbookConfig, failed: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The runbook's escalation rules for these graded results (severity -> records), in English."""
    who, p0 = cfg.escalation.infra_dba, cfg.escalation.incident_p0
    lines = []
    if failed.get("P0"):
        lines.append(f"ESCALATE: multi-tenant exposure (RLS leaking or blocking, tenant data opened) -> {p0} now "
                     "(runbook 'Escalação').")
    if cfg.incident_start is not None:
        elapsed = datetime.now(UTC) - cfg.incident_start
        minutes = int(elapsed.total_seconds() // 60)
        if elapsed > ESCALATION_AFTER and any(failed.values()):
            lines.append(f"ESCALATE: {minutes} min since the incident started "
                         f"({cfg.incident_start:%H:%M} UTC) without recovery -> call {who} "
                         f"(runbook 'Escalação': 15 minutes).")
        elif any(failed.values()):
            lines.append(f"{minutes} min since the incident started: call {who} if not "
                         f"recovered by {(cfg.incident_start + ESCALATION_AFTER):%H:%M} UTC.")
    elif any(failed.get(s) for s in ("P1", "P2")):
        lines.append(f"If this is not recovered within 15 minutes: call {who} (runbook "
                     "'Escalação'; pass --incident-start to have the clock kept for you).")
    return [runbook.english(line) for line in lines]
