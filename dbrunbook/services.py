"""Health probes of the monitored services and the Supabase API (runbook "Triage 2"), stdlib only.

:func:`get` does one bounded HTTP GET and never raises; the ``*_problems`` functions turn what came
back into runbook-shaped :class:`~dbrunbook.urls.Problem` values. Nothing here knows secrets: the
caller passes the apikey header and redacts what it prints.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from dbrunbook.urls import Problem, is_loopback

TRIAGE_2 = "Triage 2 (Checar saúde dos serviços)"
MITIGATION = "Mitigação (reiniciar serviços consumidores)"
RESTART = "docker compose -f infra/compose/docker-compose.yml restart backoffice-api agent-runtime"
DB_CHECKS = "pytest -m triage -k db --target=<target> (runbook Triage 1: psql \"$SUPABASE_DB_URL\" -c 'select 1')"
#: Read at most this much of a body: health answers are small, and a runaway body must not hang us.
MAX_BODY = 64 * 1024
_BAD_STATUS = frozenset({"degraded", "down", "unhealthy", "fail", "failed", "error", "critical"})


@dataclass(frozen=True)
class HttpResult:
    """What one GET gave: a status and body, or an error kind (refused, timeout, dns, tls, other)."""

    url: str
    status: int | None
    body: bytes
    error: str | None
    error_text: str
    elapsed_ms: float

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def where(self) -> str:
        """``host:port/path`` of the URL, without credentials or query (safe to print)."""
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}{parts.path or '/'}"


def _classify(exc: BaseException) -> tuple[str, str]:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ConnectionRefusedError):
        return "refused", "connection refused (ECONNREFUSED)"
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timeout", "no answer (timeout)"
    if isinstance(reason, socket.gaierror):
        return "dns", f"the host name does not resolve ({reason.strerror})"
    if isinstance(reason, ssl.SSLError):
        return "tls", f"TLS handshake failed ({reason.reason})"
    if isinstance(reason, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return "reset", "the connection was closed without an answer"
    return "other", f"{type(reason).__name__}: {reason}"


def get(url: str, *, timeout_s: float, headers: dict[str, str] | None = None) -> HttpResult:
    """One bounded GET (connect and every read bounded by ``timeout_s``); never raises.

    Loopback URLs bypass any HTTP proxy from the environment: a proxy would turn "refused" into a 502.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        return HttpResult(url, None, b"", "other", "not an http(s) URL", 0.0)
    # S310: only http(s) gets here (checked above), never file: or custom schemes
    request = urllib.request.Request(url, headers={"User-Agent": "dbrunbook", **(headers or {})})  # noqa: S310
    host = urlsplit(url).hostname or ""
    opener = (urllib.request.build_opener(urllib.request.ProxyHandler({})) if is_loopback(host)
              else urllib.request.build_opener())
    t0 = time.monotonic()
    try:
        with opener.open(request, timeout=timeout_s) as response:
            body = response.read(MAX_BODY)
            status = response.status
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(MAX_BODY)
        except (OSError, ValueError):
            body = b""
        return HttpResult(url, exc.code, body, None, "", (time.monotonic() - t0) * 1000)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        kind, text = _classify(exc)
        return HttpResult(url, None, b"", kind, text, (time.monotonic() - t0) * 1000)
    return HttpResult(url, status, body, None, "", (time.monotonic() - t0) * 1000)


def _failed_checks(payload: Any) -> dict[str, str]:
    """``{"checks": {"db": "failed"}}`` or ``{"checks": {"db": {"status": "failed"}}}`` -> failing names."""
    checks = payload.get("checks") if isinstance(payload, dict) else None
    failing = {}
    for name, value in (checks or {}).items() if isinstance(checks, dict) else ():
        state = value.get("status") if isinstance(value, dict) else value
        if (isinstance(state, str) and state.lower() in _BAD_STATUS) or state is False:
            failing[str(name)] = str(state)
    return failing


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:300] + ("..." if len(text) > 300 else "")


