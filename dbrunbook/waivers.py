"""Waivers: accept a known finding (check id + object glob) with a reason, an owner and an expiry date.

A waived finding stays visible in every report, marked "waived"; a check whose findings are all
waived ends ``waived`` instead of ``failed``. An expired waiver waives nothing: the finding fails
again and says which waiver expired. File format (TOML, ``--waivers=PATH``)::

    [[waiver]]
    check = "rls.rls_security_definer_view"     # check id; glob allowed ("drift.*")
    object = "public.conversation_overview*"      # glob on the finding's "where"; "*" = any
    reason = "read-only report view, reviewed in SEC-142"
    owner = "ana@example.com"
    expires = 2027-03-31
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from dbrunbook.exceptions import usage_error

_KEYS = ("check", "object", "reason", "owner", "expires")


@dataclass(frozen=True)
class Waiver:
    """One accepted finding."""

    check: str
    object: str
    reason: str
    owner: str
    expires: date

    def matches(self, check_id: str, where: str) -> bool:
        """Whether this waiver covers a finding of ``check_id`` at ``where``.

        >>> w = Waiver("drift.*", "public.audit_*", "r", "o", date(2030, 1, 1))
        >>> w.matches("drift.tables", "public.audit_log"), w.matches("drift.tables", "public.notes")
        (True, False)
        """
        return fnmatchcase(check_id, self.check) and (self.object == "*" or fnmatchcase(where, self.object)
                                                      or fnmatchcase(where, f"*{self.object}*"))

    def expired(self, today: date | None = None) -> bool:
        """An expired waiver waives nothing (the expiry day itself still counts)."""
        return (today or datetime.now(UTC).date()) > self.expires

    def as_dict(self, today: date | None = None) -> dict[str, Any]:
        """The ``waiver`` field of a finding in the reports."""
        return {"check": self.check, "object": self.object, "reason": self.reason, "owner": self.owner,
                "expires": self.expires.isoformat(), "expired": self.expired(today)}


def _bad(path: Path, what: str, fix: str) -> Exception:
    return usage_error(f"waivers file {path}: {what}", checked=[str(path)], fixes=[fix])


def load(path: Path) -> tuple[Waiver, ...]:
    """Read and validate a waivers file; a usage error names the entry and the key to fix."""
    example = ('[[waiver]] with check = "rls.x", object = "public.t", reason = "...", owner = "...", '
               "expires = 2027-01-31")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad(path, "does not exist", "--waivers=PATH to an existing TOML file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _bad(path, f"cannot be read as TOML ({exc})", example) from None
    unknown = sorted(set(data) - {"waiver"})
    if unknown:
        raise _bad(path, f"unknown top-level key(s) {', '.join(unknown)}", example)
    entries = data.get("waiver", [])
    if not isinstance(entries, list):
        raise _bad(path, "'waiver' must be an array of tables", example)
    waivers = []
    for i, entry in enumerate(entries, 1):
        where = f"waiver #{i}"
        if not isinstance(entry, dict):
            raise _bad(path, f"{where} is not a table", example)
        missing = [k for k in _KEYS if k not in entry]
        extra = sorted(set(entry) - set(_KEYS))
        if missing or extra:
            what = "; ".join(x for x in (f"missing {', '.join(missing)}" if missing else "",
                                         f"unknown key(s) {', '.join(extra)}" if extra else "") if x)
            raise _bad(path, f"{where}: {what}", example)
        expires = entry["expires"]
        if isinstance(expires, datetime):
            expires = expires.date()
        if not isinstance(expires, date):
            raise _bad(path, f"{where}: expires = {expires!r} is not a date", "expires = 2027-01-31 (no quotes)")
        for key in ("check", "object", "reason", "owner"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise _bad(path, f"{where}: {key} must be a non-empty string", example)
        waivers.append(Waiver(entry["check"], entry["object"], entry["reason"], entry["owner"], expires))
    return tuple(waivers)


def find(waivers: tuple[Waiver, ...], check_id: str, where: str) -> Waiver | None:
    """The first waiver covering this finding (an unexpired one wins over an expired one)."""
    hits = [w for w in waivers if w.matches(check_id, where)]
    return next((w for w in hits if not w.expired()), hits[0] if hits else None)
