"""Where the throwaway target differs from hosted Supabase, at the moment a migration is applied.

Two jobs, both in the apply path (migrations.apply_file):

* ``vector_index_options``: the pgvector stand-in (fixtures/extensions/vector--0.8.0.sql) gives
  ``hnsw``/``ivfflat`` the built-in hash index handler, whose reloptions accept only fillfactor. A
  statement ``create index ... using hnsw (...) with (m = 16, ef_construction = 64)`` is sent without
  its WITH clause, and the options are written into the index's ``pg_class.reloptions`` by an event
  trigger (fixtures/bootstrap/05_supautils.sql), so ``pg_get_indexdef`` shows them as on hosted.
  The statement recorded in the migration history stays the file's, byte for byte.
* ``hint``: when a statement fails because of the target (a stand-in's limit, an extension that a
  hosted project of another era has pre-installed, an extension the server lacks), say so and how
  to work around it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

_USING_ANN = re.compile(r"\busing\s+(hnsw|ivfflat)\s*\(", re.IGNORECASE)
_WITH = re.compile(r"\s*with\s*\(", re.IGNORECASE)
_OPTION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*'?([^',]*?)'?\s*$")

#: Extensions a hosted project of an era has pre-installed (fixtures/bootstrap/platforms/*.sql).
ERA_EXTENSIONS = {"pgsodium": ("2024",), "pg_graphql": ("2024", "2025")}
ERA_SCHEMAS = {"pgsodium": "pgsodium", "graphql": "pg_graphql", "graphql_public": "pg_graphql"}


def _close_paren(text: str, open_at: int) -> int | None:
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return None


def split_ann_options(statement: str) -> tuple[str, list[str]]:
    """(statement without the WITH (...) of an hnsw/ivfflat index, the options as ``key=value``).

    >>> split_ann_options("create index i on t using hnsw (e vector_cosine_ops) with (m = 16, ef_construction = 64)")
    ('create index i on t using hnsw (e vector_cosine_ops)', ['m=16', 'ef_construction=64'])
    >>> split_ann_options("CREATE INDEX ON t USING ivfflat (e) WITH (lists='100') WHERE x > 0")
    ('CREATE INDEX ON t USING ivfflat (e) WHERE x > 0', ['lists=100'])
    >>> split_ann_options("create index on t using btree (x) with (fillfactor = 70)")[1]
    []
    """
    match = _USING_ANN.search(statement)
    if not match:
        return statement, []
    close = _close_paren(statement, match.end() - 1)
    if close is None:
        return statement, []
    with_match = _WITH.match(statement, close + 1)
    if not with_match:
        return statement, []
    end = _close_paren(statement, with_match.end() - 1)
    if end is None:
        return statement, []
    options = []
    for part in statement[with_match.end():end].split(","):
        option = _OPTION.match(part)
        if not option:
            return statement, []
        options.append(f"{option.group(1).lower()}={option.group(2)}")
    return statement[:close + 1] + statement[end + 1:], options


def vector_is_standin(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Whether hnsw is the stand-in's hash-handler access method (not the real pgvector)."""
    row = conn.execute("select p.prosrc from pg_catalog.pg_am a join pg_catalog.pg_proc p on p.oid = a.amhandler "
                       "where a.amname = 'hnsw'").fetchone()
    return bool(row) and row[0] == "hashhandler"  # type: ignore[index]


def execute(conn: psycopg.Connection[tuple[object, ...]], statement: str) -> None:
    """Execute one migration statement, adapting hnsw/ivfflat options to the vector stand-in."""
    stripped, options = split_ann_options(statement)
    if options and vector_is_standin(conn):
        # Read by the event trigger at the end of CREATE INDEX (05_supautils.sql), then cleared.
        conn.execute("select pg_catalog.set_config('dbrunbook.index_options', %s, true)",
                     ("{" + ",".join(options) + "}",), prepare=False)
        conn.execute(stripped.encode(), prepare=False)
        conn.execute("select pg_catalog.set_config('dbrunbook.index_options', '', true)", prepare=False)
        return
    conn.execute(statement.encode(), prepare=False)


def hint(error: str, platform: str | None) -> str | None:
    """Cause and workaround when the target, not the migration, explains ``error``.

    >>> print(hint('schema "pgsodium" does not exist', "2026"))  # doctest: +NORMALIZE_WHITESPACE
    Cause: the target, not your migration: hosted projects of platform 2024 have pgsodium pre-installed
    (in schema pgsodium); this target models platform 2026. To fix this: set platform = "2024" in
    [targets.embedded] of dbrunbook.toml
    >>> hint('relation "x" does not exist', "2026") is None
    True
    """
    schema = re.search(r'schema "([^"]+)" does not exist', error)
    missing_ext = re.search(r'extension "([^"]+)" is not available|could not open extension control file '
                            r'".*/([^/"]+)\.control"', error)
    ext = ERA_SCHEMAS.get(schema.group(1)) if schema else None
    if ext is None and missing_ext:
        ext = missing_ext.group(1) or missing_ext.group(2)
    if ext in ERA_EXTENSIONS and platform not in ERA_EXTENSIONS[ext]:
        era = ERA_EXTENSIONS[ext][-1]
        where = f" (in schema {schema.group(1)})" if schema else ""
        return (f"Cause: the target, not your migration: hosted projects of platform {era} have {ext} "
                f"pre-installed{where}; this target models platform {platform}. To fix this: set "
                f'platform = "{era}" in [targets.embedded] of dbrunbook.toml')
    if missing_ext and ext:
        return (f"Cause: the target: extension {ext} is not installed on this server (the embedded target "
                f"has PostgreSQL's contrib extensions and dbrunbook stand-ins, docs/platform-eras.md). To fix "
                f"this: install it for this PostgreSQL (Debian: contrib modules come with postgresql-<major>, others "
                f"as postgresql-<major>-<name>), or pick binaries that have it (pg_major in [targets.embedded])")
    if re.search(r'unrecognized parameter "(lists|m|ef_construction|ef_search|probes)"', error) or (
            re.search(r'type "(halfvec|sparsevec)" does not exist|binary_quantize|'
                      r'operator class "(halfvec|bit|sparsevec)', error)):
        return ("Cause: the target: pgvector here is dbrunbook's SQL stand-in (no ANN search, no halfvec/"
                "sparsevec/bit). To fix this: run with pg_major = 16 (binaries that ship the real pgvector: "
                "pip install 'dbrunbook[pgserver]') or install pgvector for this server")
    if re.search(r'permission denied to create extension "([^"]+)"', error):
        return ("Cause: the target: hosted Supabase lets postgres create only the extensions of "
                "supautils.privileged_extensions (and trusted ones); this one is not among them there either")
    return None
