"""The HTML report's first screen: what is wrong, how bad, whom to call and what to do first.

pytest-html 4 renders its template at the end of the session; a ``pytest_sessionfinish`` wrapper
then rewrites the written file once: our section goes right after ``<body>`` (above anything
pytest-html adds), pytest-html's Environment table is folded into a ``<details>``, and the RLS
grids (:mod:`dbrunbook.rls_grid`) follow the first screen. The results table keeps working (its
script and data are untouched); its rows show a check's error and findings first, evidence inline,
and failures sort by severity.

The first screen reads the result records of the JSON bundle (``reporting._RESULTS``: ``outcome``,
``severity``, ``findings``, ``cause``, ...), so it says what the terminal and the JSON say.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dbrunbook import failure_text, rls_grid
from dbrunbook.findings import SEVERITIES, SEVERITY_MEANING

PLUGIN_NAME = "dbrunbook-html"
CSS = Path(__file__).with_name("html_report.css")
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


_HEAD = re.compile(r'<h1 id="title">.*?</h1>\s*(<p>Report generated.*?</p>)\s*'
                   r'(<div id="environment-header">.*?<table id="environment"></table>)', re.S)


def rewrite(page: str, first: str, extra: str, css: str) -> str:
    """Put ``first`` + ``extra`` above pytest-html's content and fold its Environment table.

    >>> page = ('<head></head><body>\\n<h1 id="title">r</h1>\\n<p>Report generated on x</p>\\n'
    ...         '<div id="environment-header"><h2>Environment</h2></div>\\n<table id="environment"></table>')
    >>> out = rewrite(page, "<section>FIRST</section>", "", "")
    >>> out.index("FIRST") < out.index("<details") < out.index('id="environment"')
    True
    """
    page = page.replace("</head>", f'<style type="text/css">{css}</style></head>', 1)
    match = _HEAD.search(page)
    if match:
        folded = (f'<details id="dbr-environment"><summary>Environment: Python, packages, plugins, targets '
                  f'&middot; {match.group(1)[3:-4]}</summary>{match.group(2)}</details>')
        return page[:match.start()] + first + extra + folded + page[match.end():]
    # An unknown pytest-html layout: still put ours first.
    return page.replace("<body>", "<body>" + first + extra, 1)


class HtmlReport:
    """Hooks of the HTML report (and the RLS grid the terminal shows); one instance per run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.cells: dict[tuple[str, str, str, str], rls_grid.Cell] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
            None, pytest.TestReport, pytest.TestReport]:
        """Give a failure its one-line headline (JUnit ``message``); drop link extras.

        Self-contained mode makes link extras ``data:`` URLs, which Chromium will not open from a file
        page; the evidence is shown inline in the row instead.
        """
        report = yield
        if report.failed and call.excinfo is not None:
            failure_text.give_headline(report, call.excinfo.value, item.location)
        extras = getattr(report, "extras", None)
        if extras:
            report.extras = [e for e in extras if e.get("format_type") not in ("json", "text")]  # type: ignore[attr-defined]
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Remember each matrix cell (controller side)."""
        if report.when != "call" and report.outcome == "passed":
            return
        data = getattr(report, "dbrunbook", None) or {}
        outcome = str(data.get("outcome") or report.outcome)
        message = str(report.longrepr) if report.failed else ""
        cell = rls_grid.cell_of(report.user_properties, outcome, data.get("evidence"), message)
        if cell is not None:
            self.cells[(cell.target, cell.table, cell.identity, cell.operation)] = cell

    def grids(self) -> list[rls_grid.Grid]:
        """The matrix cells seen so far, as grids."""
        return rls_grid.grids(self.cells.values())

    @pytest.hookimpl(trylast=True, optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        """Give the Severity cell a hidden sort key: failures first, then inconclusive, skips, passes."""
        data = getattr(report, "dbrunbook", None) or {}
        outcome = str(data.get("outcome") or report.outcome)
        rank = {"failed": 0, "inconclusive": 1, "waived": 2, "skipped": 3}.get(outcome, 4)
        for i, cell in enumerate(cells):
            if 'class="col-severity"' in cell:
                if outcome == "inconclusive":
                    # No verdict: the cause's severity (or none, a setup error), never the marker's.
                    # (The Result cell stays pytest's word: pytest-html files rows by its text.)
                    cell = f'<td class="col-severity">inconclusive: {_esc(str(data.get("severity") or "setup"))}</td>'
                # pytest-html sorts on the cell's inner HTML: the comment orders, the text shows.
                cells[i] = cell.replace('class="col-severity">', f'class="col-severity"><!--{rank}-->', 1)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """A row that did not pass shows its error and cause first, then findings, evidence, traceback."""
        if report.passed:
            return
        data[:] = [row_html(report, "".join(data))]

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
        """After pytest-html wrote the file: put the first screen and the RLS grids on top."""
        outcome = yield
        path = getattr(self.config.option, "htmlpath", None)
        if path and Path(path).is_file() and not hasattr(self.config, "workerinput"):
            self._rewrite(Path(path))
        return outcome

    def _rewrite(self, path: Path) -> None:
        from dbrunbook import reporting
        from dbrunbook.factories import CONFIG_KEY

        cfg = self.config.stash[CONFIG_KEY].cfg
        results = list(reporting._RESULTS)
        # As the terminal summary: verdicts, and causes that carry a severity (a target gone is an outage).
        graded: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for result in results:
            if outcome_of(result) in ("failed", "inconclusive") and result.get("severity"):
                graded[str(result["severity"])].append(result)
        escalation = reporting._escalation(cfg, graded)
        title = "dbrunbook: " + ", ".join(t.name for t in cfg.targets)
        first = first_screen(results, [t.name for t in cfg.targets], escalation, title=title)
        page = rewrite(path.read_text(encoding="utf-8"), first, rls_grid.html_section(self.grids()),
                       CSS.read_text(encoding="utf-8"))
        path.write_text(page, encoding="utf-8")


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
        import json

        parts.append(f'<details class="dbr-evidence"><summary>Evidence</summary><pre class="dbr-pre">'
                     f'{_esc(json.dumps(evidence, indent=2, default=str))}</pre></details>')
    parts.append(f'<details class="dbr-trace"><summary>Full text as in the terminal (traceback, captured output)'
                 f'</summary><pre class="dbr-pre">{log}</pre></details></div>')
    return "".join(parts)


def register(config: pytest.Config) -> None:
    """Called from the plugin's ``pytest_configure``."""
    config.pluginmanager.register(HtmlReport(config), PLUGIN_NAME)


def terminal_matrix(config: pytest.Config, terminalreporter: Any) -> None:
    """Write the compact RLS grid of the tables with a problem (called by the terminal summary)."""
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if not isinstance(plugin, HtmlReport):
        return
    for i, line in enumerate(rls_grid.terminal_lines(plugin.grids())):
        terminalreporter.write_line(line, red=i == 0, bold=i == 0)
