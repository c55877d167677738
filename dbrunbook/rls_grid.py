"""The RLS matrix as grids a person reads at a glance: one per table, identities x operations.

Each matrix node tags its report with a user property ``rls_cell``: JSON text of a list of cells
(one per identity a node probed: every identity of the contract for a test_matrix.py node, one for a
test_http.py node), each ``{table, identity, operation, state, detail, rows, policy_sql}`` with
``state`` one of ``ok | leak | blocking | inconclusive | not_probed`` (rls_contracts/conftest.py
``CELL_PROPERTY``). A single dict and the older string form ``"table|identity|operation"`` are
still read: the latter's state then comes from the node's outcome and the probe evidence. A matrix
node skipped before its test ran (a write node on a read-only target: the ``writes`` scope marker
skips it at setup) is given its cells from its parameters (:func:`unprobed_cells`), so its column
is there, not probed, with the skip's reason.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dbrunbook.rls.contract import OPERATIONS

State = Literal["leak", "blocking", "inconclusive", "not_probed", "ok"]
#: Worst first: tables and the terminal list follow this order.
STATES: tuple[State, ...] = ("leak", "blocking", "inconclusive", "not_probed", "ok")
SYMBOL: dict[str, str] = {"leak": "\u2717", "blocking": "\u2298", "inconclusive": "?", "not_probed": "\u00b7",
                          "ok": "\u2713"}
LABEL: dict[str, str] = {"leak": "LEAK", "blocking": "BLOCKING", "inconclusive": "inconclusive",
                         "not_probed": "not probed", "ok": "ok"}
#: One ASCII letter per state for the terminal (any console font shows them).
LETTER: dict[str, str] = {"leak": "L", "blocking": "B", "inconclusive": "?", "not_probed": "-", "ok": "."}


@dataclass(frozen=True)
class Cell:
    """One probe of the matrix: what one identity can do with one table."""

    target: str
    table: str
    identity: str
    operation: str
    state: State
    detail: str = ""
    rows: tuple[str, ...] = ()
    policy_sql: str = ""


def parse_cells(raw: Any) -> list[Any]:
    """The cells of an ``rls_cell`` property value: JSON text of a list (or of one cell), a list, a dict.

    >>> parse_cells('[{"table": "public.notes", "identity": "anon"}]')[0]["identity"]
    'anon'
    >>> parse_cells("public.notes|anon|insert")
    ['public.notes|anon|insert']
    """
    if isinstance(raw, str) and raw[:1] in ("[", "{"):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    if isinstance(raw, list):
        return raw
    return [raw] if raw is not None else []


def cells_of(user_properties: Iterable[tuple[str, Any]], outcome: str, evidence: Mapping[str, Any] | None,
             message: str = "") -> list[Cell]:
    """The matrix cells a report carries ([] for a node that is not a matrix node).

    >>> [c.state for c in cells_of([("rls_cell", json.dumps([{"table": "public.notes", "identity": "anon",
    ...      "operation": "select", "state": "leak", "rows": ["id=1"]}])), ("target", "prod")], "failed", None)]
    ['leak']
    >>> cells_of([("rls_cell", "public.notes|anon|insert")], "passed", None)[0].state
    'ok'
    """
    props = dict(user_properties)
    target = str(props.get("target") or "")
    cells = []
    for raw in parse_cells(props.get(CELL_PROPERTY)):
        if isinstance(raw, Mapping):
            given = str(raw.get("state") or "")
            state = next((s for s in STATES if s == given), None) or _state_from_outcome(outcome, evidence, message)
            rows = raw.get("rows") or ()
            cells.append(Cell(target, str(raw.get("table", "")), str(raw.get("identity", "")),
                              str(raw.get("operation", "")), state, str(raw.get("detail") or ""),
                              tuple(str(r) for r in rows), str(raw.get("policy_sql") or "")))
        elif isinstance(raw, str) and raw.count("|") == 2:
            table, identity, operation = raw.split("|")
            probe = (evidence or {}).get("probe") or {}
            rows = tuple(str(r) for r in probe.get("rows") or ())
            cells.append(Cell(target, table, identity, operation, _state_from_outcome(outcome, evidence, message),
                              message.splitlines()[0] if message else "", rows))
    return cells


#: The user property of matrix cells (rls_contracts/conftest.py ``CELL_PROPERTY``).
CELL_PROPERTY = "rls_cell"


def unprobed_cells(params: Mapping[str, Any], reason: str) -> list[dict[str, Any]]:
    """The cells of a matrix node skipped before its test ran, from its parameters (all not probed).

    A test_matrix.py node's ``rls_table`` parameter is ``(table, operation, identities)``.

    >>> [c["identity"] for c in unprobed_cells({"rls_table": ("public.notes", "insert", ("anon", "a1"))}, "ro")]
    ['anon', 'a1']
    >>> unprobed_cells({"rls_table": ("public.notes", "insert", ("anon",))}, "target t is read-only")[0]["state"]
    'not_probed'
    >>> unprobed_cells({"rls_table": ("-", "insert", ())}, "no contract")  # the no-contract node
    []
    """
    node = params.get("rls_table")
    if not (isinstance(node, tuple) and len(node) == 3 and node[0] != "-"):
        return []
    detail = reason.splitlines()[0] if reason else ""
    return [{"table": str(node[0]), "identity": str(i), "operation": str(node[1]), "state": "not_probed",
             "detail": detail, "rows": [], "policy_sql": ""} for i in node[2]]


def _state_from_outcome(outcome: str, evidence: Mapping[str, Any] | None, message: str) -> State:
    """The old two-way picture: passed is ok; a failure is a leak or a block (from the probe); a skip is not probed."""
    if outcome == "passed":
        return "ok"
    if outcome == "failed":
        problem = ((evidence or {}).get("probe") or {}).get("problem")
        if problem == "blocking" or (problem is None and "BLOCK" in message.upper() and "LEAK" not in message):
            return "blocking"
        return "leak"
    if outcome == "inconclusive":
        return "inconclusive"
    return "not_probed"


class Grid:
    """The cells of one table on one target."""

    def __init__(self, target: str, table: str) -> None:
        self.target = target
        self.table = table
        self.cells: dict[tuple[str, str], Cell] = {}

    @property
    def identities(self) -> list[str]:
        """Row labels, sorted."""
        return sorted({identity for identity, _ in self.cells})

    @property
    def operations(self) -> list[str]:
        """Column labels: the contract's DB operations in order, then extra columns such as ``api select``."""
        seen = {op for _, op in self.cells}
        return [op for op in OPERATIONS if op in seen] + sorted(seen - set(OPERATIONS))

    def state(self, identity: str, operation: str) -> State:
        """The state of one cell; a cell no node reported is not probed."""
        cell = self.cells.get((identity, operation))
        return cell.state if cell else "not_probed"

    @property
    def worst(self) -> State:
        """The worst state of any cell (leak before blocking before inconclusive ...)."""
        states = {c.state for c in self.cells.values()}
        return next((s for s in STATES if s in states), "ok")

    def count(self, state: State) -> int:
        """How many cells are in ``state``."""
        return sum(c.state == state for c in self.cells.values())


