"""Which contracted tables give the matrix nothing to judge: no row at all, or none of a tenant.

Counted as the probes see the data: after the contract's seed on writable targets, in one rolled-back
transaction. Tenant-column tables are asked per tenant of the contract (one EXISTS each, no scan);
tables without one (membership tenancy) per signed-in identity, through its oracle. On production
this stays a handful of index probes per table; the oracle ones are bounded by statement_timeout.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from psycopg import sql

from dbrunbook import session
from dbrunbook.rls.contract import Contract
from dbrunbook.rls.discovery import Column

if TYPE_CHECKING:
    import psycopg


def _probe(table: str, who: str, exists: sql.Composable) -> sql.Composed:
    return sql.SQL("select {} as tbl, {} as who, exists ({}) as has").format(
        sql.Literal(table), sql.Literal(who), exists)


def missing(conn: psycopg.Connection[Any], policy: session.SessionPolicy, contract: Contract,
            columns: dict[str, list[Column]], *, seed: str | None) -> dict[str, list[str]]:
    """Table -> what has no row there: ``"*"`` (the table is empty), tenant names, or identities.

    :param columns: the columns of each contracted table that exists (others are not asked)
    """
    parts: list[sql.Composable] = []
    for table in contract.tables:
        cols = {c.name: c.type for c in columns.get(table.name, [])}
        if not cols:
            continue
        ident = sql.Identifier(table.schema, table.relname)
        if table.tenant_column in cols and contract.tenants:
            # One part per table (a 400-part union took 70-100 ms to plan on a 100-table project):
            # a row per tenant of the contract plus "*", each still one EXISTS (an index probe).
            parts.append(sql.SQL(
                "select {tbl} as tbl, u.who, case when u.id is null then exists (select 1 from {t} t) "
                "else exists (select 1 from {t} t where t.{col} = u.id::{type}) end as has "
                "from unnest({who}::text[], {ids}::text[]) u(who, id)").format(
                tbl=sql.Literal(table.name), t=ident, col=sql.Identifier(table.tenant_column),
                type=sql.SQL(cols[table.tenant_column]), who=sql.Literal(["*", *contract.tenants]),
                ids=sql.Literal([None, *contract.tenants.values()])))
            continue
        parts.append(_probe(table.name, "*", sql.SQL("select 1 from {} t").format(ident)))
        if not table.tenant_column:
            for identity in contract.identities:
                if identity.scope != "oracle" or not identity.sub:
                    continue
                text = re.sub(r"(?<!:):tenant\b", sql.Literal(identity.tenant_id).as_string(conn), table.oracle)
                pred = sql.SQL(re.sub(r"(?<!:):sub\b", sql.Literal(identity.sub).as_string(conn), text))
                for side, where in (("own", pred), ("other", sql.SQL("not coalesce(({}), false)").format(pred))):
                    parts.append(_probe(table.name, f"{identity.name}:{side}",
                                        sql.SQL("select 1 from {} t where {}").format(ident, where)))
    if not parts:
        return {}
    query = sql.SQL(" union all ").join(parts).as_string(conn)
    with session.seeding(seed):
        rows = session.query(conn, policy, query)
    has: dict[str, dict[str, bool]] = {}
    for r in rows:
        has.setdefault(r["tbl"], {})[r["who"]] = r["has"]
    out: dict[str, list[str]] = {}
    for name, seen in has.items():
        if not seen["*"]:
            out[name] = ["*"]
            continue
        # Tenants must each own rows. Identities (membership tenancy) may own none on purpose (a user
        # without an org), but each needs someone else's row to show a leak, and someone must own rows.
        lacking = [w for w, ok in seen.items() if not ok and ":" not in w and w != "*"]
        lacking += [w.split(":")[0] + " (no row of anyone else)" for w, ok in seen.items()
                    if w.endswith(":other") and not ok]
        owners = [ok for w, ok in seen.items() if w.endswith(":own")]
        if owners and not any(owners):
            lacking.append("every identity (none owns a row)")
        if lacking:
            out[name] = lacking
    return out
