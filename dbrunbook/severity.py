"""One severity model for every check, finding and cause (README "Severity").

- **P0**: multi-tenant exposure. RLS leaking or blocking, RLS off on an exposed tenant table, an
  always-true write policy, a grant that opens a tenant table to anon, a tenancy helper changed;
  wherever it is found (RLS checks and drift alike). It pages the incident commander.
- **P1**: outage. The database or a service does not answer, a pool cannot start; or, for security
  checks, an exposure that is not tenant isolation (a SECURITY DEFINER view, sensitive columns).
- **P2**: degradation. Locks, slow queries, drift that does not open tenant data.
- **P3**: hygiene.

A result's severity is the worst of its findings (a check may raise a finding above its marker,
``check.finding(..., severity="P0")``), else the severity on its ``check`` marker. Security checks
(``rls.*``, ``env.anon_key_is_anon``) are labelled "security", never "outage".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Severity = Literal["P0", "P1", "P2", "P3"]
SEVERITIES: tuple[Severity, ...] = ("P0", "P1", "P2", "P3")

#: What each level means, for the summary's headings and the docs.
SEVERITY_MEANING: dict[str, str] = {
    "P0": "multi-tenant exposure (RLS leaking or blocking, tenant data opened)",
    "P1": "outage (database unreachable, service degraded, pool cannot start)",
    "P2": "degradation (locks, slow queries, drift)",
    "P3": "hygiene",
}

#: The same levels for security checks (RLS lints, keys): a P1 lint is an exposure, not an outage.
SECURITY_MEANING: dict[str, str] = {
    "P0": SEVERITY_MEANING["P0"],
    "P1": "security (data exposed beyond tenant isolation)",
    "P2": "security (weakened defence)",
    "P3": "security hygiene",
}

_SECURITY_PREFIXES = ("rls.", "env.anon_key")


def is_security(check_id: str) -> bool:
    """Security checks (RLS, keys) are labelled "security", never "outage".

    >>> is_security("rls.rls_security_definer_view"), is_security("triage.db_reachable")
    (True, False)
    """
    return check_id.startswith(_SECURITY_PREFIXES)


def meaning(severity: str, check_id: str = "") -> str:
    """The label of ``severity`` for this check.

    >>> meaning("P1", "rls.rls_sensitive_columns_exposed")
    'security (data exposed beyond tenant isolation)'
    """
    table = SECURITY_MEANING if is_security(check_id) else SEVERITY_MEANING
    return table.get(severity, severity)


def rank(severity: str | None) -> int:
    """0 for P0 ... 3 for P3; 4 for no severity (a setup error sorts last)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def worst(severities: Iterable[str | None], default: str | None = None) -> str | None:
    """The most severe of ``severities`` (``default`` when there are none).

    >>> worst(["P2", "P0", "P3"]), worst([], "P1")
    ('P0', 'P1')
    """
    found = [s for s in severities if s in SEVERITIES]
    return min(found, key=rank) if found else default


def at_or_above(severity: str | None, threshold: str | None) -> bool:
    """Whether ``severity`` fails a ``--fail-on threshold`` gate (no threshold: every severity does).

    >>> at_or_above("P2", "P1"), at_or_above("P0", "P1"), at_or_above("P3", None)
    (False, True, True)
    """
    if threshold is None:
        return True
    return rank(severity) <= rank(threshold)
