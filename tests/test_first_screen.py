"""The first screen's content from result records (the JSON bundle's shape), without a browser.

The browser test (test_html_report.py) shows a real run; these pin the rules that run does not reach:
several targets, a cause with a severity, a setup error that must never read as its marker's P0.
"""

from __future__ import annotations

import re
from typing import Any

from dbrunbook.first_screen import first_screen, top_findings, verdicts


def record(target: str, outcome: str, severity: str | None, check_id: str = "x.check", **extra: Any) -> dict[str, Any]:
    return {"nodeid": f"t::{check_id}[{target}]", "target": target, "check_id": check_id, "outcome": outcome,
            "severity": severity, "findings": [], "title": extra.pop("title", ""), "cause": None, **extra}


GONE = {"kind": "target_gone", "message": "prod stopped answering at 03:12:09 UTC", "fix": "check prod's status",
        "first_nodeid": "a"}
SETUP = {"kind": "setup", "message": "contract rls.toml: unknown identity 'tenant_c'",
         "fix": "add [identities.tenant_c]", "first_nodeid": "b"}

RESULTS = [
    record("staging", "failed", "P3", "migrations.folder_hygiene",
           findings=[{"severity": "P3", "title": "a file name breaks the pattern", "where": "x.sql",
                      "remediation": "rename it"}]),
    record("prod", "inconclusive", "P1", "triage.db_reachable", cause=GONE, title=GONE["message"]),
    record("prod", "skipped", "P0", "rls.read_isolation", cause=GONE),
    record("staging", "inconclusive", None, "rls.read_isolation", cause=SETUP, title=SETUP["message"]),
    record("staging", "failed", "P0", "rls.coverage",
           findings=[{"severity": "P0", "title": "public.notes has RLS off", "where": "public.notes",
                      "remediation": "alter table public.notes enable row level security;"}]),
    record("staging", "passed", "P2", "locks.blocking_chains"),
]


def test_each_target_gets_its_own_verdict() -> None:
    by_target = {v.target: v for v in verdicts(RESULTS, ["prod", "staging"])}
    assert by_target["prod"].worst == "P1"  # a target gone mid-run is an outage, not a pass
    assert by_target["prod"].counts["inconclusive"] == 1 and by_target["prod"].counts["skipped"] == 1
    assert by_target["staging"].worst == "P0"
    assert (by_target["staging"].counts["P0"], by_target["staging"].counts["P3"]) == (1, 1)
    assert by_target["staging"].counts["inconclusive"] == 1 and by_target["staging"].counts["passed"] == 1


def test_findings_worst_first_and_a_setup_error_is_never_a_p0() -> None:
    top = top_findings(RESULTS)
    assert [t.severity for t in top] == ["P0", "P1", "inconclusive", "P3"], top
    setup = top[2]
    assert setup.check_id == "rls.read_isolation" and "unknown identity" in setup.title
    assert setup.fix == "add [identities.tenant_c]"
    assert top[0].fix == "alter table public.notes enable row level security;"


def test_first_screen_html_names_verdicts_escalation_and_fixes() -> None:
    page = first_screen(RESULTS, ["prod", "staging"], ["ESCALATE: incident P0 now"], title="dbrunbook: prod, staging")
    words = re.findall(r'data-worst="([^"]+)"', page)
    assert words == ["P1", "P0"], words
    assert "ESCALATE: incident P0 now" in page
    order = [page.index(text) for text in ("public.notes has RLS off", "prod stopped answering", "unknown identity")]
    assert order == sorted(order)
    calm = first_screen([record("prod", "passed", "P0")], ["prod"], [], title="t")
    assert 'data-worst="pass"' in calm and "No escalation" in calm
