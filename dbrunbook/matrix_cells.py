"""The RLS matrix runs one pytest node per table x operation; every cell keeps its own verdict.

A matrix node (``rls_contracts/test_matrix.py``) probes every identity of the contract at once and
leaves one :class:`CellVerdict` per identity in ``item.stash[VERDICTS]``. The report hook
(``reporting.py``) turns them into one result record per cell (:func:`cell_records`) with the same
rules as a check of its own (``verdicts.decide``: waivers, one finding per cause), and the node's own
outcome follows from its cells (:func:`node_verdict`): a failing cell fails the node; else a cell
with no verdict makes it inconclusive (never a pass, never a fail); else it passes, or skips when no
cell was probed. A node stopped before its cells were decided (a lock, a lost database, a read-only
target for a write node) gives that ending to each of its cells.

A cell's record is the node's record shape (reporting.py) with ``nodeid`` = ``<node id>::<identity>``
and ``node``, ``table``, ``identity``, ``operation`` added; the node itself has no record of its own,
so nothing counts twice. JUnit gets one ``<testcase>`` per cell (:func:`junit_cells`).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest

from dbrunbook import causes, verdicts, waivers
from dbrunbook.findings import CheckMeta, Finding
from dbrunbook.redact import REDACTOR, jsonable
from dbrunbook.severity import worst


class MatrixNode(NamedTuple):
    """The parameter of one matrix node: a table, an operation, the contract's identities (in order)."""

    table: str
    operation: str
    identities: tuple[str, ...]


@dataclass
class CellVerdict:
    """What a matrix node decided for one identity: a finding (fails), a cause (no verdict), a skip, or ok."""

    identity: str
    evidence: dict[str, Any] = field(default_factory=dict)
    finding: Finding | None = None
    cause: BaseException | None = None  # an Inconclusive, or the node's error when it stopped early
    skipped: str | None = None


VERDICTS = pytest.StashKey[dict[str, CellVerdict]]()
#: Set once a node's cells have their records (a failing teardown then reports the node alone).
_DONE = pytest.StashKey[bool]()


def node_of(item: pytest.Item) -> MatrixNode | None:
    """The matrix parameter of ``item`` (None: not a matrix node, or the no-contract node without cells)."""
    callspec = getattr(item, "callspec", None)
    spec = callspec.params.get("rls_table") if callspec is not None else None
    return spec if isinstance(spec, MatrixNode) and spec.identities else None


def cell_nodeid(nodeid: str, identity: str) -> str:
    """The record id of one cell: its node's id and the identity.

    >>> cell_nodeid("m.py::test_reads[public.notes-prod]", "anon")
    'm.py::test_reads[public.notes-prod]::anon'
    """
    return f"{nodeid}::{identity}"


def _pending(report: pytest.TestReport, exc: BaseException | None, target: str | None) -> CellVerdict:
    """How a cell the node never decided ends: like the node (skipped, stopped by a cause, failed)."""
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr or "")
        return CellVerdict("", skipped=str(reason).removeprefix("Skipped: "))
    if exc is None:  # never a silent green: a cell the node left undecided is a bug, reported as a crash
        return CellVerdict("", cause=RuntimeError(f"the matrix node left this cell without a verdict "
                                                  f"({report.when}: {report.outcome})"))
    return CellVerdict("", cause=causes.from_exception(exc, target) or exc)


def _decide(item: pytest.Item, nodeid: str, cell: CellVerdict, meta: CheckMeta, target: str | None,
            gate_waivers: tuple[waivers.Waiver, ...], failure_text: str) -> tuple[verdicts.Verdict, str | None]:
    """One cell through ``verdicts.decide``, as if it were a check of its own; (verdict, message)."""
    fake_item: Any = SimpleNamespace(nodeid=nodeid, path=item.path, location=item.location)
    exc: BaseException | None = cell.cause
    findings: list[Finding] = []
    if cell.finding is not None:
        findings = [cell.finding]
        exc = pytest.fail.Exception(failure_text, pytrace=False)
    if cell.skipped is not None:
        report: Any = SimpleNamespace(outcome="skipped", when="call", longrepr=(
            str(item.path), (item.location[1] or 0) + 1, f"Skipped: {cell.skipped}"))
    else:
        report = SimpleNamespace(outcome="failed", when="call", longrepr=failure_text)
    report.passed, report.failed, report.skipped = False, report.outcome == "failed", report.outcome == "skipped"
    call: Any = SimpleNamespace(excinfo=SimpleNamespace(value=exc) if exc is not None else None)
    verdict = verdicts.decide(fake_item, call, report, meta, findings, target, gate_waivers)
    assert verdict is not None  # a failed or skipped phase always has one
    if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
        return verdict, REDACTOR.text(str(report.longrepr[2])).removeprefix("Skipped: ")
    if report.outcome == "failed":
        return verdict, REDACTOR.text(str(report.longrepr))[:4000]
    return verdict, None


