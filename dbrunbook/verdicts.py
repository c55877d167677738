"""From a pytest report to a verdict: pass, fail (with its severity), inconclusive (once per cause), waived.

Called by the makereport hookwrapper (``reporting.py``) for every phase of every check; decides the
record fields ``outcome``, ``severity``, ``title``, ``cause`` and ``findings`` (see reporting's
docstring) and rewrites the pytest report so that the terminal, JUnit and HTML agree with the JSON:
the first check a cause stopped fails with the cause's text (no traceback) and is counted as
"inconclusive"; later checks it stopped skip pointing at it; a failure whose findings are all waived
passes, counted as "waived". :func:`exit_code` maps the results to ``outcomes.EXIT_CODES``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from dbrunbook import causes, waivers
from dbrunbook.exceptions import first_line
from dbrunbook.findings import CheckMeta, Finding
from dbrunbook.outcomes import EXIT_INCONCLUSIVE, Inconclusive
from dbrunbook.severity import at_or_above, worst

#: pytest's own exit codes that win over ours: interrupted, internal error, usage error, nothing collected.
PYTEST_CODES = (2, 3, 4, 5)


@dataclass
class Verdict:
    """The outcome fields of one result record."""

    outcome: str
    severity: str | None
    title: str
    cause: dict[str, Any] | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    expired_waiver: bool = False
    crashed: bool = False


def _skip(item: pytest.Item, report: pytest.TestReport, reason: str) -> None:
    report.outcome = "skipped"
    report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {reason}")


def _render_cause(first: causes.SeenCause, target: str | None) -> str:
    head = (f"[{first.severity}] inconclusive: {first.message}" if first.severity
            else f"setup error: {first.message}")
    lines = [head]
    if first.fix:
        lines.append(f"  do:      {first.fix}")
    lines.append(f"  this check could not reach a verdict; the later checks{f' on {target}' if target else ''} "
                 "stopped by the same cause are skipped, pointing here")
    return "\n".join(lines)


def _from_cause(item: pytest.Item, report: pytest.TestReport, meta: CheckMeta, cause: Inconclusive,
                target: str | None) -> Verdict | None:
    first, is_first = causes.REGISTRY.see(cause, target, item.nodeid)
    record = {**first.as_dict(), "scope": cause.scope}
    if not is_first:
        if report.when == "teardown":  # the call phase already said what happened to this check
            report.outcome, report.longrepr = "passed", None
            return None
        _skip(item, report, f"inconclusive: {first.message}; reported by {first.first_nodeid}")
        return Verdict("skipped", meta.severity, first.message, record)
    report.outcome = "failed"
    report.longrepr = _render_cause(first, target)
    found = []
    if first.severity:
        found.append(Finding(meta.check_id, first.severity, first.message,  # type: ignore[arg-type]
                             f"target {target}" if target else "run", first.fix, meta.runbook).as_dict())
    return Verdict("inconclusive", first.severity, first.message, record, found)


def _apply_waivers(meta: CheckMeta, findings: Iterable[Finding], gates_waivers: tuple[waivers.Waiver, ...],
                   ) -> tuple[list[dict[str, Any]], list[Finding], list[waivers.Waiver]]:
    """Annotate findings with their waiver; returns (annotated, still failing, expired waivers hit)."""
    annotated, failing, expired = [], [], []
    for finding in findings:
        data = finding.as_dict()
        waiver = waivers.find(gates_waivers, finding.check_id, finding.where) if gates_waivers else None
        if waiver is not None:
            data["waiver"] = waiver.as_dict()
            if waiver.expired():
                expired.append(waiver)
        if waiver is None or waiver.expired():
            failing.append(finding)
        annotated.append(data)
    return annotated, failing, expired


def _crashed(exc: BaseException | None) -> bool:
    """An exception that is not a check's verdict (check.fail, a plain assert) nor a cause."""
    return exc is not None and not isinstance(exc, AssertionError | pytest.fail.Exception | pytest.skip.Exception)


