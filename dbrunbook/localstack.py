"""The local Supabase CLI stack (runbook "Triage 1", local): bounded port probes and ``supabase status``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: Local stack defaults (supabase-facts.md 5.1).
STUDIO_URL = "http://127.0.0.1:54323"
STATUS_TIMEOUT_S = 20.0
START = "npx supabase start --workdir ."
STATUS = "npx supabase status --workdir ."


def tcp_answers(host: str, port: int, timeout_s: float) -> tuple[bool, str]:
    """Open (and close) one TCP connection, bounded by ``timeout_s``; return (ok, what happened).

    >>> tcp_answers("127.0.0.1", 1, 0.5)[0]
    False
    """
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except ConnectionRefusedError:
        return False, f"{host}:{port} refused the connection (ECONNREFUSED: nothing listens there)"
    except TimeoutError:
        return False, f"{host}:{port} did not accept a connection within {timeout_s:g} s"
    except OSError as exc:
        return False, f"{host}:{port}: {exc.strerror or exc}"
    return True, f"{host}:{port} accepted a connection in {(time.monotonic() - t0) * 1000:.0f} ms"


def find_cli(*workdirs: Path) -> tuple[list[str] | None, list[str]]:
    """The Supabase CLI: ``supabase`` on PATH, else ``node_modules/.bin/supabase`` (what npx would run).

    Never ``npx supabase`` itself: without a local install npx downloads from the registry, which is
    neither bounded nor wanted during an incident. Returns (command or None, places checked).
    """
    checked = ["supabase on PATH"]
    found = shutil.which("supabase")
    if found:
        return [found], checked
    for folder in workdirs:
        candidate = folder / "node_modules" / ".bin" / "supabase"
        checked.append(str(candidate))
        if candidate.is_file():
            return [str(candidate)], checked
    return None, checked


@dataclass(frozen=True)
class StatusResult:
    """What ``supabase status -o env`` said (``values`` holds only non-secret keys)."""

    returncode: int | None
    values: dict[str, str]
    stderr: str
    timed_out: bool


#: Keys of ``supabase status -o env`` that are safe to keep (keys and JWT secret are dropped).
SAFE_KEYS = frozenset({"API_URL", "REST_URL", "GRAPHQL_URL", "DB_URL", "STUDIO_URL", "MAILPIT_URL",
                       "INBUCKET_URL", "FUNCTIONS_URL", "MCP_URL", "STORAGE_S3_URL"})


def parse_status_env(text: str) -> dict[str, str]:
    """``KEY="value"`` lines of ``supabase status -o env``, keeping only :data:`SAFE_KEYS`.

    >>> parse_status_env('API_URL="http://127.0.0.1:54321"\\nSECRET_KEY="sb_secret_x"\\n')
    {'API_URL': 'http://127.0.0.1:54321'}
    """
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in SAFE_KEYS:
            values[key.strip()] = value.strip().strip('"')
    return values


def supabase_status(cli: list[str], workdir: Path, timeout_s: float = STATUS_TIMEOUT_S) -> StatusResult:
    """Run ``supabase status --workdir DIR -o env`` bounded by ``timeout_s`` (the CLI only reads Docker)."""
    try:
        proc = subprocess.run([*cli, "status", "--workdir", str(workdir), "-o", "env"], capture_output=True,
                              text=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return StatusResult(None, {}, err, timed_out=True)
    return StatusResult(proc.returncode, parse_status_env(proc.stdout), proc.stderr, timed_out=False)


def stderr_summary(text: str, limit: int = 6) -> str:
    """The meaningful lines of the CLI's stderr (drops the generic ``--debug`` hint)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and "--debug" not in line]
    return "\n".join(lines[:limit]) or "(no error text)"
