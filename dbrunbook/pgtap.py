"""A project's pgTAP suite (``supabase/tests``), run the way ``supabase test db`` runs it.

What the Supabase CLI does (internal/db/test/test.go, supabase-facts.md §10), reproduced here:

1. connect as the target's user (``postgres`` on the embedded target) and run
   ``create extension if not exists pgtap with schema extensions``; on hosted, supautils delegates it
   to supabase_admin (the embedded target models that: fixtures/bootstrap/05_supautils.sql), so a
   project's ``alter default privileges ... revoke execute ... from public`` does not reach pgTAP;
2. ``pg_prove --ext .pg --ext .sql -r supabase/tests`` from ``supabase/``: every ``*.sql``/``*.pg``
   file below ``supabase/tests``, in byte order of the path, each file one psql session (one TAP
   stream, ``ON_ERROR_STOP``);
3. drop pgtap again if step 1 created it.

We run ``pg_prove`` once per file (each file one test node) with ``--verbose`` and read its TAP:
every ``not ok`` with its description and diagnostics, a psql error that stopped the file, a plan
that was not met.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    import psycopg

ENABLE_PGTAP = "create extension if not exists pgtap with schema extensions"
DISABLE_PGTAP = "drop extension if exists pgtap"
EXTENSIONS = (".pg", ".sql")
FILE_TIMEOUT_S = 600.0  # one file; a suite that needs longer is split into files

# TAP::Parser's grammar: "ok", number (pgTAP always numbers; pg_prove's own closing "ok" has none),
# anything as description (a psql row of several columns reads "ok 16|text"), "# TODO/SKIP" directive.
_TAP_LINE = re.compile(r"^(not )?ok\b\s*(\d+)\s*(.*?)\s*(?:#\s*(TODO|SKIP)\b.*)?$", re.IGNORECASE)
_PLAN = re.compile(r"^1\.\.(\d+)")
_PSQL_ERROR = re.compile(r"^psql:(?P<file>[^:]+):(?P<line>\d+): (?P<message>(?:ERROR|FATAL):.*)$")


def tests_dir(workdir: Path) -> Path:
    """``<workdir>/supabase/tests``."""
    return workdir / "supabase" / "tests"


def test_files(workdir: Path) -> list[Path]:
    """The files ``pg_prove --ext .pg --ext .sql -r supabase/tests`` runs, in its order."""
    root = tests_dir(workdir)
    if not root.is_dir():
        return []
    found = [p for p in root.rglob("*") if p.is_file() and p.suffix in EXTENSIONS]
    return sorted(found, key=lambda p: str(p).encode())


@dataclass
class Assertion:
    """One ``ok``/``not ok`` line and the diagnostics that follow it."""

    number: int
    ok: bool
    description: str
    directive: str = ""
    diagnostics: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """A ``not ok`` that is not TODO (pg_prove's rule)."""
        return not self.ok and self.directive.upper() != "TODO"


@dataclass
class FileResult:
    """What ``pg_prove`` said about one file."""

    path: Path
    returncode: int
    planned: int | None
    assertions: list[Assertion]
    errors: list[str]
    output: str

    @property
    def failures(self) -> list[Assertion]:
        """Failing assertions, in order."""
        return [a for a in self.assertions if a.failed]

    @property
    def plan_problem(self) -> str | None:
        """'planned N but ran M' when the plan was not met (a file that stopped early)."""
        if self.planned is None:
            return "no plan: the file printed no '1..N' line (select plan(N) or select * from no_plan())"
        if self.planned != len(self.assertions):
            return f"planned {self.planned} tests but ran {len(self.assertions)}"
        return None

    @property
    def passed(self) -> bool:
        """pg_prove's verdict."""
        return self.returncode == 0 and not self.failures and not self.errors and self.plan_problem is None


def parse_tap(stdout: str) -> tuple[int | None, list[Assertion]]:
    """Plan and assertions of a TAP stream (pg_prove --verbose prints the file's TAP).

    >>> plan, tests = parse_tap("1..2\\nok 1 - fine\\nnot ok 2 - broken\\n# Failed test 2: \\"broken\\"\\n#  have: 1")
    >>> plan, [(t.number, t.ok, t.description, t.diagnostics) for t in tests]
    (2, [(1, True, 'fine', []), (2, False, 'broken', ['Failed test 2: "broken"', ' have: 1'])])
    >>> [(t.number, t.description, t.directive) for t in parse_tap("ok 3|two columns\\nnot ok 4 # TODO later")[1]]
    [(3, 'two columns', ''), (4, '', 'TODO')]
    """
    planned: int | None = None
    assertions: list[Assertion] = []
    for raw in stdout.splitlines():
        line = raw.rstrip()
        plan = _PLAN.match(line.strip())
        if plan and planned is None:
            planned = int(plan.group(1))
            continue
        match = _TAP_LINE.match(line.strip())
        if match:
            number = int(match.group(2))
            description = re.sub(r"^[-|]\s*", "", (match.group(3) or "").strip())
            assertions.append(Assertion(number, match.group(1) is None, description, (match.group(4) or "").upper()))
        elif line.lstrip().startswith("#") and assertions and not assertions[-1].ok:
            text = line.lstrip()[1:]
            assertions[-1].diagnostics.append(text[1:] if text.startswith(" ") else text)
    return planned, assertions


def psql_errors(stderr: str) -> list[str]:
    """Psql's ERROR lines (with their DETAIL/HINT lines) as ``file:line: ERROR: ...``."""
    errors: list[str] = []
    for line in stderr.splitlines():
        match = _PSQL_ERROR.match(line)
        if match:
            errors.append(f"{Path(match['file']).name}:{match['line']}: {match['message']}")
        elif errors and line.startswith(("DETAIL:", "HINT:")):
            errors[-1] += f" {line.strip()}"
    return errors


def pg_env(dsn: str) -> dict[str, str]:
    """Libpq variables for ``dsn`` (pg_prove passes them to psql); the password never goes on argv."""
    parts = urlsplit(dsn)
    env = {"PGHOST": parts.hostname or "127.0.0.1", "PGPORT": str(parts.port or 5432),
           "PGUSER": unquote(parts.username or "postgres"), "PGDATABASE": (parts.path or "/postgres")[1:] or "postgres"}
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    for item in (parts.query or "").split("&"):
        key, _, value = item.partition("=")
        if key == "sslmode":
            env["PGSSLMODE"] = value
    return env


def pg_prove() -> str | None:
    """Path of pg_prove, or None."""
    return shutil.which("pg_prove")


def run_file(dsn: str, path: Path, workdir: Path, *, timeout: float = FILE_TIMEOUT_S) -> FileResult:
    """Run one file with ``pg_prove`` as ``supabase test db`` would (cwd ``supabase/``)."""
    binary = pg_prove()
    if binary is None:
        raise FileNotFoundError("pg_prove")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(pg_env(dsn))
    env["PGAPPNAME"] = "dbrunbook-pgtap"
    cwd = workdir / "supabase"
    proc = subprocess.run([binary, "--verbose", "--ext", ".pg", "--ext", ".sql", str(path)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    planned, assertions = parse_tap(proc.stdout)
    return FileResult(path, proc.returncode, planned, assertions, psql_errors(proc.stderr),
                      proc.stdout + proc.stderr)


def enable(conn: psycopg.Connection[Any]) -> bool:
    """``create extension if not exists pgtap with schema extensions``; True when it created it."""
    before = conn.execute("select 1 from pg_catalog.pg_extension where extname = 'pgtap'").fetchone()
    conn.execute(ENABLE_PGTAP)
    return before is None
