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
    """A migration file failed to apply: file, line, statement number, first real line, server error.

    ``hint`` gives the cause and workaround when the target itself is the cause (a stand-in
    extension, a platform object of another era).
    """

    __module__ = "dbrunbook"

    def __init__(self, path: str, statement_no: int, statement: str, error: str, *, line: int | None = None,
                 hint: str | None = None) -> None:
        self.path = path
        self.statement_no = statement_no
        self.statement = statement
        self.error = error
        self.line = line
        self.hint = hint
        where = f"{path}:{line}" if line else path
        text = f"{where}: at statement {statement_no} ({first_code_line(statement)[:80]!r}): {error}"
        super().__init__(f"{text}. {hint}" if hint else text)


def first_code_line(statement: str) -> str:
    """The first line of a statement that is not blank or a comment (leading comments cut off).

    >>> first_code_line("/**\\n * docs\\n */\\n-- note\\ncreate table t (x int);")
    'create table t (x int);'
    >>> first_code_line("/* a */ select 1")
    'select 1'
    """
    return code_start(statement)[1]


def code_start(statement: str) -> tuple[int, str]:
    """(index of the first line holding code, that line without leading comments); (0, '') if none."""
    in_block = False
    for index, raw in enumerate(statement.splitlines()):
        rest = raw.strip()
        while rest:
            if in_block:
                end = rest.find("*/")
                in_block, rest = (True, "") if end < 0 else (False, rest[end + 2:].strip())
            elif rest.startswith("/*"):
                in_block, rest = True, rest[2:]
            elif rest.startswith("--"):
                rest = ""
            else:
                return index, rest
    return 0, ""


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
