"""Runbook "3) Migrações e drift: validar versionamento em supabase/migrations/".

The folder against itself (what the Supabase CLI would skip or trip on) and against the
target's ``supabase_migrations.schema_migrations`` (what did not land, what landed without a
file, what was edited or renamed after it ran). Fast and read-only: also part of triage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dbrunbook import causes, history, lockguard
from dbrunbook.checking import Check
from dbrunbook.config import RunbookConfig
from dbrunbook.migrations import migrations_dir, scan
from dbrunbook.outcomes import Inconclusive
from dbrunbook.targets import Target

pytestmark = [pytest.mark.migrations, pytest.mark.drift, pytest.mark.triage]

RUNBOOK = "Diagnóstico 3 (Migrações e drift): validar versionamento em supabase/migrations/"


@pytest.fixture
def migrations_folder(target: Target, runbook_config: RunbookConfig, pytestconfig: pytest.Config) -> Path:
    """The target's ``supabase/migrations`` (see history.resolve_workdir for the order)."""
    workdir = history.resolve_workdir(runbook_config, target.spec, Path(pytestconfig.rootpath))
    if workdir is None:  # not configured: skip like every optional input (drift.baseline is the setup cause)
        pytest.skip(f"target {target.name}: no migrations folder to compare with; pass --workdir DIR "
                    f"(DIR/supabase/migrations) or set workdir for [targets.{target.name}] in dbrunbook.toml")
    folder = migrations_dir(workdir)
    empty = causes.no_migrations(folder, target.name)
    if empty is not None:  # one setup cause, shared with drift: not every applied version "without a file"
        raise empty
    return folder


HISTORY_TABLE = "supabase_migrations.schema_migrations"
_REMOTE_KEY = pytest.StashKey[dict[str, history.RemoteHistory]]()


@pytest.fixture
def remote(target: Target, db: Any, pytestconfig: pytest.Config) -> history.RemoteHistory:
    """The target's history table, read once per target and run."""
    cache = pytestconfig.stash.setdefault(_REMOTE_KEY, {})
    lockguard.skip_if_locked(target, db, relations=[HISTORY_TABLE])  # `migration repair` truncates it
    if target.name not in cache:
        cache[target.name] = history.read_remote(db, target.policy)
    found = cache[target.name]
    if found.problem:
        pytest.skip(f"{target.name}: {found.problem} (reported by migrations.history_table_present)")
    if not found.present:
        pytest.skip(f"{target.name} has no supabase_migrations.schema_migrations "
                    "(reported by migrations.history_table_present)")
    return found


@pytest.mark.check("migrations.folder_hygiene", severity="P3", runbook=RUNBOOK)
def test_every_migration_file_is_applied_by_the_cli(migrations_folder: Path, check: Check) -> None:
    """No file the CLI would skip, no version used twice, every version a 14-digit UTC timestamp."""
    found = history.hygiene(migrations_folder)
    check.add_evidence("folder", str(migrations_folder))
    findings = [check.finding(
        "the Supabase CLI skips this file: it is never applied", str(s.path), f"rename it to "
        f"<timestamp>_{s.path.stem}.sql (supabase migration new {s.path.stem}) or move it out of "
        "supabase/migrations", detail=f"CLI: {s.reason}") for s in found.skipped]
    findings += [check.finding(
        f"version {version} is used by {len(paths)} files", ", ".join(p.name for p in paths),
        "give each file its own timestamp (the history table's primary key is the version: only one of "
        "them can ever be recorded; db push fails on the second)") for version, paths in found.duplicates.items()]
    findings += [check.finding(
        f"version {f.version} is not a 14-digit UTC timestamp (YYYYMMDDHHMMSS)", str(f.path),
        "rename the file with `supabase migration new` timestamps; versions are compared as numbers by "
        "`migration list` and as strings by `db push`, so other shapes sort differently in each",
        severity="P3") for f in found.bad_timestamps]
    check.require_none(findings)


@pytest.mark.supabase
@pytest.mark.check("migrations.history_table_present", severity="P2", runbook=RUNBOOK)
def test_target_has_a_migration_history(target: Target, db: Any, check: Check, pytestconfig: pytest.Config) -> None:
    """supabase_migrations.schema_migrations exists and can be read."""
    lockguard.skip_if_locked(target, db, relations=[HISTORY_TABLE])
    found = history.read_remote(db, target.policy)
    pytestconfig.stash.setdefault(_REMOTE_KEY, {})[target.name] = found
    check.add_evidence("history", {"present": found.present, "versions": [r.version for r in found.rows]})
    if found.problem:
        check.fail(check.finding(found.problem, f"{target.name}: supabase_migrations.schema_migrations",
                                 "connect as postgres (the role `supabase db push` uses) or grant select on "
                                 "supabase_migrations.schema_migrations to the probe role"))
    if not found.present:
        check.fail(check.finding(
            "the target has no migration history table: migrations were never pushed with the Supabase CLI, "
            "or the table was dropped", f"{target.name}: supabase_migrations.schema_migrations",
            "if the schema was built by hand, record the baseline: supabase migration repair --status applied "
            "<versions> (or supabase db push, which creates the table); nothing else can tell which migrations "
            "ran here"))


