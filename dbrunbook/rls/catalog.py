"""Kind and columns of many contracted tables in one catalog query (not one query per table)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbrunbook import resources, session
from dbrunbook.rls.contract import TableContract
from dbrunbook.rls.discovery import Column

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class Relation:
    """One relation as the catalog describes it."""

    relkind: str  # pg_class.relkind: r ordinary table, p partitioned, v view ...
    columns: tuple[Column, ...]


def relations(conn: psycopg.Connection[Any], policy: session.SessionPolicy,
              tables: Sequence[TableContract]) -> dict[str, Relation]:
    """``schema.table`` -> its kind and columns, for those of ``tables`` that exist."""
    rows = session.query(conn, policy, resources.sql("rls_tables_columns"), {"tables": [t.name for t in tables]})
    return {r["name"]: Relation(r["relkind"], tuple(Column(**c) for c in r["columns"])) for r in rows}
