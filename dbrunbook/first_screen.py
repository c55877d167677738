"""What the first screen of the HTML report says, built from the result records of the JSON bundle.

Pure functions of the records (``dbrunbook.results.RESULTS``: ``outcome``, ``severity``, ``title``,
``findings``, ``cause``; the shape is in ``reporting.py``'s docstring): the verdict per target, the
findings worst first with their one-line fix, and the expanded part of a result row.
:mod:`dbrunbook.html_report` puts them into the page.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from dbrunbook.findings import SEVERITIES, SEVERITY_MEANING

#: How many groups of findings the first screen lists (the rest are in the table below it).
TOP = 6
#: Sort rank of an inconclusive cause that carries no severity (a setup error): after P2, before P3.
_SETUP_RANK = 2.5
_esc = html.escape


@dataclass
class TargetVerdict:
    """One target's line on the first screen."""

    target: str
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: Severities of the causes that stopped checks (a target gone mid-run is P1).
    cause_severities: set[str] = field(default_factory=set)

    @property
    def worst(self) -> str:
        """P0..P3, ``inconclusive``, ``pass`` or ``nothing ran``."""
        for severity in SEVERITIES:
            if self.counts[severity] or severity in self.cause_severities:
                return severity
        if self.counts["inconclusive"]:
            return "inconclusive"
        return "pass" if self.counts["passed"] else "nothing ran"


@dataclass
class TopFinding:
    """Findings of one check that share a fix, shown as one line and its fix."""

    rank: float
    severity: str
    check_id: str
    target: str
    title: str
    fix: str
    where: list[str] = field(default_factory=list)


def outcome_of(result: Mapping[str, Any]) -> str:
    """The record's outcome; before issue 8's three outcomes, a skip caused by a lock is not known apart."""
    return str(result.get("outcome") or "")


def cause_of(result: Mapping[str, Any]) -> dict[str, str]:
    """The record's inconclusive cause as ``{kind, message, fix, severity}`` (empty when there is none).

    >>> cause_of({"cause": {"kind": "target_gone", "message": "prod stopped answering", "fix": "check prod"}})["kind"]
    'target_gone'
    >>> cause_of({"cause": "timeout: probe hit statement_timeout"})["message"]
    'timeout: probe hit statement_timeout'
    """
    cause = result.get("cause")
    if isinstance(cause, Mapping):
        return {k: str(cause.get(k) or "") for k in ("kind", "message", "fix", "severity")}
    if cause:
        return {"kind": "", "message": str(cause), "fix": "", "severity": ""}
    return {}


def verdicts(results: Sequence[Mapping[str, Any]], targets: Sequence[str]) -> list[TargetVerdict]:
    """Counts per target: failed checks by severity, inconclusive, skipped, waived, passed.

    >>> v = verdicts([{"target": "prod", "outcome": "failed", "severity": "P2"},
    ...               {"target": "prod", "outcome": "passed", "severity": "P0"}], ["prod"])
    >>> v[0].worst, v[0].counts["P2"], v[0].counts["passed"]
    ('P2', 1, 1)
    """
    by_target = {name: TargetVerdict(name) for name in targets}
    for result in results:
        name = str(result.get("target") or "(run)")
        verdict = by_target.setdefault(name, TargetVerdict(name))
        outcome = outcome_of(result)
        if outcome == "failed":
            verdict.counts[str(result.get("severity") or "P2")] += 1
        elif outcome in ("inconclusive", "skipped", "waived", "passed"):
            verdict.counts[outcome] += 1
            if outcome == "inconclusive" and result.get("severity"):
                verdict.cause_severities.add(str(result["severity"]))
    return list(by_target.values())


def _rank(severity: str) -> float:
    return float(SEVERITIES.index(severity)) if severity in SEVERITIES else _SETUP_RANK


