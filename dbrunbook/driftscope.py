"""Which drift is the project's: what its migrations create or change, not the platform layer.

Two Supabase-shaped databases built from the same migrations still differ where their platform
layers differ: extensions and their versions, ``supabase_admin``'s grants and default privileges,
platform roles' settings, platform schemas. Those are not drift unless a migration touched them.
``touched`` is what the migrations changed: the difference between the shadow (platform layer +
migrations) and the platform layer alone (``dbrunbook.shadow``). ``--drift-scope=all`` shows
everything. The rules, one per line of docs/checks/drift.md "Scope":

- touched by a migration: always compared (an extension's version excepted: the platform picks it);
- extensions: an extension the target has and the migrations do not create is the platform's when
  the platform layer or any hosted era pre-installs it (otherwise it was enabled by hand: drift);
  one the platform layer has and the target lacks is the platform's;
- grants and default privileges involving a platform role (``supabase_admin``, ``supabase_*``,
  ``pgsodium_*``, ``pg_*``, ``dashboard_user``, ``pgbouncer``), the owner of an object the platform
  layer itself has (``schema public``: ``pg_database_owner`` or ``postgres``), and anything in a
  schema a platform role owns: the platform's;
- role settings: a platform role's are the platform's; an API role's value that differs from the
  baseline is drift, a cluster-wide setting only the target has is the platform's (hosted sets some
  for authenticator that the embedded layer may not), a per-database one is drift.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dbrunbook.catalog import KINDS, DriftItem, Snapshot

Scope = Literal["user", "all"]
SCOPES: tuple[Scope, ...] = ("user", "all")

#: The roles PostgREST uses: their settings and grants are the project's to decide.
API_ROLES = frozenset({"anon", "authenticated", "service_role", "authenticator"})
#: Extensions a hosted project had pre-installed in some era (supabase-facts.md section 9).
HOSTED_PREINSTALLED = frozenset({"plpgsql", "pgcrypto", "uuid-ossp", "pg_stat_statements", "pgsodium", "pg_graphql",
                                 "supabase_vault", "pg_net", "pgjwt"})
_PLATFORM_ROLES = frozenset({"supabase_admin", "dashboard_user", "pgbouncer", "pgtle_admin"})
_OBJECT_KINDS = ("materialized view", "procedure", "function", "sequence", "schema", "column", "table", "view",
                 "type")


def is_platform_role(role: str) -> bool:
    """Roles the platform owns (``public`` and user roles are not).

    >>> [is_platform_role(r) for r in ("supabase_admin", "supabase_storage_admin", "pg_read_all_data", "anon")]
    [True, True, True, False]
    """
    return role in _PLATFORM_ROLES or role.startswith(("supabase_", "pgsodium_", "pg_"))


Keys = dict[str, set[str]]


def touched(platform: Snapshot, shadow: Snapshot) -> Keys:
    """Per kind, the keys the migrations created, dropped or changed (platform layer vs shadow)."""
    out: Keys = {}
    for kind in KINDS:
        before, after = platform.objects.get(kind, {}), shadow.objects.get(kind, {})
        out[kind] = {k for k in set(before) | set(after)
                     if k not in before or k not in after or _visible(before[k]) != _visible(after[k])}
    return out


def _visible(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if not k.startswith("_")}


def _object_of(key: str) -> tuple[str, str]:
    """(object kind, object name) of a privileges/ownership key ("table public.t to anon" -> table, public.t)."""
    for kind in _OBJECT_KINDS:
        if key.startswith(kind + " "):
            return kind, key[len(kind) + 1:].rsplit(" to ", 1)[0]
    return "", key


def _schema_of(kind: str, key: str) -> str | None:
    if kind in ("schemas",):
        return key
    if kind in ("privileges", "ownership"):
        obj_kind, name = _object_of(key)
        return name if obj_kind == "schema" else name.split(".", 1)[0]
    if kind == "default_privileges":
        parts = key.split(" ")
        return parts[4] if len(parts) > 4 else None
    if kind in ("tables", "columns", "constraints", "indexes", "policies", "functions", "triggers", "views",
                "sequences", "types"):
        return key.split(".", 1)[0]
    return None


def platform_schemas(*snapshots: Snapshot | None) -> set[str]:
    """User-visible schemas owned by a platform role (never ``public``), on any side."""
    found: set[str] = set()
    for snap in snapshots:
        for key, attrs in (snap.objects.get("ownership", {}) if snap else {}).items():
            kind, name = _object_of(key)
            if kind == "schema" and name != "public" and is_platform_role(str(attrs.get("owner", ""))):
                found.add(name)
    return found


@dataclass(frozen=True)
class Hidden:
    """A drift item left out of the user scope, and why."""

    item: DriftItem
    reason: str


def platform_reason(item: DriftItem, *, changed_by_migrations: bool | None, in_platform_layer: bool,
                    schemas: set[str]) -> str | None:
    """Why ``item`` is a platform-layer difference (None: it is the project's drift).

    ``changed_by_migrations`` is None when unknown (baseline from another target or a snapshot).
    """
    if changed_by_migrations:
        return None
    kind, key = item.kind, item.key
    schema = _schema_of(kind, key)
    if schema is not None and schema in schemas:
        return f"in schema {schema}, which a platform role owns"
    if kind == "extensions":
        if item.change == "unexpected" and (in_platform_layer or key in HOSTED_PREINSTALLED):
            return "an extension the platform pre-installs"
        if item.change != "unexpected" and changed_by_migrations is False:
            return "an extension of the platform layer that no migration creates or changes"
        return None
    if kind == "privileges":
        grantee = key.rsplit(" to ", 1)[-1]
        return f"a grant to the platform role {grantee}" if is_platform_role(grantee) else None
    if kind == "default_privileges":
        parts = key.split(" ")
        role, grantee = (parts[2], parts[-1]) if len(parts) > 3 else ("", "")
        for who in (role, grantee):
            if is_platform_role(who):
                return f"default privileges involving the platform role {who}"
        return None
    if kind == "ownership" and in_platform_layer:  # an object the platform made (schema public): its owner
        owners = {str(a.get("owner", "")) for a in (item.expected, item.actual) if a}
        platform = sorted(o for o in owners if is_platform_role(o))
        return f"owned by the platform role {platform[0]}" if platform else None
    if kind == "role_settings":
        role = key.removeprefix("role ").split(":", 1)[0].split(" ", 1)[0]
        if role not in API_ROLES:
            return f"a setting of the platform role {role}"
        if item.change == "unexpected" and " in this database" not in key:
            return f"a cluster-wide setting of {role} that only the target has (platforms set some)"
        return None
    if kind == "publications" and item.change == "unexpected" and key.startswith("supabase_"):
        return "a publication of the platform"
    return None


def split(items: Iterable[DriftItem], *, scope: Scope, baseline: Snapshot, platform: Snapshot | None,
          actual: Snapshot) -> tuple[list[DriftItem], list[Hidden]]:
    """The items to report in ``scope``, and the platform-layer ones left out (with their reasons)."""
    if scope == "all":
        return list(items), []
    changed = touched(platform, baseline) if platform is not None else None
    schemas = platform_schemas(baseline, platform, actual)
    kept: list[DriftItem] = []
    hidden: list[Hidden] = []
    for item in items:
        by_migrations = (item.key in changed.get(item.kind, set())) if changed is not None else None
        in_layer = platform is not None and item.key in platform.objects.get(item.kind, {})
        reason = platform_reason(item, changed_by_migrations=by_migrations, in_platform_layer=in_layer,
                                 schemas=schemas)
        if reason is None and item.kind == "extensions" and item.change == "changed" and "version" in item.fields:
            rest = tuple(f for f in item.fields if f != "version")
            if not rest:
                reason = "an extension version: the platform picks it"
            else:
                item = dataclasses.replace(item, fields=rest)
        if reason is None:
            kept.append(item)
        else:
            hidden.append(Hidden(item, reason))
    return kept, hidden


def origin(item: DriftItem, platform: Snapshot | None, baseline: Snapshot) -> str:
    """Who made the expected side of ``item``: ``migrations`` (created or changed by them), ``platform`` or ``unknown``.

    Exact by construction: "migrations" only when the platform layer alone does not have the object
    as the shadow has it.
    """
    if platform is None:
        return "unknown"
    before = platform.objects.get(item.kind, {}).get(item.key)
    after = baseline.objects.get(item.kind, {}).get(item.key)
    if before is None and after is None:
        return "unknown"
    if before is not None and after is not None and _visible(before) == _visible(after):
        return "platform"
    return "migrations"
