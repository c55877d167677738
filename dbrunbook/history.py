"""Migration history: local ``supabase/migrations`` against ``supabase_migrations.schema_migrations``.

Pure comparison logic (no I/O but :func:`read_remote`), in the Supabase CLI's terms
(supabase-facts.md 4.2-4.5): the CLI compares version strings only; we also compare the
``statements`` it records with what the files split into today, so files edited after they
were applied, and files renamed to another version, are named instead of passing silently.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbrunbook import resources
from dbrunbook.exceptions import first_line
from dbrunbook.migrations import MigrationFile, MigrationFileError, SkippedFile, migrations_dir, scan
from dbrunbook.redact import REDACTOR

if TYPE_CHECKING:
    import psycopg

    from dbrunbook.config import RunbookConfig, TargetSpec
    from dbrunbook.session import SessionPolicy

#: The CLI's own messages (cli/apps/cli-go/pkg/migration/apply.go, internal/migration/up/up.go).
MISSING_LOCAL_MSG = "Remote migration versions not found in local migrations directory."
INSERT_BEFORE_MSG = "Found local migration files to be inserted before the last migration on remote database."


@dataclass(frozen=True)
class RemoteMigration:
    """One row of ``supabase_migrations.schema_migrations``."""

    version: str
    name: str
    statements: tuple[str, ...] | None


@dataclass(frozen=True)
class RemoteHistory:
    """What the target says it applied; ``problem`` is set when it could not be read."""

    present: bool
    rows: tuple[RemoteMigration, ...] = ()
    problem: str | None = None


@dataclass(frozen=True)
class Edited:
    """A file whose statements differ from those recorded when it was applied."""

    local: MigrationFile
    differing: tuple[int, ...]
    local_count: int
    recorded_count: int
    diff: str


@dataclass(frozen=True)
class Renamed:
    """Statements recorded under ``remote`` version are now in a file with another version."""

    remote: RemoteMigration
    local: MigrationFile


@dataclass
class Comparison:
    """Every way local files and the target's history disagree."""

    missing_local: list[RemoteMigration] = field(default_factory=list)
    pending: list[MigrationFile] = field(default_factory=list)
    insert_before: list[MigrationFile] = field(default_factory=list)
    edited: list[Edited] = field(default_factory=list)
    renamed: list[Renamed] = field(default_factory=list)
    #: Applied rows recorded without statements (NULL or empty): nothing to compare their file with.
    unrecorded: list[RemoteMigration] = field(default_factory=list)
    #: Applied files whose statements were compared with the recorded ones.
    compared: list[MigrationFile] = field(default_factory=list)
    #: Local files that could not be read (not UTF-8): their contents were not compared.
    unreadable: list[MigrationFileError] = field(default_factory=list)


def resolve_workdir(cfg: RunbookConfig, spec: TargetSpec, rootdir: Path) -> Path | None:
    """The folder holding ``supabase/`` for a target.

    Order: ``--workdir`` (all targets), the target's ``workdir`` in dbrunbook.toml, the demo
    project for the embedded target (that is what it was built from), else the rootdir when it
    has ``supabase/migrations``; None when no folder applies (the checks then skip and say so).
    """
    if cfg.workdir is not None:
        return cfg.workdir
    if spec.workdir is not None:
        return spec.workdir
    if spec.kind == "embedded":
        return resources.demo_workdir()
    return rootdir if migrations_dir(rootdir).is_dir() else None


def valid_timestamp(version: str) -> bool:
    """True for a 14-digit UTC timestamp (``supabase migration new`` format ``20060102150405``)."""
    if len(version) != 14 or not version.isdigit():
        return False
    try:
        datetime.strptime(version, "%Y%m%d%H%M%S")  # a format check only
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Hygiene:
    """Folder problems found without a database."""

    skipped: tuple[SkippedFile, ...]
    duplicates: dict[str, tuple[Path, ...]]
    bad_timestamps: tuple[MigrationFile, ...]


def hygiene(folder: Path) -> Hygiene:
    """Files the CLI skips, versions used twice, versions that are not 14-digit timestamps."""
    files, skipped = scan(folder)
    counts = Counter(f.version for f in files)
    duplicates = {v: tuple(f.path for f in files if f.version == v) for v, n in counts.items() if n > 1}
    return Hygiene(tuple(skipped), duplicates, tuple(f for f in files if not valid_timestamp(f.version)))


