"""RLS matrix nodes probed ahead on a second connection while pytest reports the nodes before them.

On one connection the two sides take turns: the server idles while this process builds a node's
reports, and the process idles while the server runs the next batch. On writable targets (where
:func:`matrix.run_table` batches tables), a forked child makes the nodes' own ``run_table`` calls, in
the order pytest will ask for them, on a second probe connection, and hands back each node's
outcomes; a node takes its outcomes, or probes itself when the child did not get to it. The calls
are the ones the nodes would make (same tables, same ``ahead``), so every cell gets the verdict it
gets without the child (tests/test_rls_prefetch.py). Reads of a table without a seed stay with their
nodes, on the first connection: read-only transactions that take no turn, so they run beside the
child's writes.

Safety: never on a read-only target (production: one connection, each cell its own request), never
through a pooler, and only when the server shows a free slot beyond ``pool_keep_free_slots``. The
second connection has the same settings and deadlines as the first; probe transactions that write
take turns across both processes (``session.probe_transaction``). A node stops waiting for the child
when it made no progress within two client deadlines, and probes itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import pickle
import select
import signal
import struct
import threading
import time
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
    if not hasattr(os, "fork") or not hasattr(os, "memfd_create"):
        return "no fork() and memfd_create() here (not Linux): the matrix probes on the one connection"
    if threading.active_count() > 1:
        return "another thread runs in this process: forking it would not be safe"
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


#: Probe-ahead children of this process not reaped yet (one per writable target).
_LIVE: set[int] = set()


def reap_children(wait_for: int = 0) -> None:
    """Reap the children that ended (and wait for ``wait_for``, which is ending).

    A killed child may have died holding the turn, which it then never releases: once no child is
    left, the turn is voided (``session.forget_dead_turn_holder``). Runs between this process's
    probe transactions, and while one of them waits for the turn.
    """
    killed = False
    for pid in list(_LIVE):
        try:
            done, status = os.waitpid(pid, 0 if pid == wait_for else os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: not ours to judge
            _LIVE.discard(pid)
            continue
        if done:
            _LIVE.discard(pid)
            killed = killed or os.WIFSIGNALED(status)
    if killed and not _LIVE:  # with another target's child still alive the lock stays theirs too
        session.forget_dead_turn_holder()


def reads_beside(step: Step, probe: Probe) -> bool:
    """Whether the node probes this step itself, beside the child: reads of a table without a seed.

    Their batches are read-only transactions that take no turn (``session.probe_transaction``), so
    they run on this process's connection while the child's writes run on its own.
    """
    return step.operation == "select" and not probe.seed_sql


class Prefetch:
    """A forked child making the planned nodes' ``run_table`` calls on its own connection, in order.

    A process, not a thread: the probes wait on the server while pytest builds reports, and in one
    process the two would take turns on the interpreter lock (measured: the thread's batches took
    1.5-2x their time alone). The child shares nothing with this process but what fork copied: it
    never touches this process's connections (no garbage collection, ``os._exit``), opens its own,
    and hands each node's outcomes back pickled, in an anonymous in-memory file (``memfd``), one
    byte on a pipe per node done.
    """

    def __init__(self, target: Target, probes: Mapping[str, Probe], identities: Sequence[Identity],
                 steps: Sequence[Step]) -> None:
        self._target = target
        self._probes = dict(probes)
        self._identities = tuple(identities)
        self._steps = tuple(s for s in steps if s.table in self._probes and not reads_beside(s, self._probes[s.table]))
        self._index = {(s.table, s.operation): i for i, s in enumerate(self._steps)}
        self._done: dict[int, Any] = {}
        self._finished = False
        self._stopped = False
        self._pid = 0
        self._notify = -1  # read end of the progress pipe
        self._store = -1  # the memfd the child appends records to
        self._read_at = 0
        #: How long a node waits for the child's next step: the step's batch and, when the batch
        #: failed as a whole, its first table alone, each within a client deadline.
        self._patience_s = 2 * session.client_timeout_s(target.spec.thresholds)

    def start(self) -> Prefetch:
        """Fork the child that probes ahead; returns itself."""
        session.share_turns_with_forks(reap_children)
        self._store = os.memfd_create("dbrunbook-rls-prefetch", os.MFD_CLOEXEC)
        notify_r, notify_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                gc.disable()  # a collection could finalize a parent's connection object (PQfinish on its socket)
                _LIVE.clear()  # the parent's other children are not this one's
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.close(notify_r)
                self._child(notify_w)
                code = 0
            finally:
                os._exit(code)
        os.close(notify_w)
        self._pid, self._notify = pid, notify_r
        _LIVE.add(pid)
        return self

    def stop(self) -> None:
        """No new step after the current one; wait for the child (bounded) so its connection closes cleanly."""
        self._stopped = True
        if self._notify >= 0:
            os.close(self._notify)  # the child's next progress byte fails: it stops
            self._notify = -1
        if self._pid:
            deadline = time.monotonic() + self._patience_s
            while not self._reap():
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self._pid, signal.SIGKILL)  # stuck past its deadlines: our process, not the server's
                    self._reap(wait=True)
                    break
                time.sleep(0.01)
        if self._store >= 0:
            os.close(self._store)
            self._store = -1

    def outcomes(self, table: str, operation: Operation) -> list[Outcome] | None:
        """The node's outcomes, probed ahead; None when the node probes itself.

        :raises Inconclusive: what stopped the child at this node (the target stopped answering)
        """
        at = self._index.get((table, operation))
        if at is None or self._stopped:
            return None
        while at not in self._done and not self._finished:
            # Each byte is a step done: the deadline runs from the child's last progress.
            ready, _, _ = select.select([self._notify], [], [], self._patience_s)
            if not ready:
                self._stopped = True  # no progress within a deadline: every later node probes itself
                return None
            got = os.read(self._notify, 4096)
            if not got:
                self._finished = True  # the child ended (done, or it failed: later nodes probe themselves)
                self._reap(wait=True)  # its last open fd closed as it exited: the wait is short
            for _ in got:
                self._take_record()
        kind, value = self._done.pop(at, ("self", None))
        if kind == "cause":
            if value.kind == "target_gone":
                self._target.mark_gone(value)
            raise value
        return value if kind == "outcomes" else None

    def _reap(self, *, wait: bool = False) -> bool:
        """Whether the child has ended (reaped now or before)."""
        if self._pid:
            reap_children(self._pid if wait else 0)
            if self._pid not in _LIVE:
                self._pid = 0
        return not self._pid

    def _take_record(self) -> None:
        size = struct.unpack("!I", os.pread(self._store, 4, self._read_at))[0]
        # Written by our own child into an anonymous memfd no other process can open.
        at, kind, value = pickle.loads(os.pread(self._store, size, self._read_at + 4))  # noqa: S301
        self._read_at += 4 + size
        self._done[at] = (kind, value)

    def _child(self, notify: int) -> None:
        try:
            conn = self._target.another_connection()
        except Exception:  # psycopg.Error or the target's cause: every node probes itself, and meets it there
            return
        try:
            self._run_steps(conn, notify)
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _run_steps(self, conn: psycopg.Connection[dict[str, Any]], notify: int) -> None:
        mine = {name: dataclasses.replace(p, conn=conn) for name, p in self._probes.items()}
        parent = os.getppid()
        for at, step in enumerate(self._steps):
            if os.getppid() != parent:
                return  # pytest is gone
            record: tuple[int, str, Any]
            try:
                outcomes = matrix.run_table(mine[step.table], self._identities, step.operation,
                                            ahead=[mine[t] for t in step.ahead if t in mine])
                record = (at, "outcomes", outcomes)
            except Inconclusive as exc:  # the node's cause (the target stopped answering ...)
                record = (at, "cause", exc)
            except Exception:  # the node probes itself: the same error then shows with its own trace
                record = (at, "self", None)
            try:
                data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # an outcome that does not pickle: the node probes itself
                data = pickle.dumps((at, "self", None), protocol=pickle.HIGHEST_PROTOCOL)
            _write_all(self._store, struct.pack("!I", len(data)) + data)
            try:
                os.write(notify, b".")
            except OSError:  # BrokenPipeError: the run stopped waiting for us
                return
            if conn.closed or conn.broken:
                return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
