"""The read matrix through the Data API: supabase-py with minted tokens, judged by the same DB oracle.

Reads only. PostgREST commits every write unless the project allows ``Prefer: tx=rollback``
(``db-tx-end``), which hosted Supabase does not; a write probe over HTTP would change real rows, so
the write verdicts stay with the DB matrix (``as_request`` in a rolled-back transaction).

Each identity reads a table the way an app does: ``apikey`` = the anon key, ``Authorization`` = the
anon key for ``anon`` and an HS256 token minted with the project's JWT secret for everyone else.
What comes back is compared with the oracle over the DB connection: more rows = leak, fewer =
blocking (both P0); 401/403 ``42501`` count as zero rows (supabase-facts.md 3.4). Gateway and JWT
rejections are configuration errors (P1), never verdicts about RLS.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import sql

from dbrunbook.redact import REDACTOR
from dbrunbook.rls.claims import TOKEN_LIFETIME_S, Claims, with_role
from dbrunbook.rls.contract import Identity
from dbrunbook.rls.matrix import CAP, SAMPLE, Outcome, Probe, capped_count

if TYPE_CHECKING:
    import httpx

    from dbrunbook.config import TargetSpec
    from dbrunbook.targets import Target

INSTALL_HINT = "pip install 'dbrunbook[http]' (supabase>=2.20)"
#: SQLSTATE / PostgREST codes that mean "the API refused the token", not "RLS hid the rows".
JWT_CODES = ("PGRST300", "PGRST301", "PGRST302", "PGRST303")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint(claims: Claims, secret: str) -> str:
    """An HS256 JWT over ``claims`` signed with ``secret``; registered with the redactor before it exists anywhere.

    >>> token = mint({"role": "anon"}, "super-secret-jwt-token-with-at-least-32-characters-long")
    >>> token.count("."), token.startswith("eyJ")
    (2, True)
    """
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":"), default=str).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = _b64(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())
    token = f"{header}.{payload}.{signature}"
    REDACTOR.add(token)
    return token


def token_claims(identity: Identity, *, now: int | None = None) -> Claims:
    """The identity's claims as a fresh token carries them: ``role`` set, ``iat``/``exp`` restamped.

    Contracts are parsed at collection; restamping keeps a long run's tokens inside PostgREST's
    ``exp`` check (the forged-claims property is where stale ``exp`` is tested).
    """
    issued = int(time.time()) if now is None else now
    claims = with_role(identity.claims, identity.role)
    claims["iat"] = issued
    claims["exp"] = issued + TOKEN_LIFETIME_S
    return claims


def missing_client() -> str | None:
    """Why the HTTP matrix cannot run on this machine (supabase-py absent), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import supabase  # noqa: F401
    except ImportError:
        return f"supabase-py is not installed: {INSTALL_HINT}"
    return None


def may_have_api(spec: TargetSpec) -> bool:
    """Whether a target built from ``spec`` can have a Data API URL (collection time: no Target yet).

    Only url targets get one (targets/url.py: ``api_url_env`` from the environment, else ``api_url``);
    embedded, container and cluster targets never do. The keys are not looked at: a target with a URL
    but no key gets its cells, each skipping with what to export.
    """
    if spec.kind != "url":
        return False
    return bool((os.environ.get(spec.api_url_env) if spec.api_url_env else None) or spec.api_url)


def missing_config(target: Target) -> str | None:
    """Why ``target`` has no Data API to probe (URL, anon key or JWT secret unset), or None."""
    spec = target.spec
    needs = [(target.api_url, spec.api_url_env, "api_url_env", "SUPABASE_URL"),
             (target.anon_key, spec.anon_key_env, "anon_key_env", "SUPABASE_ANON_KEY"),
             (target.jwt_secret, spec.jwt_secret_env, "jwt_secret_env", "SUPABASE_JWT_SECRET")]
    unset = [f"export {env}" if env else f'{key} = "{default}" under [targets.{target.name}]'
             for value, env, key, default in needs if not value]
    if not unset:
        return None
    return (f"target {target.name} has no Data API configured for the HTTP RLS matrix ({'; '.join(unset)}); "
            "the DB matrix (rls.read_isolation) covers the same verdicts")