def read_remote(conn: psycopg.Connection[dict[str, Any]], policy: SessionPolicy) -> RemoteHistory:
    """Read the history table; absent table or missing columns are reported, not raised."""
    import psycopg

    from dbrunbook import session

    try:
        meta = session.query(conn, policy, resources.sql("history_table"))[0]
    except psycopg.Error as exc:
        return RemoteHistory(present=False, problem=f"cannot inspect supabase_migrations: {first_line(exc)}")
    if not meta["present"]:
        return RemoteHistory(present=False)
    name = "history_versions" if meta["has_statements"] and meta["has_name"] else "history_versions_bare"
    try:
        rows = session.query(conn, policy, resources.sql(name))
    except psycopg.errors.InsufficientPrivilege as exc:
        problem = f"cannot read supabase_migrations.schema_migrations: {first_line(exc)}"
        return RemoteHistory(present=True, problem=problem)
    return RemoteHistory(present=True, rows=tuple(
        RemoteMigration(str(r["version"]), str(r["name"] or ""),
                        tuple(r["statements"]) if r["statements"] is not None else None) for r in rows))


def compare(local: list[MigrationFile], remote: tuple[RemoteMigration, ...]) -> Comparison:
    """Classify every disagreement, as the CLI's ``FindPendingMigrations`` walk plus content checks.

    Of two files with one version, the first (the one ``db push`` applies) is compared; the
    folder-hygiene check names the second.
    """
    result = Comparison()
    by_version: dict[str, MigrationFile] = {}
    for f in local:
        by_version.setdefault(f.version, f)
    remote_versions = {r.version for r in remote}
    statements: dict[str, tuple[str, ...] | None] = {}

    def statements_of(f: MigrationFile) -> tuple[str, ...] | None:
        if f.version not in statements:
            try:
                statements[f.version] = tuple(f.statements())
            except MigrationFileError as exc:
                statements[f.version] = None
                result.unreadable.append(exc)
        return statements[f.version]

    missing = [r for r in remote if r.version not in by_version]
    not_applied = [f for f in local if f.version not in remote_versions]
    # Renamed: the statements recorded under a vanished version are exactly those of an unapplied file.
    for row in list(missing):
        if not row.statements:
            continue
        match = next((f for f in not_applied if statements_of(f) == row.statements), None)
        if match is not None:
            result.renamed.append(Renamed(row, match))
            missing.remove(row)
            not_applied.remove(match)
    result.missing_local = missing
    last_applied = max((r.version for r in remote), key=_version_key, default=None)
    for f in not_applied:
        if last_applied is not None and _version_key(f.version) < _version_key(last_applied):
            result.insert_before.append(f)
        else:
            result.pending.append(f)
    for row in remote:
        applied = by_version.get(row.version)
        if applied is None:
            continue
        if not row.statements:
            result.unrecorded.append(row)
            continue
        mine = statements_of(applied)
        if mine is None:
            continue
        result.compared.append(applied)
        if mine != row.statements:
            result.edited.append(_edited(applied, mine, row.statements))
    return result


def _version_key(version: str) -> tuple[int, str]:
    # The CLI compares versions as integers in `migration list` and as strings in push; integers
    # first keeps 9_x before 10_x, the string breaks ties such as 001 vs 1.
    return (int(version), version) if version.isdigit() else (-1, version)


def _edited(f: MigrationFile, mine: tuple[str, ...], recorded: tuple[str, ...], max_lines: int = 24) -> Edited:
    differing = tuple(i + 1 for i in range(max(len(mine), len(recorded)))
                      if (mine[i] if i < len(mine) else None) != (recorded[i] if i < len(recorded) else None))
    lines = list(difflib.unified_diff(
        "\n".join(recorded).splitlines(), "\n".join(mine).splitlines(),
        fromfile=f"recorded at apply ({f.version})", tofile=f"{f.path.name} now", lineterm="", n=1))
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... ({len(lines) - max_lines} more diff lines)"]
    return Edited(f, differing, len(mine), len(recorded), REDACTOR.text("\n".join(lines)))


