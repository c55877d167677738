"""Peer tools for the benchmarks, installed on demand into gitignored folders under bench/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SUPABASE_CLI_VERSION = "2.117.0"


def supabase_cli() -> Path:
    """The Supabase CLI binary (``npm i -E supabase@2.117.0`` into bench/.node on first use)."""
    node = BENCH / ".node"
    binary = node / "node_modules" / ".bin" / "supabase"
    if not binary.exists():
        if shutil.which("npm") is None:
            raise SystemExit("npm is needed to install the Supabase CLI for this benchmark")
        node.mkdir(exist_ok=True)
        if not (node / "package.json").exists():
            (node / "package.json").write_text('{"private": true}\n')
        subprocess.run(["npm", "i", "-E", f"supabase@{SUPABASE_CLI_VERSION}"], cwd=node, check=True,
                       capture_output=True, timeout=600)
    return binary


def user_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a user's shell would give both tools: no target variables of ours, and Python
    free to cache bytecode (some sandboxes set PYTHONDONTWRITEBYTECODE, which makes every pytest start
    recompile pytest, psycopg and the suite and would charge that to us)."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith(("SUPABASE_", "DBRUNBOOK_", "PYTEST_"))}
    env.update(extra or {})
    return env


def with_sslmode_disable(dsn: str) -> str:
    """The CLI speaks TLS first unless told not to; loopback servers here have no TLS."""
    if "sslmode=" in dsn:
        return dsn
    return dsn + ("&" if "?" in dsn else "?") + "sslmode=disable"
