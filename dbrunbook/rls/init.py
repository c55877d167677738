"""``dbrunbook contract init``: read a target's catalog (and a few rows) and write a contract skeleton.

What it infers, in order (docs/contracts.md "What init writes"):

- the exposed schemas (``supabase/config.toml [api] schemas`` of the workdir, ``pgrst.db_schemas``, else
  Supabase's default) and every table and view in them;
- the tenancy: a *membership* helper (a SECURITY DEFINER function whose body compares ``auth.uid()``
  with a column of a table that references both ``auth.users`` and a tenant table) gives an oracle
  template ``t.org_id in (select m.org_id from <membership> m where m.user_id = :sub::uuid)``; else the
  most common tenant column name (``company_id``, ``org_id``, ...) gives the default oracle;
- each table's oracle: its own tenant column, else one or two foreign-key hops to a table that has one,
  else its user column (``= :sub``, widened to co-members when its policies read the membership);
- restrictive policies, the claims the policies read (``aal`` gives an MFA identity and pinned verdicts),
  approved helpers, whether anon holds any grant;
- identities for two tenants (from the rows the target has) plus anon and service_role, and a seed
  template that signs users up through the project's own trigger on ``auth.users``.

Everything read is catalog or a bounded ``limit`` query in read-only transactions.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg import sql

from dbrunbook import resources, session
from dbrunbook.rls import claimsource, discovery

if TYPE_CHECKING:
    import psycopg

@dataclass
class Catalog:
    """What init reads once."""

    schemas: list[str]
    relations: list[dict[str, Any]]
    columns: dict[str, list[dict[str, Any]]]
    fks: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    functions: list[dict[str, Any]]

    def fks_of(self, table: str) -> list[dict[str, Any]]:
        """Foreign keys of one table."""
        return [f for f in self.fks if f["table"] == table]

    @functools.cached_property
    def user_tables(self) -> frozenset[str]:
        """``auth.users`` and the profile tables keyed by it: their whole primary key references auth.users.

        Not a membership whose composite key includes the user (``primary key (org_id, user_id)``).
        """
        def key(table: str) -> list[str]:
            return [c["column"] for c in self.columns.get(table, []) if c["primary_key"]]

        keyed = {k["table"] for k in self.fks if k["ref_table"] == "auth.users" and key(k["table"]) == [k["column"]]}
        return frozenset({"auth.users", *keyed})

    def has(self, table: str, column: str) -> bool:
        """Whether ``table`` has ``column``."""
        return any(c["column"] == column for c in self.columns.get(table, []))

    def policy_text(self, table: str, commands: tuple[str, ...] = ("SELECT", "ALL")) -> str:
        """USING/CHECK of the permissive policies of ``table`` for ``commands``."""
        return " ".join(f"{p['using_expr']} {p['check_expr']}" for p in self.policies
                        if p["qualified"] == table and p["command"] in commands and p["permissive"])


@dataclass
class Membership:
    """A membership table and the helpers that read it for ``auth.uid()``."""

    table: str
    user_col: str
    tenant_col: str
    tenant_table: str
    tenant_ref: str
    helpers: dict[str, str] = field(default_factory=dict)  # helper -> extra predicate on alias m ("" = none)
    user_table: str = "auth.users"  # or a profile table keyed by auth.users.id (its id is the user's)

    def orgs(self, extra: str = "") -> str:
        """The tenant ids of the user ``:sub`` (optionally narrowed, e.g. to admins)."""
        narrow = f" and {extra}" if extra else ""
        return f"(select m.{self.tenant_col} from {self.table} m where m.{self.user_col} = :sub::uuid{narrow})"


def read(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy, schemas: list[str]) -> Catalog:
    """Read the catalog once (read-only, bounded)."""
    params: dict[str, Any] = {"schemas": schemas, "tenant_columns": list(discovery.TENANT_COLUMN_GUESSES),
                              "tenant_tables": []}
    rels = [r for r in session.query(conn, policy, resources.sql("rls_exposed_relations"), params)
            if r["schema"] != "graphql_public"]
    cols: dict[str, list[dict[str, Any]]] = {}
    for c in session.query(conn, policy, resources.sql("init_columns"), params):
        cols.setdefault(c["table"], []).append(c)
    fks = session.query(conn, policy, resources.sql("init_foreign_keys"))
    pols = session.query(conn, policy, resources.sql("rls_policies_of"), {"tables": [r["qualified"] for r in rels]})
    funcs = session.query(conn, policy, resources.sql("init_functions"))
    return Catalog(schemas, rels, cols, fks, pols, funcs)


_FROM = re.compile(r"\b(?:from|join)\s+([a-z_]\w*\.[a-z_]\w*)", re.IGNORECASE)
_EXTRA = re.compile(r"\band\s+(?:\w+\.)?(\w+)\s+(in\s*\([^)]*\)|=\s*'[^']*')", re.IGNORECASE)


def find_membership(cat: Catalog) -> Membership | None:
    """The membership table behind SECURITY DEFINER helpers that compare a column with ``auth.uid()``.

    A candidate references a user (``auth.users`` or a profile table keyed by it) and a tenant table.
    The one most helpers read wins, then one named like a membership (``*member*``): a helper over,
    say, documents and their author must not make documents the membership (seen on a public project).
    Its tenant column is the referencing column the helpers name most (``team_id``, not ``role_id``).
    """
    users = cat.user_tables
    readers: dict[str, dict[str, str]] = {}  # table -> helper -> its source
    for f in cat.functions:
        src = f["source"] or ""
        if not f["security_definer"] or "auth.uid()" not in src.lower():
            continue
        for table in dict.fromkeys(m.lower() for m in _FROM.findall(src)):
            fks = cat.fks_of(table)
            if table not in users and any(k["ref_table"] in users for k in fks) and any(
                    k["ref_table"] not in users and k["ref_table"] != table for k in fks):
                readers.setdefault(table, {})[f["function"]] = src
    if not readers:
        return None
    table = max(readers, key=lambda t: (len(readers[t]), "member" in t.rsplit(".", 1)[-1]))
    sources = " ".join(readers[table].values()).lower()
    fks = cat.fks_of(table)
    user = next(k for k in fks if k["ref_table"] in users)
    tenant = max((k for k in fks if k["ref_table"] not in users and k["ref_table"] != table),
                 key=lambda k: len(re.findall(rf"\b{re.escape(k['column'].lower())}\b", sources)))
    ms = Membership(table, user["column"], tenant["column"], tenant["ref_table"], tenant["ref_column"],
                    user_table=user["ref_table"])
    for helper, src in readers[table].items():
        ms.helpers[helper] = " and ".join(f"m.{col} {rest}" for col, rest in _EXTRA.findall(src)
                                          if col not in (ms.user_col, ms.tenant_col))
    return ms


def guess_tenant_column(cat: Catalog) -> str | None:
    """The usual tenant column name most exposed tables carry."""
    counts = Counter(c["column"] for r in cat.relations for c in cat.columns.get(r["qualified"], [])
                     if c["column"] in discovery.TENANT_COLUMN_GUESSES)
    return counts.most_common(1)[0][0] if counts else None


def _rename(oracle: str, alias: str) -> str:
    return re.sub(r"\bt\.", f"{alias}.", oracle)


def _membership_oracle(cat: Catalog, ms: Membership, table: str, depth: int = 0) -> tuple[str, bool] | None:
    """(oracle, keyed by the user rather than the tenant) for a membership project; None: not derivable."""
    text = cat.policy_text(table)
    called = [h for h in ms.helpers if h.split(".")[-1] + "(" in text]
    plain = not called or any(not ms.helpers[h] for h in called) or ms.table in text
    orgs = ms.orgs("" if plain else ms.helpers[called[0]])
    if table == ms.tenant_table:
        return f"t.{ms.tenant_ref} in {orgs}", False
    fks = cat.fks_of(table)
    direct = next((k for k in fks if k["ref_table"] == ms.tenant_table), None)
    if direct:
        return f"t.{direct['column']} in {orgs}", False
    if depth < 2:
        for k in fks:
            if k["ref_table"] in cat.user_tables or k["ref_table"] == table:
                continue
            inner = _membership_oracle(cat, ms, k["ref_table"], depth + 1)
            if inner and not inner[1]:
                alias = f"p{depth + 1}"
                return (f"t.{k['column']} in (select {alias}.{k['ref_column']} from {k['ref_table']} {alias} "
                        f"where {_rename(inner[0], alias)})"), False
    user = next((k for k in fks if k["ref_table"] in cat.user_tables), None)
    if user is None:
        return None
    own = f"t.{user['column']} = :sub::uuid"
    if ms.table in text or called:  # its policies also show co-members
        return (f"{own} or t.{user['column']} in (select m2.{ms.user_col} from {ms.table} m2 "
                f"where m2.{ms.tenant_col} in {ms.orgs()})"), True
    return own, True


def _column_oracle(cat: Catalog, col: str, table: str) -> tuple[str | None, str | None]:
    """(tenant_column override, oracle) for a tenant-column project; (None, None): not derivable."""
    if cat.has(table, col):
        return None, ""
    targets = Counter(k["ref_table"] for k in cat.fks if k["column"] == col)
    if targets and table == targets.most_common(1)[0][0]:
        ref = next(k["ref_column"] for k in cat.fks if k["column"] == col and k["ref_table"] == table)
        return ref, ""
    for k in cat.fks_of(table):
        if cat.has(k["ref_table"], col):
            return "", (f"t.{k['column']} in (select p.{k['ref_column']} from {k['ref_table']} p "
                        f"where p.{col}::text = :tenant)")
    return None, None


@dataclass
class Skeleton:
    """The contract init writes, before rendering."""

    project: str
    schemas: list[str]
    tenant_claim: str | None
    tenant_column: str | None
    tenants: dict[str, str]
    users: list[dict[str, Any]]
    tables: dict[str, dict[str, Any]]
    ignored: dict[str, str]
    restrictive: list[tuple[str, str]]
    helpers: list[str]
    claims_read: list[str]
    anon_privileges: bool
    signup_triggers: list[str]
    has_rows: bool
    membership: Membership | None


def _rows(conn: Any, policy: session.SessionPolicy, query: sql.Composable, params: dict[str, Any] | None = None,
          ) -> list[dict[str, Any]]:
    return session.query(conn, policy, query.as_string(conn), params)


def _id(qualified: str) -> sql.Identifier:
    return sql.Identifier(*qualified.split(".", 1))


def _users_membership(conn: Any, policy: session.SessionPolicy, ms: Membership) -> list[dict[str, Any]]:
    rows = _rows(conn, policy, sql.SQL("select m.{}::text as org, m.{}::text as sub from {} m order by 1, 2 limit 500")
                 .format(sql.Identifier(ms.tenant_col), sql.Identifier(ms.user_col), _id(ms.table)))
    orgs: dict[str, list[str]] = {}
    count = Counter(r["sub"] for r in rows)
    for r in rows:
        orgs.setdefault(r["org"], []).append(r["sub"])
    users: list[dict[str, Any]] = []
    for org, subs in list(orgs.items()):
        sub = min(subs, key=lambda s: (count[s], s))  # a member of this org only, when there is one
        if sub not in {u["sub"] for u in users}:
            users.append({"org": org, "sub": sub})
        if len(users) == 2:
            break
    return users


def _users_column(conn: Any, policy: session.SessionPolicy, cat: Catalog, col: str) -> tuple[dict[str, str], list[
        dict[str, Any]]]:
    tenants: list[str] = []
    for r in cat.relations:
        if r["kind"] in ("r", "p") and cat.has(r["qualified"], col):
            got = _rows(conn, policy, sql.SQL("select distinct t.{c}::text as v from {t} t where t.{c} is not null "
                                              "order by 1 limit 2").format(c=sql.Identifier(col),
                                                                          t=_id(r["qualified"])))
            tenants = [g["v"] for g in got]
            if len(tenants) == 2:
                break
    users = []
    for name, tid in zip(("tenant_a", "tenant_b"), tenants, strict=False):
        sub = None
        for k in cat.fks:
            if k["ref_table"] == "auth.users" and cat.has(k["table"], col) and k["table"] in cat.columns:
                got = _rows(conn, policy, sql.SQL("select t.{u}::text as s from {t} t where t.{c}::text = %(t)s "
                                                  "and t.{u} is not null limit 1").format(
                    u=sql.Identifier(k["column"]), t=_id(k["table"]), c=sql.Identifier(col)), {"t": tid})
                if got:
                    sub = got[0]["s"]
                    break
        users.append({"tenant": name, "sub": sub or str(uuid.uuid5(uuid.NAMESPACE_URL, f"dbrunbook-user:{tid}"))})
    return {n: t for n, t in zip(("tenant_a", "tenant_b"), tenants, strict=False)}, users


def _app_metadata(conn: Any, policy: session.SessionPolicy, users: list[dict[str, Any]]) -> None:
    """The users' real ``app_metadata`` (what GoTrue puts in their tokens), for claims like ``company_role``."""
    subs = [u["sub"] for u in users]
    if not subs:
        return
    rows = session.query(conn, policy, "select u.id::text as sub, u.raw_app_meta_data as app from auth.users u "
                         "where u.id::text = any(%(subs)s)", {"subs": subs})
    app = {r["sub"]: {k: v for k, v in dict(r["app"] or {}).items() if k not in ("provider", "providers")}
           for r in rows}
    for u in users:
        if app.get(u["sub"]):
            u["app_metadata"] = app[u["sub"]]


