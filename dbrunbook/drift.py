"""Schema drift of a run: baseline (migrations shadow, another target or a saved snapshot) vs target.

One :class:`DriftSession` per pytest process (in ``config.stash``) computes each target's drift
once, whatever number of check nodes read it; it registers itself as a plugin so that at session
end it writes ``<reports stem>-drift.json`` next to the HTML/JUnit/JSON reports, and it stops the
shadow servers it started.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dbrunbook import catalog, causes, driftscope, inputfiles, lockguard, options
from dbrunbook.catalog import DriftItem, Snapshot
from dbrunbook.exceptions import MigrationFailed, first_line
from dbrunbook.history import resolve_workdir
from dbrunbook.migrations import migrations_dir
from dbrunbook.outcomes import Inconclusive
from dbrunbook.redact import REDACTOR
from dbrunbook.severity import Severity
from dbrunbook.shadow import ShadowPool

if TYPE_CHECKING:
    import psycopg

    from dbrunbook.config import RunbookConfig, TargetSpec
    from dbrunbook.targets import Target

DRIFT_KEY = pytest.StashKey["DriftSession"]()
REPORT_FORMAT = 1


@dataclass
class Baseline:
    """What a target is compared with; ``snapshot`` is None when it could not be built."""

    kind: str  # migrations | target | snapshot
    label: str
    snapshot: Snapshot | None = None
    #: the platform layer alone (migrations baseline only): tells what the migrations created or changed
    platform: Snapshot | None = None
    failure: MigrationFailed | None = None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class TargetDrift:
    """The drift of one target: every item, plus why some things could not be compared."""

    target: str
    baseline: Baseline
    actual: Snapshot | None = None
    items: list[DriftItem] = field(default_factory=list)
    #: platform-layer differences left out of the user scope (``--drift-scope=all`` reports them)
    hidden: list[driftscope.Hidden] = field(default_factory=list)
    scope: str = "user"
    notes: list[str] = field(default_factory=list)
    problem: str | None = None
    #: why no verdict could be reached (a lock, a missing right), raised by drift.baseline
    cause: Inconclusive | None = None
    #: an error reading the target's catalog, re-raised by drift.baseline for the verdict hooks to classify
    error: Exception | None = None
    #: --snapshot-out could not be written: drift.baseline reports it (setup), the diff still counts
    snapshot_error: Inconclusive | None = None

    def of_kind(self, kind: str) -> list[DriftItem]:
        """Drift items of one object kind."""
        return [i for i in self.items if i.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the drift report."""
        b = self.baseline
        return {
            "target": self.target,
            "status": "error" if (self.problem or b.snapshot is None) else ("drift" if self.items else "clean"),
            "baseline": {"kind": b.kind, "label": b.label, "problem": b.problem,
                         "server_version_num": b.snapshot.server_version_num if b.snapshot else None,
                         "migration_failed": {"file": b.failure.path, "statement_no": b.failure.statement_no,
                                              "statement": b.failure.statement[:2000], "error": b.failure.error}
                         if b.failure else None},
            "actual_server_version_num": self.actual.server_version_num if self.actual else None,
            "problem": self.problem, "notes": [*b.notes, *self.notes],
            "scope": self.scope,
            "counts": {k: len(self.of_kind(k)) for k in catalog.KINDS if self.of_kind(k)},
            "items": [{**i.as_dict(), "origin": driftscope.origin(i, b.platform, b.snapshot)} if b.snapshot else
                      i.as_dict() for i in self.items],
            "platform_layer_not_shown": [{**h.item.as_dict(), "reason": h.reason} for h in self.hidden],
        }


