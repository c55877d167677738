"""The fault matrix: every ``@pytest.mark.fault`` self-test as one row (scenario, expected, observed, time).

Loaded by tests/conftest.py, so ``make test`` prints the table at its end and ``make faults``
(``-m fault``) prints only it; ``--fault-matrix-readme=README.md`` also rewrites the README's table
between its ``fault-matrix`` markers. Rows travel in ``report.user_properties``, so the table is
also right under pytest-xdist (markers are not visible on the controller, reports are).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import pytest

BEGIN = "<!-- fault-matrix:begin -->"
END = "<!-- fault-matrix:end -->"
_PROPERTY = "fault_matrix"
#: The observed column of a row that did what its test asserts.
MATCHES = "matches"


@dataclass
class Row:
    """One scenario of the matrix, filled in phase by phase."""

    nodeid: str
    scenario: str
    expect: str
    observed: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.observed == MATCHES


def add_options(parser: pytest.Parser) -> None:
    """``--fault-matrix-readme PATH``: rewrite the table between the markers of that file."""
    parser.addoption("--fault-matrix-readme", default=None, metavar="PATH",
                     help="rewrite the fault-matrix table between its markers in PATH (make faults: README.md)")


def _scenario(item: pytest.Item, marker: pytest.Mark) -> tuple[str, str]:
    scenario = str(marker.kwargs.get("scenario") or (marker.args[0] if marker.args else item.name))
    expect = str(marker.kwargs.get("expect") or (marker.args[1] if len(marker.args) > 1 else "passes"))
    callspec = getattr(item, "callspec", None)
    # A marker on a parametrized function covers every parameter set: the set's id tells the rows apart.
    # A marker on each pytest.param names its own scenario already.
    if callspec is not None and marker not in callspec.marks:
        scenario = f"{scenario} [{callspec.id}]"
    return scenario, expect


def _first_line(report: pytest.TestReport) -> str:
    """The assertion or error that made a phase fail, on one line."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    text = str(crash.message) if crash is not None else str(longrepr or "")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # `assert x == y, run.output`: the message is the product's output; the comparison says more
    asserts = [line for line in lines if line.startswith("assert ")]
    line = asserts[0] if asserts else lines[0] if lines else "failed"
    if crash is not None:
        line += f" ({Path(str(crash.path)).name}:{crash.lineno})"
    return line if len(line) <= 160 else line[:157] + "..."


class FaultMatrix:
    """Collects the rows during the run and prints (and optionally writes) the table at its end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: dict[str, Row] = {}
        readme = config.getoption("fault_matrix_readme", None)
        if readme:  # before the run, not after ten minutes of it
            _markers(Path(readme).read_text(encoding="utf-8"), Path(readme))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        marker = item.get_closest_marker("fault")
        if marker is not None:
            scenario, expect = _scenario(item, marker)
            report.user_properties.append((_PROPERTY, {"scenario": scenario, "expect": expect}))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties).get(_PROPERTY)
        if not isinstance(props, dict):
            return
        row = self.rows.setdefault(report.nodeid, Row(report.nodeid, props["scenario"], props["expect"]))
        row.duration_s += report.duration
        if row.observed and row.observed != MATCHES:
            return  # the first failing phase says what went wrong
        if report.failed:
            phase = "" if report.when == "call" else f"{report.when} error: "
            row.observed = phase + _first_line(report)
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            row.observed = f"skipped: {str(reason).removeprefix('Skipped: ')}"
        elif report.when == "call":
            row.observed = MATCHES

    def table(self) -> list[str]:
        """The Markdown table: one line per scenario, in run order."""
        lines = ["| scenario | expected | observed | time |", "| --- | --- | --- | --- |"]
        for row in self.rows.values():
            cells = [row.scenario, row.expect, row.observed or "did not run", f"{row.duration_s:.1f} s"]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return lines

    def totals(self) -> str:
        rows = list(self.rows.values())
        mismatches = [r for r in rows if not r.ok and not r.observed.startswith("skipped")]
        skipped = [r for r in rows if r.observed.startswith("skipped")]
        total = sum(r.duration_s for r in rows)
        return (f"{len(rows)} scenarios: {len(rows) - len(mismatches) - len(skipped)} match, "
                f"{len(mismatches)} mismatch(es), {len(skipped)} skipped; {total:.0f} s in all")

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.rows:
            return
        terminalreporter.section("fault matrix")
        for line in self.table():
            terminalreporter.write_line(line)
        terminalreporter.write_line(self.totals())
        readme = self.config.getoption("fault_matrix_readme")
        if readme:
            path = Path(readme)
            write_readme(path, self.table(), self.totals())
            terminalreporter.write_line(f"fault matrix written to {path}")


def _cell(text: str) -> str:
    """A Markdown table cell: one line, pipes escaped."""
    return re.sub(r"\s+", " ", text).replace("|", "\\|").strip()


def write_readme(path: Path, table: list[str], totals: str) -> None:
    """Replace what lies between the fault-matrix markers of ``path`` with the table.

    :raises pytest.UsageError: the file lacks the markers (nothing is written then)
    """
    text = path.read_text(encoding="utf-8")
    start, end = _markers(text, path)
    body = "\n".join(["", "Regenerated by `make faults`. " + totals + ".", "", *table, ""])
    path.write_text(text[:start + len(BEGIN)] + body + "\n" + text[end:], encoding="utf-8")


def _markers(text: str, path: Path) -> tuple[int, int]:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise pytest.UsageError(f"{path} has no {BEGIN} ... {END} markers: add them where the table goes")
    return start, end
