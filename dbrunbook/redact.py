"""The one place that removes secrets from anything dbrunbook prints or writes.

Two layers: exact values registered at run time (DB passwords, API keys read from the env
var names a target declares, the embedded cluster's password), and patterns that catch secrets
we were never told about (passwords in URLs and conninfo strings, JWTs, Supabase secret keys).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host  ->  scheme://user:***@host
    (re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)(?P<secret>[^@\s/]+)(?P<tail>@)"),
     rf"\g<head>{MASK}\g<tail>"),
    # password=secret in a libpq conninfo string or a query string
    (re.compile(r"(?P<head>\b(?:password|passwd|pgpassword|apikey|api_key|secret)\s*[=:]\s*)"
                r"(?P<secret>'[^']*'|\"[^\"]*\"|[^\s&'\",;]+)", re.IGNORECASE),
     rf"\g<head>{MASK}"),
    # JSON Web Tokens (anon/service_role keys, user tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "<jwt:***>"),
    # Supabase opaque secret keys
    (re.compile(r"\bsb_secret_[A-Za-z0-9_-]+"), "sb_secret_***"),
    # Authorization headers
    (re.compile(r"(?P<head>\bBearer\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE), rf"\g<head>{MASK}"),
)

#: Every pattern above needs one of these; one search tells whether a string needs the full scan.
_MAY_HOLD_SECRET = re.compile(r"://|eyJ|sb_secret_|bearer|passw|pgpassword|apikey|api_key|secret", re.IGNORECASE)


class Redactor:
    """Holds the secrets of this run and masks them in text and JSON-like data.

    >>> r = Redactor()
    >>> r.add("hunter2")
    >>> r.text("postgresql://postgres:hunter2@db.abc.supabase.co:5432/postgres and hunter2")
    'postgresql://postgres:***@db.abc.supabase.co:5432/postgres and ***'
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        """Register exact secret values (short or empty values are ignored: too many false hits)."""
        with self._lock:
            self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def add_all(self, secrets: Iterable[str | None]) -> None:
        """Register several secret values."""
        self.add(*secrets)

    def text(self, value: str) -> str:
        """Return ``value`` with every known secret and every secret-looking token masked."""
        if not value:
            return value
        # Longest first, so a secret that contains another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, MASK)
        # Every pattern needs one of these markers; most evidence strings have none (RLS matrices
        # redact tens of thousands of them), so skip the regexes there.
        if _MAY_HOLD_SECRET.search(value):
            for pattern, replacement in _PATTERNS:
                value = pattern.sub(replacement, value)
        return value

    def data(self, value: Any) -> Any:
        """Redact every string inside nested dicts, lists and tuples (for JSON evidence)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


#: The process-wide redactor: the plugin feeds it, every writer uses it.
REDACTOR = Redactor()


def jsonable(data: Any) -> Any:
    """Evidence as plain JSON types (timestamps and the like as strings), redacted."""
    return REDACTOR.data(json.loads(json.dumps(data, default=str)))


def redact(value: str) -> str:
    """Shorthand for ``REDACTOR.text(value)``."""
    return REDACTOR.text(value)