class DriftSession:
    """Computes and remembers drift per target; writes the drift report at session end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.pool = ShadowPool()
        self.results: dict[str, TargetDrift] = {}
        self._compare_snapshots: dict[str, Snapshot] = {}
        self._compare_file: Snapshot | Inconclusive | None = None

    @property
    def cfg(self) -> RunbookConfig:
        """The run's resolved configuration."""
        from dbrunbook.factories import CONFIG_KEY

        return self.config.stash[CONFIG_KEY].cfg

    def for_target(self, target: Target, db: psycopg.Connection[dict[str, Any]]) -> TargetDrift:
        """Snapshot the target, build its baseline, diff them (once per target and run)."""
        if target.name in self.results:
            return self.results[target.name]
        snapshot_path = options.value(self.config, "dbrunbook_compare_snapshot")
        if snapshot_path:  # an unusable --compare-snapshot stops the drift checks before any probe (setup)
            self._loaded_snapshot(Path(str(snapshot_path)).expanduser())
        # The catalog deparse functions (pg_get_expr on policies, defaults, partition keys, views) queue
        # behind an ACCESS EXCLUSIVE lock until lock_timeout: skip at once and name the blocker instead.
        locked = _still_locked(target, db)
        if locked:
            result = TargetDrift(target.name, Baseline("migrations", "not built: the target's catalog was not read"))
            result.cause = Inconclusive("locked", f"drift not checked on {target.name}: "
                                        f"{lockguard.describe(locked, sorted(locked))}",
                                        fix="rerun pytest -m drift once the lock is released", scope="drift catalog")
            result.problem = result.cause.message
            self.results[target.name] = result
            return result
        problem: str | None = None
        error: Exception | None = None
        try:
            actual: Snapshot | None = catalog.take(db, target.policy, f"target {target.name}")
        except Exception as exc:  # psycopg.Error: classified by the check (locked, rights, timeout, gone)
            actual, error = None, exc
            problem = f"cannot read {target.name}'s catalog: {first_line(exc)}"
        snapshot_error = self._write_snapshot(target.name, actual) if actual is not None else None
        baseline = self.baseline(target, actual.major if actual else None)
        result = TargetDrift(target.name, baseline, actual, snapshot_error=snapshot_error)
        if actual is None:
            result.problem = problem
            result.cause = _cause(target.name, error)
            result.error = error if result.cause is None else None
        elif baseline.snapshot is not None:
            result.scope = self.scope
            result.items, result.hidden = driftscope.split(
                catalog.diff(baseline.snapshot, actual), scope="all" if self.scope == "all" else "user",
                baseline=baseline.snapshot, platform=baseline.platform, actual=actual)
            result.notes = catalog.not_comparable(baseline.snapshot, actual)
            if result.hidden:
                result.notes.append(
                    f"{len(result.hidden)} platform-layer difference(s) not shown (not created or changed by "
                    "supabase/migrations: extensions and versions, platform roles' grants and settings, platform "
                    "schemas); --drift-scope=all shows them, the drift report lists them")
            if baseline.snapshot.major != actual.major:
                result.notes.append(f"{baseline.label} runs PostgreSQL {baseline.snapshot.major}, {target.name} "
                                    f"runs {actual.major}: extension versions were not compared")
        self.results[target.name] = result
        return result

    @property
    def scope(self) -> str:
        """``user`` (default) or ``all`` (--drift-scope)."""
        raw = str(options.value(self.config, "dbrunbook_drift_scope") or "user").strip().lower()
        return raw if raw in driftscope.SCOPES else "user"

    def baseline(self, target: Target, major: int | None) -> Baseline:
        """The expected schema: --compare-snapshot, else --compare-target, else the migrations shadow."""
        snapshot_path = options.value(self.config, "dbrunbook_compare_snapshot")
        if snapshot_path:
            return self._from_snapshot(Path(str(snapshot_path)).expanduser())
        other = options.value(self.config, "dbrunbook_compare_target")
        if other:
            return self._from_target(str(other), target)
        return self._from_migrations(target.spec, major)

    def _from_snapshot(self, path: Path) -> Baseline:
        return Baseline("snapshot", f"snapshot {path}", self._loaded_snapshot(path))

    def _loaded_snapshot(self, path: Path) -> Snapshot:
        """--compare-snapshot, read once per run; unusable: the same setup cause for every target."""
        if self._compare_file is None:
            try:
                self._compare_file = inputfiles.load_snapshot(path)
            except Inconclusive as exc:
                self._compare_file = exc
        if isinstance(self._compare_file, Inconclusive):
            cause = self._compare_file
            raise Inconclusive(cause.kind, cause.message, fix=cause.fix, scope=cause.scope)
        return self._compare_file

    def _from_target(self, name: str, target: Target) -> Baseline:
        from dbrunbook.config import load_targets
        from dbrunbook.session import SessionPolicy, connect
        from dbrunbook.targets import KINDS

        label = f"target {name}"
        if name == target.name:
            return Baseline("target", label, problem=f"--compare-target {name} is the target itself")
        if name in self._compare_snapshots:
            return Baseline("target", label, self._compare_snapshots[name])
        specs = load_targets(self.cfg.targets_file)
        spec = specs.get(name)
        if spec is None:
            return Baseline("target", label, problem=f"--compare-target {name!r} is not a target; known: "
                                                      f"{', '.join(sorted(specs))}")
        if spec.kind == "embedded":
            base = self._from_migrations(spec, None)
            base.kind, base.label = "target", f"target {name} ({base.label})"
            return base
        resolver = KINDS[spec.kind]
        assert resolver is not None
        other = resolver(spec)
        if other.problem or not other.dsn:
            return Baseline("target", label, problem=f"{name}: {other.problem or other.skip_reason}")
        policy = SessionPolicy(read_only=True, thresholds=spec.thresholds)
        try:
            with connect(other.dsn, policy) as conn:
                snap = catalog.take(conn, policy, label)
        except Exception as exc:  # psycopg.Error: unreachable, auth, permissions
            return Baseline("target", label, problem=f"cannot read {name}'s catalog: "
                                                     f"{REDACTOR.text(first_line(exc))}")
        self._compare_snapshots[name] = snap
        return Baseline("target", label, snap)

    def _from_migrations(self, spec: TargetSpec, major: int | None) -> Baseline:
        workdir = resolve_workdir(self.cfg, spec, Path(self.config.rootpath))
        if workdir is None:  # a configuration gap, shared with the history checks: one setup cause
            raise causes.no_workdir(spec.name, spec.name)
        empty = causes.no_migrations(migrations_dir(workdir), spec.name)
        if empty is not None:  # one setup cause (shared with the history checks), not every object as drift
            raise empty
        found = self.pool.snapshots(workdir, mode=spec.bootstrap_mode, platform=spec.platform, target_major=major,
                                    thresholds=spec.thresholds)
        if found.shadow is None:
            return Baseline("migrations", found.label, failure=found.failure, problem=found.problem)
        return Baseline("migrations", found.label, found.shadow, platform=found.platform,
                        notes=[found.note] if found.note else [])

    def _write_snapshot(self, name: str, snap: Snapshot) -> Inconclusive | None:
        out = options.value(self.config, "dbrunbook_snapshot_out")
        if not out:
            return None
        path = str(out)
        if "{target}" in path:
            path = path.replace("{target}", name)
        elif len(self.cfg.targets) > 1:
            p = Path(path)
            path = str(p.with_name(f"{p.stem}-{name}{p.suffix}"))
        return inputfiles.save_snapshot(snap, Path(path).expanduser())

    # -- plugin hooks (registered by get()) ----------------------------------------------------
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write ``<reports stem>-drift.json`` (every process that computed drift writes its own)."""
        from dbrunbook.reporting import STATE_KEY

        state = self.config.stash.get(STATE_KEY, None)
        json_path = (state or {}).get("paths", {}).get("json")
        if not self.results or not self.cfg.write_reports:
            return
        if json_path:
            path = Path(json_path).with_name(Path(json_path).stem + "-drift.json")
        else:  # a pytest-xdist worker: no report paths of its own
            stem = "+".join(t.name for t in self.cfg.targets) + datetime.now(UTC).strftime("-%Y%m%dT%H%M%SZ")
            path = self.cfg.reports_dir / f"{stem}-drift.json"
        document = {
            "tool": "dbrunbook", "format": REPORT_FORMAT, "generated_at": datetime.now(UTC).isoformat(),
            "exit_status": int(exitstatus),
            "drift": any(r.items for r in self.results.values()),
            "errors": any(r.problem or r.baseline.snapshot is None for r in self.results.values()),
            "targets": [r.as_dict() for r in self.results.values()],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(REDACTOR.text(json.dumps(REDACTOR.data(document), indent=2, default=str)), encoding="utf-8")

    def close(self) -> None:
        """Stop the shadows."""
        self.pool.close()


_NOUNS: dict[str, str] = {
    "schemas": "schema", "extensions": "extension", "tables": "table", "columns": "column",
    "constraints": "constraint", "indexes": "index", "policies": "policy", "functions": "function",
    "triggers": "trigger", "views": "view", "sequences": "sequence", "types": "type",
    "publications": "publication", "privileges": "grant on", "default_privileges": "default privileges",
    "ownership": "owner of", "role_settings": "setting", "cron_jobs": "cron job",
}
_HINTS: dict[str, str] = {
    "role_settings": "ALTER ROLE <role> SET/RESET <setting> in a migration, then notify pgrst, 'reload config'",
    "policies": "policies decide tenant isolation: compare USING / WITH CHECK and run pytest -m rls",
    "functions": "a changed SECURITY DEFINER helper changes what every policy calling it allows, with the "
                 "policies untouched: diff the body below and run pytest -m rls",
    "privileges": "GRANT/REVOKE in a migration; PostgREST exposes what anon/authenticated can reach",
    "cron_jobs": "cron.schedule / cron.unschedule in a migration",
}


def describe(item: DriftItem, target: str, baseline: Baseline) -> tuple[str, str, str]:
    """Title, detail (expected vs actual) and remediation of one drift item, in runbook words."""
    noun = _NOUNS.get(item.kind, item.kind)
    source = "supabase/migrations" if baseline.kind == "migrations" else baseline.label
    made_by = driftscope.origin(item, baseline.platform, baseline.snapshot) if baseline.snapshot else "unknown"
    if made_by == "platform":  # only with --drift-scope=all: no migration made the expected side
        source = "the shadow's platform layer (no migration creates or changes it)"
    if item.change == "missing" and made_by == "platform":
        title = f"{noun} {item.key}: in {source}, missing on {target}"
        fix = (f"a platform-layer difference, not a missing migration: {target}'s platform (era, extensions "
               "its project has) differs from the embedded one; set the target's platform era if it is wrong, "
               "otherwise nothing to apply")
        detail = f"expected: {_attrs(item.expected)}"
    elif item.change == "missing":
        title = f"{noun} {item.key}: in {source}, missing on {target}"
        fix = (f"apply the migration that creates it (pytest -m migrations names what did not land), or recreate "
               f"it through a new migration; never by hand on {target}")
        detail = f"expected: {_attrs(item.expected)}"
    elif item.change == "unexpected":
        title = f"{noun} {item.key}: on {target}, not in {source}"
        fix = ("created outside the migrations: if it is wanted, capture it in a migration (supabase migration "
               "new <name>); otherwise drop it through a migration")
        detail = f"actual: {_attrs(item.actual)}"
    else:
        title = f"{noun} {item.key}: {', '.join(item.fields)} differ{'s' if len(item.fields) == 1 else ''} " \
                f"between {source} and {target}"
        fix = (f"if the change on {target} is wanted, write it as a migration; otherwise restore the expected "
               "definition through a migration")
        detail = "\n".join(f"{f}: expected {_short((item.expected or {}).get(f))}\n"
                           f"{' ' * len(f)}  actual   {_short((item.actual or {}).get(f))}" for f in item.fields)
        if "body_fingerprint" in item.fields:
            detail += "\n" + _body_diff(item)
    hint = _HINTS.get(item.kind)
    return title, REDACTOR.text(detail), fix + (f"\n{hint}" if hint else "")


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _attrs(attrs: Any) -> str:
    if not attrs:
        return "(exists)"
    return ", ".join(f"{k}={_short(v, 120)}" for k, v in attrs.items() if not k.startswith("_") and v not in
                     (None, [], {}, ""))


def _body_diff(item: DriftItem, max_lines: int = 16) -> str:
    import difflib

    want = str((item.expected or {}).get("_body") or "").splitlines()
    have = str((item.actual or {}).get("_body") or "").splitlines()
    lines = list(difflib.unified_diff(want, have, "expected body", "actual body", lineterm="", n=0))
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... ({len(lines) - max_lines} more lines)"]
    return "\n".join(lines)


def get(config: pytest.Config) -> DriftSession:
    """The run's drift session, created on first use (registered as a plugin, cleaned up at exit)."""
    found = config.stash.get(DRIFT_KEY, None)
    if found is None:
        found = DriftSession(config)
        config.stash[DRIFT_KEY] = found
        config.pluginmanager.register(found, "dbrunbook-drift")
        config.add_cleanup(found.close)
    return found


