"""What every matrix probe shares: the table's facts, one cell's outcome, and how an error is read.

Rows are identified by what the probe transaction itself observed (``tableoid`` + ``ctid``, read with
full rights after the seed, inside the same transaction), never by keys from another seeding: a
seed whose ids come from ``gen_random_uuid()`` or a trigger gives every transaction new keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from psycopg import sql

from dbrunbook import resources, session
from dbrunbook.exceptions import first_line
from dbrunbook.outcomes import Inconclusive
from dbrunbook.rls.contract import Identity, Operation, TableContract
from dbrunbook.rls.discovery import Column, TableCatalog, probe_catalog

if TYPE_CHECKING:
    import psycopg

#: At most this many rows are fetched per side; beyond it reads compare counts and a sample.
CAP = 10000
SAMPLE = 5
Problem = str  # "leak" | "blocking"
#: A cell's state in every report (rls_contracts/conftest.py documents the property).
State = Literal["ok", "leak", "blocking", "inconclusive", "not_probed"]

#: Back to the probe's own rights inside the request's transaction, without the identity's claims:
#: what the oracle sees then is what a separate full-rights query would see.
FULL_RIGHTS = "select set_config('role', 'none', true), set_config('request.jwt.claims', '', true)"
#: Into the identity again (after a full-rights look inside the same transaction).
AS_IDENTITY = "select set_config('role', %(role)s, true), set_config('request.jwt.claims', %(claims)s, true)"

#: The roles whose privileges a probe reads.
API_ROLES = ("anon", "authenticated", "service_role")

_COMMANDS = {"select": ("SELECT", "ALL"), "insert": ("INSERT", "ALL"), "update": ("UPDATE", "ALL"),
             "delete": ("DELETE", "ALL")}


@dataclass
class Outcome:
    """What one probe found; ``problem`` is None when the contract held."""

    table: str
    identity: str
    operation: str
    problem: Problem | None = None
    summary: str = ""
    rows: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None  # not probed, and why (a lock, no row to clone ...)
    inconclusive: Inconclusive | None = None  # probed, but no verdict: the cause

    @property
    def state(self) -> State:
        """The cell's state: a problem wins, then inconclusive, then not probed, else ok."""
        if self.problem == "leak":
            return "leak"
        if self.problem:
            return "blocking"
        if self.inconclusive is not None:
            return "inconclusive"
        return "not_probed" if self.skipped else "ok"

    def detail(self) -> str:
        """One line for the report's cell."""
        if self.problem:
            return self.summary
        if self.inconclusive is not None:
            return self.inconclusive.message
        return self.skipped or self.summary