@dataclass
class Answer:
    """One HTTP read: rows and total count on success, else the error as supabase-py raised it."""

    status: int | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    count: int | None = None
    code: str = ""
    message: str = ""
    network_error: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer with a body."""
        return self.network_error is None and self.status is not None and 200 <= self.status < 300

    @property
    def shown(self) -> str:
        """``HTTP 403 42501 permission denied for table x``, for messages."""
        if self.network_error:
            return self.network_error
        return " ".join(p for p in (f"HTTP {self.status}", self.code, self.message) if p)


@dataclass(frozen=True)
class ConfigProblem:
    """The API refused us before RLS was reached: what, and what to do (P1)."""

    title: str
    fix: str


class Api:
    """supabase-py clients for one target: one per identity, sharing one bounded httpx client."""

    def __init__(self, target: Target) -> None:
        import httpx

        assert target.api_url and target.anon_key and target.jwt_secret
        REDACTOR.add(target.anon_key, target.jwt_secret)
        self.target = target
        self.url = target.api_url.rstrip("/")
        self._anon_key = target.anon_key
        self._secret = target.jwt_secret
        self.timeout_s = target.spec.thresholds.http_timeout_s
        self._last_status: int | None = None
        self._http = httpx.Client(timeout=self.timeout_s, event_hooks={"response": [self._remember]})
        self._clients: dict[str, Any] = {}

    def _remember(self, response: httpx.Response) -> None:
        # supabase-py's APIError carries no HTTP status; the hook keeps it for 401-vs-403 and messages.
        self._last_status = response.status_code

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def client(self, identity: Identity) -> Any:
        """A supabase-py client that sends ``identity``'s token (the anon key itself for ``anon``)."""
        if identity.name not in self._clients:
            headers: dict[str, str] = {}
            if identity.role != "anon":
                headers["Authorization"] = f"Bearer {mint(token_claims(identity), self._secret)}"
            with warnings.catch_warnings():
                # supabase-py deprecates options between minor versions; the run turns warnings into errors.
                warnings.simplefilter("ignore", DeprecationWarning)
                from supabase import ClientOptions, create_client

                # Our bounded httpx client, and no retries (one bounded wait per probe); older
                # supabase-py releases lack some of these options.
                wanted: dict[str, Any] = {
                    "headers": headers, "auto_refresh_token": False, "persist_session": False,
                    "httpx_client": self._http, "postgrest_client_timeout": self.timeout_s,
                    "postgrest_client_retry": False}
                known = {f.name for f in dataclasses.fields(ClientOptions)}
                options = ClientOptions(**{k: v for k, v in wanted.items() if k in known})
                self._clients[identity.name] = create_client(self.url, self._anon_key, options=options)
        return self._clients[identity.name]

    def read(self, identity: Identity, schema: str, table: str, columns: str) -> Answer:
        """``GET /rest/v1/<table>?select=<columns>&limit=CAP+1``: the count stops at the cap.

        No ``Prefer: count=exact``: that makes PostgREST count the whole table, which a probe of a
        production-sized table must not.
        """
        import httpx
        from postgrest import APIError

        self._last_status = None
        client = self.client(identity)
        builder = client.schema(schema) if schema != "public" else client
        try:
            response = builder.table(table).select(columns).limit(CAP + 1).execute()
        except APIError as exc:
            # Gateway bodies lack PostgREST's keys; older supabase-py then puts the raw body in ``details``.
            text = " ".join(str(p) for p in (exc.message, exc.details) if p)
            return Answer(self._last_status, code=str(exc.code or ""), message=text)
        except httpx.HTTPError as exc:
            return Answer(None, network_error=f"{type(exc).__name__}: {exc}")
        rows = [r for r in response.data if isinstance(r, dict)]
        return Answer(self._last_status, rows=rows, count=len(rows))

    def config_problem(self, answer: Answer, identity: Identity) -> ConfigProblem | None:
        """Gateway, JWT and network failures: the request never reached RLS (supabase-facts.md 3.2)."""
        spec = self.target.spec
        key_var = spec.anon_key_env or "SUPABASE_ANON_KEY"
        url_var = spec.api_url_env or "api_url"
        secret_var = spec.jwt_secret_env or "SUPABASE_JWT_SECRET"
        if answer.network_error:
            return ConfigProblem(f"the Data API at {self.url} did not answer ({answer.network_error}, "
                                 f"timeout {self.timeout_s:g} s)",
                                 f"check {url_var} (pytest -m env) and that the API is up "
                                 "(pytest -m health; locally: npx supabase status)")
        if "No API key found" in answer.message:
            return ConfigProblem(f"HTTP {answer.status} No API key found: the gateway got no apikey",
                                 f"export {key_var} (Dashboard > Project Settings > API Keys; locally: "
                                 "npx supabase status -o env)")
        if "Invalid API key" in answer.message:
            return ConfigProblem(f"HTTP {answer.status} Invalid API key: the gateway rejected {key_var}",
                                 f"copy {key_var} from the same project as {url_var} (Dashboard > Project "
                                 "Settings > API Keys; locally: npx supabase status -o env); "
                                 "pytest -m env compares the project refs")
        if answer.code in JWT_CODES or (answer.status == 401 and "JWT" in answer.message):
            return ConfigProblem(f"{answer.shown}: the API rejected a token for {identity.name} minted with "
                                 f"{secret_var}",
                                 f"{secret_var} must be the JWT secret of the same project as {url_var} "
                                 "(Dashboard > Project Settings > JWT Keys > Legacy JWT Secret; locally: "
                                 "npx supabase status -o env); on projects that revoked the legacy secret "
                                 "this HTTP matrix cannot mint tokens: rely on rls.read_isolation")
        return None