def grids(cells: Iterable[Cell]) -> list[Grid]:
    """One grid per (target, table), tables with leaks first, then blocking, inconclusive, the rest by name.

    >>> g = grids([Cell("t", "b", "anon", "select", "ok"), Cell("t", "a", "anon", "select", "leak")])
    >>> [x.table for x in g]
    ['a', 'b']
    """
    by_table: dict[tuple[str, str], Grid] = {}
    for cell in cells:
        grid = by_table.setdefault((cell.target, cell.table), Grid(cell.target, cell.table))
        grid.cells[(cell.identity, cell.operation)] = cell
    problems = ("leak", "blocking", "inconclusive")
    return sorted(by_table.values(), key=lambda g: (
        problems.index(g.worst) if g.worst in problems else len(problems), g.target, g.table))


def has_problem(all_grids: Iterable[Grid]) -> bool:
    """Whether any cell leaked, blocked or could not be decided (the matrix 'fails')."""
    return any(g.worst in ("leak", "blocking", "inconclusive") for g in all_grids)


def terminal_lines(all_grids: list[Grid]) -> list[str]:
    """The compact grid of every table with a problem, one line per identity.

    >>> print("\\n".join(terminal_lines(grids([Cell("t", "public.notes", "anon", "select", "leak"),
    ...                                       Cell("t", "public.notes", "anon", "insert", "ok")]))))
    RLS matrix (L leak, B blocking, ? inconclusive, - not probed, . ok), tables with a problem:
      public.notes [t]  select insert
        anon            L      .
    """
    shown = [g for g in all_grids if g.worst in ("leak", "blocking", "inconclusive")]
    if not shown:
        return []
    lines = [f"RLS matrix ({', '.join(f'{LETTER[s]} {LABEL[s].lower()}' for s in STATES)}), tables with a problem:"]
    for grid in shown:
        ops = grid.operations
        title = f"{grid.table} [{grid.target}]"
        width = max([len(title) - 2, *(len(i) for i in grid.identities)])
        lines.append(f"  {title.ljust(width + 2)}  " + " ".join(ops))
        for identity in grid.identities:
            marks = " ".join(LETTER[grid.state(identity, op)].ljust(len(op)) for op in ops)
            lines.append(f"    {identity.ljust(width)}  {marks}".rstrip())
    return lines