def _first(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def one_line_fix(remediation: str) -> str:
    """The first line of a remediation, joined with the next ones while they only introduce what follows.

    >>> one_line_fix("Mitigation (carefully):\\n  pid 42 is idle:\\n  select pg_cancel_backend(42);\\n  or wait")
    'Mitigation (carefully): pid 42 is idle: select pg_cancel_backend(42);'
    """
    lines = [line.strip() for line in remediation.splitlines() if line.strip()]
    end = 0
    while end < min(len(lines) - 1, 3) and lines[end].endswith(":"):
        end += 1
    return " ".join(lines[:end + 1])


def headline_of(result: Mapping[str, Any]) -> str:
    """The one line that says what went wrong: the record's title, a finding's, the cause, or the error."""
    if result.get("title"):
        return str(result["title"])
    findings = result.get("findings") or []
    if findings:
        return str(findings[0].get("title") or "")
    cause = cause_of(result)
    if cause.get("message"):
        return cause["message"]
    message = str(result.get("message") or "")
    errors = [line[1:].strip() for line in message.splitlines() if line.startswith("E ")]
    return errors[-1] if errors else _first(message)


def top_findings(results: Sequence[Mapping[str, Any]]) -> list[TopFinding]:
    """Failed and inconclusive checks, worst first, findings with the same check and fix merged."""
    groups: dict[tuple[str, str, str, str], TopFinding] = {}
    for result in results:
        outcome = outcome_of(result)
        check_id, target = str(result.get("check_id") or ""), str(result.get("target") or "")
        if outcome == "failed":
            for finding in result.get("findings") or [{}]:
                severity = str(finding.get("severity") or result.get("severity") or "P2")
                title = str(finding.get("title") or headline_of(result))
                fix = one_line_fix(str(finding.get("remediation") or "")) or "read the error in the check's row below"
                key = (check_id, target, severity, fix)
                group = groups.setdefault(key, TopFinding(_rank(severity), severity, check_id, target, title, fix))
                group.where.append(str(finding.get("where") or ""))
        elif outcome == "inconclusive":
            cause = cause_of(result)
            # The record's severity is the cause's (None: a setup error, which is no verdict).
            severity = str(result.get("severity") or cause.get("severity") or "")
            kind = cause.get("kind") or "inconclusive"
            title = f"could not reach a verdict ({kind}): {cause.get('message') or headline_of(result)}"
            fix = cause.get("fix") or "see the cause in the check's row below"
            key = (kind, target, severity, title)
            group = groups.setdefault(key, TopFinding(_rank(severity), severity or "inconclusive",
                                                      check_id, target, title, fix))
            group.where.append(check_id)
    return sorted(groups.values(), key=lambda g: g.rank)  # stable: run order within a severity


def first_screen(results: Sequence[Mapping[str, Any]], targets: Sequence[str], escalation: Sequence[str],
                 *, title: str, generated: datetime | None = None) -> str:
    """The section above everything else: verdict per target, escalation, the first things to do."""
    generated = generated or datetime.now(UTC)
    parts = [f'<section id="dbr-first"><p class="dbr-title"><b>{_esc(title)}</b> &middot; '
             f'{generated:%Y-%m-%d %H:%M} UTC</p>']
    for verdict in verdicts(results, targets):
        worst = verdict.worst
        meaning = SEVERITY_MEANING.get(worst) or {
            "inconclusive": "some checks could not reach a verdict: see the causes below",
            "pass": "every check that ran passed",
            "nothing ran": "no check ran on this target"}[worst]
        if worst in SEVERITIES and verdict.counts["inconclusive"]:
            meaning += "; some checks could not reach a verdict"
        counts = "".join(
            f'<li class="dbr-count dbr-{key}{" dbr-zero" if not verdict.counts[key] else ""}">'
            f'<b>{verdict.counts[key]}</b> {label}</li>'
            for key, label in (("P0", "P0"), ("P1", "P1"), ("P2", "P2"), ("P3", "P3"),
                               ("inconclusive", "inconclusive"), ("skipped", "skipped"), ("waived", "waived"),
                               ("passed", "passed"))
            if key != "waived" or verdict.counts[key])
        parts.append(f'<div class="dbr-verdict dbr-{worst.replace(" ", "-")}" data-worst="{_esc(worst)}">'
                     f'<div class="dbr-word">{_esc(worst.upper())}</div><div class="dbr-what">'
                     f'<div>target <b>{_esc(verdict.target)}</b>: {_esc(meaning)}</div>'
                     f'<ul class="dbr-counts">{counts}</ul></div></div>')
    if escalation:
        lines = "".join(f"<li>{_esc(line)}</li>" for line in escalation)
        parts.append(f'<ul id="dbr-escalation" class="dbr-escalation">{lines}</ul>')
    else:
        parts.append('<p id="dbr-escalation" class="dbr-calm">No escalation by the runbook\'s rules '
                     '(Escalation [Escalação]).</p>')
    top = top_findings(results)
    if top:
        items = []
        for group in top[:TOP]:
            where = [w for w in group.where if w]
            more = (f' <span class="dbr-more" title="{_esc(chr(10).join(where[1:]))}">(and {len(group.where) - 1} '
                    f'more like it)</span>') if len(group.where) > 1 else ""
            items.append(f'<li class="dbr-finding dbr-{_esc(group.severity)}"><span class="dbr-badge">'
                         f'{_esc(group.severity)}</span> <code>{_esc(group.check_id)}</code>'
                         f'{f" [{_esc(group.target)}]" if group.target else ""}: {_esc(group.title)}{more}'
                         f'<div class="dbr-fix"><b>Fix:</b> {_esc(group.fix)}</div></li>')
        rest = len(top) - TOP
        tail = f'<p class="dbr-rest">{rest} more below, in the results table (failures first, by severity).</p>' \
            if rest > 0 else ""
        parts.append(f'<h2>What to do first</h2><ol class="dbr-findings">{"".join(items)}</ol>{tail}')
    parts.append("</section>")
    return "".join(parts)


def row_html(report: pytest.TestReport, log: str) -> str:
    """The expanded part of a result row; ``log`` is pytest-html's escaped text (traceback, output)."""
    data = getattr(report, "dbrunbook", None) or {}
    record = {**data, "outcome": data.get("outcome") or report.outcome,
              "message": str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)}
    findings = data.get("findings") or []
    # With findings, each finding's title is the headline; without, the error or skip reason is.
    parts = ['<div class="dbr-row">' if findings else
             f'<div class="dbr-row"><div class="dbr-row-error">{_esc(headline_of(record))}</div>']
    cause = cause_of(record)
    if cause:
        fix = f'<br><b>Fix:</b> {_esc(cause["fix"])}' if cause.get("fix") else ""
        parts.append(f'<div class="dbr-row-cause"><b>Cause:</b> {_esc(cause.get("kind") or "inconclusive")}: '
                     f'{_esc(cause.get("message", ""))}{fix}</div>')
    for finding in findings:
        parts.append(f'<div class="dbr-row-finding"><div class="dbr-row-error">[{_esc(str(finding.get("severity")))}] '
                     f'{_esc(str(finding.get("title", "")))}</div><b>Where:</b> {_esc(str(finding.get("where", "")))}')
        if finding.get("detail"):
            parts.append(f'<pre class="dbr-pre">{_esc(str(finding["detail"]))}</pre>')
        if finding.get("remediation"):
            parts.append(f'<b>Fix:</b><pre class="dbr-pre dbr-fix">{_esc(str(finding["remediation"]))}</pre>')
        parts.append("</div>")
    evidence = data.get("evidence")
    if evidence:
        parts.append(f'<details class="dbr-evidence"><summary>Evidence</summary><pre class="dbr-pre">'
                     f'{_esc(json.dumps(evidence, indent=2, default=str))}</pre></details>')
    parts.append(f'<details class="dbr-trace"><summary>Full text as in the terminal (traceback, captured output)'
                 f'</summary><pre class="dbr-pre">{log}</pre></details></div>')
    return "".join(parts)
