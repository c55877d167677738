"""Forged-claim reads in bulk: many claim sets x many tables, in one probe transaction.

The forged-claims property (rls_contracts/test_claims_property.py) asks one question per claim set
and table: does a GET with these claims return a row the oracle of the *trusted* identity forbids?
Asked cell by cell through the matrix's runner that is a planned statement per cell (0.5 ms each:
1.5 s for 25 claim sets on a 100-table project). Here each table's read is prepared once and run
for every claim set (sql/rls_forged_reads.sql), and identical oracle checks run once: ~30 us a cell.

Writable targets only: read-only targets keep the matrix's one-cell-at-a-time reads
(``reads.probe_selects``), each with its own statement_timeout.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import sql

from dbrunbook import resources, session
from dbrunbook.exceptions import first_line
from dbrunbook.rls import catalog
from dbrunbook.rls.claims import with_role
from dbrunbook.rls.contract import Identity, TableContract
from dbrunbook.rls.probe import CAP, SAMPLE, Probe
from dbrunbook.rls.reads import probe_selects
from dbrunbook.rls.request import EXTRA_SEARCH_PATH

if TYPE_CHECKING:
    import psycopg

#: Stand-ins for the trusted identity's tenant and sub in a check's text, until format() fills them in.
_TENANT, _SUB = "\x01dbrunbook-tenant\x01", "\x01dbrunbook-sub\x01"


@dataclass
class Leak:
    """Rows one claim set reads that the oracle of its trusted identity forbids (or no verdict: ``problem``)."""

    table: str
    summary: str
    rows: list[str] = field(default_factory=list)
    problem: str = "leak"  # leak | check_error | lock_timeout


@dataclass
class Tally:
    """What the reads did, for the check's evidence."""

    cells: int = 0
    failed_requests: int = 0


def probes(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy,
           tables: Sequence[TableContract], tenants: tuple[str, ...]) -> list[tuple[Probe, bool]]:
    """A probe per table (views excluded by the caller) and whether it is an ordinary table, in one query.

    Tables missing from the database are left out (the matrix reports them).
    """
    found = catalog.relations(conn, policy, tables)
    return [(Probe(conn, policy, t, found[t.name].columns, tenants), found[t.name].relkind == "r")
            for t in tables if t.name in found]


def _table_job(p: Probe, *, plain: bool) -> dict[str, Any]:
    """The read (as the identity: where the rows it sees are) and the check (full rights) of one table.

    Ordinary tables: rows are found again by ctid (a TID scan); partitioned ones by tableoid and ctid.
    """
    loc = sql.SQL("t.ctid::text") if plain else sql.SQL("t.tableoid::text || ':' || t.ctid::text")
    read = sql.SQL("select coalesce(jsonb_agg(s.loc), '[]'::jsonb) from (select {loc} as loc from {t} t limit {n}) s"
                   ).format(loc=loc, t=p.ident, n=sql.Literal(CAP + 1))
    located = sql.SQL("t.ctid = any($1::tid[])") if plain else sql.SQL("({}) = any($1)").format(loc)
    oracle = re.sub(r"(?<!:):sub\b", _SUB, re.sub(r"(?<!:):tenant\b", _TENANT, p.table.oracle))
    pred = sql.SQL("coalesce((" + oracle + "), false)")
    # Seen rows the oracle forbids (n, a few keys) and, when more than CAP rows were seen, how many
    # the oracle allows: beyond CAP only counts compare, as in reads.py.
    check = sql.SQL(
        "select jsonb_build_object('n', count(*), 'rows', coalesce(jsonb_agg(x.k) filter (where x.i <= {sample}), "
        "'[]'::jsonb), 'expected', case when cardinality($1) > {cap} then (select count(*) from (select 1 from {t} t "
        "where {pred} limit {cap1}) c) end) from (select {key} as k, row_number() over () as i from {t} t "
        "where {located} and not ({pred})) x").format(
        t=p.ident, located=located, pred=pred, key=p.key(), sample=sql.Literal(SAMPLE), cap=sql.Literal(CAP),
        cap1=sql.Literal(CAP + 1))
    text = check.as_string(p.conn)
    # Prepared once, the trusted tenant and sub as parameters of types PostgreSQL infers from the
    # oracle (``unknown``, like the literals below): planned once, not once per trusted identity.
    params = [name for name, stand_in in (("tenant", _TENANT), ("sub", _SUB)) if stand_in in text]
    prepared = text
    for n, name in enumerate(params, start=2):
        prepared = prepared.replace(_TENANT if name == "tenant" else _SUB, f"${n}")
    # When that does not prepare (one parameter used as two types), the server's format() puts the
    # trusted identity's literals in: every other % is escaped.
    template = text.replace("%", "%%").replace(_TENANT, "%1$s").replace(_SUB, "%2$s")
    return {"read": read.as_string(p.conn), "check": template, "check_prepared": prepared,
            "check_types": ", ".join(["text[]"] + ["unknown"] * len(params)), "check_params": params,
            "search_path": f"{p.table.schema}, {EXTRA_SEARCH_PATH}", "path": f"/{p.table.relname}"}


@functools.cache
def _runner() -> bytes:
    """sql/rls_forged_reads.sql without its comment lines: what pg_stat_activity shows starts with the code."""
    text = resources.sql("rls_forged_reads")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).encode()


#: Reads (claim sets x tables) per statement of sql/rls_forged_reads.sql.
CELLS_PER_STATEMENT = 1000


