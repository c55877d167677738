"""Pure analysis of DB URLs, API URLs and API keys (runbook "Diagnóstico 1"): no I/O, no DNS.

Every rule returns :class:`Problem` values that name the offending *part* of a URL (scheme, host,
port, sslmode, a JWT claim), never the URL itself, so a password or key can never leak through here.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

#: Local Supabase CLI stack ports (supabase-facts.md 5.1).
LOCAL_DB_PORT = 54322
LOCAL_API_PORT = 54321
#: Hosted Postgres ports: direct / session pooler 5432, transaction pooler 6543 (supabase-facts.md 5.2).
REMOTE_DB_PORTS = (5432, 6543)
#: Ports where an HTTP API answers, never Postgres: gateway, Kong in compose, PostgREST, plain web.
API_PORTS = frozenset({LOCAL_API_PORT, 80, 443, 8000, 8443, 3000})
#: sslmode values that allow a plaintext connection.
WEAK_SSLMODES = frozenset({"disable", "allow", "prefer"})
#: Service names of the Supabase compose networks (CLI and self-host): they resolve only inside Docker.
DOCKER_HOSTS = frozenset({"db", "kong", "supabase-db", "supabase-kong", "rest", "auth", "meta", "studio",
                          "supavisor", "pooler", "realtime", "storage", "host.docker.internal"})
DOCKER_HOST_PREFIXES = ("supabase_db_", "supabase_kong_", "supabase_rest_", "supabase_auth_", "supabase_pooler_")

_HOSTED_DB = re.compile(r"^db\.(?P<ref>[a-z0-9]{20})\.supabase\.co$")
_HOSTED_API = re.compile(r"^(?P<ref>[a-z0-9]{20})\.supabase\.co$")
_POOLER = re.compile(r"\.pooler\.supabase\.com$")
_REF = re.compile(r"^[a-z0-9]{20}$")


@dataclass(frozen=True)
class Problem:
    """One broken rule: the offending part (safe to print), why it is wrong, and what to do."""

    part: str
    why: str
    fix: str


@dataclass(frozen=True)
class UrlParts:
    """The parts of a URL the rules look at; ``password``-free by construction."""

    scheme: str
    host: str
    port: int | None
    user: str
    params: dict[str, str]

    @property
    def hostport(self) -> str:
        """``host:port`` (port omitted when the URL has none)."""
        return f"{self.host}:{self.port}" if self.port else self.host


def parse(url: str) -> UrlParts:
    """Split a URL (or a libpq ``key=value`` conninfo string) into the parts the rules need.

    >>> p = parse("postgresql://postgres.abcdefghijklmnopqrst:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres")
    >>> (p.scheme, p.host, p.port, p.user)
    ('postgresql', 'aws-0-eu-west-1.pooler.supabase.com', 6543, 'postgres.abcdefghijklmnopqrst')
    >>> parse("host=127.0.0.1 port=54322 user=postgres sslmode=disable").params
    {'sslmode': 'disable'}

    :raises ValueError: the text is neither a URL nor a conninfo string (message names no secret)
    """
    text = url.strip()
    if "://" not in text:
        if "=" not in text:
            raise ValueError("not a URL (expected scheme://...) nor a key=value conninfo string")
        pairs = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", text))
        values = {k: v.strip("'") for k, v in pairs.items()}
        port = values.pop("port", None)
        if port is not None and not port.isdigit():
            raise ValueError("the port is not a number")
        return UrlParts("postgresql", values.pop("host", ""), int(port) if port else None,
                        values.pop("user", ""),
                        {k: v for k, v in values.items() if k not in ("password", "dbname")})
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("the host or port cannot be parsed (a password with unescaped @ : / or #?)") from None
    host = parts.hostname or ""
    params = {k: v for k, v in parse_qsl(parts.query) if k not in ("password", "apikey")}
    # libpq reads a host given as a query parameter too (postgresql:///db?host=/var/run/postgresql)
    host = host or params.pop("host", "")
    return UrlParts(parts.scheme.lower(), host.lower(), port, unquote(parts.username or ""), params)


def address(url: str, default_port: int = 5432) -> tuple[str, int] | None:
    """Host and port a DB URL or conninfo string points at (libpq's defaults filled in); None if unparsable.

    The one place that reads them: targets, pools and pooler hints all ask here.

    >>> address("postgresql://u:pw@DB.example.com:6543/postgres"), address("host=127.0.0.1 dbname=x")
    (('db.example.com', 6543), ('127.0.0.1', 5432))
    >>> address("postgresql://u:p@ss@host/db") is None
    True
    """
    if unparsable_reason(url):  # a host read from it could be a piece of the password
        return None
    try:
        parts = parse(url)
    except ValueError:
        return None
    return parts.host or "localhost", parts.port or default_port


def is_loopback(host: str) -> bool:
    """Loopback or a Unix socket directory: traffic that never leaves the machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("db.abc.supabase.co")
    (True, True, False)
    """
    if not host or host.startswith("/") or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_docker_internal(host: str) -> bool:
    """A host name that only resolves inside a Docker network (``db``, ``kong``, ``supabase_db_<id>``).

    >>> is_docker_internal("db"), is_docker_internal("supabase_db_myproj"), is_docker_internal("127.0.0.1")
    (True, True, False)
    """
    return host in DOCKER_HOSTS or host.startswith(DOCKER_HOST_PREFIXES)


def _is_hosted(host: str) -> bool:
    return host.endswith(".supabase.co") or bool(_POOLER.search(host))


def db_url_problems(url: str, var: str) -> list[Problem]:
    """The DB URL must be a Postgres URL, not the API gateway.

    >>> [p.part for p in db_url_problems("http://127.0.0.1:54321", "SUPABASE_DB_URL")]
    ["scheme 'http'", 'port 54321']
    >>> db_url_problems("postgresql://postgres:pw@127.0.0.1:54322/postgres", "SUPABASE_DB_URL")
    []
    """
    try:
        p = parse(url)
    except ValueError as exc:
        return [Problem("the whole value", f"{var} cannot be parsed: {exc}",
                        f"export {var}=postgresql://<user>@<host>:5432/postgres with :<password> after the "
                        "user (percent-encode special characters in the password)")]
    problems = []
    if p.scheme not in ("postgres", "postgresql"):
        gateway = p.scheme in ("http", "https")
        problems.append(Problem(
            f"scheme {p.scheme!r}",
            f"{var} is {'an HTTP URL (the API gateway, SUPABASE_URL?)' if gateway else 'not a Postgres URL'}; "
            "it must start with postgresql:// or postgres://",
            f"export {var}=postgresql://...@127.0.0.1:{LOCAL_DB_PORT}/postgres locally (`npx supabase status`: "
            "DB URL), or the connection string from Dashboard > Connect; SUPABASE_URL is the one that takes "
            "the http(s) URL"))
    if p.port in API_PORTS:
        problems.append(Problem(
            f"port {p.port}",
            f"{var} points at port {p.port}, where an HTTP API answers "
            f"({'the local API gateway' if p.port == LOCAL_API_PORT else 'not Postgres'})",
            f"use port {LOCAL_DB_PORT} for the local stack (`npx supabase status` prints DB URL), "
            "5432 (direct or session pooler) or 6543 (transaction pooler) for hosted projects"))
    elif _is_hosted(p.host) and p.port not in (*REMOTE_DB_PORTS, None):
        problems.append(Problem(
            f"port {p.port} on {p.host}",
            f"{var} uses port {p.port} on a hosted Supabase host; hosted Postgres listens on 5432 or 6543 "
            f"({LOCAL_DB_PORT} is the local CLI stack's port)",
            "copy the connection string from Dashboard > Connect (5432 session / 6543 transaction pooler)"))
    return problems


def api_url_problems(url: str, var: str) -> list[Problem]:
    """``SUPABASE_URL`` must be the HTTP(S) API gateway, not a Postgres URL.

    >>> [p.part for p in api_url_problems("postgresql://postgres:pw@127.0.0.1:54322/postgres", "SUPABASE_URL")]
    ["scheme 'postgresql'", 'port 54322']
    >>> api_url_problems("https://abcdefghijklmnopqrst.supabase.co", "SUPABASE_URL")
    []
    """
    try:
        p = parse(url)
    except ValueError as exc:
        return [Problem("the whole value", f"{var} cannot be parsed: {exc}",
                        f"export {var}=http://127.0.0.1:{LOCAL_API_PORT} locally or https://<ref>.supabase.co")]
    problems = []
    fix = (f"export {var}=http://127.0.0.1:{LOCAL_API_PORT} for the local stack (`npx supabase status`: API URL) "
           "or https://<ref>.supabase.co (Dashboard > Settings > API); the postgresql:// URL belongs in "
           "SUPABASE_DB_URL")
    if p.scheme not in ("http", "https"):
        problems.append(Problem(f"scheme {p.scheme!r}",
                                f"{var} is not an http(s) URL: it must point at the API gateway", fix))
    if p.port in (LOCAL_DB_PORT, *REMOTE_DB_PORTS):
        problems.append(Problem(f"port {p.port}", f"{var} points at port {p.port}, a Postgres port", fix))
    if _HOSTED_DB.match(p.host) or _POOLER.search(p.host):
        problems.append(Problem(f"host {p.host}", f"{var} names a database host, not the API gateway", fix))
    return problems


def db_ref(url: str) -> str | None:
    """The project ref a DB URL names: host ``db.<ref>.supabase.co`` or pooler user ``postgres.<ref>``.

    >>> db_ref("postgresql://postgres:pw@db.abcdefghijklmnopqrst.supabase.co:5432/postgres")
    'abcdefghijklmnopqrst'
    >>> db_ref("postgresql://postgres.abcdefghijklmnopqrst:pw@aws-0-us-east-1.pooler.supabase.com:6543/postgres")
    'abcdefghijklmnopqrst'
    >>> db_ref("postgresql://postgres:postgres@127.0.0.1:54322/postgres") is None
    True
    """
    try:
        p = parse(url)
    except ValueError:
        return None
    if m := _HOSTED_DB.match(p.host):
        return m["ref"]
    # Supavisor takes the tenant from the part after the first dot of the user, or options=reference=<ref>
    if "." in p.user and _REF.match(p.user.split(".", 1)[1]):
        return p.user.split(".", 1)[1]
    options = p.params.get("options", "")
    if m := re.search(r"reference=([a-z0-9]{20})", unquote(options)):
        return m[1]
    return None


def api_ref(url: str) -> str | None:
    """The project ref of ``https://<ref>.supabase.co``.

    >>> api_ref("https://abcdefghijklmnopqrst.supabase.co"), api_ref("http://127.0.0.1:54321")
    ('abcdefghijklmnopqrst', None)
    """
    try:
        m = _HOSTED_API.match(parse(url).host)
    except ValueError:
        return None
    return m["ref"] if m else None


def docker_host_problems(url: str, var: str) -> list[Problem]:
    """Docker-internal service names used from the host (supabase/cli#4326, supabase#36606).

    >>> [p.part for p in docker_host_problems("http://kong:8000", "SUPABASE_URL")]
    ['host kong:8000']
    """
    try:
        p = parse(url)
    except ValueError:
        return []
    if not is_docker_internal(p.host):
        return []
    local = f"http://127.0.0.1:{LOCAL_API_PORT}" if p.scheme.startswith("http") else \
        f"postgresql://...@127.0.0.1:{LOCAL_DB_PORT}/postgres"
    return [Problem(f"host {p.hostport}",
                    f"{var} uses {p.host!r}, a name that resolves only inside the Docker network of the "
                    "stack; from the host (or CI) it fails with a DNS error or ECONNREFUSED",
                    f"from the host use {local} (`npx supabase status`); keep {p.hostport} only inside "
                    "containers (set in_docker_network = true for this target if dbrunbook runs there)")]


def tls_problems(url: str, var: str) -> list[Problem]:
    """Remote hosts need TLS: ``sslmode=require`` (or verify-ca/verify-full) and ``https``.

    >>> [p.part for p in tls_problems("postgresql://u:pw@db.example.com:5432/postgres", "DATABASE_URL")]
    ['sslmode (missing) on db.example.com']
    >>> tls_problems("postgresql://u:pw@db.example.com/postgres?sslmode=verify-full", "DATABASE_URL")
    []
    """
    try:
        p = parse(url)
    except ValueError:
        return []
    if is_loopback(p.host) or is_docker_internal(p.host):
        return []
    if p.scheme in ("http", "https"):
        if p.scheme == "http":
            return [Problem(f"scheme 'http' on {p.host}",
                            f"{var} sends the API keys in clear text to a remote host",
                            f"use https://{p.hostport}")]
        return []
    mode = p.params.get("sslmode")
    if mode is None or mode in WEAK_SSLMODES:
        return [Problem(f"sslmode ({mode or 'missing'}) on {p.host}",
                        f"{var} allows a plaintext connection to a remote host "
                        f"(sslmode={mode or 'prefer, the default'} falls back to no TLS)",
                        f"append ?sslmode=require (or verify-full with the Supabase CA) to {var}")]
    return []


def jwt_claims(token: str) -> dict[str, object] | None:
    """The payload of a JWT, decoded without verifying the signature (None if not a JWT).

    >>> jwt_claims("eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.sig")
    {'role': 'anon'}
    """
    parts = token.strip().split(".")
    if len(parts) != 3:
        return None
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def anon_key_problems(anon_key: str, var: str, service_role_key: str | None = None) -> list[Problem]:
    """The public (anon/publishable) key must not be a service_role/secret key: those bypass RLS.

    >>> [p.part for p in anon_key_problems("sb_secret_xyz", "SUPABASE_ANON_KEY")]
    ["prefix 'sb_secret_'"]
    """
    fix = (f"put the anon (legacy JWT with role=anon) or publishable key (sb_publishable_...) in {var}, "
           "from Dashboard > Settings > API Keys; rotate the secret/service_role key if it reached a client")
    if anon_key.startswith("sb_secret_"):
        return [Problem("prefix 'sb_secret_'", f"{var} holds a secret key: it bypasses RLS for every tenant",
                        fix)]
    if service_role_key and anon_key == service_role_key:
        return [Problem("the whole value", f"{var} equals the service_role key: it bypasses RLS for every tenant",
                        fix)]
    claims = jwt_claims(anon_key)
    if claims is not None and claims.get("role") not in ("anon", None):
        role = str(claims.get("role"))[:40]
        return [Problem(f"JWT role claim {role!r}",
                        f"{var} is a JWT for role {role!r}, not 'anon'"
                        + (": it bypasses RLS for every tenant" if role == "service_role" else ""), fix)]
    return []


def key_ref(key: str) -> str | None:
    """The ``ref`` claim of a legacy Supabase JWT key (anon/service_role), if it carries one."""
    claims = jwt_claims(key)
    ref = claims.get("ref") if claims else None
    return ref if isinstance(ref, str) else None


_CONNINFO_PASSWORD = re.compile(r"(?:^|\s)password\s*=", re.IGNORECASE)


def has_password(url: str) -> bool:
    """A password written into a DB URL, in any form libpq reads one.

    >>> [has_password(u) for u in ("postgresql://u:pw@h/db", "postgresql://u@h/db?sslmode=require&password=pw",
    ...                            "host=h user=u password='p w'", "postgresql://u@h/db", "host=h passfile=/x")]
    [True, True, True, False, False]
    """
    if _CONNINFO_PASSWORD.search(url):
        return True
    try:
        parts = urlsplit(url)
        if parts.password:
            return True
        return any(k.lower() == "password" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    except ValueError:  # unparsable as a URL: a password with a raw @ or / still counts
        return bool(re.search(r"://[^/@\s]*:[^@\s]*@", url))


#: libpq's parse errors quote the piece they choke on (a password's tail, a word of an unquoted
#: password): we keep only what kind of error it was, in our words.
_LIBPQ_PARSE_ERRORS = (
    ("percent-encoded", "a '%' not followed by two hex digits (write a '%' in the password as %25)"),
    ("unterminated quoted string", "a quoted value without its closing quote"),
    ('missing "=" after', "a word without '=' (a value with spaces goes in single quotes)"),
    ("invalid connection option", "an unknown option name (a value with spaces goes in single quotes)"),
    ("unexpected spaces", "spaces in the URL (write them as %20)"),
    ("uri query parameter", "a malformed ?key=value query parameter"),
)


def _raw_userinfo(text: str) -> bool:
    """A URL whose password holds a raw ``@ / ? #``: libpq cuts it there and reads the rest as host or path.

    >>> [_raw_userinfo(u) for u in ("postgresql://u:ab/cd@h:5432/db", "postgresql://u:a@b@h/db",
    ...                            "postgresql://u:a%40b@h/db", "postgresql://h:5432/db?x=a@b")]
    [True, True, False, False]
    """
    rest = text.split("://", 1)[1]
    if "@" not in rest:
        return False
    head = rest.rsplit("@", 1)[0]
    cut = min((i for i in (head.find(c) for c in "@/?#") if i >= 0), default=-1)
    if cut < 0:
        return False
    colon = head.find(":")
    # user:pw... cut by a reserved character; host:port/path?x=a@b (a port before the cut) is not
    return 0 <= colon < cut and not head[colon + 1:cut].isdigit()


def unparsable_reason(url: str) -> str | None:
    """Why libpq cannot use this DB URL or conninfo string, in words that quote no part of it; None if it can.

    >>> [unparsable_reason(u) for u in ("postgresql://postgres:s%40fe@127.0.0.1:5432/postgres", "http://h:54321")]
    [None, None]
    >>> unparsable_reason("postgresql://u:pa/ss@h:5432/db")
    "the password holds a raw '@', '/', '?' or '#' (percent-encode it: '@' is %40, '/' is %2F)"
    >>> unparsable_reason("host=h password=secret word")
    "a word without '=' (a value with spaces goes in single quotes)"
    >>> unparsable_reason("postgresql://u@h:99999/db"), unparsable_reason("host=h port=54x32")
    ('the port is not a number from 1 to 65535', 'the port is not a number from 1 to 65535')
    """
    text = url.strip()
    if "://" in text and text.split("://", 1)[0].lower() not in ("postgres", "postgresql"):
        return None  # not a Postgres URL at all (the API's http URL?): db_url_problems says so, better
    if "://" in text and _raw_userinfo(text):
        return "the password holds a raw '@', '/', '?' or '#' (percent-encode it: '@' is %40, '/' is %2F)"
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(text)
    except ImportError:  # psycopg missing: nothing here can connect anyway
        return None
    except Exception as exc:  # psycopg.ProgrammingError with libpq's message, which quotes the text
        low = str(exc).lower()
        return next((ours for key, ours in _LIBPQ_PARSE_ERRORS if key in low),
                    "libpq cannot parse it as a postgresql:// URL or a key=value conninfo string")
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            return "the port is not a number from 1 to 65535"
    return None


def pooler_hint(url: str) -> str | None:
    """What the URL says about a pooler: ``transaction`` (port 6543), ``session`` (pooler host :5432), or None."""
    try:
        parts = parse(url)
    except ValueError:
        return None
    host, port, user = parts.host, parts.port or 5432, parts.user
    if port == 6543:
        return "transaction"
    if host.endswith(".pooler.supabase.com") or (user.startswith("postgres.") and len(user) > len("postgres.")):
        return "session"
    return None