def cell_records(item: pytest.Item, report: pytest.TestReport, exc: BaseException | None, meta: CheckMeta,
                 target: str | None, gate_waivers: tuple[waivers.Waiver, ...],
                 spec: MatrixNode) -> list[dict[str, Any]]:
    """One result record per cell of ``item`` (run order = the contract's identities)."""
    item.stash[_DONE] = True
    decided = item.stash.get(VERDICTS, {})
    pending = None
    records = []
    share = round(report.duration / len(spec.identities), 4)
    base = {"when": report.when, "check_id": meta.check_id, "marker_severity": meta.severity,
            "runbook": meta.runbook, "target": target, "node": item.nodeid, "table": spec.table,
            "operation": spec.operation, "duration_s": share}
    for identity in spec.identities:
        cell = decided.get(identity)
        if cell is None:
            pending = pending or _pending(report, exc, target)
            cell = pending
        nodeid = cell_nodeid(item.nodeid, identity)
        record: dict[str, Any] = {"nodeid": nodeid, **base, "identity": identity, "evidence": cell.evidence}
        if cell.finding is None and cell.cause is None and cell.skipped is None:
            records.append({**record, "outcome": "passed", "severity": meta.severity, "title": "", "cause": None,
                            "findings": [], "message": None})
            continue
        text = REDACTOR.text(cell.finding.render()) if cell.finding else str(report.longrepr or "")
        verdict, message = _decide(item, nodeid, cell, meta, target, gate_waivers, text)
        record.update(outcome=verdict.outcome, severity=verdict.severity, title=REDACTOR.text(verdict.title),
                      cause=verdict.cause, findings=verdict.findings or (
                          [cell.finding.as_dict()] if cell.finding else []), message=message)
        if verdict.expired_waiver:
            record["expired_waiver"] = True
        if verdict.crashed:
            record["crashed"] = True
        records.append(record)
    return [jsonable(r) for r in records]


def done(item: pytest.Item) -> bool:
    """Whether ``item``'s cells already have their records."""
    return item.stash.get(_DONE, False)


def _brief(records: list[dict[str, Any]], skip: str) -> list[str]:
    """One line per other cell that did not pass (cells skipped for a cause a sibling reports are left out)."""
    own = {r["nodeid"] for r in records}
    return [f"  {r['identity']}: {r['outcome']}: {(r['message'] or r['title']).strip().splitlines()[0]}"
            for r in records if r["outcome"] not in ("passed", skip) and (r["message"] or r["title"])
            and (r.get("cause") or {}).get("first_nodeid") not in own]


def node_verdict(records: list[dict[str, Any]], meta: CheckMeta, report: pytest.TestReport,
                 item: pytest.Item) -> verdicts.Verdict:
    """The node's outcome from its cells (and ``report`` rewritten to match, as ``verdicts.decide`` does)."""
    failed = [r for r in records if r["outcome"] == "failed"]
    findings = [f for r in records for f in r["findings"]]
    if failed:
        report.outcome = "failed"
        if report.longrepr is None:
            report.longrepr = "\n\n".join(r["message"] or r["title"] for r in failed)
        crashed = all(r.get("crashed") for r in failed)
        return verdicts.Verdict("failed", None if crashed else worst(r["severity"] for r in failed) or meta.severity,
                                failed[0]["title"], None, findings,
                                expired_waiver=any(r.get("expired_waiver") for r in failed), crashed=crashed)
    stopped = [r for r in records if r["outcome"] == "inconclusive"]
    if stopped:
        # No verdict for some cells, the rest ok: the node is inconclusive (the cells carry the causes).
        lines = [r["message"] or r["title"] for r in stopped]
        others = _brief(records, "inconclusive")
        report.outcome = "failed"
        report.longrepr = "\n\n".join(lines) + ("\n\nother cells:\n" + "\n".join(others) if others else "")
        return verdicts.Verdict("inconclusive", worst(r["severity"] for r in stopped), stopped[0]["title"],
                                stopped[0]["cause"], findings)
    if all(r["outcome"] == "skipped" for r in records):
        reason = records[0]["message"] or records[0]["title"]
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {reason}")
        return verdicts.Verdict("skipped", meta.severity, verdicts.first_title(reason), records[0]["cause"])
    report.outcome, report.longrepr = "passed", None
    if any(r["outcome"] == "waived" for r in records):
        return verdicts.Verdict("waived", worst(r["severity"] for r in records if r["outcome"] == "waived"),
                                next(r["title"] for r in records if r["outcome"] == "waived"), None, findings)
    return verdicts.Verdict("passed", meta.severity, "")


