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

Bounded like every probe: our own session (the extension) is a :func:`dbrunbook.session.connect`
session (keepalives, ``tcp_user_timeout``, client deadline, application_name ``dbrunbook-pgtap``)
whose transaction sets the local timeouts first. Each file's psql gets the same libpq settings
(from a service file: no password, no host), the target's ``lock_timeout`` and a
``statement_timeout`` of the file's deadline + 5 s on the server; pg_prove and its psql are killed when
that deadline passes (``DBRUNBOOK_PGTAP_TIMEOUT_S``, default 600 s) and the file is inconclusive.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbrunbook import session
from dbrunbook.outcomes import Inconclusive

if TYPE_CHECKING:
    import psycopg

    from dbrunbook.config import Thresholds

ENABLE_PGTAP = "create extension if not exists pgtap with schema extensions"
DISABLE_PGTAP = "drop extension if exists pgtap"
EXTENSIONS = (".pg", ".sql")
FILE_TIMEOUT_S = 600.0  # one file; a suite that needs longer is split into files
#: Overrides FILE_TIMEOUT_S (seconds): a CI whose suite is known to be quick fails fast on a hang.
TIMEOUT_ENV = "DBRUNBOOK_PGTAP_TIMEOUT_S"
APPLICATION_NAME = "dbrunbook-pgtap"
SERVER_GRACE_S = 5.0

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
    """Libpq variables for ``dsn`` (URL or conninfo; pg_prove passes them to psql); the password never goes on argv.

    >>> env = pg_env("postgresql://ana:s%40cr%27t@db.example:6543/app?sslmode=require")
    >>> env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGPASSWORD"], env["PGDATABASE"], env["PGSSLMODE"]
    ('db.example', '6543', 'ana', "s@cr't", 'app', 'require')
    >>> sorted(pg_env("host=127.0.0.1 port=5433 user=postgres dbname=postgres").items())[:2]
    [('PGDATABASE', 'postgres'), ('PGHOST', '127.0.0.1')]
    """
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    env = {"PGHOST": str(params.get("host") or "127.0.0.1"), "PGPORT": str(params.get("port") or 5432),
           "PGUSER": str(params.get("user") or "postgres"), "PGDATABASE": str(params.get("dbname") or "postgres")}
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    if params.get("sslmode"):
        env["PGSSLMODE"] = str(params["sslmode"])
    return env


def file_timeout_s() -> float:
    """The deadline of one file: ``DBRUNBOOK_PGTAP_TIMEOUT_S`` if set (a positive number), else FILE_TIMEOUT_S."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(raw) if raw else FILE_TIMEOUT_S
    except ValueError:
        value = FILE_TIMEOUT_S
    return value if value > 0 else FILE_TIMEOUT_S


def service_file(thresholds: Thresholds) -> str:
    """A libpq service ``[dbrunbook]`` with the probe sessions' settings, for psql (no host, no password).

    libpq has no environment variable for keepalives or tcp_user_timeout, and pg_prove does not
    pass a conninfo string through, so psql gets them from a service file (``PGSERVICEFILE``).

    >>> from dbrunbook.config import Thresholds
    >>> text = service_file(Thresholds())
    >>> text.splitlines()[0], "keepalives=1" in text, "tcp_user_timeout=" in text, "connect_timeout=5" in text
    ('[dbrunbook]', True, True, True)
    """
    params = session.connect_params(thresholds, APPLICATION_NAME)
    return "[dbrunbook]\n" + "".join(f"{key}={value}\n" for key, value in params.items())


def pg_prove() -> str | None:
    """Path of pg_prove, or None."""
    return shutil.which("pg_prove")


def run_file(dsn: str, path: Path, workdir: Path, *, thresholds: Thresholds | None = None,
             timeout: float | None = None) -> FileResult:
    """Run one file with ``pg_prove`` as ``supabase test db`` would (cwd ``supabase/``), within ``timeout``.

    :raises Inconclusive: ``timeout`` when the file did not finish in time (pg_prove and psql are killed)
    """
    from dbrunbook.config import Thresholds

    binary = pg_prove()
    if binary is None:
        raise FileNotFoundError("pg_prove")
    limits = thresholds or Thresholds()
    deadline = file_timeout_s() if timeout is None else timeout
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(pg_env(dsn))
    env["PGAPPNAME"] = APPLICATION_NAME
    # The server ends what the client gave up on: no psql statement outlives the file's deadline by
    # more than SERVER_GRACE_S (later than the client, so a hang reads "did not finish", not a psql error).
    env["PGOPTIONS"] = (f"-c statement_timeout={int((deadline + SERVER_GRACE_S) * 1000)} "
                        f"-c lock_timeout={limits.lock_timeout_ms} "
                        f"-c idle_in_transaction_session_timeout={limits.idle_in_transaction_session_timeout_ms}")
    cmd = [binary, "--verbose", "--ext", ".pg", "--ext", ".sql", str(path)]
    # Its own process group: on the deadline pg_prove *and* the psql it started are killed.
    with tempfile.TemporaryDirectory(prefix="dbrunbook-pgtap-") as tmp, subprocess.Popen(
            cmd, cwd=workdir / "supabase", env=_with_service(env, Path(tmp), limits), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=deadline)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise Inconclusive(
                "timeout", f"pgTAP file {path.name} did not finish within {deadline:g} s (pg_prove stopped)",
                fix=f"find the statement that waits (a lock, a long query) in {path.name}; raise {TIMEOUT_ENV} "
                    "only for a suite known to be slow", scope=f"supabase/tests/{path.name}") from None
    planned, assertions = parse_tap(stdout)
    return FileResult(path, proc.returncode, planned, assertions, psql_errors(stderr), stdout + stderr)


def _with_service(env: dict[str, str], folder: Path, thresholds: Thresholds) -> dict[str, str]:
    path = folder / "pg_service.conf"
    path.write_text(service_file(thresholds))
    return {**env, "PGSERVICEFILE": str(path), "PGSERVICE": "dbrunbook"}


@contextlib.contextmanager
def admin_session(dsn: str, policy: session.SessionPolicy, *, target: str,
                  on_gone: Callable[[Inconclusive], None] | None = None) -> Iterator[psycopg.Connection[Any]]:
    """One bounded transaction on the target as its user (extension changes), committed at the end.

    A :func:`dbrunbook.session.connect` session: keepalives, tcp_user_timeout, the client deadline
    and application_name ``dbrunbook-pgtap``; the local timeouts are its first statement.
    """
    conn = session.connect(dsn, policy, application_name=APPLICATION_NAME, target=target, on_gone=on_gone)
    with conn:  # commits on success, rolls back on an error, closes
        session.set_local_timeouts(conn, policy.thresholds)
        yield conn


def enable(conn: psycopg.Connection[Any]) -> bool:
    """``create extension if not exists pgtap with schema extensions``; True when it created it."""
    before = conn.execute("select 1 from pg_catalog.pg_extension where extname = 'pgtap'").fetchone()
    conn.execute(ENABLE_PGTAP)
    return before is None
