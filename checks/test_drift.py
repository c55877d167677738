"""Runbook "3) Migrações e drift": the target's schema is what supabase/migrations builds.

Baseline: a shadow built from the migrations folder (default), another target
(``--compare-target staging``) or a saved snapshot (``--compare-snapshot last-night.json``).
One node per object KIND, not per object: drifted objects only exist once the database has been
read, after collection; a kind's node lists every drifted object of that kind with its full name,
expected and actual values (docs/checks/drift.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dbrunbook import catalog, drift
from dbrunbook.checking import Check
from dbrunbook.migrations import MigrationFileError
from dbrunbook.outcomes import Inconclusive
from dbrunbook.targets import Target

pytestmark = [pytest.mark.drift]

RUNBOOK = "Diagnóstico 3 (Migrações e drift): drift entre ambientes"

#: Policy drift changes who sees which tenant's rows: the runbook's P0.
SEVERITY = {"policies": "P0"}


@pytest.fixture
def drift_result(target: Target, db: Any, pytestconfig: pytest.Config) -> drift.TargetDrift:
    """This target's drift against the run's baseline (computed once per target)."""
    return drift.get(pytestconfig).for_target(target, db)


@pytest.mark.check("drift.baseline", severity="P2", runbook=RUNBOOK)
def test_expected_schema_can_be_built(target: Target, drift_result: drift.TargetDrift, check: Check) -> None:
    """The baseline exists (the migrations apply on a clean shadow) and the target's catalog is readable."""
    base = drift_result.baseline
    check.add_evidence("baseline", {"kind": base.kind, "label": base.label, "notes": base.notes + drift_result.notes})
    if drift_result.cause is not None:  # locked, or a right missing: no verdict about the schema
        raise drift_result.cause
    if drift_result.error is not None:  # timeout, lost connection: classified by the verdict hooks
        raise drift_result.error
    if drift_result.problem:
        check.fail(check.finding(drift_result.problem, f"target {target.name}",
                                 "connect as postgres (or a role that can read pg_catalog) and rerun"))
    if isinstance(base.failure, MigrationFileError):  # bad input, not a migration that fails to run
        bad = base.failure
        raise Inconclusive("setup", f"{bad.path}: {bad.problem}", fix=bad.fix, scope=str(Path(bad.path).parent))
    if base.failure is not None:
        f = base.failure
        check.fail(check.finding(
            f"supabase/migrations does not apply on a clean Supabase-shaped database: {f.error}",
            f"{f.path}, statement {f.statement_no}",
            "fix the migration (it would fail the same way on a fresh project or preview branch: supabase db "
            "reset); drift could not be checked, the history checks (pytest -m migrations) still ran",
            detail=f"statement {f.statement_no}:\n{f.statement[:1500]}"))
    if base.problem:
        check.fail(check.finding(base.problem, base.label, "fix the baseline option (see docs/checks/drift.md)"))
    if drift_result.snapshot_error is not None:
        raise drift_result.snapshot_error


@pytest.mark.parametrize("kind", [
    pytest.param(kind, id=kind, marks=pytest.mark.check(f"drift.{kind}", severity=SEVERITY.get(kind, "P2"),
                                                        runbook=RUNBOOK))
    for kind in catalog.KINDS])
def test_schema_matches_baseline(kind: str, target: Target, drift_result: drift.TargetDrift, check: Check) -> None:
    """Every object of this kind on the target equals the baseline's (name, definition, grants, owner)."""
    base = drift_result.baseline
    if drift_result.problem or base.snapshot is None:
        pytest.skip(f"{target.name}: no comparison possible (reported by drift.baseline)")
    items = drift_result.of_kind(kind)
    check.add_evidence("baseline", base.label)
    check.add_evidence("drift", [i.as_dict() for i in items])
    findings = []
    for item in items:
        title, detail, fix = drift.describe(item, target.name, base)
        findings.append(check.finding(title, f"{target.name}: {item.key}", fix, detail=detail,
                                      severity=drift.severity(item, base, drift_result.actual),
                                      metadata={"kind": kind, "object": item.key, "change": item.change}))
    check.require_none(findings)
