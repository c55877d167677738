"""Errors dbrunbook raises; user-facing ones say what was checked and how to fix it."""

from __future__ import annotations

import pytest


class DbrunbookError(Exception):
    """Base class of dbrunbook's own errors."""

    __module__ = "dbrunbook"


class TargetUnavailable(DbrunbookError):
    """A target could not be resolved or started (no DB URL, no binaries, ...)."""

    __module__ = "dbrunbook"


class MigrationFailed(DbrunbookError):
    """A migration file failed to apply: carries the file, statement number and error."""

    __module__ = "dbrunbook"

    def __init__(self, path: str, statement_no: int, statement: str, error: str) -> None:
        self.path = path
        self.statement_no = statement_no
        self.statement = statement
        self.error = error
        first_line = statement.strip().splitlines()[0] if statement.strip() else ""
        super().__init__(f"{path}: at statement {statement_no} ({first_line[:80]!r}): {error}")


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (psycopg adds DETAIL/HINT lines), or its type's name.

    >>> first_line(ValueError("bad thing\\nDETAIL: more"))
    'bad thing'
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def usage_error(what: str, *, checked: list[str], fixes: list[str]) -> pytest.UsageError:
    """Build a usage error in the "what / Checked / To fix this" shape (pytest-postgresql style).

    >>> str(usage_error("unknown target 'prd'", checked=["dbrunbook.toml"], fixes=["--target=prod"]))
    "unknown target 'prd'\\nChecked:\\n  - dbrunbook.toml\\nTo fix this, either:\\n  - --target=prod"
    """
    lines = [what, "Checked:", *(f"  - {c}" for c in checked), "To fix this, either:"]
    lines += [f"  - {f}" for f in fixes]
    return pytest.UsageError("\n".join(lines))
