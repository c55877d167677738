"""One finding per cause: which exceptions are causes, which cause was seen first, which targets are gone.

The report hook (``reporting.pytest_runtest_makereport``) asks :func:`from_exception` whether a
check's exception means "no verdict" (an :class:`~dbrunbook.outcomes.Inconclusive`, a lost
connection, a probe timeout, a lock wait, a failed build of the throwaway target) and
:meth:`Registry.see` whether that cause was already reported. The fixtures ask :meth:`Registry.stop`
before each check whether its target is gone, so a database that dies mid-run costs one bounded
reconnect, not one error per remaining check. State is per process (each xdist worker has its own;
the controller merges what they report, ``Registry.see`` again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dbrunbook import lockguard, runbook
from dbrunbook.exceptions import MigrationFailed, first_line
from dbrunbook.outcomes import CAUSE_SEVERITY, Inconclusive

if TYPE_CHECKING:
    from dbrunbook.targets import Target

#: SQLSTATEs of a server that went away (admin/crash shutdown, cannot connect now) or a broken link.
_GONE_STATES = ("57P01", "57P02", "57P03")
QUERY_CANCELED = "57014"
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass
class SeenCause:
    """The first report of one cause: what the later checks it stopped point at."""

    kind: str
    message: str
    fix: str
    first_nodeid: str
    severity: str | None

    def as_dict(self) -> dict[str, str | None]:
        """The ``cause`` field of a result record."""
        return {"kind": self.kind, "message": self.message, "fix": self.fix, "first_nodeid": self.first_nodeid}


@dataclass
class Gone:
    """A target that stopped answering: when, and whether the one reconnect was tried."""

    at: datetime
    detail: str
    retried: bool = False
    back: bool = False
    back_at: datetime | None = None

    def cause(self, target: str) -> Inconclusive:
        """The cause every check on this target is stopped by."""
        return Inconclusive(
            "target_gone", f"{target} stopped answering at {self.at:%H:%M:%S} UTC ({self.detail})",
            fix=f"check the database first (runbook 'Triage 1': psql \"$SUPABASE_DB_URL\" -c 'select 1'); "
                f"the checks on {target} after this moment did not run: run them again once it answers")


@dataclass
class Registry:
    """Per-process memory of the causes seen in this run."""

    seen: dict[tuple[str, str, str], SeenCause] = field(default_factory=dict)
    gone: dict[str, Gone] = field(default_factory=dict)

    def see(self, exc: Inconclusive, target: str | None, nodeid: str) -> tuple[SeenCause, bool]:
        """Record ``exc`` for ``nodeid``; returns the first report of its cause and whether this is it."""
        key = dedup_key(exc.key(target))
        first = self.seen.get(key)
        if first is not None:
            return first, False
        # Every report reads causes from here: runbook steps named in English, as findings are (checking.py).
        first = SeenCause(exc.kind, runbook.english(exc.message), runbook.english(exc.fix), nodeid,
                          CAUSE_SEVERITY[exc.kind])
        self.seen[key] = first
        return first, True

    def mark_gone(self, target: str, exc: BaseException) -> Inconclusive:
        """The target stopped answering now (or is still gone): the cause to report."""
        gone = self.gone.get(target)
        if gone is None:
            gone = self.gone[target] = Gone(datetime.now(UTC), first_line(exc))
        gone.back = False
        return gone.cause(target)

    def stop(self, target: Target) -> None:
        """Raise the target's gone cause unless the one bounded reconnect brings it back.

        The reconnect is bounded by the target's ``connect_timeout_s``; it is tried once per run, so
        a dead database costs one connect attempt, whatever the number of checks left.
        """
        gone = self.gone.get(target.name)
        if gone is None or gone.back:
            return
        if not gone.retried:
            gone.retried = True
            try:
                target.close()
                target.connection()
            except Exception:  # noqa: S110 (any failure to reconnect means: still gone)
                pass
            else:
                gone.back, gone.back_at = True, datetime.now(UTC)
                return
        raise gone.cause(target.name)


#: Causes that are a property of the whole target, whatever scope the raiser gave: a target stops
#: answering once, and a statement_timeout too small for it is one finding, not one per probe kind.
TARGET_WIDE = ("target_gone", "timeout")


def dedup_key(key: tuple[str, str, str]) -> tuple[str, str, str]:
    """``Inconclusive.key`` with the scope dropped for target-wide kinds.

    >>> dedup_key(("prod", "timeout", "rls")), dedup_key(("prod", "setup", "rls.toml"))
    (('prod', 'timeout', ''), ('prod', 'setup', 'rls.toml'))
    """
    target, kind, scope = key
    return (target, kind, "" if kind in TARGET_WIDE else scope)


#: This process's registry; ``reset()`` at configure (pytester runs several sessions in one process).
REGISTRY = Registry()


def reset() -> None:
    """Forget every cause (a new session starts)."""
    REGISTRY.seen.clear()
    REGISTRY.gone.clear()


def no_migrations(folder: Path, target: str) -> Inconclusive | None:
    """The setup cause of a migrations folder the Supabase CLI would apply nothing from (None: it has some).

    Compared with nothing, every object and every applied version on the target would read as drift;
    the folder is almost always the wrong one, so the drift and history checks stop on one cause.
    """
    from dbrunbook.migrations import scan

    if scan(folder)[0]:
        return None
    what = "holds no migration file the Supabase CLI applies" if folder.is_dir() else "does not exist"
    return Inconclusive(
        "setup", f"{folder} {what}: nothing to compare {target}'s schema and migration history with",
        fix="--workdir=DIR where DIR/supabase/migrations holds the project's migrations (or workdir for the "
            "target in dbrunbook.toml); --compare-target / --compare-snapshot compare schemas without it",
        scope=str(folder))


def no_workdir(target: str, spec_name: str) -> Inconclusive:
    """The setup cause of a drift run whose migrations folder nobody named.

    Without a folder drift has no expected schema: a configuration gap, not drift, so one setup cause
    (exit 6), never a P2 verdict nor a silent green. (The history checks skip as any unconfigured
    optional input does: triage without --workdir still checks everything else.)

    >>> no_workdir("prod", "prod").scope
    'workdir'
    """
    return Inconclusive(
        "setup", f"target {target}: no migrations folder to build the expected schema from",
        fix=f"--workdir=DIR (DIR/supabase/migrations) or workdir for [targets.{spec_name}] in dbrunbook.toml; "
            "--compare-target / --compare-snapshot compare schemas without it",
        scope="workdir")


def _chain(exc: BaseException) -> list[BaseException]:
    found = [exc]
    for nxt in (exc.__cause__, exc.__context__):
        if nxt is not None and nxt not in found:
            found.append(nxt)
    return found


def _lost_connection(exc: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(exc, psycopg.InterfaceError):
        return "closed" in str(exc).lower()
    if isinstance(exc, psycopg.OperationalError):
        return sqlstate is None or sqlstate.startswith("08") or sqlstate in _GONE_STATES
    return False


def from_exception(exc: BaseException, target: str | None) -> Inconclusive | None:
    """The cause behind ``exc`` when it means "no verdict", else None (a real failure or a bug).

    >>> from_exception(Inconclusive("setup", "seed failed", fix="fix it"), "prod").kind
    'setup'
    >>> from_exception(ValueError("x"), "prod") is None
    True
    """
    for err in _chain(exc):
        if isinstance(err, Inconclusive):
            return err
        if isinstance(err, MigrationFailed):
            return Inconclusive(
                "setup", f"the throwaway target {target or ''} could not be built: {err}".replace("  ", " "),
                fix="fix that migration (or the seed) and run again; `dbrunbook db start` rebuilds the target",
                scope="build")
        sqlstate = getattr(err, "sqlstate", None)
        if sqlstate == lockguard.LOCK_TIMEOUT:
            return Inconclusive(
                "locked", f"probes on {target} gave up waiting for a lock after lock_timeout ({first_line(err)})",
                fix="see locks.blocking_chains for the blocker and the mitigation; the checks it stopped did not run")
        if sqlstate == QUERY_CANCELED:
            return Inconclusive(
                "timeout", f"probes on {target} were cancelled before answering ({first_line(err)})",
                fix="the database is too slow to answer within statement_timeout_ms (see the locks and "
                    "activity checks); raise statement_timeout_ms for this target only if it is just large")
        if sqlstate == INSUFFICIENT_PRIVILEGE:
            # Our probe role was refused something it needs to look: no verdict about the rule checked
            # (an RLS check must never read "permission denied" as tenant data leaking or blocked).
            return Inconclusive(
                "rights", f"the probe role on {target} lacks a privilege the checks need ({first_line(err)})",
                fix="connect as postgres (the role `supabase db push` uses; BYPASSRLS, NOSUPERUSER on Supabase), "
                    "or grant the probe role what the message names", scope=first_line(err))
        if target and _lost_connection(err):
            return REGISTRY.mark_gone(target, err)
    return None
