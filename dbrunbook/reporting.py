"""Report wiring: one makereport hookwrapper feeds the terminal, HTML, JUnit and the JSON bundle.

Every string that leaves the run goes through ``redact`` first: failure text, captured output,
evidence. Findings travel on the report object itself (``report.dbrunbook``), which
pytest-xdist serializes with the report, so the controller writes one set of reports.

Outcomes (``dbrunbook.outcomes``): the hook turns an exception that means "no verdict" (an
``Inconclusive``, a lost connection, a probe timeout, a lock wait, a failed build) into ONE
``inconclusive`` result per cause (``Inconclusive.key``); every later check stopped by the same cause
is ``skipped`` with "inconclusive: <cause>; reported by <nodeid>". Failures whose findings are all
waived are ``waived`` (a pass for pytest, visible in every report).

The result record (``_RESULTS``, the JSON bundle's ``results``, one per check node in run order,
and one per cell for an RLS matrix node, which has none of its own: ``matrix_cells.py``; the HTML and
JUnit reports read the same fields from ``report.dbrunbook``)::

    nodeid           str          pytest node id, e.g. "checks/test_locks.py::test_x[prod]"
    when             str          the phase that decided the outcome: setup | call | teardown
    check_id         str          from the check marker, e.g. "rls.read_isolation"
    target           str | None   the target's name ("prod"), never its repr
    runbook          str          the runbook step the check implements
    outcome          str          passed | failed | inconclusive | skipped | waived (outcomes.OUTCOMES)
    severity         str | None   failed/waived: worst of its unwaived (resp. all) findings, else the
                                  marker's; None for a check that crashed; inconclusive: the cause's
                                  (outcomes.CAUSE_SEVERITY; None = a setup error, which is no verdict);
                                  passed/skipped: the marker's
    marker_severity  str          the check marker's severity (P0..P3)
    title            str          one line for summaries: first finding's title, the cause's message,
                                  or the error's first line (never a traceback or a repr)
    cause            dict | None  {kind, message, fix, first_nodeid} on inconclusive records and on
                                  skipped records stopped by an already reported cause; kind is one of
                                  outcomes.CAUSE_KINDS, first_nodeid the inconclusive record's nodeid
    findings         list[dict]   Finding.as_dict(), plus "waiver": {check, object, reason, owner,
                                  expires, expired} when a waiver matched the finding; an inconclusive
                                  record with a severity carries the cause as its one finding
    evidence         dict         what the check attached (redacted)
    message          str | None   failure text or skip reason (redacted); None for a pass
    duration_s       float
    crashed          bool         only when true: the check raised an unexpected error (a dbrunbook bug or
                                  a database answer it did not expect); failed, no severity, exit 1
    expired_waiver   bool         only when true: a waiver matched but has expired (exit 1 whatever --fail-on)
    cause.scope      str          also in ``cause``: the raiser's scope (the dedup key is target, kind, scope)
    node, table,     str          only on an RLS matrix cell: the pytest node that probed it (``nodeid`` is
    identity,                     ``<node>::<identity>``), ``schema.table``, the contract's identity, the
    operation                     operation (select | insert | update | delete)

The bundle's ``summary`` adds ``outcomes`` (count per outcome), ``failed_by_severity`` (verdict
failures with a severity), ``causes`` (each first cause with the number of checks it stopped) and
``exit_code`` / ``exit_meaning`` (``outcomes.EXIT_CODES``).
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dbrunbook import __version__, causes, escalation, gates, html_report, matrix_cells, results, rls_grid, verdicts
from dbrunbook.checking import CHECK_KEY
from dbrunbook.config import RunbookConfig
from dbrunbook.escalation import escalation_lines
from dbrunbook.findings import CheckMeta
from dbrunbook.outcomes import EXIT_CODES, OUTCOMES
from dbrunbook.redact import REDACTOR, jsonable, redact_report
from dbrunbook.severity import SEVERITIES, meaning

STATE_KEY = pytest.StashKey[dict[str, Any]]()
_REPORT_SUFFIXES = (".html", ".xml", ".json")


def _unique_base(reports_dir: Path, stem: str) -> Path:
    """``reports_dir/stem`` with a suffix that no earlier run used: two runs in one second keep both."""
    for n in range(1, 1000):
        base = reports_dir / (stem if n == 1 else f"{stem}-{n}")
        try:  # claim the name atomically: a concurrent run in the same second gets the next one
            fd = os.open(base.with_suffix(".json"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        if not any(base.with_suffix(s).exists() for s in _REPORT_SUFFIXES[:2]):
            return base
    raise pytest.UsageError(f"--reports-dir {reports_dir}: 999 reports named {stem}-N already; clean it up")


def configure(config: pytest.Config, cfg: RunbookConfig) -> None:
    """Choose report paths (controller only) before pytest-html and junitxml read them."""
    now = datetime.now(UTC)
    state: dict[str, Any] = {"started": now, "t0": time.monotonic(), "results": [], "paths": {}, "servers": {},
                             "untracked_failures": 0, "exit_code": None}
    config.stash[STATE_KEY] = state
    _RESULTS.clear()
    _FIRST.clear()
    _GRID.clear()
    _UNTRACKED[0] = 0
    if not cfg.write_reports or hasattr(config, "workerinput"):
        return
    stem = "+".join(t.name for t in cfg.targets) + "-" + now.strftime("%Y%m%dT%H%M%SZ")
    cfg.reports_dir.mkdir(parents=True, exist_ok=True)
    base = _unique_base(cfg.reports_dir, stem)
    if config.pluginmanager.hasplugin("html") and not getattr(config.option, "htmlpath", None):
        config.option.htmlpath = str(base.with_suffix(".html"))
        config.option.self_contained_html = True
    if not getattr(config.option, "xmlpath", None):
        config.option.xmlpath = str(base.with_suffix(".xml"))
    state["paths"] = {"html": getattr(config.option, "htmlpath", None), "junit": config.option.xmlpath,
                      "json": str(base.with_suffix(".json"))}
    if not config.pluginmanager.has_plugin(_JunitCells.NAME):
        config.pluginmanager.register(_JunitCells(config), _JunitCells.NAME)


class _JunitCells:
    """After junitxml wrote its file: one ``<testcase>`` per matrix cell (matrix_cells.junit_cells)."""

    NAME = "dbrunbook-junit-cells"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
        outcome = yield
        path = getattr(self.config.option, "xmlpath", None)
        if path and Path(path).is_file() and _GRID:
            matrix_cells.junit_cells(Path(path), _RESULTS, _GRID)
        return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    """Decide the outcome (pass, fail, inconclusive once per cause, waived), attach findings and evidence."""
    report = yield
    meta = CheckMeta.of(item)
    ctx = item.stash.get(CHECK_KEY, None)
    callspec = getattr(item, "callspec", None)
    target_name = callspec.params.get("_dbrunbook_target") if callspec else None
    if meta is None and call.excinfo is not None and causes.from_exception(call.excinfo.value, target_name):
        # A test without a check marker stopped by a cause: it gets the same one-finding-per-cause treatment.
        meta = CheckMeta(getattr(item, "originalname", item.name), "P2", "")
    verdict = None
    cells: list[dict[str, Any]] | None = None
    if meta is not None:
        spec = matrix_cells.node_of(item)
        if spec is not None and (report.when == "call" or not report.passed) and not matrix_cells.done(item):
            # A matrix node: one record per cell (each decided as a check of its own); the node follows them.
            cells = matrix_cells.cell_records(item, report, call.excinfo.value if call.excinfo else None, meta,
                                              target_name, gates.of(item.config).waivers, spec)
            verdict = matrix_cells.node_verdict(cells, meta, report, item)
        else:
            verdict = verdicts.decide(item, call, report, meta, list(ctx.findings) if ctx else [], target_name,
                                      gates.of(item.config).waivers)
        props: list[tuple[str, object]] = [("check_id", meta.check_id), ("severity", meta.severity),
                                           ("runbook", meta.runbook)]
        if target_name:
            props.append(("target", target_name))
        if verdict is not None and (report.when == "call" or verdict.outcome != "passed"):
            props += [("outcome", verdict.outcome)] + ([("cause", verdict.cause["kind"])] if verdict.cause else [])
        report.user_properties = [*(p for p in report.user_properties if p[0] not in dict(props)), *props]
        # junitxml writes the properties of the teardown report, which copies the item's: keep them there too.
        item.user_properties[:] = report.user_properties
    redact_report(report)
    if meta is not None and verdict is not None and (report.when == "call" or verdict.outcome != "passed"):
        data = {
            "check_id": meta.check_id, "severity": verdict.severity, "marker_severity": meta.severity,
            "runbook": meta.runbook, "target": target_name, "outcome": verdict.outcome,
            "title": REDACTOR.text(verdict.title), "cause": verdict.cause,
            "findings": verdict.findings or ([f.as_dict() for f in ctx.findings] if ctx else []),
            "evidence": ctx.evidence if ctx else {},
        }
        if verdict.expired_waiver:
            data["expired_waiver"] = True
        if verdict.crashed:
            data["crashed"] = True
        safe = jsonable(data)
        if cells is not None:
            safe["cells"] = cells  # already JSON-safe and redacted, cell by cell
        report.dbrunbook = safe  # type: ignore[attr-defined]
        if ctx and ctx.evidence and item.config.pluginmanager.hasplugin("html"):
            from pytest_html import extras

            report.extras = [*getattr(report, "extras", []),  # type: ignore[attr-defined]
                             extras.json(report.dbrunbook["evidence"], name="evidence")]
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    """Terminal counts and letters: "inconclusive" (I) and "waived" (w) next to passed/failed/skipped."""
    data = getattr(report, "dbrunbook", None)
    if not data:
        return None
    if data.get("outcome") == "inconclusive":
        return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    if data.get("outcome") == "waived" and report.when == "call":
        return "waived", "w", ("WAIVED", {"yellow": True})
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Controller side: remember each check's outcome for the summary and the JSON bundle."""
    data = getattr(report, "dbrunbook", None)
    if data is None:
        if report.failed:
            _UNTRACKED[0] += 1  # a test without a check marker failed: exit 1 all the same
        return
    cells = data.get("cells")
    if cells is not None:
        # A matrix node: its cells' records stand for it (the node has none of its own: nothing counts twice).
        _GRID[report.nodeid] = _grid_cells(report)
        for cell in cells:
            _add(dict(cell), str(cell["nodeid"]))
        return
    record = {"nodeid": report.nodeid, "when": report.when, "duration_s": round(report.duration, 4), **data,
              "message": _message(report)}
    _add(record, report.nodeid)