def html_section(all_grids: list[Grid]) -> str:
    """The grids for the HTML report, with a detail panel per cell (shown by ``:target``, no script)."""
    if not all_grids:
        return ""
    esc = html.escape
    legend = " ".join(f'<span class="dbr-cell dbr-{s}">{SYMBOL[s]}</span> {LABEL[s]}' for s in STATES)
    counts = {s: sum(g.count(s) for g in all_grids) for s in STATES}
    summary = ", ".join(f"{counts[s]} {LABEL[s]}" for s in STATES if counts[s])
    parts = [f'<section id="dbr-rls"><h2>RLS matrix</h2><p class="dbr-legend">{legend} &nbsp;|&nbsp; '
             f'{esc(summary)}. Click a cell for its rows and the policy.</p><div class="dbr-grids">']
    details: list[str] = []
    for g_index, grid in enumerate(all_grids):
        ops = grid.operations
        head = "".join(f"<th>{esc(op)}</th>" for op in ops)
        rows = []
        for identity in grid.identities:
            tds = []
            for op in ops:
                state = grid.state(identity, op)
                cell = grid.cells.get((identity, op))
                anchor = f"dbr-cell-{g_index}-{len(details)}"
                tip = esc(f"{grid.table} / {identity} / {op}: {LABEL[state]}")
                tds.append(f'<td class="dbr-cell dbr-{state}" data-state="{state}" title="{tip}">'
                           f'<a href="#{anchor}">{SYMBOL[state]}</a></td>')
                details.append(_detail(anchor, grid, identity, op, state, cell))
            rows.append(f"<tr><th>{esc(identity)}</th>{''.join(tds)}</tr>")
        parts.append(f'<table class="dbr-grid dbr-worst-{grid.worst}"><caption>{esc(grid.table)} '
                     f'<small>[{esc(grid.target)}]</small></caption><tr><th>identity</th>{head}</tr>'
                     f'{"".join(rows)}</table>')
    parts.append('</div><div class="dbr-cell-details">' + "".join(details) + "</div></section>")
    return "".join(parts)


def _detail(anchor: str, grid: Grid, identity: str, op: str, state: State, cell: Cell | None) -> str:
    esc = html.escape
    body = [f'<h4><span class="dbr-cell dbr-{state}">{SYMBOL[state]}</span> {esc(grid.table)} / {esc(identity)} / '
            f'{esc(op)}: {LABEL[state]} <a class="dbr-close" href="#dbr-rls">close</a></h4>']
    if cell is None:
        body.append("<p>No probe ran for this cell (not in the contract, or its node was deselected or skipped "
                    "before probing).</p>")
    else:
        if cell.detail:
            body.append(f'<pre class="dbr-pre">{esc(cell.detail)}</pre>')
        if cell.rows:
            body.append(f'<p>Rows ({len(cell.rows)}):</p><pre class="dbr-pre">{esc(chr(10).join(cell.rows))}</pre>')
        if cell.policy_sql:
            body.append(f'<p>Policy:</p><pre class="dbr-pre">{esc(cell.policy_sql)}</pre>')
    return f'<div class="dbr-cell-detail" id="{anchor}">{"".join(body)}</div>'
