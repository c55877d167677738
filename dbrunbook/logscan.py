"""Service logs scanned for the runbook's symptoms (runbook "Triage 3", "Sintomas comuns").

The symptoms are data (:data:`SYMPTOMS`, in precedence order: a line counts once, for the first,
most specific symptom it matches). Reading is bounded: a byte cap, and an idle timeout for pipes.
"""

from __future__ import annotations

import os
import re
import select
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dbrunbook.findings import Severity
from dbrunbook.redact import REDACTOR

#: Logs larger than this are read from the end (the recent part is what triage needs).
MAX_BYTES = 20 * 1024 * 1024
#: Stop reading standard input after this long without data (``docker compose logs -f | ...``).
STDIN_IDLE_S = 5.0
SAMPLE_CHARS = 300
RESTART = "docker compose -f infra/compose/docker-compose.yml restart backoffice-api agent-runtime"
COMPOSE_LOGS = ("docker", "compose", "-f", "infra/compose/docker-compose.yml", "logs", "--tail=200", "--no-color",
                "backoffice-api", "agent-runtime")
DB_CHECKS = "pytest -m triage -k db"


@dataclass(frozen=True)
class Symptom:
    """One runbook symptom: how it looks in a log line, which runbook step, what to do."""

    id: str
    title: str
    pattern: re.Pattern[str]
    severity: Severity
    runbook: str
    do: str


def _s(id_: str, title: str, pattern: str, severity: Severity, runbook: str, do: str) -> Symptom:
    return Symptom(id_, title, re.compile(pattern, re.IGNORECASE), severity, runbook, do)


