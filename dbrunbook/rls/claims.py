"""JWT claim sets shaped like the access tokens Supabase Auth issues (supabase-facts.md 2.3)."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Mapping
from typing import Any

Claims = dict[str, Any]

#: Lifetime of a user access token on Supabase (``jwt_expiry`` default, seconds).
TOKEN_LIFETIME_S = 3600
ISSUER = "http://127.0.0.1:54321/auth/v1"


def user_claims(sub: str, *, email: str | None = None, aal: str = "aal1",
                app_metadata: Mapping[str, Any] | None = None, user_metadata: Mapping[str, Any] | None = None,
                extra: Mapping[str, Any] | None = None, now: int | None = None) -> Claims:
    """Claims of a signed-in user, as GoTrue's ``AccessTokenClaims`` carries them.

    >>> c = user_claims("aaaaaaaa-0001-4000-8000-000000000001", email="ana@acme.example")
    >>> c["role"], c["aud"], c["aal"], c["is_anonymous"]
    ('authenticated', 'authenticated', 'aal1', False)
    """
    issued = int(time.time()) if now is None else now
    claims: Claims = {
        "iss": ISSUER,
        "sub": sub,
        "aud": "authenticated",
        "exp": issued + TOKEN_LIFETIME_S,
        "iat": issued,
        "email": email or "",
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"], **dict(app_metadata or {})},
        "user_metadata": dict(user_metadata or {}),
        "role": "authenticated",
        "aal": aal,
        "amr": [{"method": "password" if aal == "aal1" else "totp", "timestamp": issued}],
        "session_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dbrunbook-session:{sub}")),
        "is_anonymous": False,
    }
    claims.update(copy.deepcopy(dict(extra or {})))
    return claims


def key_claims(role: str, *, now: int | None = None) -> Claims:
    """Claims of the legacy ``anon`` / ``service_role`` API keys (no ``sub``, no ``aud``)."""
    issued = int(time.time()) if now is None else now
    return {"iss": "supabase-demo", "ref": "dbrunbook", "role": role, "iat": issued,
            "exp": issued + 10 * 365 * 86400}


def set_path(claims: Claims, path: str, value: Any) -> Claims:
    """A copy of ``claims`` with ``value`` at a dotted path (``app_metadata.company_id``)."""
    out = copy.deepcopy(claims)
    node = out
    *parents, leaf = path.split(".")
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[leaf] = value
    return out


def get_path(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None."""
    node: Any = claims
    for key in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def with_role(claims: Mapping[str, Any], role: str) -> Claims:
    """What PostgREST puts in ``request.jwt.claims``: the payload with ``role`` set to the effective role."""
    out = copy.deepcopy(dict(claims))
    out["role"] = role
    return out
