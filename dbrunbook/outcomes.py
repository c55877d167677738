"""The three outcomes of a check: pass, fail with a severity, or inconclusive with a cause.

A check that cannot reach a verdict (the target went away, a probe timed out, the probe role
lacks a right, the target is not Supabase-shaped, the contract or seed is unusable, the throwaway
target could not be built) raises :class:`Inconclusive`. It is never a verdict about the rule the
check tests: the report hooks turn it into one finding per *cause* (``Inconclusive.key``), with
the cause's own severity, and every later check stopped by the same cause skips pointing at the
first one. A run whose selected checks could not run exits non-zero (see ``EXIT_CODES``).

This module is the contract between the checks (which raise) and the reporting hooks (which
classify); it imports nothing from the rest of the engine.
"""

from __future__ import annotations

from typing import Literal

from dbrunbook.exceptions import DbrunbookError

#: Why a check could not reach a verdict.
#: - ``target_gone``: the database stopped answering mid-run (P1, "prod stopped answering at ...").
#: - ``timeout``: a probe hit statement/lock/client deadline; the target is slow, not proven wrong.
#: - ``rights``: the probe role lacks a privilege the check needs (e.g. BYPASSRLS, pg_read_all_stats).
#: - ``not_supabase``: the target is not Supabase-shaped (no auth schema, no API roles, no history).
#: - ``setup``: a usage/setup error that names the fix (contract, seed, migrations folder, logs file,
#:   the throwaway target could not be built). Stops the checks that depend on it, exit code 6.
#: - ``locked``: the relation is held in ACCESS EXCLUSIVE by someone else (the lock guard).
#: - ``no_data``: the check compared nothing (no rows, no history statements, no tables found).
CauseKind = Literal["target_gone", "timeout", "rights", "not_supabase", "setup", "locked", "no_data"]
CAUSE_KINDS: tuple[CauseKind, ...] = ("target_gone", "timeout", "rights", "not_supabase", "setup", "locked",
                                      "no_data")

#: The severity a cause is reported with when it is first seen (None: reported as a setup error,
#: which is not a severity verdict but still makes the run exit non-zero).
CAUSE_SEVERITY: dict[CauseKind, str | None] = {
    "target_gone": "P1",
    "timeout": "P2",
    "rights": None,
    "not_supabase": None,
    "setup": None,
    "locked": "P2",
    "no_data": None,
}

#: Documented exit codes (README "Exit codes"). pytest's own 2 (interrupted), 3 (internal error),
#: 4 (usage error) and 5 (no tests collected) keep their meaning.
EXIT_CODES: dict[int, str] = {
    0: "every selected check ran and passed (waived findings included)",
    1: "verdict failures at or above --fail-on",
    2: "interrupted",
    3: "internal error (a bug in dbrunbook: please report it)",
    4: "usage error (bad option, targets file, thresholds, contract ...): the message names the fix",
    5: "no check was selected",
    6: "inconclusive: some selected checks could not reach a verdict (target gone, setup error, ...)",
}
EXIT_INCONCLUSIVE = 6

#: The outcome of one check in every report (JSON ``results[].outcome``, JUnit property ``outcome``):
#: ``inconclusive`` is the first check a cause stopped (it carries the cause's finding); the later
#: ones it stopped are ``skipped`` with the same ``cause``; ``waived`` failed only on waived findings.
Outcome = Literal["passed", "failed", "inconclusive", "skipped", "waived"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "inconclusive", "skipped", "waived")


class Inconclusive(DbrunbookError):
    """Raised by a check (or a probe helper) that cannot reach a verdict.

    :param kind: the cause's class (see ``CauseKind``)
    :param message: one line, what happened ("prod stopped answering at 03:12:09 UTC")
    :param fix: one line, what a person does about it
    :param scope: narrows the cause key so that unrelated causes of the same kind are reported
        separately (e.g. the contract file's path, the seed's table); empty for a target-wide cause

    >>> exc = Inconclusive("setup", "contract rls.toml: unknown identity 'tenant_c'", fix="add it", scope="rls.toml")
    >>> exc.key("prod")
    ('prod', 'setup', 'rls.toml')
    """

    __module__ = "dbrunbook"

    def __init__(self, kind: CauseKind, message: str, *, fix: str = "", scope: str = "") -> None:
        if kind not in CAUSE_KINDS:
            raise ValueError(f"unknown inconclusive kind {kind!r}")
        self.kind: CauseKind = kind
        self.message = message
        self.fix = fix
        self.scope = scope
        super().__init__(message + (f" (fix: {fix})" if fix else ""))

    def __reduce__(self) -> tuple[object, tuple[str, str, str, str]]:
        # Pickled by the matrix's probe-ahead process (rls/prefetch.py); the default would pass the
        # combined message as ``kind``.
        return (_rebuilt, (self.kind, self.message, self.fix, self.scope))

    def key(self, target: str | None) -> tuple[str, str, str]:
        """One finding per (target, kind, scope): the dedup key of this cause."""
        return (target or "", self.kind, self.scope)


def _rebuilt(kind: CauseKind, message: str, fix: str, scope: str) -> Inconclusive:
    return Inconclusive(kind, message, fix=fix, scope=scope)
