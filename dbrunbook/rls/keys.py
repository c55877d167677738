"""The keys a contracts file may use, section by section; a typo is an error with a suggestion.

A misspelled key is silently a different contract (``tenant_colum`` = no tenant column, every table
then needs its own oracle), so unknown keys are refused before any probe, naming the closest key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dbrunbook import configkeys

TOP = frozenset({"contract", "tenants", "identities", "tables", "restrictive", "waivers"})
CONTRACT = frozenset({"project", "tenant_claim", "tenant_column", "exposed_schemas", "approved_helpers",
                      "service_login_roles", "anon_privileges", "ignore_tables", "seed_sql"})
IDENTITY = frozenset({"name", "role", "tenant", "sub", "email", "aal", "app_metadata", "user_metadata", "claims",
                      "tenant_in_claims", "scope"})
TABLE = frozenset({"oracle", "tenant_column", "view", "operations", "update_column", "expect"})
RESTRICTIVE = frozenset({"table", "policy"})
WAIVER = frozenset({"check", "table", "identity", "operation", "reason", "expires"})


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string.

    >>> did_you_mean("tenant_colum", CONTRACT)
    " (did you mean 'tenant_column'?)"
    >>> did_you_mean("zzz", CONTRACT)
    ''
    """
    close = configkeys.did_you_mean(word, choices)
    return f" (did you mean {close!r}?)" if close else ""


def unknown(section: Mapping[str, Any], allowed: frozenset[str]) -> list[str]:
    """Each unknown key of ``section`` as ``'key' (did you mean ...)``."""
    return [f"{k!r}{did_you_mean(k, allowed)}" for k in sorted(section) if k not in allowed]
