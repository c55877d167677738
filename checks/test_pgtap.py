"""The project's own pgTAP suite, run as ``supabase test db`` runs it: ``pytest -m pgtap --workdir=DIR``.

One test node per file of ``supabase/tests`` (pg_prove's rules, dbrunbook/pgtap.py); a failing
file lists each failing assertion with its description and pgTAP's diagnostics. The suite writes
(its own transactions, usually rolled back; pgtap is created if missing), so it runs only on
writable targets: the embedded one by default, a staging/CI database with ``read_only = false``.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from dbrunbook import history, pgtap
from dbrunbook.checking import Check
from dbrunbook.config import RunbookConfig, TargetSpec
from dbrunbook.factories import CONFIG_KEY
from dbrunbook.outcomes import Inconclusive
from dbrunbook.targets import Target

pytestmark = [pytest.mark.pgtap, pytest.mark.writes]

RUNBOOK = "Diagnóstico 4 (RLS): the project's pgTAP suite (supabase test db) on the target"
_NONE = "(no pgTAP files)"
_READY = pytest.StashKey[dict[str, bool]]()


def _workdir(config: pytest.Config, cfg: RunbookConfig, target_spec: TargetSpec) -> Path | None:
    return history.resolve_workdir(cfg, target_spec, Path(config.rootpath))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One node per pgTAP file (relative to supabase/tests) of the selected targets' projects."""
    if "pgtap_file" not in metafunc.fixturenames:
        return
    cfg: RunbookConfig = metafunc.config.stash[CONFIG_KEY].cfg
    names: set[str] = set()
    for spec in cfg.targets:
        workdir = _workdir(metafunc.config, cfg, spec)
        if workdir is not None:
            names.update(p.relative_to(pgtap.tests_dir(workdir)).as_posix() for p in pgtap.test_files(workdir))
    files = sorted(names, key=str.encode) or [_NONE]
    metafunc.parametrize("pgtap_file", files, ids=files)


@pytest.fixture
def pgtap_project(target: Target, runbook_config: RunbookConfig, pytestconfig: pytest.Config) -> Path:
    """The target's project folder, with pgtap enabled on the target (once per target and run)."""
    workdir = _workdir(pytestconfig, runbook_config, target.spec)
    if workdir is None or not pgtap.test_files(workdir):
        where = pgtap.tests_dir(workdir) if workdir else "supabase/tests"
        pytest.skip(f"target {target.name}: no pgTAP files in {where} (pass --workdir DIR with DIR/supabase/tests)")
    if pgtap.pg_prove() is None:
        raise Inconclusive("setup", "pg_prove is not installed, so the pgTAP suite cannot run",
                           fix="apt-get install libtap-parser-sourcehandler-pgtap-perl")
    ready = pytestconfig.stash.setdefault(_READY, {})
    if target.name not in ready:
        assert target.dsn is not None
        try:
            with pgtap.admin_session(target.dsn, target.policy, target=target.name, on_gone=target.mark_gone) as conn:
                created = pgtap.enable(conn)
        except psycopg.errors.FeatureNotSupported as exc:
            raise Inconclusive("setup", f"pgTAP is not available on {target.name}: {exc}",
                               fix="install pgTAP for this PostgreSQL (apt-get install postgresql-15-pgtap)") from None
        except psycopg.errors.QueryCanceled as exc:
            raise Inconclusive("timeout", f"enabling pgTAP on {target.name} did not finish in time: "
                               f"{str(exc).strip()}", fix="look for a lock on pg_extension (a migration running?) "
                               "and rerun") from None
        except psycopg.Error as exc:
            raise Inconclusive("setup", f"could not enable pgTAP on {target.name}: {str(exc).strip()}",
                               fix=f"run `{pgtap.ENABLE_PGTAP}` as postgres and read the error") from None
        ready[target.name] = created
        if created:  # as the CLI: drop it again when we created it
            pytestconfig.add_cleanup(lambda: _disable(target))
    return workdir


def _disable(target: Target) -> None:
    assert target.dsn is not None
    try:
        with pgtap.admin_session(target.dsn, target.policy, target=target.name) as conn:
            conn.execute(pgtap.DISABLE_PGTAP)
    except (psycopg.Error, Inconclusive):
        pass  # the throwaway target is going away anyway; a writable target keeps an unused pgtap


@pytest.mark.check("pgtap.file_passes", severity="P2", runbook=RUNBOOK)
def test_pgtap_file_passes(target: Target, pgtap_file: str, pgtap_project: Path, check: Check) -> None:
    """Every assertion of the file passes, its plan is met and psql met no error."""
    path = pgtap.tests_dir(pgtap_project) / pgtap_file
    if pgtap_file == _NONE or not path.is_file():
        pytest.skip(f"target {target.name}: {pgtap_file} is not in {pgtap.tests_dir(pgtap_project)}")
    assert target.dsn is not None
    result = pgtap.run_file(target.dsn, path, pgtap_project, thresholds=target.spec.thresholds)
    where = f"supabase/tests/{pgtap_file}"
    check.add_evidence("tap", result.output[-20000:])
    check.add_evidence("counts", {"planned": result.planned, "ran": len(result.assertions),
                                  "failed": len(result.failures)})
    findings = [check.finding(f"not ok {a.number} - {a.description or '(no description)'}", where,
                              "fix the code under test, or the test if the expectation changed",
                              detail="\n".join(a.diagnostics)) for a in result.failures]
    findings += [check.finding(f"the file stopped on an error: {error}", where,
                               "fix the statement at that line (psql runs each file with ON_ERROR_STOP)")
                 for error in result.errors]
    if result.plan_problem and not result.errors:
        findings.append(check.finding(result.plan_problem, where, "make select plan(N) match the assertions"))
    if not findings and result.returncode != 0:
        findings.append(check.finding(f"pg_prove failed (exit {result.returncode})", where,
                                      "run pg_prove on the file and read its output", detail=result.output[-2000:]))
    check.require_none(findings)
