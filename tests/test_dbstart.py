"""``dbrunbook db start`` / ``db stop``: the embedded target of a project, kept for psql and friends."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "vector-search"
CLI = [sys.executable, "-m", "dbrunbook.cli", "db"]


def _count_documents(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute("select count(*) from public.documents").fetchone()
    assert row is not None
    return int(row[0])


def _refused(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.OperationalError:
        return True
    return False


def test_env_lines_then_stop(tmp_path: Path) -> None:
    started = subprocess.run([*CLI, "start", "--env", f"--workdir={EXAMPLE}"], capture_output=True, text=True,
                             timeout=180, check=False)
    try:
        assert started.returncode == 0, started.stderr
        exports = dict(re.findall(r"^export (\w+)=(.*)$", started.stdout, re.M))
        assert set(exports) == {"DB_URL", "SUPABASE_DB_URL", "ADMIN_DB_URL"}
        dsn = shlex.split(exports["DB_URL"])[0]
        assert dsn.startswith("postgresql://postgres:") and _count_documents(dsn) == 0
        assert "stand-ins used:" in started.stderr and "dbrunbook db stop" in started.stderr
        again = subprocess.run([*CLI, "start", f"--workdir={EXAMPLE}"], capture_output=True, text=True,
                               timeout=60, check=False)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        stopped = subprocess.run([*CLI, "stop", f"--workdir={EXAMPLE}"], capture_output=True, text=True,
                                 timeout=90, check=False)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert _refused(dsn)
    second = subprocess.run([*CLI, "stop", f"--workdir={EXAMPLE}"], capture_output=True, text=True, timeout=30,
                            check=False)
    assert "no database running" in second.stdout


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# SIGINT ignored from the start: what a background job of a shell script (or nohup) inherits.
@pytest.mark.parametrize(("sig", "preexec"), [(signal.SIGINT, None), (signal.SIGTERM, None),
                                             (signal.SIGINT, _ignore_sigint)],
                         ids=["int", "term", "int-inherited-ignored"])
def test_foreground_until_ctrl_c(tmp_path: Path, sig: signal.Signals, preexec: Callable[[], None] | None) -> None:
    log = tmp_path / "out.txt"
    with open(log, "w") as out:
        proc = subprocess.Popen([*CLI, "start", f"--workdir={EXAMPLE}"], stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=preexec)
    deadline = time.monotonic() + 180
    while "DB_URL:" not in log.read_text() and time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    match = re.search(r"^\s+DB_URL: (\S+)$", log.read_text(), re.M)
    assert match, log.read_text()
    assert _count_documents(match.group(1)) == 0
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    assert _refused(match.group(1))
