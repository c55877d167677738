"""Probes never queue behind an ACCESS EXCLUSIVE lock: they skip the locked relation and say why.

During an incident a migration (or a stuck ``LOCK TABLE``) may hold or wait for ACCESS EXCLUSIVE
on tenant tables. Any read of those tables, including the catalog deparse functions behind
``pg_policies``, queues behind it until ``lock_timeout``; a tenant-isolation probe would then read
nothing and report a false "RLS blocking" P0, and a triage run would take a lock_timeout per node.
So checks that read user relations ask first, once per target and run, and skip what is locked;
``locks.blocking_chains`` reports the lock itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest

from dbrunbook import resources, session
from dbrunbook.exceptions import first_line

if TYPE_CHECKING:
    import psycopg

    from dbrunbook.targets import Target

#: lock_not_available: the probe's lock_timeout expired. It learned nothing about the rule it checks.
#: (statement_timeout, 57014, stays a failure: a database too slow to answer a probe is a finding.)
LOCK_TIMEOUT = "55P03"
_CACHE: dict[str, dict[str, list[int]]] = {}


def read_exclusive_locks(target: Target, conn: psycopg.Connection[dict[str, Any]]) -> dict[str, list[int]]:
    """``schema.relation`` -> pids holding or awaiting ACCESS EXCLUSIVE on it, read now (uncached)."""
    locked: dict[str, list[int]] = defaultdict(list)
    for row in session.query(conn, target.policy, resources.sql("locks_exclusive_relations")):
        locked[f"{row['schema_name']}.{row['relation_name']}"].append(int(row["pid"]))
    return dict(locked)


def exclusive_locks(target: Target, conn: psycopg.Connection[dict[str, Any]]) -> dict[str, list[int]]:
    """``schema.relation`` -> pids holding or awaiting ACCESS EXCLUSIVE on it (read once per run)."""
    if target.name not in _CACHE:
        _CACHE[target.name] = read_exclusive_locks(target, conn)
    return _CACHE[target.name]


def skip_if_locked(target: Target, conn: psycopg.Connection[dict[str, Any]], *,
                   relations: Iterable[str] = (), schemas: Iterable[str] = ()) -> None:
    """Skip the running check when one of ``relations`` (or any relation of ``schemas``) is locked."""
    locked = exclusive_locks(target, conn)
    if not locked:
        return
    wanted = set(relations)
    prefixes = tuple(f"{s}." for s in schemas)
    hits = sorted(r for r in locked if r in wanted or r.startswith(prefixes))
    if hits:
        pytest.skip(describe(locked, hits))


def describe(locked: dict[str, list[int]], hits: list[str]) -> str:
    """One line naming the locked relations and the pids holding or awaiting the lock."""
    pids = sorted({p for r in hits for p in locked[r]})
    return (f"{', '.join(hits[:5])}{' ...' if len(hits) > 5 else ''} locked ACCESS EXCLUSIVE by pid "
            f"{', '.join(map(str, pids))}: not probed (it would wait behind the lock); see "
            "locks.blocking_chains for the blocker and the mitigation")


def gave_up(exc: BaseException | None) -> bool:
    """The probe hit its lock_timeout: inconclusive, not a verdict."""
    return getattr(exc, "sqlstate", None) == LOCK_TIMEOUT


def gave_up_reason(exc: BaseException) -> str:
    """Skip reason for a probe that hit its lock_timeout."""
    return (f"not probed: gave up waiting for a lock after lock_timeout ({first_line(exc)}); see locks.blocking_chains "
            "for the blocker and the mitigation")
