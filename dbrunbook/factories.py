"""Fixtures: the session-scoped target, the function-scoped probe connection and the check object."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from dbrunbook import causes, shape
from dbrunbook.checking import CHECK_KEY, Check
from dbrunbook.config import RunbookConfig
from dbrunbook.findings import CheckMeta
from dbrunbook.outcomes import Inconclusive
from dbrunbook.targets import Target

if TYPE_CHECKING:
    import psycopg

    from dbrunbook.runtime import Runtime

CONFIG_KEY = pytest.StashKey["Runtime"]()

#: ``Reachability.reported_by`` when the unreachable target is reported as a cause (not by db_reachable).
_CAUSE = "the first check that needed the database"

#: Checks with these markers never touch the database: a target that stopped answering does not stop them.
_OFFLINE_MARKERS = ("env", "health", "logs")


@pytest.fixture(scope="session")
def runbook_config(pytestconfig: pytest.Config) -> RunbookConfig:
    """The run's resolved configuration (targets, reports, incident start)."""
    return pytestconfig.stash[CONFIG_KEY].cfg


@pytest.fixture(scope="session")
def _dbrunbook_target(request: pytest.FixtureRequest) -> Target:
    """Private, indirect-parametrized: one resolved target per name for the whole session."""
    runtime: Runtime = request.config.stash[CONFIG_KEY]
    return runtime.target(request.param)


@pytest.fixture
def target(_dbrunbook_target: Target, request: pytest.FixtureRequest) -> Target:
    """The target under check; applies the scope markers (``writes``, ``local_only``, ``supabase``).

    A throwaway target that could not be built, a target that stopped answering mid-run and a target
    that is not Supabase-shaped (for ``supabase`` checks) raise their cause: the report hook reports
    it once and skips the later checks it stops, pointing at it.

    :returns: the resolved :class:`~dbrunbook.targets.Target`
    :raises Inconclusive: the cause that stops this check
    """
    t = _dbrunbook_target
    node = request.node
    runtime: Runtime = request.config.stash[CONFIG_KEY]
    offline = any(node.get_closest_marker(m) for m in _OFFLINE_MARKERS)
    build = runtime.build_cause(t.name)
    if build is not None:
        if offline:  # the env checks speak of env vars; the build failure is reported by a database check
            pytest.skip(f"the throwaway target {t.name} was not built: see the setup error")
        raise build
    if t.skip_reason:
        pytest.skip(t.skip_reason)
    if not offline:
        causes.REGISTRY.stop(t)  # a target gone mid-run: one bounded reconnect, then every check skips
    if request.node.get_closest_marker("writes") and t.spec.read_only:
        pytest.skip(f"target {t.name} is read-only: this check writes (inside a rolled-back transaction) "
                    f"and only runs where read_only = false; its read-only variant covers {t.name}")
    if request.node.get_closest_marker("local_only") and not (t.spec.local_stack or t.spec.kind == "container"):
        pytest.skip(f"target {t.name} is not the local Supabase stack: this check needs it (or Docker)")
    if node.get_closest_marker("supabase") and t.dsn and not t.problem and t.reachability().ok:
        shape.require(t)
    if node.get_closest_marker("bypassrls") and t.dsn and not t.problem:
        _require_bypassrls(t)
    return t


def _require_bypassrls(t: Target) -> None:
    """Raise the ``rights`` cause when the probe role cannot see every row (the oracle of RLS checks)."""
    reach = t.reachability()
    if reach.ok and not (reach.bypassrls or reach.superuser):
        # Same key as the matrix's own guard (scope "bypassrls"): one finding for the whole run.
        raise Inconclusive("rights", f"{t.name}: the probe role {reach.current_user!r} lacks BYPASSRLS, so the "
                           "oracle cannot see every row: no RLS behaviour check has a verdict",
                           fix="connect as postgres (NOSUPERUSER BYPASSRLS on Supabase)", scope="bypassrls")


@pytest.fixture
def db(target: Target) -> psycopg.Connection[dict[str, Any]]:
    """The target's shared probe connection; one clear failure per unreachable target, then skips.

    No ``request`` argument: pytest builds a fixture definition for it at every use (~20 us a node).
    """
    if target.problem:
        pytest.skip(f"{target.name}: {target.problem} (see the env checks)")
    reach = target.reachability()
    if not reach.ok:
        assert reach.failure is not None
        if reach.reported_by in (None, _CAUSE):
            # triage.db_reachable gives the P1 verdict itself; any other check cannot reach a verdict: one P1
            # cause for the target (the hooks report it once), never a failure at this check's own severity.
            reach.reported_by = _CAUSE
            raise Inconclusive("target_gone", f"{target.name} is unreachable: {reach.failure.summary}",
                               fix=f"{reach.failure.fix} (runbook: {reach.failure.runbook})")
        pytest.skip(f"{target.name} is unreachable ({reach.failure.cause}); reported by {reach.reported_by}")
    return target.connection()


@pytest.fixture
def check(request: pytest.FixtureRequest) -> Iterator[Check]:
    """Collects this test's findings and evidence; the report hooks write them out."""
    meta = CheckMeta.of(request.node) or CheckMeta(request.node.name, "P2", "")
    callspec = getattr(request.node, "callspec", None)
    target_name = callspec.params.get("_dbrunbook_target") if callspec else None
    ctx = Check(meta, target_name)
    request.node.stash[CHECK_KEY] = ctx
    yield ctx
