"""Report wiring: one makereport hookwrapper feeds the terminal, HTML, JUnit and the JSON bundle.

Every string that leaves the run goes through ``redact`` first: failure text, captured output,
evidence. Findings travel on the report object itself (``report.dbrunbook``), which
pytest-xdist serializes with the report, so the controller writes one set of reports.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dbrunbook import __version__, html_report, lockguard
from dbrunbook.checking import CHECK_KEY
from dbrunbook.config import RunbookConfig
from dbrunbook.findings import SEVERITIES, SEVERITY_MEANING, CheckMeta
from dbrunbook.redact import REDACTOR, jsonable

STATE_KEY = pytest.StashKey[dict[str, Any]]()
ESCALATION_AFTER = timedelta(minutes=15)


def configure(config: pytest.Config, cfg: RunbookConfig) -> None:
    """Choose report paths (controller only) before pytest-html and junitxml read them."""
    now = datetime.now(UTC)
    state: dict[str, Any] = {"started": now, "t0": time.monotonic(), "results": [], "paths": {}, "servers": {}}
    config.stash[STATE_KEY] = state
    if not cfg.write_reports or hasattr(config, "workerinput"):
        return
    stem = "+".join(t.name for t in cfg.targets) + "-" + now.strftime("%Y%m%dT%H%M%SZ")
    cfg.reports_dir.mkdir(parents=True, exist_ok=True)
    base = cfg.reports_dir / stem
    if config.pluginmanager.hasplugin("html") and not getattr(config.option, "htmlpath", None):
        config.option.htmlpath = str(base.with_suffix(".html"))
        config.option.self_contained_html = True
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(base.with_suffix(".xml"))
    state["paths"] = {"html": getattr(config.option, "htmlpath", None), "junit": config.option.xmlpath,
                      "json": str(base.with_suffix(".json"))}


def _redact_report(report: pytest.TestReport) -> None:
    if isinstance(report.longrepr, tuple):
        path, lineno, reason = report.longrepr
        report.longrepr = (path, lineno, REDACTOR.text(reason))
    elif report.longrepr is not None:
        report.longrepr = REDACTOR.text(str(report.longrepr))
    report.sections = [(REDACTOR.text(title), REDACTOR.text(body)) for title, body in report.sections]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    """Attach check metadata, findings and evidence; redact everything the report carries."""
    report = yield
    meta = CheckMeta.of(item)
    ctx = item.stash.get(CHECK_KEY, None)
    callspec = getattr(item, "callspec", None)
    target_name = callspec.params.get("_dbrunbook_target") if callspec else None
    if meta is not None:
        props: list[tuple[str, object]] = [("check_id", meta.check_id), ("severity", meta.severity),
                                           ("runbook", meta.runbook)]
        if target_name:
            props.append(("target", target_name))
        report.user_properties = [*(p for p in report.user_properties if p[0] not in dict(props)), *props]
    if report.failed and call.excinfo is not None and lockguard.gave_up(call.excinfo.value):
        # The probe waited lock_timeout behind someone's lock: inconclusive, and locks.blocking_chains
        # reports the lock. Failing here would print a false verdict for the rule this check tests.
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0,
                           f"Skipped: {lockguard.gave_up_reason(call.excinfo.value)}")
    _redact_report(report)
    if meta is not None and (report.when == "call" or report.outcome != "passed"):
        data = {
            "check_id": meta.check_id, "severity": meta.severity, "runbook": meta.runbook, "target": target_name,
            "findings": [f.as_dict() for f in ctx.findings] if ctx else [],
            "evidence": ctx.evidence if ctx else {},
        }
        report.dbrunbook = jsonable(data)  # type: ignore[attr-defined]
        if ctx and ctx.evidence and item.config.pluginmanager.hasplugin("html"):
            from pytest_html import extras

            report.extras = [*getattr(report, "extras", []),  # type: ignore[attr-defined]
                             extras.json(report.dbrunbook["evidence"], name="evidence")]
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Controller side: remember each check's outcome for the summary and the JSON bundle."""
    data = getattr(report, "dbrunbook", None)
    if data is None:
        return
    outcome = report.outcome if report.when == "call" or report.outcome != "passed" else None
    if outcome is None:
        return
    _RESULTS.append({"nodeid": report.nodeid, "when": report.when, "outcome": outcome,
                     "duration_s": round(report.duration, 4), **data,
                     "message": _message(report)})


