"""Progress lines for long builds: silent when quick, then "files applied of total, elapsed" lines.

Nothing is printed during the first ``after`` seconds (a cached or small build stays quiet); after
that at most one line per ``every`` seconds, and a closing line with the total time.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any


def stderr_lines(line: str) -> None:
    """Default sink: one line on stderr."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def terminal_progress(config: Any) -> Callable[[str], None]:
    """A sink for a pytest run: stderr with pytest's output capture suspended around each line."""
    def emit(line: str) -> None:
        capman = config.pluginmanager.getplugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            stderr_lines(line)
    return emit


class Progress:
    """Throttled progress of one build.

    >>> now = [0.0]
    >>> lines: list[str] = []
    >>> p = Progress(lines.append, "building", clock=lambda: now[0])
    >>> p.step("1/3 files"); now[0] = 2.0; p.step("2/3 files"); now[0] = 2.5; p.step("3/3 files"); p.done()
    >>> lines
    ['building: 2/3 files, 2.0 s elapsed', 'building: done in 2.5 s']
    """

    def __init__(self, emit: Callable[[str], None], what: str, *, after: float = 1.5, every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.emit, self.what, self.after, self.every, self.clock = emit, what, after, every, clock
        self.t0 = clock()
        self.last: float | None = None

    def step(self, text: str) -> None:
        """Report a step; printed only once the build is slow, and throttled."""
        now = self.clock()
        elapsed = now - self.t0
        if elapsed < self.after or (self.last is not None and now - self.last < self.every):
            return
        self.last = now
        self.emit(f"{self.what}: {text}, {elapsed:.1f} s elapsed")

    def done(self) -> None:
        """Closing line, only if progress was shown."""
        if self.last is not None:
            self.emit(f"{self.what}: done in {self.clock() - self.t0:.1f} s")