SYMPTOMS: tuple[Symptom, ...] = (
    _s("db_url_missing", "the service has no database URL",
       r"SUPABASE_DB_URL \(or DATABASE_URL\) is required|\b(?:SUPABASE_DB_URL|DATABASE_URL) is (?:required|not set)",
       "P1", "Diagnóstico 1 (Variáveis de ambiente e URLs)",
       "set SUPABASE_DB_URL (or DATABASE_URL) in the service's environment (compose env_file, deployment "
       f"secrets) and restart it ({RESTART}); pytest -m env checks the URL's shape"),
    _s("pool_not_started", "`ConnectionPool not started`", r"ConnectionPool not started",
       "P1", "Sintomas comuns (agent-runtime); Triage 1 (Validar se o banco está acessível)",
       f"the service could not open its pool: run {DB_CHECKS} and pytest -m env (wrong URL?); once the "
       f"database answers, restart the consumers (Mitigação): {RESTART}"),
    _s("prepared_statement", "prepared-statement errors behind a transaction pooler",
       r"prepared statement \"(?P<obj>[^\"]+)\" (?:already exists|does not exist)|DuplicatePreparedStatement"
       r"|InvalidSQLStatementName|\(EPREPARED\w*\)",
       "P2", "Sintomas comuns (asyncpg errors); Diagnóstico 1 (pooler port 6543)",
       "the transaction pooler (port 6543) does not keep prepared statements: asyncpg statement_cache_size=0, "
       "psycopg prepare_threshold=None, or the session pooler on 5432; pytest -m pool"),
    _s("pooler_tenant", "`Tenant or user not found` from the pooler",
       r"Tenant or user not found|\(ENOTFOUND\) tenant/user (?P<obj>\S+) not found",
       "P1", "Diagnóstico 1 (Variáveis de ambiente e URLs)",
       "the pooler user must be postgres.<ref> and the host the project's aws-N-<region>.pooler.supabase.com "
       "(copy it from Dashboard > Connect); pytest -m env compares the refs"),
    _s("too_many_connections", "connection slots exhausted",
       r"too many clients|remaining connection slots are reserved|TooManyConnectionsError|\(EMAXCONN\w*\)"
       r"|max client(?:s| connections) reached",
       "P1", "Diagnóstico 2 (Locks e queries lentas); Mitigação (aumentar pool)",
       "find who holds the connections: pytest -m locks (idle in transaction, headroom per role); lower the "
       "services' pool max size or go through the pooler; restart a consumer that leaks connections"),
    _s("permission_denied", "`permission denied`",
       r"permission denied for (?:table|schema|function|sequence|view|relation|materialized view) "
       r"(?P<obj>[\w.\"]+)",
       "P1", "Diagnóstico 4 (Erros de RLS)",
       "RLS checklist: JWT claims (company_id, role), grants and policies on the object, the right schema "
       "(core vs tenant); run pytest -m rls. If several tenants are affected: incident P0 (Escalação)"),
    _s("rls_violation", "RLS policy violation",
       r"new row violates row-level security policy(?: for table \"(?P<obj>[^\"]+)\")?",
       "P1", "Diagnóstico 4 (Erros de RLS)",
       "RLS checklist: the writer's JWT claims (company_id, role) and the table's WITH CHECK policies; run "
       "pytest -m rls. If several tenants are affected: incident P0 (Escalação)"),
    _s("relation_missing", "`relation ... does not exist`", r"relation \"(?P<obj>[^\"]+)\" does not exist",
       "P1", "Diagnóstico 3 (Migrações e drift)",
       "a migration is missing or the schema is wrong: pytest -m migrations; locally npx supabase db push "
       "--workdir . --local --include-roles; in production through the pipeline, never by hand"),
    _s("statement_timeout", "statements cancelled by a timeout",
       r"canceling statement due to (?:statement|lock) timeout|QueryCanceledError",
       "P2", "Diagnóstico 2 (Locks e queries lentas)",
       "look for blockers and long queries: pytest -m locks (it prints pg_cancel_backend(<pid>) for a human "
       "to run; nothing is cancelled for you)"),
    _s("econnrefused", "`ECONNREFUSED` (database refused the connection)",
       r"ECONNREFUSED|Connection refused|ConnectionRefusedError|Connect call failed",
       "P1", "Diagnóstico 1 (Erros típicos: ECONNREFUSED / timeout)",
       f"the database is down or the host/port is wrong: {DB_CHECKS}; pytest -m env (API port 54321 instead "
       "of 54322? a docker-internal host such as db:5432 used from the host?)"),
    _s("connect_timeout", "timeouts talking to the database",
       r"\bTimeoutError\b|timeout expired|\bETIMEDOUT\b|connection timed out",
       "P1", "Diagnóstico 1 (Erros típicos: ECONNREFUSED / timeout)",
       f"database unreachable or a firewall drops packets: {DB_CHECKS}; from IPv4-only networks use the "
       "pooler host (the direct db.<ref>.supabase.co host is IPv6-only)"),
    _s("asyncpg_error", "asyncpg errors",
       r"asyncpg\.exceptions\.(?P<obj>\w+)|\b(?:ConnectionDoesNotExistError|InterfaceError|InternalClientError"
       r"|CannotConnectNowError)\b",
       "P1", "Sintomas comuns (agent-runtime: asyncpg errors)",
       f"connections dropped under the service (pooler restart, idle timeout, database restart): {DB_CHECKS}; "
       f"if the database answers and the errors go on, restart the consumers (Mitigação): {RESTART}"),
)
_BY_ID = {s.id: s for s in SYMPTOMS}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: ``backoffice-api-1  | message`` (docker compose) or ``"service":"agent-runtime"`` (JSON logs).
_COMPOSE = re.compile(r"^(?P<svc>[A-Za-z0-9][\w.-]*?)(?:[-_]\d+)?\s+\|\s?(?P<msg>.*)$")
_JSON_SERVICE = re.compile(r"\"service(?:_name)?\"\s*:\s*\"(?P<svc>[^\"]+)\"")


@dataclass
class Hit:
    """Every line of one symptom from one service."""

    symptom: str
    service: str | None
    count: int = 0
    first_line: int = 0
    last_line: int = 0
    sample: str = ""
    objects: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class LogText:
    """The lines to scan, where they came from, and anything the reader wants to say about them."""

    source: str
    lines: tuple[str, ...]
    note: str = ""
    #: The file's own number of ``lines[0]`` (a big file is read from its end: its lines keep their numbers).
    first_line: int = 1