class Reads:
    """One probe transaction (seeded by the caller's ``session.seeding``) that reads as many claim sets as asked."""

    def __init__(self, tx: psycopg.Connection[dict[str, Any]] | None,
                 table_probes: Sequence[tuple[Probe, bool]]) -> None:
        self.tx = tx  # None: a read-only target, every cell in its own transaction
        self.probes = [p for p, _ in table_probes]
        self._plain = {p.table.name: plain for p, plain in table_probes}
        self.tally = Tally()
        self._jobs: dict[str, dict[str, Any]] = {}

    def row_keys(self, per_table: int = 3) -> list[str]:
        """A few single-column uuid primary key values of each table (seed included), read with full rights.

        Only uuids: tenant and org ids are uuids in Supabase projects, and a bigint row id in a claim
        proves nothing the tenant ids do not.
        """
        parts = []
        for p in self.probes:
            pk = [c for c in p.columns if c.primary_key]
            if len(pk) == 1 and pk[0].type == "uuid":
                parts.append(sql.SQL("(select {}::text as k from {} limit {})").format(
                    sql.Identifier(pk[0].name), p.ident, sql.Literal(per_table)))
        if not parts:
            return []
        query = sql.SQL(" union all ").join(parts).as_string(self.probes[0].conn)
        if self.tx is None:
            rows = session.query(self.probes[0].conn, self.probes[0].policy, query)
        else:
            rows = self.tx.execute(query.encode()).fetchall()
        return [r["k"] for r in rows]

    def leaks(self, identities: Sequence[Identity], only: Sequence[Probe] | None = None) -> list[list[Leak]]:
        """For each identity (forged claims, trusted tenant and sub), what its reads reveal beyond its oracle."""
        # By schema: each schema's tables are read in one statement with that schema's search_path.
        table_probes = sorted(only if only is not None else self.probes, key=lambda p: p.table.schema)
        if not identities or not table_probes:
            return [[] for _ in identities]
        tx = self.tx
        if tx is None:
            return [self._one_by_one(table_probes, who) for who in identities]
        for p in table_probes:
            if p.table.name not in self._jobs:  # built once, also reused by the shrinking rounds
                self._jobs[p.table.name] = _table_job(p, plain=self._plain[p.table.name])
        tables = [self._jobs[p.table.name] for p in table_probes]
        # Each statement runs under the probe's statement_timeout: a bounded number of reads per
        # statement (a matrix batch reads one identity's tables; this reads up to 10x that).
        # The calls share their prepared statements (planned once): the last one deallocates them.
        per = max(1, CELLS_PER_STATEMENT // len(tables))
        groups: dict[str, list[dict[str, Any]]] = {}
        for job in tables:
            groups.setdefault(job["search_path"], []).append(job)
        common = {"tables": tables, "cap": CAP, "stem": f"dbrunbook_forged_{uuid.uuid4().hex[:12]}_",
                  "groups": [{"size": len(jobs), "search_path": path,
                              "read": "select array[" + ", ".join(f"({j['read']})" for j in jobs) + "]::jsonb[]"}
                             for path, jobs in groups.items()]}
        out: list[list[Leak]] = []
        for at in range(0, len(identities), per):
            chunk = identities[at:at + per]
            job = {**common, "last": at + per >= len(identities),
                   "sets": [{"role": who.role, "trusted": [who.tenant_id, who.sub],
                             "claims": json.dumps(with_role(who.claims, who.role), separators=(",", ":"))}
                            for who in chunk]}
            out += self._batch(tx, job, table_probes, chunk)
        return out

    def _batch(self, tx: psycopg.Connection[dict[str, Any]], job: dict[str, Any], table_probes: list[Probe],
               identities: Sequence[Identity]) -> list[list[Leak]]:
        tx.execute("select set_config('dbrunbook.forged', %s, true)", (json.dumps(job),))
        tx.execute(_runner())
        row = tx.execute("select current_setting('dbrunbook.result') as r").fetchone()
        result: dict[str, Any] = json.loads(row["r"]) if row else {"reads": 0, "errors": 0, "results": []}
        self.tally.cells += int(result["reads"]) + int(result["errors"])
        self.tally.failed_requests += int(result["errors"])
        return [[_leak(table_probes[i], who, kind, value) for i, kind, value in found]
                for who, found in zip(identities, result["results"], strict=True)]

    def _one_by_one(self, table_probes: Sequence[Probe], who: Identity) -> list[Leak]:
        outs = probe_selects(table_probes, who)
        self.tally.cells += len(outs)
        return [Leak(o.table, o.summary, o.rows) for o in outs if o.problem == "leak"]


def _leak(p: Probe, who: Identity, kind: str, value: dict[str, Any]) -> Leak:
    if kind != "leak":
        what = "the oracle check failed" if kind == "check_error" else "the read gave up waiting for a lock"
        return Leak(p.table.name, f"{what} ({value['sqlstate']} {first_line(value['message'])})", problem=kind)
    seen, n = int(value["seen"]), int(value["n"])
    if seen <= CAP:
        return Leak(p.table.name, f"{who.name} ({who.role}) reads {seen} rows of {p.table.name}, {n} of them not "
                    "its own", [str(r) for r in value["rows"]])
    expected = int(value["expected"])  # counted only past the cap, where counts compare (as in reads.py)
    return Leak(p.table.name, f"{who.name} ({who.role}) reads {CAP}+ rows of {p.table.name}, {max(n, seen - expected)} "
                f"of them not its own (oracle allows {f'{CAP}+' if expected > CAP else expected})",
                [str(r) for r in value["rows"]])


@contextmanager
def reading(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy,
            table_probes: Sequence[tuple[Probe, bool]]) -> Iterator[Reads]:
    """A :class:`Reads` in one probe transaction (the active seed first; rolled back at the end)."""
    if policy.read_only:
        yield Reads(None, table_probes)
        return
    with session.probe_transaction(conn, policy) as tx:
        if not conn.read_only:
            tx.execute("set transaction read only")  # PostgREST's GET, once the seed has written
        yield Reads(tx, table_probes)
