"""Temporary build folders of the template cache: removed on failure and on SIGINT/SIGTERM, swept when stale.

A template is built in ``<name>.tmp<PID>`` and renamed into place when complete, so a half-built
template is never used. If the build fails, or the process gets SIGINT/SIGTERM meanwhile, the folder
is removed at once; if the process was killed outright (SIGKILL, power loss) the next start removes
every ``*.tmp<PID>`` whose process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from dbrunbook.targets.cluster import pid_alive

TMP_SUFFIX = re.compile(r"\.tmp(\d+)$")


def tmp_path(dest: Path, pid: int) -> Path:
    """Where ``dest`` is built by process ``pid``.

    >>> tmp_path(Path("/cache/templates/base-x"), 42)
    PosixPath('/cache/templates/base-x.tmp42')
    """
    return dest.with_name(f"{dest.name}.tmp{pid}")


def sweep_stale(folder: Path) -> list[str]:
    """Remove ``*.tmp<PID>`` entries of ``folder`` whose process is gone; return their names."""
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for entry in sorted(folder.iterdir()):
        match = TMP_SUFFIX.search(entry.name)
        if match and not pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


def terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM handler: unwind (finally blocks, cleanup) instead of SIGTERM's default immediate end."""
    raise SystemExit(128 + signum)


@contextmanager
def build_folder(dest: Path) -> Iterator[Path]:
    """Yield an empty ``dest.tmp<PID>``; rename it to ``dest`` on success, remove it on any failure.

    SIGINT already arrives as KeyboardInterrupt; SIGTERM is turned into SystemExit for the duration
    (main thread only: Python installs handlers nowhere else), so both unwind through here.
    """
    tmp = tmp_path(dest, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield tmp
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
