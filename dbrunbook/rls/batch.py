"""Many probe transactions in one round trip: the matrix's plans run on the server (sql/rls_batch.sql).

A cell is a small program (a generator): it yields the plans it needs (each plan: steps run with
full rights or as the identity, inside one rolled-back subtransaction), receives their results, and
returns the cell's Outcome. :func:`run_cells` drives every cell of one table and operation
together: each round sends all pending plans in one ``DO`` statement, inside one probe transaction
that starts with the contract's seed. Every cell keeps its own verdict; only the transport is shared.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import errors

from dbrunbook import resources, session
from dbrunbook.rls.claims import with_role
from dbrunbook.rls.contract import Identity
from dbrunbook.rls.request import EXTRA_SEARCH_PATH

if TYPE_CHECKING:
    from dbrunbook.rls.probe import Outcome, Probe


@dataclass(frozen=True)
class Step:
    """One statement of a plan: as the identity (the request) or with full rights (the oracle's view)."""

    sql: str
    as_identity: bool = False
    returns: bool = True  # the statement yields one jsonb value (a select); writes yield nothing
    #: Run for the first plan of a batch that has it, its value reused by the others: only for
    #: full-rights reads before the plan's request (earlier plans rolled back: they read the same).
    once: bool = False


@dataclass(frozen=True)
class Plan:
    """One PostgREST-shaped request and what is read around it, rolled back as a whole."""

    identity: Identity
    method: str
    steps: tuple[Step, ...]
    path: str  # request.path, "/<table>"
    schema: str  # the table's schema, first on the search_path


def plan(p: Probe, identity: Identity, method: str, steps: Sequence[Step]) -> Plan:
    """A plan against ``p``'s table (plans of several tables can share a batch)."""
    return Plan(identity, method, tuple(steps), f"/{p.table.relname}", p.table.schema)


class ProbeError(Exception):
    """An error a plan ran into, as the server reported it."""

    def __init__(self, sqlstate: str, message: str) -> None:
        self.sqlstate = sqlstate
        super().__init__(message)


@dataclass
class Result:
    """What a plan's steps returned; ``failed`` is the index of the step that raised (-1: the whole batch)."""

    values: list[Any] = field(default_factory=list)
    failed: int | None = None
    error: BaseException | None = None

    def value(self, i: int) -> Any:
        """The jsonb value of step ``i`` (None when it did not run)."""
        return self.values[i] if i < len(self.values) else None


#: A cell's program: yields lists of plans, receives their results, returns its outcome.
Program = Generator[list[Plan], list[Result], "Outcome"]


#: Claims as the runner sets them, by identity (the identity kept, so its id is not reused).
_CLAIMS: dict[int, tuple[Identity, str]] = {}


def _claims(identity: Identity) -> str:
    known = _CLAIMS.get(id(identity))
    if known is None or known[0] is not identity:
        if len(_CLAIMS) > 4096:  # generated identities (the forged-claims property): bounded
            _CLAIMS.clear()
        known = _CLAIMS[id(identity)] = (identity, json.dumps(with_role(identity.claims or {}, identity.role),
                                                              separators=(",", ":")))
    return known[1]


def _payload(plans: Sequence[Plan]) -> str:
    """The batch as the runner reads it: each distinct statement text once (``sql``), steps by index."""
    texts: dict[str, int] = {}
    return json.dumps({"plans": [{
        "role": plan.identity.role,
        "claims": _claims(plan.identity),
        "method": plan.method, "path": plan.path, "search_path": f"{plan.schema}, {EXTRA_SEARCH_PATH}",
        "steps": [{"q": texts.setdefault(s.sql, len(texts)), "as": "identity" if s.as_identity else "full",
                   **({"returns": True} if s.returns else {}), **({"once": True} if s.once else {})}
                  for s in plan.steps],
    } for plan in plans], "sql": list(texts)}, separators=(",", ":"))


def _unfold(plans: Sequence[Plan], raw: list[dict[str, Any]]) -> list[Result]:
    """The plans' results; a once-step the runner did not run again reports null: its value is the last run's."""
    last: dict[str, Any] = {}
    out = []
    for plan, r in zip(plans, raw, strict=True):
        values = r["values"]
        for i, value in enumerate(values):
            step = plan.steps[i]
            if step.once:
                if value is None and step.sql in last:
                    values[i] = last[step.sql]
                else:
                    last[step.sql] = value
        error = ProbeError(r["sqlstate"], r["message"] or "") if r["sqlstate"] else None
        out.append(Result(values, r["failed"], error))
    return out


@functools.cache
def _runner() -> bytes:
    """sql/rls_batch.sql and the query reading its result: one message, one round trip.

    Comment lines dropped (what pg_stat_activity shows starts with the code); no parameters, so the
    driver sends both statements at once (the simple protocol).
    """
    text = resources.sql("rls_batch")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return (code + "\nselect current_setting('dbrunbook.result') as r").encode()


def execute(p: Probe, plans: Sequence[Plan]) -> list[Result]:
    """Run the plans in one probe transaction (seeded, bounded, rolled back): two round trips of our own.

    A failure of the whole statement (statement_timeout, lock_timeout at the seed ...) is every plan's
    result; a lost connection propagates (the run's hooks report the target as gone).
    """
    if not plans:
        return []
    try:
        # A probe without its own seed keeps the caller's (the forged-claims property sets one around it).
        seeding = session.seeding(p.seed_sql) if p.seed_sql else contextlib.nullcontext()
        reads = all(plan.method == "GET" for plan in plans)
        with seeding, session.probe_transaction(p.conn, p.policy, writes=not reads) as tx:
            # PostgREST's GET is a READ ONLY transaction (set once the seed has written): the same
            # setting SET TRANSACTION READ ONLY makes, in the same round trip as the plans.
            read_only = reads and not p.conn.read_only
            tx.execute("select set_config('dbrunbook.batch', %s, true)"
                       + (", set_config('transaction_read_only', 'on', true)" if read_only else ""), (_payload(plans),))
            cur = tx.execute(_runner())
            cur.nextset()  # the DO's result is empty; the second statement's holds the plans' results
            row = cur.fetchone()
    except errors.Error as exc:
        if p.conn.closed or p.conn.broken:
            raise
        return [Result(failed=-1, error=exc) for _ in plans]
    return _unfold(plans, json.loads(row["r"]) if row else [])


class BatchFailed(Exception):
    """A whole batch failed (a statement_timeout, a lock at the seed ...): raised instead of outcomes."""


def run_cells(p: Probe, programs: Sequence[Program], *, whole: bool = True) -> list[Outcome]:
    """Drive the programs together: one server round per wave of plans, until every cell has its outcome.

    ``p`` gives the connection, the policy and the seed; the programs may probe other tables on it.
    ``whole=False``: a failure of a whole batch raises :class:`BatchFailed` (the caller runs smaller
    batches) instead of becoming every pending cell's outcome.
    """
    outcomes: list[Outcome | None] = [None] * len(programs)
    pending: dict[int, list[Plan]] = {}
    for i, prog in enumerate(programs):
        try:
            pending[i] = next(prog)
        except StopIteration as stop:
            outcomes[i] = stop.value
    while pending:
        keys = list(pending)
        results = execute(p, [plan for k in keys for plan in pending[k]])
        if not whole and any(r.failed == -1 for r in results):
            raise BatchFailed
        sizes = [len(pending[k]) for k in keys]
        pending = {}
        at = 0
        for k, n in zip(keys, sizes, strict=True):
            try:
                pending[k] = programs[k].send(results[at:at + n])
            except StopIteration as stop:
                outcomes[k] = stop.value
            at += n
    return [o for o in outcomes if o is not None]
