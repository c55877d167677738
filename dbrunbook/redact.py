"""The one place that removes secrets from anything dbrunbook prints or writes.

Two layers: exact values registered at run time (DB passwords, API keys read from the env
var names a target declares, the embedded cluster's password), and patterns that catch secrets
we were never told about (passwords in URLs and conninfo strings, JWTs, Supabase secret keys).

A registered value is masked in every spelling it takes on its way out (:func:`spellings`): raw,
URL-encoded, escaped for a libpq conninfo string or an SQL literal, and each of those again as
Python ``repr`` and JSON escape it (tracebacks, ``-l`` locals, the JSON and HTML reports), plus its
base64. A password with ``'`` or ``\\`` is then masked whole, not up to its first quote.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Generator, Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

MASK = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host  ->  scheme://user:***@host
    (re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)(?P<secret>[^@\s/]+)(?P<tail>@)"),
     rf"\g<head>{MASK}\g<tail>"),
    # password=secret in a libpq conninfo string (quoted values may hold \\' and spaces) or a query
    # string; unquoted, everything up to the next blank or & goes (escaped quotes included).
    # Already masked (``password=***``) stays as it is: the JSON bundle is redacted again as a whole,
    # and an unquoted match there would eat the closing ``",`` and break the JSON.
    (re.compile(r"(?P<head>\b(?:password|passwd|pgpassword|apikey|api_key|secret)\s*[=:]\s*)(?!\*\*\*)"
                r"(?P<secret>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&]+)", re.IGNORECASE),
     rf"\g<head>{MASK}"),
    # JSON Web Tokens (anon/service_role keys, user tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "<jwt:***>"),
    # A JWT's payload (or any base64url JSON object) on its own: claims may carry secrets.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{16,}={0,2}"), "<base64-json:***>"),
    # Supabase opaque secret keys
    (re.compile(r"\bsb_secret_[A-Za-z0-9_-]+"), "sb_secret_***"),
    # Authorization headers
    (re.compile(r"(?P<head>\bBearer\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE), rf"\g<head>{MASK}"),
)

#: Every pattern above needs one of these (lower-cased); plain substring tests tell whether a string
#: needs the full scan, 20x faster than one case-insensitive alternation regex.
_MARKERS = ("://", "eyj", "sb_secret_", "bearer", "passw", "apikey", "api_key", "secret")
#: The markers each pattern of ``_PATTERNS`` needs (same order; every one is in ``_MARKERS``).
_PATTERN_MARKERS: tuple[tuple[str, ...], ...] = (
    ("://",), ("passw", "apikey", "api_key", "secret"), ("eyj",), ("eyj",), ("sb_secret_",), ("bearer",))


#: Where each pattern of ``_PATTERNS`` can start (same order): every match starts at an occurrence of
#: one of these literals (case-insensitively when the flag says so), or, for ``"://"``, at a letter of
#: the scheme right before it. A long text is matched only there (see ``_sub``).
_ANCHORS: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("://",), False), (("password", "passwd", "pgpassword", "apikey", "api_key", "secret"), True),
    (("eyJ",), False), (("eyJ",), False), (("sb_secret_",), False), (("bearer",), True))
#: Texts at least this long are matched at their anchors only; shorter ones by the plain regex scan.
_ANCHORED_FROM = 20_000
_SCHEME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")

#: Strings remembered by ``Redactor.text`` before the memo starts over (bounded memory).
_MEMO_MAX = 50_000
_MEMO_LONGEST = 4096


class Redactor:
    """Holds the secrets of this run and masks them in text and JSON-like data.

    >>> r = Redactor()
    >>> r.add("hunter2")
    >>> r.text("postgresql://postgres:hunter2@db.abc.supabase.co:5432/postgres and hunter2")
    'postgresql://postgres:***@db.abc.supabase.co:5432/postgres and ***'
    >>> once = r.text(json.dumps({"title": "quote it: password='x y'", "n": 1}))
    >>> r.text(once) == once and json.loads(once)["title"]  # redacting twice keeps the JSON whole
    'quote it: password=***'
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()
        # Masked forms of strings already seen: an RLS matrix writes the same table names, identities,
        # policy texts and SQL thousands of times. Replaced whenever a secret is added.
        self._memo: dict[str, str] = {}

    def add(self, *secrets: str | None) -> None:
        """Register exact secret values in all their spellings (values under 4 characters are ignored)."""
        with self._lock:
            for secret in secrets:
                if secret and len(secret) >= 4:
                    self._secrets.update(v for v in spellings(secret) if len(v) >= 4)
            # Longest first, so a secret that contains another is masked whole (sorted once, not per call).
            self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))
            self._memo = {}

    def add_all(self, secrets: Iterable[str | None]) -> None:
        """Register several secret values."""
        self.add(*secrets)

    def text(self, value: str) -> str:
        """Return ``value`` with every known secret and every secret-looking token masked."""
        if not value:
            return value
        memo = self._memo
        done = memo.get(value)
        if done is not None:
            return done
        masked = self._mask(value)
        if len(value) <= _MEMO_LONGEST:
            if len(memo) >= _MEMO_MAX:
                memo.clear()
            memo[value] = masked
        return masked

    def _mask(self, value: str) -> str:
        for secret in self._ordered:
            if secret in value:
                value = value.replace(secret, MASK)
        # Every pattern needs one of these markers; most evidence strings have none (RLS matrices
        # redact tens of thousands of them), so skip the regexes there.
        low = value.lower()
        if any(marker in low for marker in _MARKERS):
            # Only the patterns whose own marker is there (a 3 MB JSON bundle has "://" but no JWT:
            # each pattern skipped saves a full scan).
            for (pattern, replacement), needs, anchors in zip(_PATTERNS, _PATTERN_MARKERS, _ANCHORS, strict=True):
                if any(marker in low for marker in needs):
                    value = _sub(pattern, replacement, value, low, anchors)
                    low = value.lower()
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