@dataclass(frozen=True)
class Probe:
    """Everything a probe needs about one table."""

    conn: psycopg.Connection[dict[str, Any]]
    policy: session.SessionPolicy
    table: TableContract
    columns: tuple[Column, ...]
    tenants: tuple[str, ...]  # every tenant id of the contract, in the contract's order
    seed_sql: str | None = None  # the contract's seed, run at the start of every probe transaction
    roles: tuple[str, ...] = API_ROLES
    #: Facts and policies already read with every other contracted table's (matrix.probes); None:
    #: read for this table alone on first use.
    catalog: TableCatalog | None = field(default=None, compare=False, repr=False)

    @property
    def ident(self) -> sql.Identifier:
        """``schema.table`` as an identifier."""
        return sql.Identifier(self.table.schema, self.table.relname)

    def key(self, *, with_tenant: bool = True) -> sql.Composable:
        """Row key shown in reports: primary key (plus the tenant column) as JSON text, else the whole row."""
        cols = [c.name for c in self.columns if c.primary_key]
        if with_tenant and self.table.tenant_column and self.table.tenant_column not in cols:
            cols.append(self.table.tenant_column)
        if not cols or self.table.is_view:
            return sql.SQL("to_jsonb(t)::text")
        parts = sql.SQL(", ").join(sql.SQL("{}, t.{}").format(sql.Literal(c), sql.Identifier(c)) for c in cols)
        return sql.SQL("jsonb_build_object({})::text").format(parts)

    def oracle(self, identity: Identity) -> tuple[sql.Composable, dict[str, Any]]:
        """The predicate saying which rows ``identity`` should see, with its parameters."""
        if identity.scope == "all":
            return sql.SQL("true"), {}
        if identity.scope == "none":
            return sql.SQL("false"), {}
        text = self.table.oracle.replace("%", "%%")
        text = re.sub(r"(?<!:):tenant\b", "%(tenant)s", text)
        text = re.sub(r"(?<!:):sub\b", "%(sub)s", text)
        return sql.SQL("coalesce((" + text + "), false)"), {"tenant": identity.tenant_id,
                                                            "sub": identity.sub}

    def oracle_sql(self, identity: Identity, op: Operation | None = None) -> sql.Composable:
        """The oracle with the identity's values as literals (plans run on the server take no parameters).

        With ``op`` = select and a ``deny`` verdict the identity should see nothing.
        """
        if identity.scope == "all":
            return sql.SQL("true")
        if identity.scope == "none" or (op == "select" and self.table.verdict(identity, op) == "deny"):
            return sql.SQL("false")
        parts: list[sql.Composable] = []
        for piece in re.split(r"((?<!:):tenant\b|(?<!:):sub\b)", self.table.oracle):
            if piece == ":tenant":
                parts.append(sql.Literal(identity.tenant_id))
            elif piece == ":sub":
                parts.append(sql.Literal(identity.sub))
            elif piece:
                parts.append(sql.SQL(piece))
        return sql.SQL("coalesce(({}), false)").format(sql.Composed(parts))

    @cached_property
    def text(self) -> dict[str, str]:
        """SQL text of the table's name (``t``), row key (``key``) and location (``loc``), rendered once.

        A table's plans are many strings that differ in a literal or two: they are put together from
        these with plain string operations, not composed and rendered again for every plan.
        """
        return {"t": self.ident.as_string(self.conn), "key": self.key().as_string(self.conn),
                "loc": self.locator().as_string(self.conn)}

    def lit(self, value: str | list[str] | None) -> str:
        """A value as an SQL literal (rendered by the driver, once per value)."""
        memo = self.rendered.setdefault("literals", {})
        key = repr(value)
        if key not in memo:
            memo[key] = sql.Literal(value).as_string(self.conn)
        return str(memo[key])

    def name(self, column: str) -> str:
        """A column name as an SQL identifier."""
        memo = self.rendered.setdefault("names", {})
        if column not in memo:
            memo[column] = sql.Identifier(column).as_string(self.conn)
        return str(memo[column])

    def pred(self, identity: Identity, op: Operation | None = None) -> str:
        """:meth:`oracle_sql` as text, rendered once per distinct predicate."""
        deny = op == "select" and identity.scope == "oracle" and self.table.verdict(identity, op) == "deny"
        memo = self.rendered.setdefault("predicates", {})
        key = (identity.scope, identity.tenant_id, identity.sub, deny)
        if key not in memo:
            memo[key] = self.oracle_sql(identity, op).as_string(self.conn)
        return str(memo[key])

    def full(self, query: sql.Composable, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """A query with full rights (the probe role), in its own rolled-back transaction."""
        return session.query(self.conn, self.policy, query.as_string(self.conn), params)

    @cached_property
    def _catalog(self) -> TableCatalog:
        if self.catalog is not None:
            return self.catalog
        found = probe_catalog(self.conn, self.policy, [self.table], self.roles).get(self.table.name)
        return found or TableCatalog((), {"relkind": "?", "unique_columns": [], "roles": {}})

    @property
    def facts(self) -> dict[str, Any]:
        """Kind, unique columns and per-role privileges (rls_probe_catalog.sql), read once."""
        return self._catalog.facts

    @cached_property
    def rendered(self) -> dict[Any, Any]:
        """SQL steps already built for this table, by the text of their oracle predicate (a memo).

        Every plan of an identity's cell starts and ends with the same full-rights steps (rls/writes.py).
        """
        return {}

    @cached_property
    def policies(self) -> list[dict[str, Any]]:
        """The table's policies (rls_probe_catalog.sql), read once; on their own if it was locked then."""
        read = self._catalog.policies
        if read is not None:
            return read
        return session.query(self.conn, self.policy, resources.sql("rls_policies_of"), {"tables": [self.table.name]})

    def policy_sql(self, role: str, op: Operation) -> str:
        """``CREATE POLICY`` text of every policy that applies to ``role`` for ``op`` (for the report)."""
        out = []
        for pol in self.policies:
            if pol["command"] not in _COMMANDS[op] or not ({role, "public"} & set(pol["roles"])):
                continue
            text = (f'create policy "{pol["policy"]}" on {self.table.name} as '
                    f'{"permissive" if pol["permissive"] else "restrictive"} for {pol["command"].lower()} '
                    f'to {", ".join(pol["roles"])}')
            text += f" using ({pol['using_expr']})" if pol["using_expr"] else ""
            text += f" with check ({pol['check_expr']})" if pol["check_expr"] else ""
            out.append(text + ";")
        return "\n".join(out)

    @property
    def plain(self) -> bool:
        """An ordinary table: rows can be found again by ctid alone (partitions repeat ctids, views have none)."""
        return str(self.facts["relkind"]) == "r"

    def may(self, role: str, op: Operation) -> bool | None:
        """Whether ``role`` holds schema USAGE and the table privilege for ``op``; None: the role does not exist."""
        rights = self.facts["roles"].get(role)
        if rights is None:
            return None
        if op in ("insert", "update"):
            return bool(rights["usage"] and rights[f"{op}_columns"])
        return bool(rights["usage"] and rights[op])

    def columns_for(self, role: str, op: Literal["insert", "update"]) -> list[str]:
        """Columns ``role`` may write with ``op``."""
        return list((self.facts["roles"].get(role) or {}).get(f"{op}_columns") or [])

    def locator(self) -> sql.Composable:
        """Where a row physically is, as text, as the probe transaction itself sees it."""
        return sql.SQL("t.ctid::text") if self.plain else sql.SQL("t.tableoid::text || ':' || t.ctid::text")

    def located(self) -> sql.Composable:
        """``where`` clause: rows at the locations in ``%(seen)s`` (a TID scan in ordinary tables)."""
        if self.plain:
            return sql.SQL("t.ctid = any(%(seen)s::tid[])")
        return sql.SQL("(t.tableoid::text || ':' || t.ctid::text) = any(%(seen)s::text[])")


def sqlstate(exc: BaseException | None) -> str:
    """SQLSTATE of a driver error, else the exception's class name."""
    return getattr(exc, "sqlstate", None) or type(exc).__name__


def rls_rejected(exc: BaseException | None, table: TableContract) -> bool:
    """The statement failed on this table's own row-level security check (42501 'new row violates ...')."""
    if exc is None or sqlstate(exc) != "42501":
        return False
    text = first_line(exc)
    return text.startswith("new row violates row-level security policy") and f'"{table.relname}"' in text


def error_kind(exc: BaseException, table: TableContract) -> str:
    """What an error means for a verdict.

    ``rls`` (this table's policy said no), ``constraint`` (RLS let the row through: class 23),
    ``timeout``, ``locked``, ``rights`` (another 42501) or ``other`` (a trigger, a cast ...).
    """
    state = sqlstate(exc)
    if rls_rejected(exc, table):
        return "rls"
    if state.startswith("23"):
        return "constraint"
    return {"57014": "timeout", "55P03": "locked", "42501": "rights"}.get(state, "other")


def inconclusive(exc: BaseException, p: Probe, identity: Identity, op: Operation, what: str) -> Inconclusive:
    """The cause a probe error stands for: one finding per cause, never a verdict about the policy."""
    kind = error_kind(exc, p.table)
    text = f"{sqlstate(exc)} {first_line(exc)}"
    if kind == "timeout":
        return Inconclusive("timeout", f"RLS probes slower than statement_timeout ({p.table.name}: {text})",
                            fix="raise thresholds.statement_timeout_ms for this target, or probe off-peak",
                            scope="rls.matrix")
    if kind == "rights":
        return Inconclusive("rights", f"{identity.name} ({identity.role}): {what} on {p.table.name} failed with "
                            f"{text}, which is not this table's policy: no verdict",
                            fix="grant the API role what the app grants it, or pin the verdict in the contract",
                            scope=f"{p.table.name}:{op}")
    return Inconclusive("setup", f"{what} on {p.table.name} as {identity.name} failed with {text}: the probe "
                        "cannot tell whose rows RLS let through",
                        fix=f"set update_column for {p.table.name} in the contract, or seed rows the statement "
                            "accepts (docs/contracts.md)", scope=p.table.name)


def no_data(p: Probe) -> Inconclusive:
    """A cell with no row to judge: it proves nothing, so it is never a pass."""
    return Inconclusive("no_data", f"{p.table.name} holds no row when probed: its RLS cells judged nothing",
                        fix="seed it: seed_sql in the contract (docs/contracts.md), or contract tenants that "
                            "own rows here", scope=p.table.name)