@dataclass
class HttpOutcome(Outcome):
    """A matrix outcome plus the P1 configuration problem that stopped the probe, if any."""

    config: ConfigProblem | None = None


def key_columns(p: Probe) -> str:
    """What to ``select=``: the columns of the row key (primary key + tenant column), ``*`` for views."""
    cols = [c.name for c in p.columns if c.primary_key]
    if p.table.tenant_column and cols and p.table.tenant_column not in cols:
        cols.append(p.table.tenant_column)
    if not cols or p.table.is_view:
        return "*"
    return ",".join(cols)


def _keys(p: Probe, rows: list[dict[str, Any]]) -> list[str]:
    """Row keys of HTTP rows, built by the database from the table's row type (same text as the DB matrix)."""
    if not rows:
        return []
    query = sql.SQL("select {} as k from jsonb_populate_recordset(null::{}, %(rows)s::jsonb) t").format(
        p.key(), p.ident)
    return [r["k"] for r in p.full(query, {"rows": json.dumps(rows)})]


def _leaked(p: Probe, pred: sql.Composable, params: dict[str, Any], rows: list[dict[str, Any]],
            visible: list[str]) -> list[str]:
    """Rows the API returned that the oracle denies; found by primary key (an index), not by a scan."""
    pk = [c.name for c in p.columns if c.primary_key]
    if pk and not p.table.is_view:
        query = sql.SQL("select {key} as k from {t} t where ({tcols}) in (select {cols} from "
                        "jsonb_populate_recordset(null::{t}, %(rows)s::jsonb)) and not ({pred})").format(
            key=p.key(), t=p.ident, pred=pred, cols=sql.SQL(", ").join(sql.Identifier(c) for c in pk),
            tcols=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in pk))
        return [r["k"] for r in p.full(query, {**params, "rows": json.dumps(rows, default=str)})]
    return [r["k"] for r in p.full(sql.SQL("select {} as k from {} t where {} = any(%(keys)s) and not {}")
                                   .format(p.key(), p.ident, p.key(), pred), {**params, "keys": visible})]


def probe_select(p: Probe, identity: Identity, api: Api) -> HttpOutcome:
    """Reads through the Data API return exactly the oracle's rows: more is a leak, fewer is blocking."""
    out = HttpOutcome(p.table.name, identity.name, "select")
    pred, params = p.oracle(identity)
    if p.table.verdict(identity, "select") == "deny":
        pred, params = sql.SQL("false"), {}
    expected = p.full(capped_count(p.ident, pred), params)[0]["n"]
    answer = api.read(identity, p.table.schema, p.table.relname, key_columns(p))
    out.evidence = {"request": f"GET /rest/v1/{p.table.relname}?select={key_columns(p)}&limit={CAP + 1}"
                               + (f" (Accept-Profile: {p.table.schema})" if p.table.schema != "public" else ""),
                    "status": answer.status, "code": answer.code or None, "message": answer.message or None,
                    "expected_rows": expected, "visible_rows": answer.count if answer.ok else 0}
    out.config = api.config_problem(answer, identity)
    if out.config:
        return out
    # PostgREST's mapping (supabase-facts.md 3.4): 401/403 42501 and any other refusal mean zero rows.
    count = (answer.count or 0) if answer.ok else 0
    visible = _keys(p, answer.rows) if answer.ok else []
    leaked = _leaked(p, pred, params, answer.rows, visible) if visible else []
    who = f"{identity.name} ({identity.role}) via the Data API"
    if leaked or count > expected:
        out.problem, out.rows = "leak", leaked[:SAMPLE]
        out.summary = (f"{who} reads {count} rows of {p.table.name}, {max(len(leaked), count - expected)} of them "
                       f"not its own (oracle allows {expected})")
    elif count < expected:
        out.problem = "blocking"
        out.summary = (f"{who} reads {count} of the {expected} rows of {p.table.name} it should see"
                       + ("" if answer.ok else f" ({answer.shown})"))
        if len(visible) == count:
            out.rows = [r["k"] for r in p.full(sql.SQL(
                "select {} as k from {} t where {} and not ({} = any(%(keys)s)) limit {}").format(
                p.key(), p.ident, pred, p.key(), sql.Literal(SAMPLE)), {**params, "keys": visible})]
    return out