#: A lock still held after this long is a migration's or a LOCK TABLE's, not autovacuum's
#: end-of-vacuum truncation (milliseconds), which would otherwise make a nightly run inconclusive.
LOCK_RECHECK_S = 0.5


def _still_locked(target: Target, db: psycopg.Connection[dict[str, Any]]) -> dict[str, list[int]]:
    """Relations (outside pg_catalog) held or awaited in ACCESS EXCLUSIVE now and LOCK_RECHECK_S later."""
    import time

    def user_relations(found: dict[str, list[int]]) -> dict[str, list[int]]:
        return {r: p for r, p in found.items()
                if not r.startswith(("pg_catalog.", "pg_toast.", "pg_temp", "information_schema."))}

    first = user_relations(lockguard.exclusive_locks(target, db))
    if not first:
        return {}
    time.sleep(LOCK_RECHECK_S)
    again = lockguard.read_exclusive_locks(target, db)
    return {r: sorted(set(p) & set(again[r])) for r, p in first.items() if set(p) & set(again.get(r, ()))}


def _cause(target: str, exc: BaseException | None) -> Inconclusive | None:
    """A lock or a missing right behind a failed catalog read (timeouts and lost connections: the hooks')."""
    if exc is None:
        return None
    if lockguard.gave_up(exc):
        return Inconclusive("locked", f"drift not checked on {target}: {lockguard.gave_up_reason(exc)}",
                            fix="rerun pytest -m drift once the lock is released", scope="drift catalog")
    if getattr(exc, "sqlstate", None) == "42501":
        return Inconclusive("rights", f"cannot read {target}'s catalog: {first_line(exc)}",
                            fix="connect as postgres (or a role that can read pg_catalog) and rerun",
                            scope="drift catalog")
    return None


