"""pytest hooks: options, markers, target parametrization and the shared embedded server.

Registered as the ``dbrunbook`` pytest11 entry point. psycopg is imported lazily (inside
fixtures), so loading the plugin costs nothing for runs that never touch a database.
"""

from __future__ import annotations

import gc
from collections.abc import Generator
from typing import Any

import pytest

from dbrunbook import causes, evidence, gates, html_report, options, redact, reporting, runbook, shape
from dbrunbook.config import RunbookConfig
from dbrunbook.factories import (  # noqa: F401  (fixtures are found in this module's namespace)
    CONFIG_KEY,
    _dbrunbook_target,
    check,
    db,
    runbook_config,
    target,
)
from dbrunbook.runtime import Runtime

MARKERS: dict[str, str] = {
    "triage": "fast read-only checks for the first 5 minutes of an incident (runbook 'Triage')",
    "env": "DB/API URLs and keys are present and point at the right things (runbook 'Diagnóstico 1')",
    "health": "monitored services answer their health endpoints (runbook 'Triage 2')",
    "pool": "service connection pools can start (runbook 'Sintomas comuns': ConnectionPool not started)",
    "locks": "blocking locks, long and idle transactions, connection headroom (runbook 'Diagnóstico 2')",
    "migrations": "supabase/migrations against the target's history (runbook 'Diagnóstico 3')",
    "drift": "schema drift between migrations, targets and snapshots (runbook 'Diagnóstico 3')",
    "rls": "tenant isolation by RLS, by structure and by behaviour (runbook 'Diagnóstico 4', P0)",
    "evidence": "post-incident evidence bundle (runbook 'Coleta para pós-incidente')",
    "pgtap": "the project's own pgTAP suite (supabase/tests), run as `supabase test db` runs it",
    "logs": "service logs scanned for the runbook's symptoms (runbook 'Triage 3')",
    "local_only": "needs the local Supabase stack or Docker; skipped on other targets",
    "writes": "writes inside rolled-back transactions; needs a target with read_only = false",
    "supabase": "needs a Supabase-shaped target (auth schema, anon/authenticated roles); skipped elsewhere, "
                "pointing at the one finding that says what is missing",
    "bypassrls": "compares what an identity sees with what the probe role sees: needs a BYPASSRLS (or superuser) "
                 "probe role; without it one 'rights' cause is reported and these checks skip pointing at it",
    "check(id, severity, runbook): check id, severity (P0-P3) and the runbook step it implements": "",
    "pg(spec): run only on servers whose major version matches, e.g. pg('>= 16')": "",
}

#: Checks whose oracle is the probe role seeing every row: without BYPASSRLS a read of 0 rows proves nothing
#: (a false "no row at all", a false LEAK with forged claims). Others may mark their own ``bypassrls``.
ORACLE_CHECKS = frozenset({"rls.read_isolation", "rls.insert_isolation", "rls.update_isolation",
                           "rls.delete_isolation", "rls.api_read_isolation", "rls.forged_claims",
                           "rls.matrix_has_data"})

#: Checks that must run first: their failure explains the skips that follow.
FIRST_CHECKS = ("env.db_url_present", "triage.db_reachable")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the dbrunbook option group."""
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register markers, resolve the config once and wire the reports (before html/junitxml)."""
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {runbook.english(text)}" if text else name)
    cfg = options.build_config(config)
    gates.build(config)
    causes.reset()
    shape.reset()
    config.stash[CONFIG_KEY] = Runtime(config, cfg)
    reporting.configure(config, cfg)
    html_report.register(config)  # first screen + RLS grids on top of the HTML report (reports' module)
    config.pluginmanager.register(evidence.AutoCapture(config), "dbrunbook-evidence")  # triage failure -> bundle
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "dbrunbook-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the embedded server (controller only) and close probe sessions."""
    runtime = config.stash.get(CONFIG_KEY, None)
    if runtime is not None:
        runtime.close()


class _XdistHooks:
    """Workers share the controller's embedded server: its DSN travels in ``workerinput``."""

    def pytest_configure_node(self, node: Any) -> None:
        runtime: Runtime = node.config.stash[CONFIG_KEY]
        node.workerinput["dbrunbook_embedded"] = runtime.embedded_for_workers()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test that uses ``target`` over the selected targets (ids = names)."""
    if "target" in metafunc.fixturenames:
        cfg: RunbookConfig = metafunc.config.stash[CONFIG_KEY].cfg
        metafunc.parametrize("_dbrunbook_target", [t.name for t in cfg.targets],
                             ids=[t.pytest_id for t in cfg.targets], indirect=True, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Folder markers (rls_contracts -> rls, supabase; oracle checks -> bypassrls) and first-check ordering."""
    for item in items:
        if "rls_contracts" in item.path.parts:
            item.add_marker(pytest.mark.rls)
            item.add_marker(pytest.mark.supabase)
        marker = item.get_closest_marker("check")
        if marker and marker.args and marker.args[0] in ORACLE_CHECKS:
            item.add_marker(pytest.mark.bypassrls)

    def first(item: pytest.Item) -> int:
        marker = item.get_closest_marker("check")
        check_id = marker.args[0] if marker and marker.args else ""
        return FIRST_CHECKS.index(check_id) if check_id in FIRST_CHECKS else len(FIRST_CHECKS)

    items.sort(key=first)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Once the checks ran, what they left lives to the end of the run: no more full collections of it.

    Measured on the 2,000-cell RLS bench: 0.5 s of a 2.5 s run went to collections walking the run's
    objects (report writing, pytest's unraisable-exception pass at unconfigure, interpreter exit).
    Not unfrozen at unconfigure: that brought the cost back (interpreter exit collects them all). A
    caller of ``pytest.main()`` in-process keeps the run's objects.
    """
    try:
        return (yield)
    finally:
        gc.freeze()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Describe the targets before pytest-html copies pytest-metadata into its Environment table."""
    runtime: Runtime = session.config.stash[CONFIG_KEY]
    if not runtime.is_worker and session.config.pluginmanager.hasplugin("html"):
        runtime.header_lines()


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Target, redacted host, server version and read-only flag, once per target."""
    runtime: Runtime = config.stash[CONFIG_KEY]
    return runtime.header_lines()


pytest_internalerror = redact.pytest_internalerror  # INTERNALERROR tracebacks redacted too
pytest_make_collect_report = redact.pytest_make_collect_report  # collection errors too
pytest_runtest_makereport = reporting.pytest_runtest_makereport
pytest_report_teststatus = reporting.pytest_report_teststatus
pytest_runtest_logreport = reporting.pytest_runtest_logreport
pytest_terminal_summary = reporting.pytest_terminal_summary
pytest_sessionfinish = reporting.pytest_sessionfinish
pytest_html_results_table_header = reporting.pytest_html_results_table_header
pytest_html_results_table_row = reporting.pytest_html_results_table_row
pytest_html_report_title = reporting.pytest_html_report_title
