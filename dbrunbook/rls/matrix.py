"""The behavioural matrix: one probe per table x identity x operation, compared with the oracle.

Every probe runs the operation as PostgREST would (``as_request``) and measures what happened with
full rights (the probe session's BYPASSRLS role) inside the same, rolled-back transaction. The
cells live in ``reads`` (select) and ``writes`` (insert, update, delete); ``probe`` holds what they
share. Each cell ends ok, leak, blocking, inconclusive (with its cause) or not probed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from psycopg import errors

from dbrunbook import session
from dbrunbook.exceptions import first_line
from dbrunbook.outcomes import Inconclusive
from dbrunbook.rls.batch import BatchFailed, Program, run_cells
from dbrunbook.rls.contract import Identity, Operation, TableContract
from dbrunbook.rls.discovery import probe_catalog
from dbrunbook.rls.probe import API_ROLES, CAP, SAMPLE, Outcome, Probe, sqlstate
from dbrunbook.rls.reads import capped_count, probe_select, probe_selects, select_program
from dbrunbook.rls.writes import delete_program, insert_program, update_program

__all__ = ["CAP", "PROGRAMS", "SAMPLE", "Outcome", "Probe", "capped_count", "cell", "probe_select", "probe_selects",
           "probes", "run", "run_table"]

#: A cell's program: (probe, identity, the identities probed with it) -> Program.
PROGRAMS: dict[str, Callable[[Probe, Identity, Sequence[Identity]], Program]] = {
    "select": select_program, "insert": insert_program, "update": update_program, "delete": delete_program}
#: Rows shown per cell in the reports (already redacted to keys).
CELL_ROWS = 3

_SEED_OK: dict[tuple[int, str], str | None] = {}


#: The last catalog read by :func:`probes`: (connection, tables, tenants, seed) and its probes.
_PROBES: list[tuple[Any, tuple[TableContract, ...], tuple[str, ...], str | None, dict[str, Probe]]] = []


def probes(conn: Any, policy: session.SessionPolicy, tables: Sequence[TableContract], tenants: Sequence[str],
           seed_sql: str | None) -> dict[str, Probe]:
    """The probe of every contracted table the database has, by name: one catalog query for all of them.

    Read once per connection and contract (tables, tenants, seed); a table missing from the result
    is not in the database.
    """
    for c, ts, tn, seed, out in _PROBES:
        if (c is conn and tn == tuple(tenants) and seed == seed_sql and len(ts) == len(tables)
                and all(a is b for a, b in zip(ts, tables, strict=True))):
            return out
    found = probe_catalog(conn, policy, tables, API_ROLES)
    out = {t.name: Probe(conn, policy, t, found[t.name].columns, tuple(tenants), seed_sql, catalog=found[t.name])
           for t in tables if t.name in found}
    _PROBES[:] = [(conn, tuple(tables), tuple(tenants), seed_sql, out)]
    _AHEAD.clear()
    return out


def seed_error(p: Probe) -> Inconclusive | None:
    """Whether the contract's seed runs (tried once per connection, rolled back); the cause if it does not."""
    if not p.seed_sql:
        return None
    key = (id(p.conn), p.seed_sql)
    if key not in _SEED_OK:
        try:
            with session.seeding(p.seed_sql):
                session.query(p.conn, p.policy, "select 1")
            _SEED_OK[key] = None
        except errors.Error as exc:
            _SEED_OK[key] = f"{sqlstate(exc)} {first_line(exc)}"
    error = _SEED_OK[key]
    if error is None:
        return None
    return Inconclusive("setup", f"the contract's seed_sql fails: {error}; no RLS cell can be probed",
                        fix="fix seed_sql (run it in psql inside begin; ... rollback;), see docs/contracts.md",
                        scope="seed_sql")


def run(p: Probe, identity: Identity, op: Operation) -> Outcome:
    """Run one cell of the matrix (every transaction of it starts with the contract's seed, if any)."""
    return run_table(p, [identity], op)[0]


#: At most this many tables' cells share one server batch (one statement_timeout) when probed ahead.
AHEAD_TABLES = 10

#: Outcomes probed ahead, by (probe, operation, identities): what run_table returns when asked.
_AHEAD: dict[tuple[int, str, tuple[int, ...]], tuple[Probe, list[Outcome]]] = {}


def run_table(p: Probe, identities: Sequence[Identity], op: Operation,
              ahead: Sequence[Probe] = ()) -> list[Outcome]:
    """Every identity's cell of one table and operation, batched on the server; one outcome each.

    ``ahead``: probes of the tables whose cells of ``op`` the caller asks for next. On writable targets
    up to AHEAD_TABLES - 1 of them are probed in the same server batches (each plan still its own
    rolled-back subtransaction, every cell its own verdict) and their outcomes are kept for those
    calls; a batch that fails as a whole (a statement_timeout) is not kept: each table runs alone.
    """
    key = (id(p), op, tuple(id(i) for i in identities))
    kept = _AHEAD.pop(key, None)
    if kept is not None and kept[0] is p:
        return kept[1]
    cause = seed_error(p)
    if cause is not None:
        return [Outcome(p.table.name, i.name, op, inconclusive=cause) for i in identities]
    if p.policy.read_only:
        # Production: each cell gets its own statement_timeout, as one request would; a batch of a
        # big table's reads could outlast it and leave every cell of the table inconclusive.
        return [run_cells(p, [PROGRAMS[op](p, i, (i,))])[0] for i in identities]
    later = [q for q in ahead if q is not p and q.conn is p.conn and q.seed_sql == p.seed_sql
             and op in q.table.operations and (id(q), *key[1:]) not in _AHEAD and seed_error(q) is None]
    group = [p, *later[:AHEAD_TABLES - 1]]
    if len(group) > 1:
        try:
            outcomes = run_cells(p, [PROGRAMS[op](q, i, identities) for q in group for i in identities], whole=False)
        except BatchFailed:
            pass
        else:
            n = len(identities)
            for at, q in enumerate(group[1:], start=1):
                _AHEAD[(id(q), *key[1:])] = (q, outcomes[at * n:(at + 1) * n])
            return outcomes[:n]
    return run_cells(p, [PROGRAMS[op](p, i, identities) for i in identities])


def cell(p: Probe, identity: Identity, op: Operation, out: Outcome | None, *, state: str | None = None,
         detail: str | None = None) -> dict[str, Any]:
    """The cell as every report carries it (rls_contracts/conftest.py documents the keys)."""
    return {"table": p.table.name, "identity": identity.name, "operation": op,
            "state": state or (out.state if out else "not_probed"),
            "detail": detail if detail is not None else (out.detail() if out else ""),
            "rows": list(out.rows[:CELL_ROWS]) if out else [],
            "policy_sql": p.policy_sql(identity.role, op)}
