"""The HTML report's first screen: what is wrong, how bad, whom to call and what to do first.

pytest-html 4 renders its template at the end of the session; a ``pytest_sessionfinish`` wrapper
then rewrites the written file once: our section goes right after ``<body>`` (above anything
pytest-html adds), pytest-html's Environment table is folded into a ``<details>``, and the RLS
grids (:mod:`dbrunbook.rls_grid`) follow the first screen. The results table keeps working (its
script and data are untouched); its rows show a check's error and findings first, evidence inline,
and failures sort by severity.

What the first screen and the rows say comes from :mod:`dbrunbook.first_screen`, built from the
result records of the JSON bundle, so the page says what the terminal and the JSON say.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from dbrunbook import failure_text, rls_grid
from dbrunbook.escalation import escalation_lines, graded
from dbrunbook.first_screen import first_screen, row_html
from dbrunbook.results import RESULTS

PLUGIN_NAME = "dbrunbook-html"
CSS = Path(__file__).with_name("html_report.css")
_esc = html.escape


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


def _place_unprobed_cells(item: pytest.Item, report: pytest.TestReport) -> None:
    """A matrix node skipped at setup (a write node on a read-only target) keeps its place in the grid."""
    if any(key == rls_grid.CELL_PROPERTY for key, _ in report.user_properties):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr or "")
    cells = rls_grid.unprobed_cells(getattr(getattr(item, "callspec", None), "params", {}), reason)
    if cells:
        prop = (rls_grid.CELL_PROPERTY, json.dumps(cells))
        report.user_properties.append(prop)
        item.user_properties.append(prop)  # the teardown report (JUnit) copies it


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
        if report.skipped and report.when == "setup":
            _place_unprobed_cells(item, report)
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
        for cell in rls_grid.cells_of(report.user_properties, outcome, data.get("evidence"), message):
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
        from dbrunbook.factories import CONFIG_KEY

        cfg = self.config.stash[CONFIG_KEY].cfg
        results = list(RESULTS)
        escalation = escalation_lines(cfg, graded(results))  # the terminal summary's lines, word for word
        title = "dbrunbook: " + ", ".join(t.name for t in cfg.targets)
        first = first_screen(results, [t.name for t in cfg.targets], escalation, title=title)
        page = rewrite(path.read_text(encoding="utf-8"), first, rls_grid.html_section(self.grids()),
                       CSS.read_text(encoding="utf-8"))
        path.write_text(page, encoding="utf-8")


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
