"""Any database given by URL.

The DB URL comes from env var names (default chain ``SUPABASE_DB_URL`` then ``DATABASE_URL``),
never from the targets file.
"""

from __future__ import annotations

import os

from dbrunbook import urls
from dbrunbook.config import DEFAULT_DB_URL_ENV, TargetSpec
from dbrunbook.redact import REDACTOR
from dbrunbook.targets.base import Target

#: Well-known local-stack credentials are not secrets; masking them would mask the word itself.
_PUBLIC_PASSWORDS = frozenset({"postgres"})


def missing_url_message(names: tuple[str, ...]) -> str:
    """The runbook's own words when no DB URL is set (runbook "Erros típicos")."""
    if names == DEFAULT_DB_URL_ENV:
        return "SUPABASE_DB_URL (or DATABASE_URL) is required"
    if len(names) == 1:
        return f"{names[0]} is required"
    return f"{names[0]} (or {' or '.join(names[1:])}) is required"


def register_url_secrets(url: str) -> None:
    """Tell the redactor about the password inside a DB URL or libpq conninfo string (all its spellings)."""
    from urllib.parse import unquote, urlsplit

    found: set[str] = set()
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found |= {password, unquote(password)}
    if "://" in url and "@" in url:  # what was meant as the password when it holds a raw @ or /
        userinfo = url.split("://", 1)[1].rsplit("@", 1)[0]
        meant = userinfo.partition(":")[2]
        found |= {meant, unquote(meant)} if meant else set()
    try:  # conninfo (host=... password='...') and ?password=... forms, decoded as libpq reads them
        from psycopg.conninfo import conninfo_to_dict

        decoded = conninfo_to_dict(url).get("password")
    except Exception:  # not psycopg-parsable: the patterns in redact.py still mask password=...
        decoded = None
    if decoded:
        found.add(str(decoded))
    REDACTOR.add(*(p for p in found if p not in _PUBLIC_PASSWORDS))


def resolve(spec: TargetSpec) -> Target:
    """Read the DB/API URLs and keys from the environment names the spec declares."""
    target = Target(spec)
    for name in spec.db_url_env:
        value = os.environ.get(name)
        if value:
            target.dsn, target.dsn_source = value, f"env {name}"
            break
    else:
        if spec.db_url:
            target.dsn, target.dsn_source = spec.db_url, "dbrunbook.toml db_url"
        else:
            target.problem = missing_url_message(spec.db_url_env or DEFAULT_DB_URL_ENV)
    if target.dsn:
        register_url_secrets(target.dsn)
        # libpq's own parse errors quote the piece they choke on (often the password's tail): a URL
        # libpq cannot use is a problem in our words, before anything tries to connect with it.
        reason = urls.unparsable_reason(target.dsn)
        if reason:
            target.problem = f"the DB URL ({target.dsn_source}) does not parse: {reason}"
    target.api_url = (os.environ.get(spec.api_url_env) if spec.api_url_env else None) or spec.api_url
    for attr in ("anon_key", "service_role_key", "jwt_secret"):
        env_name = getattr(spec, f"{attr}_env")
        value = os.environ.get(env_name) if env_name else None
        setattr(target, attr, value)
        REDACTOR.add(value)
    return target
