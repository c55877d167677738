"""A contract checked against the target before any probe: tables, tenant columns, roles, oracles, seed.

What the file alone cannot tell (contract.py checks that): does each contracted table exist, does it
carry the tenant column, do the identities' roles exist, does every oracle plan, does the seed run.
Each problem is a :class:`ContractError` naming the file and the fix; the RLS checks report it as one
inconclusive setup cause instead of a P0 per probe (a missing tenant column used to crash every cell
of its table with ``UndefinedColumn``).

Oracles are planned (``EXPLAIN``, never executed) and the seed is run inside PL/pgSQL exception blocks
in a rolled-back transaction (``dbrunbook/sql/rls_contract_parse.sql``): an error is returned as data
and never becomes an ERROR line in the server log.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from dbrunbook import resources, session
from dbrunbook.rls import keys
from dbrunbook.rls.contract import Contract, ContractError

if TYPE_CHECKING:
    import psycopg

_CHECKED: dict[tuple[int, str], ContractError | None] = {}


def _bound(oracle: str) -> str:
    """The oracle with its parameters as typed NULLs: enough to parse and plan it."""
    text = re.sub(r"(?<!:):tenant\b", "(null::text)", oracle)
    return re.sub(r"(?<!:):sub\b", "(null::text)", text)


def problems(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy, contract: Contract, *,
             run_seed: bool, locked: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Every problem of ``contract`` on this database, as (what, fix); empty when usable.

    Tables in ``locked`` (held or awaited in ACCESS EXCLUSIVE) are not planned, and the seed does not
    run while any table is locked: their probes skip on the lock anyway, and waiting would only turn
    a migration in flight into a false "oracle does not plan".
    """
    out: list[tuple[str, str]] = []
    names = sorted({t.name for t in contract.tables} | {r.table for r in contract.restrictive})
    rels = {r["name"]: r for r in session.query(conn, policy, resources.sql("rls_contract_relations"),
                                                {"names": names})}
    present = {n for n, r in rels.items() if r["kind"]}
    for name in names:
        if name not in present:
            out.append((f"table {name} is not in the database",
                        f"remove [tables.\"{name}\"] (or its [[restrictive]] entry), fix its name, or apply the "
                        "migration that creates it"))
    for t in contract.tables:
        if t.name not in present:
            continue
        cols = set(rels[t.name]["columns"])
        for what, col in (("tenant_column", t.tenant_column), ("update_column", t.update_column)):
            if col and col not in cols:
                out.append((f"{t.name} has no column {col!r} ({what}){keys.did_you_mean(col, cols)}",
                            f'set {what} = "<its column>" under [tables."{t.name}"], or tenant_column = "" '
                            "with an oracle when the table has none"))
    wanted = sorted(set(contract.exposed_schemas) - {"graphql_public"})  # created by pg_graphql, may be absent
    have = {r["nspname"] for r in session.query(conn, policy, "select nspname from pg_catalog.pg_namespace "
                                                "where nspname = any(%(s)s)", {"s": wanted})}
    for schema in wanted:
        if schema not in have:
            out.append((f"exposed schema {schema!r} is not in the database",
                        "fix exposed_schemas under [contract] (supabase/config.toml [api] schemas)"))
    roles = {r["rolname"] for r in session.query(conn, policy, "select rolname from pg_catalog.pg_roles "
                                                 "where rolname = any(%(r)s)",
                                                 {"r": sorted({i.role for i in contract.identities})})}
    for ident in contract.identities:
        if ident.role not in roles:
            out.append((f"identity {ident.name!r}: role {ident.role!r} does not exist",
                        'role = "anon" | "authenticated" | "service_role" (or a role the database has)'))
    oracles = [{"name": t.name, "schema": t.schema, "table": t.relname, "oracle": _bound(t.oracle)}
               for t in contract.tables if t.name in present and t.name not in locked
               and not any(t.name in w for w, _ in out)]
    seed = contract.seed_sql if run_seed and not locked else None
    if oracles or seed:
        with session.probe_transaction(conn, policy) as tx:
            tx.execute("select set_config('dbrunbook.oracles', %s, true), set_config('dbrunbook.seed', %s, true)",
                       (json.dumps(oracles), seed or ""))
            tx.execute(resources.sql("rls_contract_parse").encode())
            row = tx.execute("select current_setting('dbrunbook.contract_errors') as e").fetchone()
        for err in json.loads(row["e"] if row else "[]"):
            if err["what"] == "seed":
                out.append((f"seed_sql fails: {err['error']} (SQLSTATE {err['sqlstate']})",
                            "fix the seed: run it in psql inside begin; ... rollback; on a copy of the database"))
            else:
                out.append((f"oracle of {err['name']} does not plan: {err['error']} (SQLSTATE {err['sqlstate']})",
                            f'fix oracle under [tables."{err["name"]}"]: an SQL predicate on alias t, with :tenant '
                            "and :sub as text parameters"))
    return out


def checked(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy, contract: Contract, *,
            run_seed: bool, key: str, locked: frozenset[str] = frozenset()) -> None:
    """Validate once per (connection, contract) and raise the first problem.

    :raises ContractError: the contract cannot be used on this database (all problems in the message)
    """
    cache_key = (id(conn), f"{key}|{contract.path}")
    if cache_key not in _CHECKED:
        found = problems(conn, policy, contract, run_seed=run_seed, locked=locked)
        _CHECKED[cache_key] = None
        if found:
            what = "; ".join(w for w, _ in found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
            _CHECKED[cache_key] = ContractError(contract.path, what, found[0][1] + " (docs/contracts.md)")
    err = _CHECKED[cache_key]
    if err is not None:
        raise err
