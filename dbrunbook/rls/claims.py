"""JWT claim sets shaped like the access tokens Supabase Auth issues (supabase-facts.md 2.3)."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

Claims = dict[str, Any]
#: A bending: tampers applied in order, each ``(kind, value)`` (see ``TAMPERS``).
Tampers = list[tuple[str, Any]]

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


#: How a caller's claims can be bent. Supabase Auth signs the token, so a user cannot set ``sub``,
#: ``role``, ``aal``, ``aud``, ``exp`` or ``app_metadata`` directly, but ``user_metadata`` is theirs
#: (``supabase.auth.updateUser({data})``), auth hooks copy claims around, stale and foreign tokens
#: exist, and a leaked signing key mints anything. A policy must not widen what a user sees through
#: any of them: whatever the claims say, visible rows stay within the oracle of the user their trusted
#: claims (``sub``, the tenant claim) name.
TAMPERS: tuple[str, ...] = (
    "tenant_drop", "tenant_null", "tenant_set", "tenant_to_user_metadata", "user_metadata", "app_to_user_metadata",
    "sub", "role", "aal", "expired", "audience", "extra",
)


def tamper(claims: Mapping[str, Any], kind: str, value: Any, tenant_path: str) -> Claims:
    """A copy of ``claims`` bent one way (see ``TAMPERS``).

    >>> c = user_claims("u1", app_metadata={"org": "o1"}, now=0)
    >>> t = tamper(c, "app_to_user_metadata", None, "company_id")
    >>> t["user_metadata"]["org"], "org" in t["app_metadata"]
    ('o1', False)
    >>> tamper(c, "tenant_to_user_metadata", "o2", "app_metadata.org")["user_metadata"], \\
    ...     get_path(tamper(c, "tenant_to_user_metadata", "o2", "app_metadata.org"), "app_metadata.org")
    ({'org': 'o2'}, None)
    >>> tamper(c, "audience", "anon", "company_id")["aud"], tamper(c, "expired", None, "company_id")["exp"] < 0
    ('anon', True)
    """
    out = copy.deepcopy(dict(claims))
    if kind in ("tenant_drop", "tenant_to_user_metadata"):
        parent = get_path(out, tenant_path.rpartition(".")[0]) if "." in tenant_path else out
        if isinstance(parent, dict):
            parent.pop(tenant_path.split(".")[-1], None)
        if kind == "tenant_to_user_metadata":  # the tenant id moved where the user can write it
            out = set_path(out, f"user_metadata.{tenant_path.split('.')[-1]}", value)
    elif kind in ("tenant_null", "tenant_set"):
        out = set_path(out, tenant_path, None if kind == "tenant_null" else value)
    elif kind == "user_metadata":  # the user writes what it likes: {key: value}
        out["user_metadata"] = {**dict(out.get("user_metadata") or {}), **dict(value)}
    elif kind == "app_to_user_metadata":  # an auth hook / client that copies app_metadata into user_metadata
        app = {k: v for k, v in dict(out.get("app_metadata") or {}).items() if k not in ("provider", "providers")}
        out["user_metadata"] = {**dict(out.get("user_metadata") or {}), **app}
        out["app_metadata"] = {k: v for k, v in dict(out.get("app_metadata") or {}).items() if k not in app}
    elif kind == "sub":
        if value is None:
            out.pop("sub", None)
        else:
            out["sub"] = value
    elif kind in ("role", "aal"):
        out[kind] = value
    elif kind == "expired":
        out["exp"] = -1 if value is None else value
    elif kind == "audience":
        if value is None:
            out.pop("aud", None)
        else:
            out["aud"] = value
    elif kind == "extra":
        out.update(dict(value))
    else:
        raise ValueError(f"unknown tamper {kind!r}; one of {', '.join(TAMPERS)}")
    return out


def simpler(tampers: Tampers) -> list[Tampers]:
    """Smaller bendings than ``tampers``, simplest first: one tamper less, then a dict value with one key.

    >>> simpler([("aal", "aal2"), ("user_metadata", {"a": 1, "b": 2})])  # doctest: +NORMALIZE_WHITESPACE
    [[('user_metadata', {'a': 1, 'b': 2})], [('aal', 'aal2')],
     [('aal', 'aal2'), ('user_metadata', {'a': 1})], [('aal', 'aal2'), ('user_metadata', {'b': 2})]]
    """
    out: list[Tampers] = [tampers[:i] + tampers[i + 1:] for i in range(len(tampers))] if len(tampers) > 1 else []
    for i, (kind, value) in enumerate(tampers):
        if isinstance(value, dict) and len(value) > 1:
            out += [[*tampers[:i], (kind, {k: v}), *tampers[i + 1:]] for k, v in value.items()]
    return out


def shrink(tampers: Tampers, first_leaking: Callable[[list[Tampers]], int | None]) -> Tampers:
    """The smallest bending that still leaks, greedily: while one of :func:`simpler` does, take the first.

    ``first_leaking`` probes candidates (all at once) and returns the index of the first that leaks.

    >>> def leaks(ts):  # needs aal3 and user_metadata.is_admin, nothing else
    ...     return dict(ts).get("aal") == "aal3" and dict(ts).get("user_metadata", {}).get("is_admin") is True
    >>> shrink([("expired", None), ("user_metadata", {"org": "x", "is_admin": True}), ("aal", "aal3")],
    ...        lambda cands: next((i for i, c in enumerate(cands) if leaks(c)), None))
    [('user_metadata', {'is_admin': True}), ('aal', 'aal3')]
    """
    while True:
        candidates = simpler(tampers)
        hit = first_leaking(candidates) if candidates else None
        if hit is None:
            return tampers
        tampers = candidates[hit]
