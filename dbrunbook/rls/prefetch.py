"""RLS matrix nodes probed ahead on a second connection while pytest reports the nodes before them.

On one connection the two sides take turns: the server idles while this process builds a node's
reports, and the process idles while the server runs the next batch. On writable targets (where
:func:`matrix.run_table` batches tables), a thread makes the nodes' own ``run_table`` calls, in the
order pytest will ask for them, on a second probe connection, and keeps each node's outcomes; a node
takes its outcomes, or probes itself when the thread did not get to it. The calls are the ones the
nodes would make (same tables, same ``ahead``), so every cell gets the verdict it gets without the
thread (tests/test_rls_prefetch.py).

Safety: never on a read-only target (production: one connection, each cell its own request), never
through a pooler, and only when the server shows a free slot beyond ``pool_keep_free_slots``. The
second connection has the same settings and deadlines as the first; probe transactions of both take
turns (``session.probe_transaction``). A node stops waiting for the thread when it made no progress
within two client deadlines, and probes itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbrunbook import connections, session, urls
from dbrunbook.exceptions import first_line
from dbrunbook.outcomes import Inconclusive
from dbrunbook.rls import matrix
from dbrunbook.rls.contract import Identity, Operation
from dbrunbook.rls.probe import Outcome, Probe

if TYPE_CHECKING:
    import psycopg

    from dbrunbook.targets import Target


@dataclass(frozen=True)
class Step:
    """One node's ``run_table`` call: its table, its operation, the tables it may batch with."""

    table: str
    operation: Operation
    ahead: tuple[str, ...]


def refusal(target: Target, conn: psycopg.Connection[dict[str, Any]]) -> str | None:
    """Why this target gets no second connection (None: it may have one)."""
    if target.spec.read_only:
        return "read-only target: each cell is its own request on the one probe connection"
    if not target.dsn or urls.pooler_hint(target.dsn):
        return "the DB URL is a pooler's: its client slots are not ours to prove"
    import psycopg

    try:
        usage = connections.usage(conn, target.policy)
    except psycopg.Error as exc:  # a cancelled or refused read: headroom not proven, so one connection
        return f"headroom not proven ({first_line(exc)})"
    keep = target.spec.thresholds.pool_keep_free_slots
    if not usage.room_for(1, keep):
        return f"{usage.describe()}: one more connection would leave fewer than {keep} free (pool_keep_free_slots)"
    return None


class Prefetch:
    """A thread making the planned nodes' ``run_table`` calls on its own connection, in order."""

    def __init__(self, target: Target, probes: Mapping[str, Probe], identities: Sequence[Identity],
                 steps: Sequence[Step]) -> None:
        self._target = target
        self._probes = dict(probes)
        self._identities = tuple(identities)
        self._steps = tuple(s for s in steps if s.table in self._probes)
        self._index = {(s.table, s.operation): i for i, s in enumerate(self._steps)}
        self._done: dict[int, list[Outcome] | BaseException] = {}
        self._cond = threading.Condition()
        self._finished = False
        self._stopped = False
        #: How long a node waits for the thread's next step: the step's batch and, when the batch
        #: failed as a whole, its first table alone, each within a client deadline.
        self._patience_s = 2 * session.client_timeout_s(target.spec.thresholds)
        self._thread = threading.Thread(target=self._work, name="dbrunbook-rls-prefetch", daemon=True)

    def start(self) -> Prefetch:
        """Start probing ahead; returns itself."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """No new step after the current one; wait for it (bounded) so the connection closes cleanly."""
        self._stopped = True
        if self._thread.is_alive():
            self._thread.join(self._patience_s)

    def outcomes(self, table: str, operation: Operation) -> list[Outcome] | None:
        """The node's outcomes, probed ahead; None when the node probes itself.

        :raises Inconclusive: what stopped the thread at this node (the target stopped answering)
        """
        at = self._index.get((table, operation))
        if at is None:
            return None
        with self._cond:
            while at not in self._done and not self._finished:
                # Every notify is a step done: the deadline runs from the thread's last progress.
                if not self._cond.wait(timeout=self._patience_s):
                    self._stopped = True  # no progress within a deadline: every later node probes itself
                    return None
            result = self._done.pop(at, None)
        if isinstance(result, Inconclusive):
            raise result
        if isinstance(result, BaseException):
            return None  # the node probes itself: the same error then shows with its own trace
        return result

    def _work(self) -> None:
        try:
            conn = self._target.another_connection()
        except Exception:  # psycopg.Error or the target's cause: every node probes itself, and meets it there
            conn = None
        try:
            if conn is not None:
                self._run_steps(conn)
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def _run_steps(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        mine = {name: dataclasses.replace(p, conn=conn) for name, p in self._probes.items()}
        for at, step in enumerate(self._steps):
            if self._stopped:
                return
            result: list[Outcome] | BaseException
            try:
                result = matrix.run_table(mine[step.table], self._identities, step.operation,
                                          ahead=[mine[t] for t in step.ahead if t in mine])
            except Exception as exc:  # kept for the node: an Inconclusive is its cause, else it probes itself
                result = exc
            with self._cond:
                self._done[at] = result
                self._cond.notify_all()
            if conn.closed or conn.broken:
                return
