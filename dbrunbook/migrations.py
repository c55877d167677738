"""supabase/migrations: list files as the Supabase CLI does and apply them the same way.

CLI behaviour we reproduce (supabase-facts.md 4.1-4.2): files matching ``^([0-9]+)_(.*)\\.sql$``
in name order; each file's statements and its history row (version, name, statements) in one
transaction; ``RESET ALL`` before each file; a failing file stops everything and reports the file,
the statement number and the error.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dbrunbook import fidelity
from dbrunbook.exceptions import DbrunbookError, MigrationFailed, code_start
from dbrunbook.sqlsplit import split_and_trim

if TYPE_CHECKING:
    import psycopg

MIGRATION_PATTERN = re.compile(r"^([0-9]+)_(.*)\.sql$")
HISTORY_INSERT = ("insert into supabase_migrations.schema_migrations(version, name, statements) "
                  "values (%s, %s, %s)")


class MigrationFileError(MigrationFailed):
    """A migration file the Supabase CLI cannot apply as it stands (not UTF-8, a version used twice).

    A :class:`MigrationFailed` (so a build reports it as one), whose message is one line naming the
    file, the problem and the fix.
    """

    __module__ = "dbrunbook"

    def __init__(self, path: str, problem: str, fix: str) -> None:
        super().__init__(path, 0, "", f"{problem} (fix: {fix})")
        self.problem = problem
        self.fix = fix
        DbrunbookError.__init__(self, f"{path}: {problem} (fix: {fix})")


def read_sql(path: Path) -> str:
    """The file's text as the CLI reads it: bytes decoded as UTF-8, no newline translation.

    :raises MigrationFileError: the file is not UTF-8 (hosted databases store statements as UTF-8
        text, so ``supabase db push`` fails on it)
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MigrationFileError(
            str(path), f"not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}): `supabase db push` cannot store "
            "it in the history table of a UTF-8 database", f"re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 "
            f"{path.name} -o {path.name}.utf8 && mv {path.name}.utf8 {path.name}") from None


@dataclass(frozen=True)
class MigrationFile:
    """One file of ``supabase/migrations``."""

    path: Path
    version: str
    name: str

    def statements(self) -> list[str]:
        """The statements as the CLI splits and records them (:raises MigrationFileError: not UTF-8)."""
        return split_and_trim(read_sql(self.path))


@dataclass(frozen=True)
class SkippedFile:
    """A file the CLI would ignore, with the CLI's reason."""

    path: Path
    reason: str


def migrations_dir(workdir: Path) -> Path:
    """``<workdir>/supabase/migrations``."""
    return workdir / "supabase" / "migrations"


def scan(folder: Path) -> tuple[list[MigrationFile], list[SkippedFile]]:
    """Files the CLI applies, in order, and the ones it skips (with its message)."""
    files: list[MigrationFile] = []
    skipped: list[SkippedFile] = []
    if not folder.is_dir():
        return files, skipped
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        match = MIGRATION_PATTERN.match(path.name)
        if not match:
            skipped.append(SkippedFile(path, f'Skipping migration {path.name}... (file name must match '
                                             f'pattern "<timestamp>_name.sql")'))
            continue
        version, name = match.groups()
        # Legacy: a first <14 digits>_init.sql older than 20211209000000 is ignored by the CLI.
        if not files and name == "init" and len(version) == 14 and version < "20211209000000":
            skipped.append(SkippedFile(path, f"Skipping migration {path.name}... (legacy init file)"))
            continue
        files.append(MigrationFile(path, version, name))
    return files, skipped


def duplicate_versions(files: list[MigrationFile]) -> dict[str, list[MigrationFile]]:
    """Versions used by more than one file, with their files in the order the CLI applies them."""
    seen: dict[str, list[MigrationFile]] = {}
    for f in files:
        seen.setdefault(f.version, []).append(f)
    return {v: fs for v, fs in seen.items() if len(fs) > 1}


def check_versions(files: list[MigrationFile]) -> None:
    """Refuse a folder where two files share a version, naming the second file (the one that fails).

    :raises MigrationFileError: the CLI applies the first file, then ``supabase db push`` fails on the
        second with a duplicate key in ``schema_migrations``
    """
    for version, same in duplicate_versions(files).items():
        raise MigrationFileError(
            str(same[1].path), f"version {version} is also used by {same[0].path.name}: the history table's key "
            f"is the version, so `supabase db push` applies {same[0].path.name} and fails on this file",
            f"give this file its own timestamp (rename it to <new 14-digit timestamp>_{same[1].name}.sql)")


def digest(paths: Iterable[Path]) -> str:
    """Content hash of files (names and bytes), for template caches."""
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def apply_file(conn: psycopg.Connection[tuple[object, ...]], migration: MigrationFile,
               platform: str | None = None) -> None:
    """Apply one file and record it, in one transaction, as ``supabase db push`` does."""
    statements = migration.statements()
    conn.execute("RESET ALL")
    with conn.transaction():
        _run(conn, migration.path, statements, platform)
        conn.execute(HISTORY_INSERT, (migration.version, migration.name, statements), prepare=False)


def _run(conn: psycopg.Connection[tuple[object, ...]], path: Path, statements: list[str],
         platform: str | None) -> None:
    for number, statement in enumerate(statements, start=1):
        try:
            fidelity.execute(conn, statement)
        except Exception as exc:  # psycopg.Error, re-raised with where it happened
            error = _pg_error(exc)
            raise MigrationFailed(str(path), number, statement, error, line=statement_line(path, statements, number),
                                  hint=fidelity.hint(error, platform)) from None


def statement_line(path: Path, statements: list[str], number: int) -> int | None:
    """Line (1-based) in ``path`` where statement ``number``'s first line of code is."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    cursor = 0
    for index, statement in enumerate(statements[:number], start=1):
        position = text.find(statement, cursor)
        if position < 0:
            return None
        if index == number:
            return text.count("\n", 0, position) + 1 + code_start(statement)[0]
        cursor = position + len(statement)
    return None


def apply_all(conn: psycopg.Connection[tuple[object, ...]], workdir: Path, *, platform: str | None = None,
              on_file: Callable[[int, int], None] | None = None) -> list[MigrationFile]:
    """Apply every migration of ``workdir`` in order; stop at the first failing file.

    ``on_file(done, total)`` is called after each file (build progress).
    """
    files, _skipped = scan(migrations_dir(workdir))
    check_versions(files)
    for done, migration in enumerate(files, start=1):
        apply_file(conn, migration, platform)
        if on_file is not None:
            on_file(done, len(files))
    return files


def apply_seed(conn: psycopg.Connection[tuple[object, ...]], workdir: Path,
               platform: str | None = None) -> Path | None:
    """Run ``supabase/seed.sql`` (the CLI's default seed path) and record its hash in seed_files."""
    seed = workdir / "supabase" / "seed.sql"
    if not seed.is_file():
        return None
    statements = split_and_trim(read_sql(seed))
    conn.execute("RESET ALL")
    with conn.transaction():
        _run(conn, seed, statements, platform)
        conn.execute(
            "insert into supabase_migrations.seed_files(path, hash) values (%s, %s) "
            "on conflict (path) do update set hash = excluded.hash",
            ("supabase/seed.sql", hashlib.sha256(seed.read_bytes()).hexdigest()), prepare=False)
    return seed


def _pg_error(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    sqlstate = getattr(exc, "sqlstate", None)
    message = (getattr(diag, "message_primary", None) or str(exc)).strip()
    return f"{message} (SQLSTATE {sqlstate})" if sqlstate else message
