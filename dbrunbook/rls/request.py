"""One request exactly as PostgREST runs it (supabase-facts.md 3.1), always rolled back.

``BEGIN`` (``READ ONLY`` for GET/HEAD), then one ``select set_config(...)`` with the local timeouts,
``search_path``, ``role``, ``request.jwt.claims`` (with ``role`` inserted), ``request.method`` and
``request.path``; then the caller's statements; then ROLLBACK, whatever happened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dbrunbook import session
from dbrunbook.config import Thresholds
from dbrunbook.rls.claims import with_role

if TYPE_CHECKING:
    import psycopg

READ_METHODS = ("GET", "HEAD")
#: Supabase's ``db-extra-search-path``.
EXTRA_SEARCH_PATH = "public, extensions"

_TX_VARS = (
    "select set_config('statement_timeout', %(statement_timeout)s, true),"
    " set_config('lock_timeout', %(lock_timeout)s, true),"
    " set_config('idle_in_transaction_session_timeout', %(idle)s, true),"
    " set_config('search_path', %(search_path)s, true),"
    " set_config('role', %(role)s, true),"
    " set_config('request.jwt.claims', %(claims)s, true),"
    " set_config('request.method', %(method)s, true),"
    " set_config('request.path', %(path)s, true)"
)


@contextmanager
def as_request(conn: psycopg.Connection[Any], role: str, claims: Mapping[str, Any] | None, method: str = "GET",
               path: str = "/t", *, schema: str = "public",
               thresholds: Thresholds | None = None) -> Iterator[psycopg.Connection[Any]]:
    """Run the body inside one PostgREST-style transaction as ``role`` with ``claims``; always ROLLBACK.

    The connection must be able to ``SET ROLE`` to ``role`` (on Supabase ``postgres`` is granted the
    API roles). A read-only connection stays read-only whatever the method: writes never reach a
    read-only target.

    >>> # with as_request(conn, "authenticated", user_claims(sub), "GET", "/customers") as tx:
    >>> #     rows = tx.execute("select * from public.customers").fetchall()

    :param claims: the JWT payload; ``role`` is inserted/overwritten as PostgREST does
    :raises psycopg.errors.InsufficientPrivilege: the role switch or the body was refused (42501)
    """
    t = thresholds or Thresholds()
    if not conn.autocommit and conn.info.transaction_status != 0:  # not IDLE: end what is open first
        conn.rollback()
    was_read_only = conn.read_only
    reads = method.upper() in READ_METHODS
    seeded = session.seed_active() and not was_read_only
    conn.read_only = bool(was_read_only) or (reads and not seeded)
    try:
        if seeded:
            # The seed needs full rights and a writable transaction: run it first, then make the
            # transaction read-only as PostgREST's GET would be.
            session.run_seed(conn)
            if reads:
                conn.execute("set transaction read only")
        conn.execute(_TX_VARS, {
            "statement_timeout": f"{t.statement_timeout_ms}ms", "lock_timeout": f"{t.lock_timeout_ms}ms",
            "idle": f"{t.idle_in_transaction_session_timeout_ms}ms",
            "search_path": f"{schema}, {EXTRA_SEARCH_PATH}", "role": role,
            "claims": json.dumps(with_role(claims or {}, role), separators=(",", ":")),
            "method": method.upper(), "path": path,
        })
        yield conn
    finally:
        if not conn.closed:
            conn.rollback()
            conn.read_only = was_read_only


def request_rows(conn: psycopg.Connection[Any], role: str, claims: Mapping[str, Any] | None, query: Any,
                 params: Any = None, *, method: str = "GET", path: str = "/t",
                 thresholds: Thresholds | None = None) -> list[Any]:
    """Rows of one query run as a PostgREST request (rolled back)."""
    with as_request(conn, role, claims, method, path, thresholds=thresholds) as tx:
        cur = tx.execute(query, params)
        return list(cur.fetchall()) if cur.description else []
