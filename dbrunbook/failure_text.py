"""The one line a failed check is known by: JUnit's ``message``, a CI annotation, the short summary.

pytest takes that line from ``longrepr.reprcrash.message``. Once the report hooks have redacted a
failure into plain text, there is no such line and JUnit's ``message`` becomes the whole text: for a
crashed check, pytest's source listing and local variables, with the error 50 lines further down.
:func:`give_headline` puts the text back into pytest's own structured form (which pytest-xdist
serializes) with the headline as its crash message and first line; the full text follows, whole.
"""

from __future__ import annotations

from typing import Any

import pytest
from _pytest._code.code import ReprEntryNative, ReprExceptionInfo, ReprFileLocation, ReprTraceback

from dbrunbook.exceptions import first_line
from dbrunbook.outcomes import Inconclusive
from dbrunbook.redact import REDACTOR


def headline(exc: BaseException) -> str:
    """What went wrong, in one line: a check's finding, an inconclusive cause, or the error itself.

    >>> headline(KeyError("tenant_id"))
    "KeyError: 'tenant_id'"
    >>> headline(Inconclusive("setup", "contract rls.toml: unknown identity 'x'", fix="add [identities.x]"))
    "inconclusive (setup): contract rls.toml: unknown identity 'x'; fix: add [identities.x]"
    """
    if isinstance(exc, Inconclusive):
        text = f"inconclusive ({exc.kind}): {exc.message}" + (f"; fix: {exc.fix}" if exc.fix else "")
    elif isinstance(exc, pytest.fail.Exception):
        text = first_line(exc)  # check.fail: "[P0] rls.read_isolation: LEAK: ..."
    else:
        text = f"{type(exc).__name__}: {first_line(exc)}"
    return REDACTOR.text(text)


def give_headline(report: pytest.TestReport, exc: BaseException, location: tuple[str, int | None, str]) -> None:
    """Make ``report``'s failure text start with, and be known by, its headline."""
    if not report.failed or report.longrepr is None or isinstance(report.longrepr, tuple):
        return
    text = str(report.longrepr)
    # An inconclusive check's text was written by verdicts.py from its cause (a lost connection is
    # "prod stopped answering at ...", not "OperationalError: ..."): its first line is the headline.
    inconclusive = (getattr(report, "dbrunbook", None) or {}).get("outcome") == "inconclusive"
    line = text.strip().splitlines()[0] if inconclusive and text.strip() else headline(exc)
    if not text.lstrip().startswith(line):
        text = f"{line}\n\n{text}"
    if not text.endswith("\n"):
        text += "\n"
    path, lineno, _ = location
    longrepr: Any = ReprExceptionInfo(
        reprtraceback=ReprTraceback([ReprEntryNative([text])], extraline=None, style="native"),
        reprcrash=ReprFileLocation(path, (lineno or 0) + 1, line))
    report.longrepr = longrepr