def service_of(line: str) -> tuple[str | None, str]:
    """The service a line names (compose prefix or JSON field), and the message part.

    >>> service_of("backoffice-api-1  | permission denied for table customers")
    ('backoffice-api', 'permission denied for table customers')
    >>> service_of("plain line")
    (None, 'plain line')
    """
    line = _ANSI.sub("", line)
    if m := _COMPOSE.match(line):
        return m["svc"], m["msg"]
    if m := _JSON_SERVICE.search(line):
        return m["svc"], line
    return None, line


def classify(message: str) -> tuple[Symptom, str | None] | None:
    """The first symptom a message matches, and the object it names (table, statement), if any.

    >>> symptom, obj = classify('asyncpg.exceptions.UndefinedTableError: relation "core.x" does not exist')
    >>> symptom.id, obj
    ('relation_missing', 'core.x')
    """
    for symptom in SYMPTOMS:
        if m := symptom.pattern.search(message):
            obj = m.groupdict().get("obj")
            return symptom, obj.strip('"') if obj else None
    return None


def scan(lines: Iterable[str], *, first_line: int = 1) -> dict[str, list[Hit]]:
    """Group matching lines by symptom and service (line numbers are 1-based, from ``first_line``)."""
    hits: dict[tuple[str, str | None], Hit] = {}
    for number, raw in enumerate(lines, start=first_line):
        service, message = service_of(raw)
        found = classify(message)
        if found is None:
            continue
        symptom, obj = found
        hit = hits.setdefault((symptom.id, service), Hit(symptom.id, service))
        hit.count += 1
        hit.last_line = number
        if hit.count == 1:
            hit.first_line = number
            hit.sample = REDACTOR.text(_ANSI.sub("", raw).strip())[:SAMPLE_CHARS]
        if obj:
            hit.objects.add(obj)
    grouped: dict[str, list[Hit]] = {s.id: [] for s in SYMPTOMS}
    for (symptom_id, _service), hit in hits.items():
        grouped[symptom_id].append(hit)
    return grouped


def symptom(symptom_id: str) -> Symptom:
    """A symptom by id."""
    return _BY_ID[symptom_id]


def _lines(data: bytes) -> tuple[str, ...]:
    return tuple(data.decode("utf-8", "replace").splitlines())


def _newlines(handle: BinaryIO, upto: int, chunk: int = 1 << 22) -> int:
    """Newlines in the first ``upto`` bytes (counted, not decoded: a fraction of a second per 100 MB)."""
    count, left = 0, upto
    handle.seek(0)
    while left > 0:
        data = handle.read(min(chunk, left))
        if not data:
            break
        count += data.count(b"\n")
        left -= len(data)
    return count


def read_file(path: Path, max_bytes: int = MAX_BYTES) -> LogText:
    """A log file's lines; only its last ``max_bytes`` when bigger, numbered as in the file.

    :raises OSError: the file cannot be read
    """
    size = path.stat().st_size
    first = 1
    with path.open("rb") as handle:
        if size > max_bytes:
            start = size - max_bytes
            # The line holding byte `start` is line newlines-before + 1; it is dropped (partial), so
            # the first line kept is the next one.
            first = _newlines(handle, start) + 2
            handle.seek(start)
            handle.readline()  # drop the partial first line
        data = handle.read(max_bytes)
    note = (f"only the last {max_bytes // (1024 * 1024)} MiB of {size} bytes were read (from line {first})"
            if size > max_bytes else "")
    return LogText(str(path), _lines(data), note, first)


def read_fd(fd: int, source: str, *, max_bytes: int = MAX_BYTES, idle_s: float = STDIN_IDLE_S) -> LogText:
    """Read a pipe until EOF, ``max_bytes``, or ``idle_s`` without data (so ``logs -f`` cannot hang us)."""
    chunks: list[bytes] = []
    total = 0
    note = ""
    while total < max_bytes:
        ready, _, _ = select.select([fd], [], [], idle_s)
        if not ready:
            note = f"stopped reading after {idle_s:g} s without data (a follow-mode pipe?)"
            break
        chunk = os.read(fd, min(65536, max_bytes - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    else:
        note = f"stopped after {max_bytes // (1024 * 1024)} MiB"
    return LogText(source, _lines(b"".join(chunks)), note)