#: Roles whose reach is the Data API's: a grant to one of them opens a table over HTTP.
_EXPOSING = ("anon", "authenticated")


def _exposed(snap: Snapshot | None, table: str) -> bool:
    """The API roles can reach ``table`` (schema USAGE and some privilege on it) in ``snap``."""
    if snap is None:
        return False
    privileges = snap.objects.get("privileges", {})
    schema = table.split(".", 1)[0]
    return any(f"schema {schema} to {r}" in privileges for r in (*_EXPOSING, "public")) and any(
        f"{k} {table} to {r}" in privileges for k in ("table", "view") for r in (*_EXPOSING, "public"))


def _tenancy_helper(base: Baseline, function: str) -> bool:
    """``function`` (``schema.name(args)``) decides tenant isolation in the baseline.

    A policy calls it (SECURITY DEFINER or not, a changed helper changes what every policy calling
    it allows), or it is SECURITY DEFINER and the API roles may execute it (it reads past RLS for
    any signed-in user).
    """
    snap = base.snapshot
    if snap is None:
        return False
    called = function.split("(", 1)[0] + "("
    if any(called in str(p.get("using_expr") or "") + str(p.get("check_expr") or "")
           for p in snap.objects.get("policies", {}).values()):
        return True
    attrs = snap.objects.get("functions", {}).get(function) or {}
    privileges = snap.objects.get("privileges", {})
    return bool(attrs.get("security_definer")) and any(
        "EXECUTE" in (privileges.get(f"{kind} {function} to {role}") or {}).get("privileges", ())
        for kind in ("function", "procedure") for role in (*_EXPOSING, "public"))


def severity(item: DriftItem, base: Baseline, actual: Snapshot | None) -> Severity | None:
    """P0 for drift that opens tenant data (as the RLS checks rate it), else None (the kind's severity).

    RLS disabled on (or a new table without RLS in) what the API roles can reach, a grant to anon on a
    table, view or column, and a changed tenancy helper (see ``_tenancy_helper``).
    """
    want, have = item.expected or {}, item.actual or {}
    if item.kind == "tables":
        rls_off = have.get("rls_enabled") is False and (item.change == "unexpected" or want.get("rls_enabled"))
        return "P0" if rls_off and _exposed(actual, item.key) else None
    if item.kind == "privileges" and item.key.endswith(" to anon") and \
            item.key.split(" ", 1)[0] in ("table", "view", "column", "materialized"):
        gained = set(have.get("privileges") or ()) - set(want.get("privileges") or ())
        return "P0" if gained else None
    if item.kind == "functions" and item.change == "changed" and _tenancy_helper(base, item.key):
        return "P0"
    return None