def junit_cells(path: Path, records: Iterable[Mapping[str, Any]], grid_cells: Mapping[str, list[Any]]) -> None:
    """Replace each matrix node's ``<testcase>`` in the JUnit file by one ``<testcase>`` per cell.

    CI UIs list test cases: each cell shows with its own verdict (``<failure>``, ``<skipped>``), its
    properties (the node's ``check_id``, ``severity`` ..., the cell's ``outcome``) and ``rls_cell``:
    a JSON array holding the cell (rls_contracts/conftest.py ``CELL_PROPERTY``).
    """
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        if record.get("node"):
            by_node.setdefault(str(record["node"]), []).append(record)
    if not by_node:
        return
    tree = ET.parse(path)  # noqa: S314 (the file junitxml just wrote)
    names = {_junit_name(node): node for node in by_node}
    for suite in tree.getroot().iter("testsuite"):
        cases = list(suite)
        for index in range(len(cases) - 1, -1, -1):
            case = cases[index]
            if case.tag != "testcase":
                continue
            node = names.get((case.get("classname", ""), case.get("name", "")))
            if node is None:
                continue
            grid = {str(c.get("identity")): c for c in grid_cells.get(node, []) if isinstance(c, Mapping)}
            suite.remove(case)
            for offset, record in enumerate(by_node[node]):
                suite.insert(index + offset, _cell_case(case, record, grid.get(str(record["identity"]))))
        _recount(suite)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _junit_name(nodeid: str) -> tuple[str, str]:
    """The (classname, name) junitxml gives a node id: path dotted without ``.py``, then the test's name."""
    path, _, rest = nodeid.partition("::")
    parts = [path.replace("/", ".").removesuffix(".py"), *rest.split("::")]
    return ".".join(parts[:-1]), parts[-1]


def _cell_case(node_case: ET.Element, record: Mapping[str, Any], grid: Any) -> ET.Element:
    case = ET.Element("testcase", {"classname": node_case.get("classname", ""),
                                   "name": f"{node_case.get('name', '')}::{record['identity']}",
                                   "time": f"{float(record.get('duration_s') or 0):.3f}"})
    props = ET.SubElement(case, "properties")
    node_props = node_case.find("properties")
    for prop in node_props if node_props is not None else ():
        if prop.get("name") not in ("outcome", "cause", "rls_cell"):
            ET.SubElement(props, "property", {"name": prop.get("name", ""), "value": prop.get("value", "")})
    ET.SubElement(props, "property", {"name": "outcome", "value": str(record["outcome"])})
    if record.get("cause"):
        ET.SubElement(props, "property", {"name": "cause", "value": str(record["cause"]["kind"])})
    if grid is not None:
        ET.SubElement(props, "property", {"name": "rls_cell", "value": json.dumps([grid])})
    message = str(record.get("message") or "")
    if record["outcome"] in ("failed", "inconclusive"):
        failure = ET.SubElement(case, "failure", {"message": str(record.get("title") or "")[:500]})
        failure.text = message
    elif record["outcome"] == "skipped":
        ET.SubElement(case, "skipped", {"type": "pytest.skip", "message": message[:500]})
    return case


def _recount(suite: ET.Element) -> None:
    cases = [c for c in suite if c.tag == "testcase"]
    suite.set("tests", str(len(cases)))
    for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        suite.set(attr, str(sum(c.find(tag) is not None for c in cases)))