@pytest.mark.check("migrations.no_remote_only_versions", severity="P2", runbook=RUNBOOK)
def test_every_applied_version_has_a_local_file(
        target: Target, migrations_folder: Path, remote: history.RemoteHistory, check: Check) -> None:
    """Every version recorded on the target has its file in supabase/migrations."""
    comparison = history.compare(scan(migrations_folder)[0], remote.rows)
    versions = " ".join(r.version for r in comparison.missing_local)
    check.require_none(check.finding(
        f"applied on {target.name} but no local file: {r.version}_{r.name or '?'}.sql",
        f"{target.name}: supabase_migrations.schema_migrations version {r.version}; folder {migrations_folder}",
        f"make sure your git checkout is up to date (git pull); if the migration was really abandoned: "
        f"supabase migration repair --status reverted {versions}; to bring its SQL back: supabase migration "
        f"fetch (writes the file from the recorded statements)",
        detail=f"CLI: {history.MISSING_LOCAL_MSG} (db push refuses to run until this is fixed)")
        for r in comparison.missing_local)


@pytest.mark.check("migrations.no_pending", severity="P2", runbook=RUNBOOK)
def test_every_local_migration_was_applied(
        target: Target, migrations_folder: Path, remote: history.RemoteHistory, check: Check) -> None:
    """Every local file is recorded on the target; none sorts before the last applied one."""
    comparison = history.compare(scan(migrations_folder)[0], remote.rows)
    last = max((r.version for r in remote.rows), default="(none)")
    findings = [check.finding(
        f"migration did not land on {target.name}: {f.path.name}", f"{target.name}; file {f.path}",
        "apply it through the deploy pipeline (supabase db push --db-url ...; never by hand in production), "
        "then rerun pytest -m migrations") for f in comparison.pending]
    findings += [check.finding(
        f"migration did not land on {target.name} and is older than the last applied one ({last}): "
        f"{f.path.name}", f"{target.name}; file {f.path}",
        f"if its changes are already on {target.name} (the history row was lost; pytest -m drift shows it, and "
        f"`supabase db push --include-all` would fail with 'already exists'), record it without running it: "
        f"supabase migration repair --status applied {f.version}; if they are not, review that it is safe to "
        "run after the newer ones, then: supabase db push --include-all (without it the CLI refuses)",
        detail=f"CLI: {history.INSERT_BEFORE_MSG}") for f in comparison.insert_before]
    check.require_none(findings)


@pytest.mark.check("migrations.applied_files_unchanged", severity="P2", runbook=RUNBOOK)
def test_applied_migrations_were_not_edited(
        target: Target, migrations_folder: Path, remote: history.RemoteHistory, check: Check) -> None:
    """Each applied file still splits into exactly the statements recorded when it ran."""
    comparison = history.compare(scan(migrations_folder)[0], remote.rows)
    check.add_evidence("no_statements_recorded", [r.version for r in comparison.unrecorded])
    check.add_evidence("compared", [f.version for f in comparison.compared])
    check.require_none(check.finding(
        f"{e.local.path.name} was edited after it was applied to {target.name}: statement(s) "
        f"{', '.join(map(str, e.differing))} differ ({e.local_count} in the file, {e.recorded_count} recorded)",
        f"{target.name}: supabase_migrations.schema_migrations version {e.local.version}; file {e.local.path}",
        "the edit never ran anywhere the file was already applied: revert the file (git log -p on it) and put "
        "the change in a new migration (supabase migration new <name>); only if the database already matches "
        f"the edited file, record it as is: supabase migration repair --status applied {e.local.version}",
        detail=e.diff) for e in comparison.edited)
    _unreadable_is_inconclusive(comparison, migrations_folder)
    if not comparison.compared:
        versions = " ".join(r.version for r in comparison.unrecorded)
        raise Inconclusive(
            "no_data", f"compared nothing: {target.name}'s history holds no statements for the "
            f"{len(comparison.unrecorded)} applied version(s) that have a local file" if comparison.unrecorded else
            f"compared nothing: none of the files in {migrations_folder} is recorded as applied on {target.name}",
            fix=f"if the local files are exactly what ran, record their statements: supabase migration repair "
                f"--status applied {versions}" if versions else "see migrations.no_pending",
            scope=f"{migrations_folder}: history statements")


def _unreadable_is_inconclusive(comparison: history.Comparison, folder: Path) -> None:
    """Files that could not be read were not compared: no verdict on them, one cause for the folder."""
    if comparison.unreadable:
        first = comparison.unreadable[0]
        more = f" (and {len(comparison.unreadable) - 1} more)" if len(comparison.unreadable) > 1 else ""
        raise Inconclusive("setup", f"{first.path}: {first.problem}{more}", fix=first.fix, scope=str(folder))


@pytest.mark.check("migrations.no_renamed_versions", severity="P3", runbook=RUNBOOK)
def test_applied_migrations_keep_their_version(
        target: Target, migrations_folder: Path, remote: history.RemoteHistory, check: Check) -> None:
    """No applied migration reappears under another version (renamed or re-timestamped file)."""
    comparison = history.compare(scan(migrations_folder)[0], remote.rows)
    check.require_none(check.finding(
        f"{r.local.path.name} holds the statements applied to {target.name} as version {r.remote.version} "
        f"({r.remote.name or '?'}): the file was renamed or re-timestamped",
        f"{target.name}: version {r.remote.version} recorded; file {r.local.path}",
        f"rename the file back to {r.remote.version}_{r.local.name}.sql; or, if the new version is intended: "
        f"supabase migration repair --status reverted {r.remote.version} && supabase migration repair --status "
        f"applied {r.local.version} (db push would otherwise run the same SQL twice)")
        for r in comparison.renamed)
    _unreadable_is_inconclusive(comparison, migrations_folder)