def _message(report: pytest.TestReport) -> str | None:
    """Failure text, or the skip reason (it says what to configure); None for a pass."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return REDACTOR.text(str(report.longrepr[2]))
    return REDACTOR.text(str(report.longrepr))[:4000] if report.failed else None


#: Collected by logreport (controller); a module global because logreport has no config argument.
_RESULTS: list[dict[str, Any]] = []


def _escalation(cfg: RunbookConfig, failed: dict[str, list[dict[str, Any]]]) -> list[str]:
    who, p0 = cfg.escalation.infra_dba, cfg.escalation.incident_p0
    lines = []
    if failed.get("P0"):
        lines.append(f"ESCALATE: multi-tenant impact (RLS leaking or blocking) -> {p0} now "
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
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Failures grouped by severity, the runbook's escalation rule, and where the reports are."""
    from dbrunbook.factories import CONFIG_KEY

    if hasattr(config, "workerinput"):
        return
    cfg: RunbookConfig = config.stash[CONFIG_KEY].cfg
    failed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in _RESULTS:
        if result["outcome"] == "failed":
            failed[result["severity"]].append(result)
    tr = terminalreporter
    if _RESULTS:
        tr.write_sep("=", "dbrunbook: failures by severity")
        if not any(failed.values()):
            ran = sum(r["outcome"] != "skipped" for r in _RESULTS)
            tr.write_line(f"no check failed ({ran} checks ran).", green=True)
        for severity in SEVERITIES:
            for i, result in enumerate(failed.get(severity, [])):
                if i == 0:
                    tr.write_line(f"{severity} - {SEVERITY_MEANING[severity]}:", red=severity in ("P0", "P1"),
                                  bold=True)
                titles = [f["title"] for f in result["findings"]] or [_first_line(result.get("message"))]
                tr.write_line(f"  {result['check_id']} [{result['target']}]: {titles[0]}"
                              + (f" (+{len(titles) - 1} more)" if len(titles) > 1 else ""))
        html_report.terminal_matrix(config, tr)  # the compact RLS grid when the matrix fails
        for line in _escalation(cfg, failed):
            tr.write_line(line, red=True, bold=True)
        skipped = sum(r["outcome"] == "skipped" for r in _RESULTS)
        if skipped:
            # Skip reasons say what to configure; -rfE keeps them out of an incident's terminal.
            tr.write_line(f"{skipped} checks skipped (not configured or not applicable here): reasons in the "
                          "HTML/JSON report, or add -rs")
    paths = config.stash[STATE_KEY]["paths"]
    if paths:
        tr.write_sep("-", "dbrunbook reports")
        for kind in ("html", "junit", "json"):
            if paths.get(kind):
                tr.write_line(f"{kind:>5}: {paths[kind]}")


def _first_line(text: str | None) -> str:
    lines = (text or "").splitlines()
    errors = [ln[1:] for ln in lines if ln.startswith("E ")]
    for line in errors or lines:
        if line.strip():
            return line.strip()[:200]
    return "(no message)"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the JSON bundle: findings and evidence of every check, redacted."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    state = config.stash.get(STATE_KEY, None)
    if not state or not state["paths"].get("json"):
        return
    from dbrunbook.factories import CONFIG_KEY

    cfg: RunbookConfig = config.stash[CONFIG_KEY].cfg
    finished = datetime.now(UTC)
    by_severity: dict[str, int] = defaultdict(int)
    for result in _RESULTS:
        if result["outcome"] == "failed":
            by_severity[result["severity"]] += 1
    bundle = {
        "tool": "dbrunbook", "version": __version__, "exit_status": int(exitstatus),
        "window": {"started_at": state["started"].isoformat(), "finished_at": finished.isoformat(),
                   "duration_s": round(time.monotonic() - state["t0"], 3)},
        "targets": [{"name": t.name, "kind": t.kind, "read_only": t.read_only} for t in cfg.targets],
        "incident_start": cfg.incident_start.isoformat() if cfg.incident_start else None,
        "summary": {"checks": len(_RESULTS), "failed_by_severity": dict(by_severity),
                    "outcomes": {o: sum(r["outcome"] == o for r in _RESULTS) for o in ("passed", "failed", "skipped")}},
        "results": _RESULTS,
    }
    path = Path(state["paths"]["json"])
    # Each result was redacted string by string when its report was made (logreport, makereport);
    # one more pattern pass over the whole text catches anything the bundle's own fields carry.
    path.write_text(REDACTOR.text(json.dumps(bundle, indent=2, default=str)), encoding="utf-8")


@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report: Any) -> None:
    """Title the HTML report after the targets."""
    report.title = "dbrunbook report"


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    """Add Check and Severity columns."""
    cells.insert(1, '<th class="sortable" data-column-type="check">Check</th>')
    cells.insert(2, '<th class="sortable" data-column-type="severity">Severity</th>')


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    """Fill the Check and Severity columns."""
    data = getattr(report, "dbrunbook", None) or {}
    props = dict(getattr(report, "user_properties", []))
    cells.insert(1, f'<td class="col-check">{data.get("check_id") or props.get("check_id", "")}</td>')
    cells.insert(2, f'<td class="col-severity">{data.get("severity") or props.get("severity", "")}</td>')
