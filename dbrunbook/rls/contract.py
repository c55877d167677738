"""The RLS contract file: identities, exposed schemas, tenant tables with oracles, verdicts, waivers.

Parsed without a database, so pytest can generate one node per table x identity x operation at
collection time. The format is documented in docs/contracts.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from dbrunbook.exceptions import DbrunbookError
from dbrunbook.rls import keys
from dbrunbook.rls.claims import Claims, key_claims, set_path, user_claims

Operation = Literal["select", "insert", "update", "delete"]
OPERATIONS: tuple[Operation, ...] = ("select", "insert", "update", "delete")
#: What an identity may do to rows of its own tenant: allow, deny, or any (not pinned).
Verdict = Literal["allow", "deny", "any"]
#: What an identity sees: its tenant's rows (oracle), all rows, or none.
Scope = Literal["oracle", "all", "none"]


@dataclass(frozen=True)
class Identity:
    """Who makes the request: an API role plus the claims its token carries."""

    name: str
    role: str
    claims: Claims
    tenant: str | None = None
    tenant_id: str | None = None
    sub: str | None = None
    scope: Scope = "oracle"

    @property
    def is_user(self) -> bool:
        """A signed-in user (tenant-scoped), as opposed to an API key identity."""
        return self.scope == "oracle"


@dataclass(frozen=True)
class TableContract:
    """One table (or view): how to tell which rows an identity should see, and pinned verdicts."""

    name: str  # schema.table
    oracle: str
    tenant_column: str | None
    is_view: bool = False
    update_column: str | None = None
    operations: tuple[Operation, ...] = OPERATIONS
    expect: Mapping[str, Mapping[str, Verdict]] = field(default_factory=dict)  # identity -> op -> verdict
    discovered: bool = False

    @property
    def schema(self) -> str:
        """Schema part of the name."""
        return self.name.split(".", 1)[0]

    @property
    def relname(self) -> str:
        """Table part of the name."""
        return self.name.split(".", 1)[1]

    def verdict(self, identity: Identity, op: Operation) -> Verdict:
        """Pinned own-tenant verdict: the identity's own entry, then ``users`` for every tenant user.

        Not pinned: ``allow`` for select (a user reads exactly its oracle rows), ``any`` otherwise.
        """
        keys = (identity.name, "users") if identity.is_user else (identity.name,)
        for key in keys:
            if op in self.expect.get(key, {}):
                return self.expect[key][op]
        return "allow" if op == "select" else "any"


@dataclass(frozen=True)
class Waiver:
    """An accepted exception: which probe or lint, why, until when."""

    check: str
    table: str
    identity: str
    operation: str
    reason: str
    expires: date

    def matches(self, check: str, table: str, identity: str = "*", operation: str = "*") -> bool:
        """Whether this waiver covers the probe (``*`` matches anything)."""
        return all(w in ("*", v) for w, v in ((self.check, check), (self.table, table),
                                              (self.identity, identity), (self.operation, operation)))

    def expired(self, today: date | None = None) -> bool:
        """An expired waiver fails the check instead of silencing it."""
        return (today or date.today()) > self.expires


@dataclass(frozen=True)
class Restrictive:
    """A restrictive policy the contract says must exist and stay restrictive."""

    table: str
    policy: str


@dataclass(frozen=True)
class Contract:
    """A parsed contracts file."""

    path: Path
    project: str
    tenant_claim: str
    tenant_column: str | None
    exposed_schemas: tuple[str, ...]
    tenants: Mapping[str, str]
    identities: tuple[Identity, ...]
    tables: tuple[TableContract, ...]
    approved_helpers: tuple[str, ...]
    service_login_roles: tuple[str, ...]
    restrictive: tuple[Restrictive, ...]
    waivers: tuple[Waiver, ...]
    ignore_tables: tuple[str, ...]
    seed_sql: str | None
    anon_privileges: bool = True

    def table(self, name: str) -> TableContract:
        """The contract of one table."""
        return next(t for t in self.tables if t.name == name)

    def identity(self, name: str) -> Identity:
        """One identity by name."""
        return next(i for i in self.identities if i.name == name)

    def waiver(self, check: str, table: str, identity: str = "*", operation: str = "*") -> Waiver | None:
        """The first waiver covering this probe, if any."""
        return next((w for w in self.waivers if w.matches(check, table, identity, operation)), None)

    def default_table(self, name: str, *, is_view: bool = False) -> TableContract:
        """Contract for a discovered table that carries the tenant column: the default oracle."""
        assert self.tenant_column is not None
        return TableContract(name, default_oracle(self.tenant_column), self.tenant_column, is_view=is_view,
                             operations=("select",) if is_view else OPERATIONS, discovered=True)


def default_oracle(column: str) -> str:
    """``<column> = :tenant`` (the identity's tenant id, as uuid when the column is one)."""
    return f"{column}::text = :tenant"


class ContractError(DbrunbookError):
    """The contracts file cannot be used: says which file, what is wrong and the fix.

    The RLS checks turn it into one inconclusive ``setup`` finding (never a verdict), and every
    other check of the run still runs.
    """

    __module__ = "dbrunbook"

    def __init__(self, path: Path, what: str, fix: str) -> None:
        self.path = path
        self.what = what
        self.fix = fix
        super().__init__(f"{path}: {what}")


def _fail(path: Path, what: str, fix: str) -> ContractError:
    return ContractError(path, what, f"{fix} (docs/contracts.md)")


def _keys(path: Path, section: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    if not isinstance(section, Mapping):
        raise _fail(path, f"{where} must be a table, not {type(section).__name__}", f"{where} = {{ ... }}")
    bad = keys.unknown(section, allowed)
    if bad:
        raise _fail(path, f"unknown key(s) {', '.join(bad)} in {where}", f"use one of: {', '.join(sorted(allowed))}")


SCOPES: tuple[Scope, ...] = ("oracle", "all", "none")


def _identity(raw: Mapping[str, Any], tenants: Mapping[str, str], claim: str, path: Path) -> Identity:
    _keys(path, raw, keys.IDENTITY, "an [[identities]] entry")
    name = str(raw.get("name") or "")
    if not name:
        raise _fail(path, "an [[identities]] entry has no name", 'name = "acme_owner"')
    role = str(raw.get("role", "authenticated"))
    scope = raw.get("scope", "oracle" if role == "authenticated" else "all" if role == "service_role" else "none")
    if scope not in SCOPES:
        raise _fail(path, f"identity {name!r}: scope = {scope!r}{keys.did_you_mean(str(scope), SCOPES)}",
                    'scope = "oracle" (its tenant\'s rows), "all" or "none"')
    if role != "authenticated":
        return Identity(name, role, key_claims(role), scope=scope)
    tenant = raw.get("tenant")
    tenant_id = tenants.get(str(tenant)) if tenant else None
    if tenant and tenant_id is None:
        raise _fail(path, f"identity {name!r} names unknown tenant {tenant!r}{keys.did_you_mean(str(tenant), tenants)}",
                    f"add [tenants] {tenant} = \"<uuid>\" or fix the identity's tenant")
    sub = str(raw.get("sub") or "")
    if not sub:
        raise _fail(path, f"identity {name!r} has no sub", 'sub = "<auth.users id>"')
    claims = user_claims(sub, email=raw.get("email"), aal=str(raw.get("aal", "aal1")),
                         app_metadata=raw.get("app_metadata"), user_metadata=raw.get("user_metadata"),
                         extra=raw.get("claims"))
    if tenant_id is not None and raw.get("tenant_in_claims", True):
        claims = set_path(claims, claim, tenant_id)
    return Identity(name, role, claims, tenant=tenant, tenant_id=tenant_id, sub=sub, scope=scope)


def _table(name: str, raw: Mapping[str, Any], tenant_column: str | None, identities: set[str],
           path: Path) -> TableContract:
    where = f'[tables."{name}"]'
    _keys(path, raw, keys.TABLE, where)
    if "." not in name:
        raise _fail(path, f"table {name!r} is not schema-qualified", f'[tables."public.{name}"]')
    column = raw.get("tenant_column", tenant_column)
    oracle = raw.get("oracle") or (default_oracle(column) if column else None)
    if not oracle:
        raise _fail(path, f"table {name!r} has no oracle and no tenant column",
                    'oracle = "org_id in (select org_id from public.org_members where user_id = :sub::uuid)"')
    is_view = bool(raw.get("view", False))
    ops = tuple(raw.get("operations", ("select",) if is_view else OPERATIONS))
    for op in ops:
        if op not in OPERATIONS:
            raise _fail(path, f"table {name!r}: unknown operation {op!r}{keys.did_you_mean(str(op), OPERATIONS)}",
                        f"one of {', '.join(OPERATIONS)}")
    expect = {ident: dict(verdicts) for ident, verdicts in dict(raw.get("expect", {})).items()}
    for ident, verdicts in expect.items():
        if ident != "users" and ident not in identities:
            raise _fail(path, f"{where} expect.{ident}: no identity {ident!r}"
                        f"{keys.did_you_mean(ident, identities | {'users'})}",
                        "name an [[identities]] entry, or `users` for every tenant user")
        for op, verdict in verdicts.items():
            if op not in OPERATIONS or verdict not in ("allow", "deny", "any"):
                raise _fail(path, f"table {name!r}: bad expectation {op} = {verdict!r}",
                            'expect.acme_agent = { delete = "deny" } (allow | deny | any)')
    return TableContract(name, str(oracle), column if column else None, is_view, raw.get("update_column"),
                         ops, expect)


def _waiver(raw: Mapping[str, Any], identities: set[str], path: Path) -> Waiver:
    _keys(path, raw, keys.WAIVER, "a [[waivers]] entry")
    if not raw.get("reason") or not raw.get("expires"):
        raise _fail(path, f"waiver {dict(raw)!r} needs a reason and an expiry date",
                    'reason = "..." expires = 2026-12-31')
    ident = str(raw.get("identity", "*"))
    if ident not in identities | {"*"}:
        raise _fail(path, f"waiver names unknown identity {ident!r}{keys.did_you_mean(ident, identities)}",
                    'identity = "<an [[identities]] name>" or "*"')
    op = str(raw.get("operation", "*"))
    if op not in (*OPERATIONS, "*"):
        raise _fail(path, f"waiver operation {op!r} is not one of {', '.join(OPERATIONS)}", 'operation = "*"')
    expires = raw["expires"]
    try:
        day = expires if isinstance(expires, date) else date.fromisoformat(str(expires))
    except ValueError:
        raise _fail(path, f"waiver expires = {expires!r} is not a date", "expires = 2026-12-31") from None
    return Waiver(str(raw.get("check", "*")), str(raw.get("table", "*")), ident, op, str(raw["reason"]), day)


def load(path: Path) -> Contract:
    """Parse and validate a contracts file (no database needed).

    :raises ContractError: unreadable file or malformed contract (unknown key, identity, tenant ...),
        naming the fix
    """
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(path, f"cannot read the contracts file ({exc.strerror})",
                    "--contracts PATH to an existing file, or write one: dbrunbook contract init") from None
    except UnicodeDecodeError:
        raise _fail(path, "not UTF-8 text", f"save {path.name} as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML: {exc}", f"fix the syntax of {path.name}") from None
    _keys(path, doc, keys.TOP, "the top level")
    head = doc.get("contract", {})
    _keys(path, head, keys.CONTRACT, "[contract]")
    claim = str(head.get("tenant_claim", "company_id"))
    column = head.get("tenant_column")
    tenants = {str(k): str(v) for k, v in doc.get("tenants", {}).items()}
    identities = tuple(_identity(raw, tenants, claim, path) for raw in doc.get("identities", []))
    if not identities:
        raise _fail(path, "no [[identities]]", 'add [[identities]] name = "anon" role = "anon"')
    names = [i.name for i in identities]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _fail(path, f"identity name(s) used twice: {', '.join(dupes)}", "give each [[identities]] its own name")
    tables = tuple(_table(name, raw, column, set(names), path) for name, raw in doc.get("tables", {}).items())
    waivers = tuple(_waiver(raw, set(names), path) for raw in doc.get("waivers", []))
    restrictive = []
    for raw in doc.get("restrictive", []):
        _keys(path, raw, keys.RESTRICTIVE, "a [[restrictive]] entry")
        if not raw.get("table") or not raw.get("policy"):
            raise _fail(path, f"[[restrictive]] {dict(raw)!r} needs table and policy",
                        'table = "public.project_secrets" policy = "Project secrets require MFA"')
        restrictive.append(Restrictive(str(raw["table"]), str(raw["policy"])))
    seed = head.get("seed_sql")
    seed_text = None
    if seed:
        try:
            seed_text = (path.parent / seed).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(path, f"seed_sql {seed!r}: cannot read {path.parent / seed} "
                        f"({getattr(exc, 'strerror', None) or 'not UTF-8'})",
                        "seed_sql is a path relative to the contracts file") from None
    return Contract(
        path=path, project=str(head.get("project", path.stem)), tenant_claim=claim,
        tenant_column=str(column) if column else None,
        exposed_schemas=tuple(head.get("exposed_schemas", ("public",))), tenants=tenants,
        identities=identities, tables=tables, approved_helpers=tuple(head.get("approved_helpers", ())),
        service_login_roles=tuple(head.get("service_login_roles", ())),
        restrictive=tuple(restrictive), waivers=waivers, ignore_tables=tuple(head.get("ignore_tables", ())),
        seed_sql=seed_text, anon_privileges=bool(head.get("anon_privileges", True)),
    )