def service_problems(name: str, result: HttpResult, timeout_s: float) -> list[Problem]:
    """A service's health answer must be 2xx and must not say ``status=degraded`` (or any check failed).

    >>> r = HttpResult("http://localhost:5000/ready", 200, b'{"status":"degraded","checks":{"db":"failed"}}',
    ...                None, "", 3.0)
    >>> [p.part for p in service_problems("agent-runtime", r, 3.0)]
    ['checks.db=failed']
    """
    restart = f"restart {name} if its connection got stuck ({MITIGATION}): {RESTART}"
    if result.error == "refused":
        return [Problem(f"{result.where}: ECONNREFUSED",
                        f"{name} is not listening at {result.where} (connection refused): it is down or on "
                        "another port",
                        f"start {name} (locally: docker compose -f infra/compose/docker-compose.yml up -d {name}; "
                        f"check its logs with pytest -m logs --logs FILE); {restart}")]
    if result.error == "timeout":
        return [Problem(f"{result.where}: no answer in {timeout_s:g} s",
                        f"{name} accepted the connection but did not answer {result.where} within "
                        f"{timeout_s:g} s (http_timeout_s): it is hung or overloaded, often waiting on the "
                        "database pool",
                        f"run the database checks ({DB_CHECKS}) and the lock checks (pytest -m locks); {restart}")]
    if result.error is not None:
        return [Problem(f"{result.where}: {result.error}", f"{name} health probe failed: {result.error_text}",
                        f"check health_url for {name} in dbrunbook.toml and that the host is reachable; {restart}")]
    assert result.status is not None
    payload = result.json()
    problems = []
    failing = _failed_checks(payload)
    if "db" in failing or "database" in failing:
        key = "db" if "db" in failing else "database"
        problems.append(Problem(
            f"checks.{key}={failing.pop(key)}",
            f"{name} reports its database check failed ({result.where} answered {result.status}): the problem "
            "is the database or the service's pool, not the service itself",
            f"run the database checks first: {DB_CHECKS}; if the database answers, the pool is stuck: {restart}"))
    status = payload.get("status") if isinstance(payload, dict) else None
    if isinstance(status, str) and status.lower() in _BAD_STATUS and not problems:
        problems.append(Problem(
            f"status={status}", f"{name} says status={status} at {result.where} (failing checks: "
            f"{', '.join(f'{k}={v}' for k, v in failing.items()) or 'none listed'})",
            f"look at {name}'s logs (pytest -m logs --logs FILE) for the failing dependency; {restart}"))
    elif failing and not problems:
        problems.append(Problem(
            ", ".join(f"checks.{k}={v}" for k, v in failing.items()),
            f"{name} reports failing checks at {result.where}", f"look at {name}'s logs; {restart}"))
    if not problems and result.status >= 500:
        problems.append(Problem(
            f"{result.where}: HTTP {result.status}",
            f"{name} answered HTTP {result.status} (server error) at {result.where}; body: "
            f"{_snippet(result.body) or '(empty)'}",
            f"check {name}'s logs for the exception (pytest -m logs --logs FILE: permission denied, relation "
            f"does not exist, pool errors map to runbook steps); {restart}"))
    elif not problems and not 200 <= result.status < 300:
        problems.append(Problem(
            f"{result.where}: HTTP {result.status}",
            f"{name} answered HTTP {result.status} at {result.where}, not 2xx",
            f"check health_url for {name} in dbrunbook.toml (backoffice-api: /health on 4000, agent-runtime: "
            f"/ready on 5000); {restart}"))
    return problems


def api_headers(anon_key: str) -> dict[str, str]:
    """The gateway wants the key in ``apikey``; legacy JWT keys also go in ``Authorization``."""
    headers = {"apikey": anon_key}
    if anon_key.startswith("eyJ"):
        headers["Authorization"] = f"Bearer {anon_key}"
    return headers


def rest_probe_url(api_url: str, table: str) -> tuple[str, dict[str, str]]:
    """``GET /rest/v1/<table>?select=*&limit=1``; ``schema.table`` selects the schema (Accept-Profile).

    >>> rest_probe_url("http://127.0.0.1:54321/", "core.companies")
    ('http://127.0.0.1:54321/rest/v1/companies?select=*&limit=1', {'Accept-Profile': 'core'})
    """
    schema, _, name = table.rpartition(".")
    headers = {"Accept-Profile": schema} if schema else {}
    return f"{api_url.rstrip('/')}/rest/v1/{quote(name)}?select=*&limit=1", headers


def api_problems(what: str, result: HttpResult, key_var: str, timeout_s: float) -> list[Problem]:
    """Map the gateway's and PostgREST's answers to runbook steps (supabase-facts.md 3.2, 3.4)."""
    if result.error is not None:
        return [Problem(f"{result.where}: {result.error}",
                        f"the Supabase API did not answer {what}: {result.error_text}"
                        + (f" within {timeout_s:g} s" if result.error == "timeout" else ""),
                        "check SUPABASE_URL (pytest -m env) and, locally, that the stack runs "
                        "(npx supabase status --workdir .; npx supabase start)")]
    payload = result.json()
    body = payload if isinstance(payload, dict) else {}
    message = str(body.get("message") or body.get("msg") or "")
    code = str(body.get("code") or "")
    status = result.status or 0
    if 200 <= status < 300:
        return []
    if status == 401 and "No API key found" in message:
        return [Problem(f"{what}: 401 No API key found",
                        f"the gateway got no apikey with {what}: {key_var} is empty or not sent",
                        f"export {key_var} (Dashboard > Settings > API Keys; locally: npx supabase status)")]
    if status == 401 and "Invalid API key" in message:
        return [Problem(f"{what}: 401 Invalid API key",
                        f"the gateway rejected {key_var}: it belongs to another project or was rotated",
                        f"copy {key_var} from the same project as SUPABASE_URL (pytest -m env checks the refs)")]
    if status == 404 and code == "PGRST205":
        return [Problem(f"{what}: 404 PGRST205",
                        f"PostgREST does not know this table ({message}): it is missing, in a schema the API "
                        "does not expose, or the schema cache is stale",
                        "run pytest -m migrations (runbook Diagnóstico 3: npx supabase db push --workdir . "
                        "--local --include-roles locally); if the table exists: notify pgrst, 'reload schema'; "
                        "or fix api_probe_table in dbrunbook.toml")]
    if status in (401, 403) and code == "42501":
        return [Problem(f"{what}: {status} 42501",
                        f"the anon role has no privilege on this table ({message})",
                        "runbook Diagnóstico 4 (Erros de RLS): grants and policies on the table; pytest -m rls")]
    if status == 503 and code in ("PGRST000", "PGRST001", "PGRST002"):
        return [Problem(f"{what}: 503 {code}",
                        f"PostgREST cannot reach the database ({message})",
                        f"run the database checks: {DB_CHECKS}")]
    return [Problem(f"{what}: HTTP {status}", f"the Supabase API answered HTTP {status} to {what}: "
                    f"{_snippet(result.body) or '(empty body)'}",
                    "check the project's API logs (Dashboard > Logs) and SUPABASE_URL (pytest -m env)")]