def _inline(value: Any) -> str:
    """A TOML inline value for JSON-shaped data."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(str(value))


def infer(conn: psycopg.Connection[dict[str, Any]], policy: session.SessionPolicy, *, project: str,
          schemas: list[str]) -> Skeleton:
    """Read the target and decide the skeleton."""
    cat = read(conn, policy, schemas)
    ms = find_membership(cat)
    col = None if ms else guess_tenant_column(cat)
    texts = [f"{p['using_expr']} {p['check_expr']}" for p in cat.policies]
    called = [f for f in cat.functions if any(f["function"] + "(" in t or f["function"].split(".")[-1] + "(" in t
                                              for t in texts)]
    reads = sorted({".".join(r) for t in texts + [f["source"] or "" for f in called]
                    for r in claimsource.claim_reads(t) if r})
    claim = next((r for r in reads if col and r.split(".")[-1] == col), col)
    helpers = sorted({f["function"] for f in called if "auth.uid()" in (f["source"] or "").lower()
                      or claimsource.claim_reads(f["source"] or "")} | set(ms.helpers if ms else {}))
    tables: dict[str, dict[str, Any]] = {}
    ignored: dict[str, str] = {}
    for r in cat.relations:
        name, view = r["qualified"], r["kind"] in ("v", "m")
        if ms:
            found = _membership_oracle(cat, ms, name)
            entry: dict[str, Any] | None = {"oracle": found[0], "tenant_column": ""} if found else None
        else:
            override, oracle = _column_oracle(cat, col, name) if col else (None, None)
            entry = None if oracle is None else {**({"tenant_column": override} if override is not None else {}),
                                                 **({"oracle": oracle} if oracle else {})}
        if entry is None:
            ignored[name] = "no tenant column, membership path or user column found: write an oracle"
            continue
        if view:
            entry["view"] = True
        tables[name] = entry
    restrictive = [(p["qualified"], p["policy"]) for p in cat.policies if not p["permissive"]]
    mfa = sorted({p["qualified"] for p in cat.policies if not p["permissive"] and p["command"] in ("SELECT", "ALL")
                  and ("aal",) in claimsource.claim_reads(f"{p['using_expr']} {p['check_expr']}")})
    for t in mfa:
        if t in tables:
            tables[t]["mfa"] = True
    tenants: dict[str, str] = {}
    users: list[dict[str, Any]] = []
    if ms:
        users = _users_membership(conn, policy, ms)
    elif col:
        tenants, users = _users_column(conn, policy, cat, col)
    _app_metadata(conn, policy, users)
    triggers = [f"{', '.join(f['auth_user_triggers'])} -> {f['function']}()" for f in cat.functions
                if f["auth_user_triggers"]]
    anon = any(r["anon_privileges"] and r["anon_schema_usage"] for r in cat.relations if r["qualified"] in tables)
    return Skeleton(project, schemas, claim, col, tenants, users, tables, ignored, restrictive, helpers, reads,
                    anon, triggers, bool(users), ms)


def render(sk: Skeleton, seed_name: str) -> str:
    """The contract as TOML, with comments saying what was inferred and what to check."""
    q = json.dumps
    mfa_needed = any(t.get("mfa") for t in sk.tables.values())
    out = [f"# RLS contract skeleton written by `dbrunbook contract init` for {sk.project} (docs/contracts.md).",
           "# Review every line marked CHECK; run it with: pytest -m rls --target=... --contracts=THIS_FILE",
           f"# Claims the policies read: {', '.join(sk.claims_read) or 'none'}.",
           "", "[contract]", f"project = {q(sk.project)}"]
    if sk.membership:
        ms = sk.membership
        out.append(f"# Membership tenancy: {ms.table} ({ms.user_col} -> {ms.user_table}, {ms.tenant_col} -> "
                   f"{ms.tenant_table}.{ms.tenant_ref}), read by {', '.join(sorted(ms.helpers))}.")
    else:
        out += [f"tenant_claim = {q(sk.tenant_claim or 'company_id')}" + ("" if sk.tenant_claim else "  # CHECK"),
                f"tenant_column = {q(sk.tenant_column or '')}"]
    out += [f"exposed_schemas = {q(sk.schemas)}",
            f"approved_helpers = {q(sk.helpers)}",
            "service_login_roles = []  # CHECK: login roles your services connect as",
            f"anon_privileges = {'true' if sk.anon_privileges else 'false'}"
            + ("  # anon holds grants on contracted tables today" if sk.anon_privileges else
               "  # anon holds no grant on any contracted table: a new one fails rls.anon_privileges"),
            f"{'' if not sk.has_rows else '# '}seed_sql = {q(seed_name)}"
            + ("  # the target has rows for these identities; enable for an empty writable target"
               if sk.has_rows else "  # no rows found for two tenants: the seed gives them rows (CHECK it)")]
    if sk.ignored:
        out += ["ignore_tables = ["] + [f"  {q(n)},  # {why}" for n, why in sorted(sk.ignored.items())] + ["]"]
    if sk.tenants:
        out += ["", "[tenants]"] + [f"{n} = {q(t)}" for n, t in sk.tenants.items()]
    out += ["", "[[identities]]", 'name = "anon"', 'role = "anon"']
    for i, u in enumerate(sk.users):
        name = u.get("tenant") or f"org{i + 1}"
        out += ["", "[[identities]]", f"name = {q(name + '_user')}", f"sub = {q(u['sub'])}"]
        out += [f"tenant = {q(u['tenant'])}"] if u.get("tenant") else [f"# member of {u['org']}"]
        if u.get("app_metadata"):
            out.append(f"app_metadata = {_inline(u['app_metadata'])}  # from auth.users.raw_app_meta_data")
        if mfa_needed and i == 0:
            out += ["", "[[identities]]", f"name = {q(name + '_user_mfa')}", f"sub = {q(u['sub'])}", 'aal = "aal2"']
            out += [f"tenant = {q(u['tenant'])}"] if u.get("tenant") else []
            out += [f"app_metadata = {_inline(u['app_metadata'])}"] if u.get("app_metadata") else []
    out += ["", "[[identities]]", 'name = "service_role"', 'role = "service_role"']
    for table, policy in sk.restrictive:
        out += ["", "[[restrictive]]", f"table = {q(table)}", f"policy = {q(policy)}"]
    first = (sk.users[0].get("tenant") or "org1") + "_user_mfa" if sk.users else None
    for name, entry in sk.tables.items():
        out += ["", f"[tables.{q(name)}]"]
        if "tenant_column" in entry:
            out.append(f"tenant_column = {q(entry['tenant_column'])}")
        if entry.get("oracle"):
            out.append(f"oracle = {q(entry['oracle'])}")
        if entry.get("view"):
            out.append("view = true")
        if entry.get("mfa"):
            out.append('expect.users = { select = "deny" }  # a restrictive policy requires aal2')
            if first:
                out.append(f'expect.{first} = {{ select = "allow" }}')
    return "\n".join(out) + "\n"


def seed_template(sk: Skeleton) -> str:
    """A seed that signs the identities up through the project's own trigger(s), then leaves room for rows."""
    lines = ["-- Seed template written by `dbrunbook contract init` (docs/contracts.md: what a seed may do).",
             "-- Runs at the start of every probe transaction on writable targets, with full rights; rolled back.",
             f"-- Sign-up trigger(s) on auth.users: {'; '.join(sk.signup_triggers) or 'none found'}."]
    rows = [f"  ('00000000-0000-0000-0000-000000000000', '{u['sub']}', 'authenticated', 'authenticated', "
            f"'user{i + 1}@example.test', '{{\"provider\":\"email\",\"providers\":[\"email\"]}}', '{{}}', now(), now())"
            for i, u in enumerate(sk.users)]
    if rows:
        lines += ["insert into auth.users (instance_id, id, aud, role, email, raw_app_meta_data, raw_user_meta_data,",
                  "                        created_at, updated_at)",
                  "values", ",\n".join(rows), "on conflict (id) do nothing;"]
    else:  # an INSERT with no row would not parse, and a seed that fails stops every RLS cell
        lines.append("-- CHECK: no tenant user was found: sign your identities' users up here (insert into auth.users)")
    lines += ["", "-- CHECK: one row per tenant in each tenant table, with fixed ids (not gen_random_uuid()), e.g.:"]
    for name in list(sk.tables)[:5]:
        lines.append(f"-- insert into {name} (...) values (...) on conflict do nothing;")
    return "\n".join(lines) + "\n"


def config_schemas(workdir: Path | None) -> list[str]:
    """``[api] schemas`` of ``supabase/config.toml``; empty when absent."""
    if workdir is None:
        return []
    try:
        doc = tomllib.loads((workdir / "supabase" / "config.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    return [str(s) for s in doc.get("api", {}).get("schemas", [])]
