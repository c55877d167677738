"""Normalized catalog snapshot of a database's user schema, and the diff of two snapshots.

A snapshot maps kind -> object key (its full name) -> attributes, built from
``dbrunbook/sql/catalog_*.sql`` in one read-only transaction. Supabase-managed internals are left
out by rule (``catalog_schemas.sql``: managed schemas, extension members via pg_depend 'e',
objects owned by supabase_admin); docs/checks/drift.md explains the rule. Attributes whose name
starts with ``_`` are carried for display only and never compared. Values are normalized so that
the same schema on PostgreSQL 15, 16, 17 and 18 gives the same snapshot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbrunbook import resources
from dbrunbook.redact import REDACTOR

if TYPE_CHECKING:
    import psycopg

    from dbrunbook.session import SessionPolicy

Objects = dict[str, dict[str, dict[str, Any]]]

#: Object kinds, in the order the drift nodes run and the report lists them.
KINDS: tuple[str, ...] = (
    "schemas", "extensions", "tables", "columns", "constraints", "indexes", "policies", "functions",
    "triggers", "views", "sequences", "types", "publications", "privileges", "default_privileges",
    "ownership", "role_settings", "cron_jobs",
)
SNAPSHOT_FORMAT = 1


def _ws(text: Any) -> Any:
    """Collapse white space: pg_get_*def layout differs between majors, meaning does not.

    >>> _ws("create index i on t using btree ( a ,   b )")
    'create index i on t using btree(a,b)'
    """
    if not isinstance(text, str):
        return text
    text = " ".join(text.split())
    # str.replace, not a regex: this runs on every definition of a 500-table schema (bench/drift).
    for mark in "(),;":
        text = text.replace(f" {mark}", mark).replace(f"{mark} ", mark)
    return text


def _sha(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest()[:16] if text is not None else None


def _key(*parts: Any) -> str:
    return ".".join(str(p) for p in parts)


def _functions(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = row.pop("source") or ""
    sql_body = row.pop("sql_body")
    text = _ws(body) if body.strip() else _ws(sql_body)
    row["body_fingerprint"] = _sha(text)
    row["_body"] = body if body.strip() else sql_body
    return f"{row.pop('schema')}.{row.pop('name')}({row.pop('args')})", row


def _default(key_cols: tuple[str, ...], normalize: tuple[str, ...] = ()) -> Callable[
        [dict[str, Any]], tuple[str, dict[str, Any]]]:
    def build(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        key = _key(*(row.pop(c) for c in key_cols))
        for col in normalize:
            row[col] = _ws(row[col])
        return key, row
    return build


#: aclitem letters (PostgreSQL's acl.c) -> the privilege names aclexplode() gives; MAINTAIN (m, 17+)
#: is left out: it does not exist on older majors.
_ACL_LETTERS = {"r": "SELECT", "w": "UPDATE", "a": "INSERT", "d": "DELETE", "D": "TRUNCATE", "x": "REFERENCES",
                "t": "TRIGGER", "X": "EXECUTE", "U": "USAGE", "C": "CREATE", "T": "TEMPORARY", "c": "CONNECT",
                "s": "SET", "A": "ALTER SYSTEM"}


def _acl_item(item: str) -> tuple[str, list[str]]:
    """``grantee=privs/grantor`` (grantee quoted when it needs to be, empty for PUBLIC) -> grantee, privileges.

    >>> _acl_item('"my ""role"=r*w/postgres')
    ('my "role', ['SELECT WITH GRANT OPTION', 'UPDATE'])
    >>> _acl_item("=X/postgres")
    ('public', ['EXECUTE'])
    """
    if item.startswith('"'):
        i, name = 1, []
        while i < len(item):
            if item[i] == '"':
                if item[i + 1:i + 2] == '"':
                    name.append('"')
                    i += 2
                    continue
                break
            name.append(item[i])
            i += 1
        grantee, rest = "".join(name), item[i + 2:]
    else:
        grantee, _, rest = item.partition("=")
    letters = rest.split("/", 1)[0]
    privileges = [_ACL_LETTERS[letter] + (" WITH GRANT OPTION" if letters[i + 1:i + 2] == "*" else "")
                  for i, letter in enumerate(letters) if letter in _ACL_LETTERS]
    return grantee or "public", privileges


def _explode_acls(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per object and grantee, privileges sorted by name (as aclexplode + array_agg gave them)."""
    out = []
    for row in rows:
        grants: dict[str, list[tuple[str, str]]] = {}
        for item in row["acl"] or ():
            grantee, names = _acl_item(item)
            grants.setdefault(grantee, []).extend((p.split(" WITH", 1)[0], p) for p in names)
        for who, pairs in grants.items():
            if pairs:  # sorted by the bare privilege name, as array_agg(... order by privilege_type)
                out.append({"kind": row["kind"], "name": row["name"], "grantee": who,
                            "privileges": [p for _, p in sorted(pairs, key=lambda x: x[0])]})
    return out