def _error_title(exc: BaseException | None, text: str) -> str:
    if exc is not None and not isinstance(exc, AssertionError | pytest.fail.Exception):
        return f"{type(exc).__name__}: {first_line(exc)}"[:200]
    return first_title(text)


def first_title(text: str | None) -> str:
    """One line of a failure text for summaries: the first ``E`` line, else the first line."""
    lines = (text or "").splitlines()
    errors = [ln[1:] for ln in lines if ln.startswith("E ")]
    for line in errors or lines:
        if line.strip():
            return line.strip()[:200]
    return "(no message)"


def decide(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport, meta: CheckMeta,
           findings: list[Finding], target: str | None, gates_waivers: tuple[waivers.Waiver, ...]) -> Verdict | None:
    """Classify one phase's report (and rewrite it to match); None when it adds nothing to the record."""
    exc = call.excinfo.value if call.excinfo is not None else None
    if report.failed and exc is not None:
        cause = causes.from_exception(exc, target)
        if cause is not None:
            return _from_cause(item, report, meta, cause, target)
    if report.passed:
        return Verdict("passed", meta.severity, "") if report.when == "call" else None
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        return Verdict("skipped", meta.severity, first_title(str(reason)).removeprefix("Skipped: "))
    text = str(report.longrepr)
    if not findings:
        waiver = waivers.find(gates_waivers, meta.check_id, "") if gates_waivers else None
        if waiver is not None and not waiver.expired():
            report.outcome = "passed"
            return Verdict("waived", meta.severity, _error_title(exc, text), None,
                           [{"check_id": meta.check_id, "title": _error_title(exc, text),
                             "waiver": waiver.as_dict()}])
        if _crashed(exc):
            # Not a verdict: the check broke (a bug, or a database answer it did not expect). It fails the
            # run, but never at the check's severity: a crashed RLS check must not page anyone for a P0.
            return Verdict("failed", None, _error_title(exc, text), crashed=True)
        return Verdict("failed", meta.severity, _error_title(exc, text))
    annotated, failing, expired = _apply_waivers(meta, findings, gates_waivers)
    if not failing:
        report.outcome = "passed"
        report.longrepr = None
        return Verdict("waived", worst(f.severity for f in findings) or meta.severity, findings[0].title, None,
                       annotated)
    if expired:
        report.longrepr = text + "".join(
            f"\n  waiver expired on {w.expires:%Y-%m-%d} (owner {w.owner}: {w.reason}): renew it in the waivers "
            "file or fix the finding" for w in expired)
    return Verdict("failed", worst(f.severity for f in failing) or meta.severity, failing[0].title, None,
                   annotated, expired_waiver=bool(expired))


def exit_code(results: list[dict[str, Any]], pytest_status: int, untracked_failures: int,
              fail_on: str | None) -> int:
    """The run's exit code (``outcomes.EXIT_CODES``).

    1 when a verdict failed at or above ``fail_on`` (or an expired waiver made it fail, a check crashed,
    or a test without a check marker failed); else 6 when a cause stopped checks (a target that is merely
    not Supabase-shaped only counts when nothing else reached a verdict); else 0.

    >>> exit_code([{"outcome": "inconclusive", "cause": {"kind": "setup"}}], 1, 0, None)
    6
    >>> exit_code([{"outcome": "failed", "severity": "P2"}, {"outcome": "passed"}], 1, 0, "P1")
    0
    """
    if pytest_status in PYTEST_CODES:
        return pytest_status
    failing = [r for r in results if r["outcome"] == "failed"
               and (at_or_above(r.get("severity"), fail_on) or r.get("expired_waiver") or r.get("crashed"))]
    if failing or untracked_failures:
        return 1
    stopped = [r for r in results if r["outcome"] == "inconclusive"]
    reached = [r for r in results if r["outcome"] in ("passed", "failed", "waived")]
    if any((r.get("cause") or {}).get("kind") != "not_supabase" for r in stopped) or (stopped and not reached):
        return EXIT_INCONCLUSIVE
    return 0
