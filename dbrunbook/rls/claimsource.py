"""Where a policy (or a helper's body) reads JWT claims from: paths into the token, not claim names as text.

``company_id`` at the top of the token (set by an auth hook), under ``app_metadata`` (set by the
service role only) and under ``user_metadata`` (set by the user with ``supabase.auth.updateUser()``)
are three different trust levels with the same name. ``rls.tenant_predicate`` therefore resolves
each read of ``auth.jwt()`` / ``request.jwt.claims`` to its path and compares paths.

Works on ``pg_get_expr`` output (deparsed policies) and on function source alike: both spell the
same operators (``->``, ``->>``, ``#>``, ``#>>``) after the same roots.
"""

from __future__ import annotations

import re

#: Roots a policy reads the token from, as deparsed or as written.
_ROOTS = (
    re.compile(r"\(\s*select\s+auth\.jwt\(\)(?:\s+as\s+\w+)?\s*\)", re.IGNORECASE),
    re.compile(r"auth\.jwt\(\)", re.IGNORECASE),
    re.compile(r"current_setting\(\s*'request\.jwt\.claims'(?:::text)?\s*(?:,\s*true\s*)?\)", re.IGNORECASE),
)
#: The legacy per-claim settings: ``current_setting('request.jwt.claim.company_id', true)``.
_LEGACY = re.compile(r"current_setting\(\s*'request\.jwt\.claim\.([\w.]+)'(?:::text)?\s*(?:,\s*true\s*)?\)",
                     re.IGNORECASE)
_CAST = re.compile(r"::\s*(?:double precision|character varying|timestamp with(?:out)? time zone|[a-z_]\w*)(?:\[\])?",
                   re.IGNORECASE)
_CHAIN = re.compile(r"JWT((?:\s*(?:#>>|#>|->>|->)\s*'[^']*')+)")
_STEP = re.compile(r"(#>>|#>|->>|->)\s*'([^']*)'")
#: Where users write their own claims (and GoTrue's column that feeds them).
USER_EDITABLE = ("user_metadata", "raw_user_meta_data")


def claim_reads(text: str) -> list[tuple[str, ...]]:
    """Every path read from the JWT in ``text``.

    >>> claim_reads("(org = ((( SELECT auth.jwt() AS jwt) -> 'app_metadata'::text) ->> 'company_id'::text))::uuid")
    [('app_metadata', 'company_id')]
    >>> claim_reads("(company_id = (( SELECT (auth.jwt() ->> 'company_id'::text)))::uuid)")
    [('company_id',)]
    >>> claim_reads("((current_setting('request.jwt.claims'::text, true))::jsonb #>> '{user_metadata,org}'::text[])")
    [('user_metadata', 'org')]
    >>> claim_reads("current_setting('request.jwt.claim.company_id', true)")
    [('company_id',)]
    >>> claim_reads("(x = 'a'::text) AND (o = (auth.jwt() ->> 'org'::text))")
    [('org',)]
    """
    s = _LEGACY.sub(lambda m: "JWT ->> '" + m.group(1).replace(".", "' ->> '") + "'", text)
    for root in _ROOTS:
        s = root.sub(" JWT ", s)
    s = _CAST.sub("", s)
    s = s.replace("(", " ").replace(")", " ")
    out: list[tuple[str, ...]] = []
    for chain in _CHAIN.finditer(s):
        path: list[str] = []
        for op, key in _STEP.findall(chain.group(1)):
            if op.startswith("#"):
                path += [k.strip().strip('"') for k in key.strip("{}").split(",") if k.strip()]
            else:
                path.append(key)
        out.append(tuple(path))
    return out


def user_editable(text: str) -> bool:
    """Whether ``text`` reads a claim (or an ``auth.users`` column) the user can set.

    >>> user_editable("(auth.jwt() -> 'user_metadata'::text) ->> 'org'::text")
    True
    >>> user_editable("select raw_user_meta_data ->> 'org' from auth.users where id = auth.uid()")
    True
    >>> user_editable("(auth.jwt() -> 'app_metadata'::text) ->> 'org'::text")
    False
    """
    if "raw_user_meta_data" in text:
        return True
    return any(part in USER_EDITABLE for path in claim_reads(text) for part in path)
