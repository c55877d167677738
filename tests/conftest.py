"""Self-test glue: a shared Supabase-shaped server and a runner that starts the product as users do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from faultmatrix import FaultMatrix
from faultmatrix import add_options as _fault_matrix_options

from dbrunbook.resources import demo_workdir
from dbrunbook.targets.embedded import EmbeddedInfo, EmbeddedServer

REPO = Path(__file__).resolve().parents[1]
#: Environment variables a developer may have set that would leak into product runs.
_SCRUBBED = ("SUPABASE_DB_URL", "DATABASE_URL", "SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY",
             "SUPABASE_JWT_SECRET", "PYTEST_ADDOPTS", "DBRUNBOOK_TARGET", "DBRUNBOOK_TARGETS_FILE",
             "DBRUNBOOK_WORKDIR", "DBRUNBOOK_LOGS", "DBRUNBOOK_INCIDENT_START", "DBRUNBOOK_NO_REPORTS",
             "DBRUNBOOK_COMPARE_TARGET", "DBRUNBOOK_COMPARE_SNAPSHOT", "DBRUNBOOK_SNAPSHOT_OUT",
             "DBRUNBOOK_REPORTS_DIR", "DBRUNBOOK_CONTRACTS", "PYTEST_XDIST_WORKER")


def pytest_addoption(parser: pytest.Parser) -> None:
    _fault_matrix_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    # The fault matrix prints at the end of `make test` and `make faults` (tests/faultmatrix.py).
    config.pluginmanager.register(FaultMatrix(config), "faultmatrix")


@dataclass
class ProductRun:
    """What one run of the product suite left behind."""

    returncode: int
    stdout: str
    stderr: str
    duration_s: float
    reports_dir: Path
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def result(self, check_id: str, target: str | None = None) -> dict[str, Any]:
        """The JSON result of one check (the first node with that id)."""
        for r in self.results:
            if r["check_id"] == check_id and (target is None or r["target"] == target):
                return r
        raise AssertionError(f"no result for {check_id} in {[r['check_id'] for r in self.results]}\n{self.output}")

    def outcome(self, check_id: str, target: str | None = None) -> str:
        return str(self.result(check_id, target)["outcome"])

    def message(self, check_id: str, target: str | None = None) -> str:
        return str(self.result(check_id, target).get("message") or "")

    def report_files(self) -> dict[str, Path]:
        files = {p.suffix.lstrip("."): p for p in self.reports_dir.glob("*.*")}
        return files

    def junit(self) -> ET.Element:
        return ET.parse(self.report_files()["xml"]).getroot()


class Product:
    """Runs ``python -m pytest`` on the product suite from the repository root, as a user would."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.count = 0

    def run(self, *args: str, targets_toml: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 180, stdin: str | None = None) -> ProductRun:
        self.count += 1
        work = self.tmp_path / f"run{self.count}"
        reports = work / "reports"
        reports.mkdir(parents=True)
        # `--opt=value` form: pytest 9 takes a separate path-like value for a rootdir candidate.
        # -rfEs: the product's own -rfE plus skip reasons, which several self-tests read.
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfEs", f"--reports-dir={reports}"]
        if targets_toml is not None:
            toml = work / "dbrunbook.toml"
            toml.write_text(textwrap.dedent(targets_toml))
            cmd += [f"--targets-file={toml}"]
        cmd += list(args)
        run_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
        run_env.update(env or {})
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=REPO, env=run_env, capture_output=True, text=True, timeout=timeout,
                              input=stdin, check=False)
        run = ProductRun(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0, reports)
        bundles = sorted(reports.glob("*.json"))
        if bundles:
            run.results = json.loads(bundles[-1].read_text())["results"]
        return run


@pytest.fixture
def product(tmp_path: Path) -> Product:
    """Run the product suite in a subprocess; see :class:`Product`."""
    return Product(tmp_path)


@pytest.fixture(scope="session")
def supabase_server() -> Iterator[EmbeddedInfo]:
    """One Supabase-shaped throwaway server with the demo project, shared by the self-tests."""
    server = EmbeddedServer(demo_workdir())
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stopped_server_dsn() -> str:
    """The DSN of a real server that was started and then stopped: what 'database down' looks like."""
    server = EmbeddedServer(demo_workdir())
    info = server.start()
    server.stop()
    return info.dsn


URL_TARGET = """
[targets.t]
kind = "url"
db_url_env = "T_DB_URL"
{extra}
"""


def url_target(extra: str = "") -> str:
    """A targets file with one url target ``t`` reading its DSN from ``T_DB_URL``."""
    return URL_TARGET.format(extra=textwrap.dedent(extra))


def demo_target(extra: str = "") -> str:
    """Like :func:`url_target`, for a clone of the demo database: the demo's contract, named as users do.

    Without it a URL target has no contract (the demo contract applies to the demo workdir only), and
    the behavioural RLS checks report "no contract" instead of probing.
    """
    return url_target(f'contracts = "{REPO / "rls_contracts" / "contracts.toml"}"\n' + textwrap.dedent(extra))


@contextmanager
def own_demo_server() -> Iterator[tuple[EmbeddedServer, EmbeddedInfo]]:
    """A Supabase-shaped demo server a test may stop, kill or freeze (not the shared one)."""
    server = EmbeddedServer(demo_workdir())
    try:
        yield server, server.start()
    finally:
        server.stop()