def _privileges(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"{row.pop('kind')} {row.pop('name')} to {row.pop('grantee')}", row


def _default_privileges(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key = (f"for role {row.pop('role')} in {row.pop('schema')} on {row.pop('object_type')} "
           f"to {row.pop('grantee')}")
    return key, row


def _owners(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"{row.pop('kind')} {row.pop('name')}", row


def _role_settings(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    scope = "" if row.pop("scope") == "(all databases)" else " in this database"
    return f"role {row.pop('role')}{scope}: {row.pop('setting')}", row


#: kind -> (sql file stem, row -> (key, attributes)).
_BUILDERS: dict[str, tuple[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]]] = {
    "extensions": ("catalog_extensions", _default(("name",))),
    "tables": ("catalog_tables", _default(("schema", "name"), ("partition_key", "partition_bound"))),
    "columns": ("catalog_columns", _default(("schema", "relation", "name"), ("default", "generated"))),
    "constraints": ("catalog_constraints", _default(("schema", "relation", "name"), ("definition",))),
    "indexes": ("catalog_indexes", _default(("schema", "name"), ("definition",))),
    "policies": ("catalog_policies", _default(("schema", "relation", "name"), ("using_expr", "check_expr"))),
    "functions": ("catalog_functions", _functions),
    "triggers": ("catalog_triggers", _default(("schema", "relation", "name"), ("definition",))),
    "views": ("catalog_views", _default(("schema", "name"), ("definition",))),
    "sequences": ("catalog_sequences", _default(("schema", "name"))),
    "types": ("catalog_types", _default(("schema", "name"), ("default",))),
    "publications": ("catalog_publications", _default(("name",))),
    "privileges": ("catalog_privileges", _privileges),
    "default_privileges": ("catalog_default_privileges", _default_privileges),
    "ownership": ("catalog_owners", _owners),
    "role_settings": ("catalog_role_settings", _role_settings),
    "cron_jobs": ("catalog_cron_jobs", _default(("name",), ("command",))),
}


@dataclass
class Snapshot:
    """One database's normalized schema (JSON-serializable with :meth:`as_json`)."""

    source: str
    server_version_num: int
    objects: Objects = field(default_factory=dict)
    #: Extensions the server's binaries offer (pg_available_extensions): one missing on a side
    #: whose server cannot install it is "cannot compare", not drift.
    available_extensions: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The saved-snapshot document (``--snapshot-out``)."""
        return {"format": SNAPSHOT_FORMAT, "source": self.source, "server_version_num": self.server_version_num,
                "available_extensions": list(self.available_extensions), "objects": self.objects}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str) -> Snapshot:
        """Read a saved snapshot; raise ValueError on anything else."""
        if data.get("format") != SNAPSHOT_FORMAT or not isinstance(data.get("objects"), dict):
            raise ValueError(f"not a dbrunbook snapshot (format {SNAPSHOT_FORMAT})")
        return cls(source, int(data.get("server_version_num") or 0), dict(data["objects"]),
                   tuple(data.get("available_extensions") or ()))

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        """Read ``path`` written by ``--snapshot-out``."""
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls.from_json(data, f"snapshot {path.name} ({data.get('source', '?')})")

    def save(self, path: Path) -> None:
        """Write the snapshot as JSON (no secrets: names, definitions and grants only)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=1, sort_keys=True, default=str), encoding="utf-8")

    @property
    def major(self) -> int:
        """PostgreSQL major version of the database the snapshot came from."""
        return self.server_version_num // 10000


def take(conn: psycopg.Connection[dict[str, Any]], policy: SessionPolicy, source: str) -> Snapshot:
    """Read every catalog probe in one bounded, rolled-back (read-only where required) transaction."""
    from dbrunbook import session

    with session.probe_transaction(conn, policy) as tx:
        # Definitions print fully qualified names whatever the probe role's search_path is.
        tx.execute("select pg_catalog.set_config('search_path', 'pg_catalog', true)")
        version = int(tx.execute("select current_setting('server_version_num')::int as v").fetchone()["v"])  # type: ignore[index]
        schemas = list(tx.execute(resources.sql("catalog_schemas").encode()).fetchall())
        user = [s for s in schemas if not s["managed"]]
        objects: Objects = {"schemas": {s["name"]: {} for s in user}}
        params = {"schemas": [s["oid"] for s in user]}
        available = tuple(sorted(str(r["name"]) for r in tx.execute(
            resources.sql("catalog_available_extensions").encode()).fetchall()))
        has_cron = tx.execute("select pg_catalog.to_regclass('cron.job') is not null as x").fetchone()
        for kind, (stem, build) in _BUILDERS.items():
            if kind == "cron_jobs" and not (has_cron and has_cron["x"]):
                objects[kind] = {}
                continue
            rows = tx.execute(resources.sql(stem).encode(), params if "%(schemas)s" in resources.sql(stem) else None)
            fetched = rows.fetchall()
            if kind == "privileges":
                fetched = _explode_acls(fetched)
            objects[kind] = dict(build(row) for row in _jsonable(fetched))
    return Snapshot(source, version, {k: objects.get(k, {}) for k in KINDS}, available)


_SIMPLE = frozenset({str, int, float, bool, type(None)})
#: Columns of the catalog probes that hold free text (bodies, definitions, expressions, settings,
#: cron commands): the only places a key or password can appear. Names and flags cannot.
_FREE_TEXT = frozenset({"source", "sql_body", "command", "default", "generated", "definition", "using_expr",
                        "check_expr", "value", "options", "config", "partition_key", "partition_bound"})


def _plain(v: Any) -> Any:
    if type(v) in _SIMPLE:
        return v
    if isinstance(v, list | tuple):
        return [x if type(x) in _SIMPLE else str(x) for x in v]
    return str(v)


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with JSON values, free text redacted at the source.

    Bodies and cron commands often carry keys (net.http_post headers) and snapshots are written to
    disk; both sides of a diff are redacted alike. One redaction pass over all of a probe's free
    text first: when it changes nothing (the usual case), no string needs its own pass (per-string
    redaction was half of the time of a 500-table snapshot).
    """
    out = [{k: v if type(v) in _SIMPLE else _plain(v) for k, v in row.items()} for row in rows]
    columns = [k for k in (out[0] if out else ()) if k in _FREE_TEXT]
    texts = [x for row in out for k in columns for x in (row[k] if isinstance(row[k], list) else (row[k],))
             if isinstance(x, str)]
    blob = "\x00".join(texts)
    if not columns or REDACTOR.text(blob) == blob:
        return out

    def clean(v: Any) -> Any:
        if isinstance(v, list):
            return [REDACTOR.text(x) if isinstance(x, str) else x for x in v]
        return REDACTOR.text(v) if isinstance(v, str) else v
    return [{k: clean(v) if k in _FREE_TEXT else v for k, v in row.items()} for row in out]


@dataclass(frozen=True)
class DriftItem:
    """One object that differs: ``missing`` (expected, not on target), ``unexpected`` or ``changed``."""

    kind: str
    key: str
    change: str
    expected: Mapping[str, Any] | None
    actual: Mapping[str, Any] | None
    fields: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON form (display-only attributes dropped)."""
        def visible(attrs: Mapping[str, Any] | None) -> dict[str, Any] | None:
            return None if attrs is None else {k: v for k, v in attrs.items() if not k.startswith("_")}
        return {"kind": self.kind, "object": self.key, "change": self.change, "fields": list(self.fields),
                "expected": visible(self.expected), "actual": visible(self.actual)}


#: Attributes not compared when the two sides run different PostgreSQL majors: contrib
#: extensions ship different default versions per major (pg_stat_statements 1.10 on 15/16, 1.11 on 17+).
CROSS_MAJOR_IGNORED: dict[str, tuple[str, ...]] = {"extensions": ("version",)}


def not_comparable(expected: Snapshot, actual: Snapshot) -> list[str]:
    """Extensions present on one side that the other side's server cannot install at all."""
    notes = []
    for name in sorted(set(expected.objects.get("extensions", {})) ^ set(actual.objects.get("extensions", {}))):
        lacking = actual if name in expected.objects.get("extensions", {}) else expected
        if lacking.available_extensions and name not in lacking.available_extensions:
            notes.append(f"extension {name}: {lacking.source} (PostgreSQL {lacking.major}) does not ship it, "
                         "so it was not compared; objects that need it may be missing there too")
    return notes


def diff(expected: Snapshot, actual: Snapshot) -> list[DriftItem]:
    """Every object that differs, per kind, sorted by kind order then name."""
    ignored = CROSS_MAJOR_IGNORED if expected.major != actual.major else {}
    uncomparable = {n.split(":")[0].removeprefix("extension ") for n in not_comparable(expected, actual)}
    items: list[DriftItem] = []
    for kind in KINDS:
        want = expected.objects.get(kind, {})
        have = actual.objects.get(kind, {})
        skip = set(ignored.get(kind, ()))
        for key in sorted(set(want) | set(have)):
            if kind == "extensions" and key in uncomparable:
                continue
            if key not in have:
                items.append(DriftItem(kind, key, "missing", want[key], None))
            elif key not in want:
                items.append(DriftItem(kind, key, "unexpected", None, have[key]))
            elif want[key] != have[key]:  # equal dicts (the usual case) need no field-by-field walk
                fields = tuple(f for f in sorted(set(want[key]) | set(have[key]))
                               if not f.startswith("_") and f not in skip and want[key].get(f) != have[key].get(f))
                if fields:
                    items.append(DriftItem(kind, key, "changed", want[key], have[key], fields))
    return items