def _occurrences(text: str, literal: str) -> Iterator[int]:
    at = text.find(literal)
    while at >= 0:
        yield at
        at = text.find(literal, at + 1)


def _sub(pattern: re.Pattern[str], replacement: str, value: str, low: str,
         anchors: tuple[tuple[str, ...], bool]) -> str:
    """``pattern.sub(replacement, value)``; in a long text, tried only where a match can start.

    A regex that starts with ``\\b`` is tried at every position of the text: 50-80 ms per pattern on
    the 2.6 MB JSON bundle of an RLS matrix run. Every match starts at one of the pattern's anchors
    (``_ANCHORS``), found with ``str.find``; matching there, leftmost first and never inside the
    previous match, is what ``sub`` does. Case-insensitive anchors are looked up in the lower-cased
    text only when it is ASCII (elsewhere a character like U+017F matches ``s`` under IGNORECASE).
    """
    literals, ignore_case = anchors
    if len(value) < _ANCHORED_FROM or (ignore_case and not value.isascii()):
        return pattern.sub(replacement, value)
    where = low if ignore_case else value
    if literals == ("://",):  # the match starts at a letter of the scheme run just before it
        starts: set[int] = set()
        for at in _occurrences(value, "://"):
            first = at
            while first > 0 and value[first - 1] in _SCHEME:
                first -= 1
            starts.update(range(first, at))
    else:
        starts = {at for literal in literals for at in _occurrences(where, literal)}
    out: list[str] = []
    done = 0
    for at in sorted(starts):
        if at < done:
            continue
        match = pattern.match(value, at)
        if match:
            out += [value[done:at], match.expand(replacement)]
            done = match.end()
    return "".join(out) + value[done:] if out else value

def _escapes(value: str) -> set[str]:
    """How Python ``repr`` (either quote) and JSON write ``value`` inside a string."""
    return {value, repr(value)[1:-1], repr(value + '"')[1:-2], json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1]}


def spellings(secret: str) -> set[str]:
    r"""Every form a secret takes on its way to an output.

    >>> forms = spellings("p'w\\d")
    >>> all(f in forms for f in ["p'w\\d", "p\\'w\\\\d", "p%27w%5Cd", "p''w\\d", "p\\'w\\\\\\\\d"])
    True
    """
    bases = {
        secret,
        secret.replace("\\", "\\\\").replace("'", "\\'"),  # libpq conninfo 'quoted value'
        secret.replace("'", "''"),  # SQL literal
        quote(secret, safe=""), quote(secret), quote_plus(secret),  # URL-encoded
    }
    raw = secret.encode()
    bases |= {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    found: set[str] = set()
    for base in bases:
        for once in _escapes(base):
            found |= _escapes(once)  # repr of a repr: a conninfo string inside a traceback's locals
    return found


#: The process-wide redactor: the plugin feeds it, every writer uses it.
REDACTOR = Redactor()


class _NotPlain(Exception):
    """A value :func:`_plain` leaves to the JSON round trip."""


def _plain(value: Any) -> Any:
    """``value`` redacted, when it holds only str keys and str, int, float, bool, None, list, tuple, dict values.

    Exact types only: what ``json.loads(json.dumps(value))`` would give back unchanged (tuples as
    lists), without serialising. Anything else raises :class:`_NotPlain`.
    """
    kind = type(value)
    if kind is str:
        return REDACTOR.text(value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise _NotPlain
            out[REDACTOR.text(k)] = _plain(v)
        return out
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if kind is int or kind is bool or kind is float or value is None:
        return value
    raise _NotPlain


def jsonable(data: Any) -> Any:
    """Evidence as plain JSON types (timestamps and the like as strings), redacted.

    >>> jsonable({"at": __import__("datetime").date(2026, 1, 2), "ids": (1, 2), "url": "postgres://u:pw@h/db"})
    {'at': '2026-01-02', 'ids': [1, 2], 'url': 'postgres://u:***@h/db'}
    """
    try:  # an RLS matrix writes thousands of records of plain types: no JSON round trip for them
        return _plain(data)
    except (_NotPlain, RecursionError):  # a cycle: json.dumps says so, as before
        return REDACTOR.data(json.loads(json.dumps(data, default=str)))


def redact(value: str) -> str:
    """Shorthand for ``REDACTOR.text(value)``."""
    return REDACTOR.text(value)


def redact_report(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Mask a report's failure text (a rendered traceback, ``-l`` locals included) and captured sections."""
    if isinstance(report.longrepr, tuple):  # a skip: (path, lineno, reason)
        path, lineno, reason = report.longrepr
        report.longrepr = (path, lineno, REDACTOR.text(reason))
    elif report.longrepr is not None:
        report.longrepr = REDACTOR.text(str(report.longrepr))
    report.sections = [(REDACTOR.text(title), REDACTOR.text(body)) for title, body in report.sections]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport,
                                                                          pytest.CollectReport]:
    """A collection error is redacted before any reporter sees it.

    A check module that fails at import, a parametrization that raises: terminal, JUnit and HTML all
    read this one report (with ``-l``, the module's globals: a DB URL).
    """
    report = yield
    redact_report(report)
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_internalerror(excrepr: Any, excinfo: Any) -> None:
    """An INTERNALERROR traceback (with ``-l``, its locals: DSNs, keys) is redacted before anyone prints it.

    pytest's terminal reporter and its stderr fallback both print ``str(excrepr)``, which renders
    through ``toterminal``: replace that, on this instance, with the redacted rendering.
    """
    text = REDACTOR.text(str(excrepr))
    excrepr.toterminal = lambda tw: tw.line(text)
