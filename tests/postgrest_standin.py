"""A stand-in for the Supabase gateway + PostgREST in front of a REAL Postgres (reads only).

Neither Kong nor PostgREST is installable here (not in Debian or PyPI), so this replaces only the HTTP
layer we do not own; every read runs in the real database exactly as PostgREST runs it
(supabase-facts.md 3.1-3.4): the gateway's ``apikey`` rules and error bodies, HS256 verification with
the JWT secret, ``Accept-Profile`` schemas, then one READ ONLY transaction with ``role`` and
``request.jwt.claims`` set locally (``dbrunbook.rls.request.as_request``) and PostgREST's
``json_agg`` query with ``Prefer: count=exact``; ``42501`` maps to 401 for anon and 403 otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from psycopg import errors, sql
from standins import serve

from dbrunbook.rls.request import as_request

ANON_ROLE = "anon"
CLOCK_SKEW_S = 30
NO_KEY = {"message": "No API key found in request", "hint": "No `apikey` request header or url param was found."}
BAD_KEY = {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _pgrst(code: str, message: str, details: Any = None, hint: Any = None) -> dict[str, Any]:
    return {"code": code, "details": details, "hint": hint, "message": message}


def verify(token: str, secret: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """PostgREST's HS256 checks: (claims, None) or (None, PGRST301/303 error body)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None, _pgrst("PGRST301", f"Expected 3 parts in JWT; got {len(parts)}")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except ValueError:
        return None, _pgrst("PGRST301", "JWT cryptographic operation failed")
    if header.get("alg") != "HS256":
        return None, _pgrst("PGRST301", "No suitable key or wrong key type")
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        return None, _pgrst("PGRST301", "No suitable key or wrong key type")
    if isinstance(claims.get("exp"), int | float) and claims["exp"] < time.time() - CLOCK_SKEW_S:
        return None, _pgrst("PGRST303", "JWT expired")
    return claims, None


@dataclass
class Gateway:
    """What the stand-in accepts and what it saw (one line per request: role, method, path, status)."""

    dsn: str
    jwt_secret: str
    api_keys: frozenset[str]
    schemas: tuple[str, ...] = ("public",)
    seen: list[tuple[str, str, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _conn: psycopg.Connection[Any] | None = None

    def connection(self) -> psycopg.Connection[Any]:
        # One connection, requests serialized: PostgREST's pool of 1 (the probe sends one request at a time).
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, connect_timeout=5, application_name="postgrest_standin")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def answer(self, method: str, url: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, extra headers) for one request, as gateway + PostgREST answer it."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        apikey = headers.get("apikey") or (query.get("apikey") or [""])[0]
        if not apikey:
            return 401, NO_KEY, {}
        if apikey not in self.api_keys:
            return 401, BAD_KEY, {}
        if not parts.path.startswith("/rest/v1/"):
            return 404, {"message": "no Route matched with those values"}, {}
        # The gateway keeps the caller's Authorization, else forwards the (legacy JWT) apikey as the bearer.
        auth = headers.get("authorization") or f"Bearer {apikey}"
        token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else ""
        claims, error = verify(token, self.jwt_secret)
        if error is not None:
            return 401, error, {"WWW-Authenticate": f'Bearer error="invalid_token", '
                                                    f'error_description="{error["message"]}"'}
        assert claims is not None
        role = str(claims.get("role") or ANON_ROLE)
        schema = headers.get("accept-profile") or self.schemas[0]
        if schema not in self.schemas:
            return 406, _pgrst("PGRST106", f"Invalid schema: {schema}",
                               hint=f"Only the following schemas are exposed: {', '.join(self.schemas)}"), {}
        table = unquote(parts.path[len("/rest/v1/"):])
        if method != "GET":
            return 405, _pgrst("PGRST000", "the stand-in serves reads only"), {}
        select = (query.get("select") or ["*"])[0]
        limit = int((query.get("limit") or ["1000"])[0])
        unknown = set(query) - {"select", "limit", "apikey"}
        if unknown:
            return 400, _pgrst("PGRST100", f"the stand-in does not implement {sorted(unknown)}"), {}
        with self.lock:
            return self._read(role, claims, schema, table, select, limit,
                              "count=exact" in headers.get("prefer", ""))

    def _read(self, role: str, claims: dict[str, Any], schema: str, table: str, select: str, limit: int,
              count: bool) -> tuple[int, Any, dict[str, str]]:
        conn = self.connection()
        exists = conn.execute("select to_regclass(format('%%I.%%I', %s::text, %s::text)) is not null",
                              (schema, table)).fetchone()
        conn.rollback()
        if not exists or not exists[0]:
            return 404, _pgrst("PGRST205", f"Could not find the table '{schema}.{table}' in the schema cache"), {}
        ident = sql.Identifier(schema, table)
        cols = sql.SQL("*") if select == "*" else sql.SQL(", ").join(
            sql.Identifier(c.strip()) for c in select.split(","))
        # PostgREST's read query (Query/Statements.hs): the page as json_agg, the exact count beside it.
        stmt = sql.SQL(
            "with pgrst_source as (select {cols} from {t} limit {lim}) "
            "select {total} as total, pg_catalog.count(_postgrest_t) as page, "
            "coalesce(json_agg(_postgrest_t), '[]')::text as body from (select * from pgrst_source) _postgrest_t"
        ).format(cols=cols, t=ident, lim=sql.Literal(limit),
                 total=sql.SQL("(select pg_catalog.count(*) from {})").format(ident) if count else sql.SQL("null"))
        try:
            with as_request(conn, role, claims, "GET", f"/{table}", schema=schema) as tx:
                row = tx.execute(stmt).fetchone()
        except errors.InsufficientPrivilege as exc:
            status = 401 if role == ANON_ROLE else 403
            extra = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
            return status, _pgrst("42501", str(exc).splitlines()[0]), extra
        except errors.Error as exc:
            return 400, _pgrst(exc.sqlstate or "XX000", str(exc).splitlines()[0]), {}
        assert row is not None
        total, page, body = row
        span = f"0-{page - 1}" if page else "*"
        return 200, json.loads(body), {"Content-Range": f"{span}/{total if total is not None else '*'}"}


class _Handler(BaseHTTPRequestHandler):
    gateway: Gateway

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = self.gateway.answer("GET", self.path, headers)
        token = headers.get("authorization", "")
        claims, _ = verify(token[7:], self.gateway.jwt_secret) if token else (None, None)
        self.gateway.seen.append((str((claims or {}).get("role", "?")), "GET", self.path.split("?")[0], status))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def postgrest_standin(gateway: Gateway) -> Iterator[str]:
    """Serve ``gateway`` on 127.0.0.1 (free port); yields the project URL (``http://127.0.0.1:<port>``)."""
    try:
        with serve(type("Handler", (_Handler,), {"gateway": gateway})) as url:
            yield url
    finally:
        gateway.close()
