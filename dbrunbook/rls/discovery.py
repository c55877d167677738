"""What the catalog says about the contracted project: exposed schemas, relations, columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbrunbook import resources, session
from dbrunbook.findings import Severity
from dbrunbook.rls.contract import Contract, TableContract

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class Column:
    """One column, as a generated INSERT sees it."""

    name: str
    type: str
    not_null: bool
    has_default: bool
    generated: bool
    primary_key: bool


#: Column names that usually carry the tenant: used without a contract (and by ``contract init``).
TENANT_COLUMN_GUESSES = ("tenant_id", "org_id", "organization_id", "company_id", "account_id", "team_id",
                         "workspace_id")

#: What the Supabase CLI serves when nothing says otherwise (config.toml ``[api] schemas``).
DEFAULT_EXPOSED = ("public", "graphql_public")


def exposed_schemas(conn: psycopg.Connection[Any], policy: session.SessionPolicy,
                    contract: Contract | None) -> list[str]:
    """Schemas PostgREST serves: ``pgrst.db_schemas`` when the server says, plus the contract's.

    Never fail-open: when the GUC is unknown (it usually is outside the platform) the contract's
    list is used (without a contract, Supabase's default ``public, graphql_public``), never an empty one.
    """
    rows = session.query(conn, policy, "select current_setting('pgrst.db_schemas', true) as s")
    from_server = [s.strip() for s in (rows[0]["s"] or "").split(",") if s.strip()]
    return sorted(set(from_server) | set(contract.exposed_schemas if contract else DEFAULT_EXPOSED))


def relations(conn: psycopg.Connection[Any], policy: session.SessionPolicy, contract: Contract | None) -> list[
        dict[str, Any]]:
    """Every table/view in the exposed schemas with RLS flags, owner and API-role privileges."""
    return session.query(conn, policy, resources.sql("rls_exposed_relations"),
                         {"schemas": exposed_schemas(conn, policy, contract), **tenancy(contract)})


def tenancy(contract: Contract | None) -> dict[str, list[str]]:
    """Query parameters naming tenant tables: the contract's tenant column and tables, else the usual names."""
    if contract is None:
        return {"tenant_columns": list(TENANT_COLUMN_GUESSES), "tenant_tables": []}
    # A membership contract has no tenant column: its tables are named, the usual names flag the rest.
    return {"tenant_columns": [contract.tenant_column] if contract.tenant_column else list(TENANT_COLUMN_GUESSES),
            "tenant_tables": [t.name for t in contract.tables if not t.is_view]}


def exposure_severity(*, tenant_table: bool, rls_enabled: bool, reachable: bool) -> Severity:
    """One severity for one exposure, in the lint and in coverage alike.

    RLS off on a table the API roles can reach: P0 when it holds tenant rows (multi-tenant exposure),
    P1 otherwise (every row open to the anon key, but no tenant boundary is known to be crossed).
    Anything else the coverage check reports (a contract gap on a table RLS protects) is P2.

    >>> exposure_severity(tenant_table=True, rls_enabled=False, reachable=True)
    'P0'
    >>> exposure_severity(tenant_table=True, rls_enabled=False, reachable=False)
    'P2'
    """
    if not rls_enabled and reachable:
        return "P0" if tenant_table else "P1"
    return "P2"


def columns(conn: psycopg.Connection[Any], policy: session.SessionPolicy, table: TableContract) -> list[Column]:
    """Columns of a contracted table."""
    rows = session.query(conn, policy, resources.sql("rls_table_columns"),
                         {"schema": table.schema, "table": table.relname})
    return [Column(**r) for r in rows]


@dataclass(frozen=True)
class TableCatalog:
    """What the matrix reads about one contracted relation (sql/rls_probe_catalog.sql)."""

    columns: tuple[Column, ...]
    facts: dict[str, Any]  # relkind, unique_columns, roles: role -> privileges
    # As sql/rls_policies_of.sql, by name; None: the relation was locked when the catalog was read.
    policies: list[dict[str, Any]] | None = field(default_factory=list)


def probe_catalog(conn: psycopg.Connection[Any], policy: session.SessionPolicy, tables: Sequence[TableContract],
                  roles: Sequence[str]) -> dict[str, TableCatalog]:
    """Columns, facts and policies of every given relation, in one query; relations not in the database are absent."""
    rows = session.query(conn, policy, resources.sql("rls_probe_catalog"), {
        "schemas": [t.schema for t in tables], "tables": [t.relname for t in tables], "roles": list(roles)})
    return {r["name"]: TableCatalog(tuple(Column(**c) for c in r["columns"]),
                                    {"relkind": r["relkind"], "unique_columns": r["unique_columns"],
                                     "roles": r["roles"]}, r["policies"]) for r in rows}


def uncovered(contract: Contract, rels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Exposed relations the contract does not mention (and does not ignore)."""
    known = {t.name for t in contract.tables} | set(contract.ignore_tables)
    return [r for r in rels if r["qualified"] not in known]