def _grid_cells(report: pytest.TestReport) -> list[Any]:
    """The node's ``rls_cell`` property, parsed (JUnit gives each cell its own)."""
    for key, value in report.user_properties:
        if key == rls_grid.CELL_PROPERTY:
            return rls_grid.parse_cells(value)
    return []


def _add(record: dict[str, Any], nodeid: str) -> None:
    """Append one result record, folding a cause another record (or worker) reported first."""
    cause = record.get("cause")
    if cause:
        # Under xdist every worker reports its own first: one per cause for the run, the first the
        # controller heard of; every record of that cause points at it.
        key = causes.dedup_key((record["target"] or "", cause["kind"], cause.get("scope", "")))
        first = _FIRST.setdefault(key, nodeid if record["outcome"] == "inconclusive" else cause["first_nodeid"])
        if first != cause["first_nodeid"] or (record["outcome"] == "inconclusive" and first != nodeid):
            record.update(outcome="skipped", severity=record["marker_severity"], findings=[],
                          cause={**cause, "first_nodeid": first},
                          message=f"inconclusive: {cause['message']}; reported by {first}")
    _RESULTS.append(record)


def _message(report: pytest.TestReport) -> str | None:
    """Failure text, or the skip reason (it says what to configure); None for a pass."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return REDACTOR.text(str(report.longrepr[2])).removeprefix("Skipped: ")
    return REDACTOR.text(str(report.longrepr))[:4000] if report.failed else None


#: Collected by logreport (controller); module globals because logreport has no config argument.
#: The run's result records (shared with the HTML first screen through dbrunbook.results).
_RESULTS = results.RESULTS
_FIRST: dict[tuple[Any, ...], str] = {}
_UNTRACKED = [0]
#: Matrix node id -> its cells as the HTML grid draws them (for the JUnit test case of each cell).
_GRID: dict[str, list[Any]] = {}
#: Summary label of a cause without a severity (a setup error in the broad sense).
_CAUSE_LABEL = {"setup": "setup error", "rights": "missing right", "not_supabase": "not Supabase-shaped",
                "no_data": "compared nothing"}


def _stopped_counts() -> dict[str, int]:
    """first_nodeid -> how many checks that cause stopped (itself included)."""
    counts: dict[str, int] = defaultdict(int)
    for r in _RESULTS:
        if r.get("cause"):
            counts[r["cause"]["first_nodeid"]] += 1
    return counts


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Failures grouped by severity, causes that stopped checks, waivers, escalation, report paths."""
    from dbrunbook.factories import CONFIG_KEY

    if hasattr(config, "workerinput"):
        return
    cfg: RunbookConfig = config.stash[CONFIG_KEY].cfg
    state = config.stash[STATE_KEY]
    graded = escalation.graded(_RESULTS)
    setup = [r for r in _RESULTS if r["outcome"] == "inconclusive" and not r["severity"]]
    stopped = _stopped_counts()
    tr = terminalreporter
    if _RESULTS:
        tr.write_sep("=", "dbrunbook: failures by severity")
        if not graded and not setup and not any(r.get("crashed") for r in _RESULTS):
            ran = sum(r["outcome"] in ("passed", "failed", "waived") for r in _RESULTS)
            tr.write_line(f"no check failed ({ran} checks ran).", green=True)
        for severity in SEVERITIES:
            heading = None
            for result in graded.get(severity, []):
                label = meaning(severity, result["check_id"])
                if label != heading:
                    heading = label
                    tr.write_line(f"{severity} - {label}:", red=severity in ("P0", "P1"), bold=True)
                titles = [f["title"] for f in result["findings"] if "waiver" not in f or f["waiver"]["expired"]]
                line = f"  {result['check_id']} [{result['target']}]: {(titles or [result['title']])[0]}"
                if len(titles) > 1:
                    line += f" (+{len(titles) - 1} more)"
                if result["outcome"] == "inconclusive":
                    line += f" (inconclusive: {stopped.get(result['nodeid'], 1)} checks did not run)"
                    gone = causes.REGISTRY.gone.get(result["target"] or "")
                    if result["cause"]["kind"] == "target_gone" and gone is not None and gone.back_at:
                        line += (f"; {result['target']} answered again at {gone.back_at:%H:%M:%S} UTC and the "
                                 "checks after that ran on it")
                tr.write_line(line)
        for result in setup:
            label = _CAUSE_LABEL.get(result["cause"]["kind"], "setup error")
            tr.write_line(f"{label} - {stopped.get(result['nodeid'], 1)} checks did not run: "
                          f"{result['title']}", red=True, bold=True)
            if result["cause"]["fix"]:
                tr.write_line(f"  do: {result['cause']['fix']}")
        crashed = [r for r in _RESULTS if r.get("crashed")]
        if crashed:
            tr.write_line(f"{len(crashed)} checks crashed (no verdict, no severity: a dbrunbook bug or an answer "
                          "the check did not expect; the traceback is in the report):", red=True, bold=True)
            for result in crashed:
                tr.write_line(f"  {result['check_id']} [{result['target']}]: {result['title']}")
        waived = [r for r in _RESULTS if r["outcome"] == "waived"]
        if waived:
            tr.write_line(f"{len(waived)} checks waived (findings accepted in {gates.of(config).waivers_file}):")
            for result in waived:
                owners = sorted({f["waiver"]["owner"] for f in result["findings"] if "waiver" in f})
                tr.write_line(f"  {result['check_id']} [{result['target']}]: {result['title']} "
                              f"(owner {', '.join(owners)})")
        html_report.terminal_matrix(config, tr)  # the compact RLS grid when the matrix fails
        for line in escalation_lines(cfg, graded):
            tr.write_line(line, red=True, bold=True)
        skipped = sum(r["outcome"] == "skipped" and not r.get("cause") for r in _RESULTS)
        if skipped:
            # Skip reasons say what to configure; -rfE keeps them out of an incident's terminal.
            tr.write_line(f"{skipped} checks skipped (not configured or not applicable here): reasons in the "
                          "HTML/JSON report, or add -rs")
        code = state.get("exit_code")
        if code is not None:
            tr.write_line(f"exit code {code}: {EXIT_CODES.get(code, '')}")
    paths = state["paths"]
    if paths:
        tr.write_sep("-", "dbrunbook reports")
        # pytest-html and junitxml print their own paths (junitxml not under -q): each path once.
        for kind in ("json", "junit") if config.get_verbosity() < 0 else ("json",):
            if paths.get(kind):
                tr.write_line(f"{kind:>5}: {paths[kind]}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Set the exit code from the verdicts; write the JSON bundle: findings and evidence, redacted."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return
    code = verdicts.exit_code(_RESULTS, int(exitstatus), _UNTRACKED[0], gates.of(config).fail_on)
    state["exit_code"] = code
    session.exitstatus = code
    if not state["paths"].get("json"):
        return
    from dbrunbook.factories import CONFIG_KEY

    cfg: RunbookConfig = config.stash[CONFIG_KEY].cfg
    finished = datetime.now(UTC)
    by_severity: dict[str, int] = defaultdict(int)
    for result in _RESULTS:
        if result["outcome"] == "failed" and result["severity"]:
            by_severity[result["severity"]] += 1
    stopped = _stopped_counts()
    bundle = {
        "tool": "dbrunbook", "version": __version__, "exit_status": code,
        "window": {"started_at": state["started"].isoformat(), "finished_at": finished.isoformat(),
                   "duration_s": round(time.monotonic() - state["t0"], 3)},
        "targets": [{"name": t.name, "kind": t.kind, "read_only": t.read_only} for t in cfg.targets],
        "incident_start": cfg.incident_start.isoformat() if cfg.incident_start else None,
        "summary": {"checks": len(_RESULTS), "failed_by_severity": dict(by_severity),
                    "outcomes": {o: sum(r["outcome"] == o for r in _RESULTS) for o in OUTCOMES},
                    "causes": [{**r["cause"], "target": r["target"], "severity": r["severity"],
                                "checks_stopped": stopped.get(r["nodeid"], 1)}
                               for r in _RESULTS if r["outcome"] == "inconclusive"],
                    "exit_code": code, "exit_meaning": EXIT_CODES.get(code, "")},
        "results": _RESULTS,
    }
    path = Path(state["paths"]["json"])
    # Each result was redacted string by string when its report was made (logreport, makereport);
    # one more pattern pass over the whole text catches anything the bundle's own fields carry.
    path.write_text(REDACTOR.text(_bundle_text(bundle)), encoding="utf-8")


def _bundle_text(bundle: dict[str, Any]) -> str:
    """The bundle as JSON: indented, except one line per result record.

    ``indent`` makes ``json`` use its pure-Python encoder, ~10x slower: 2,000 matrix cells took most of
    a second. One record per line keeps the file readable and diffable, at the C encoder's speed.

    >>> print(_bundle_text({"tool": "dbrunbook", "results": [{"a": 1}, {"b": 2}]}))
    {
      "tool": "dbrunbook",
      "results": [
        {"a": 1},
        {"b": 2}
      ]
    }
    """
    head = json.dumps({k: v for k, v in bundle.items() if k != "results"}, indent=2, default=str)
    records = ",\n".join(f"    {json.dumps(r, default=str)}" for r in bundle["results"])
    tail = f'  "results": [\n{records}\n  ]' if records else '  "results": []'
    return head[:-2] + ",\n" + tail + "\n}" if head != "{}" else "{\n" + tail + "\n}"


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
