"""Gates: --fail-on, --waivers and --retry-timeout, resolved once and validated (README "Gates and waivers")."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from dbrunbook import options, waivers
from dbrunbook.exceptions import usage_error
from dbrunbook.severity import SEVERITIES

#: Upper bound of --retry-timeout: a gate waits for a deploy, not for an outage to end.
MAX_RETRY_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class Gates:
    """What decides the exit code besides the checks themselves."""

    fail_on: str | None = None
    waivers: tuple[waivers.Waiver, ...] = ()
    waivers_file: Path | None = None
    retry_timeout_s: float = 0.0


GATES_KEY = pytest.StashKey[Gates]()


def build(config: pytest.Config) -> Gates:
    """Resolve and validate the three options; a usage error (exit 4) names the fix."""
    fail_on = options.value(config, "dbrunbook_fail_on")
    if fail_on is not None:
        fail_on = str(fail_on).strip().upper()
        if fail_on not in SEVERITIES:
            raise usage_error(f"--fail-on {fail_on!r} is not a severity", checked=["--fail-on", "DBRUNBOOK_FAIL_ON"],
                              fixes=["--fail-on=P1 (fail on P0 and P1 only)", "omit it to fail on any failure"])
    path = options.value(config, "dbrunbook_waivers")
    waivers_file = Path(str(path)).expanduser().resolve() if path else None
    loaded = waivers.load(waivers_file) if waivers_file else ()
    raw = options.value(config, "dbrunbook_retry_timeout")
    retry = 0.0
    if raw is not None and str(raw).strip() != "":
        try:
            retry = float(str(raw))
        except ValueError:
            retry = math.nan
        if not (0 <= retry <= MAX_RETRY_TIMEOUT_S):
            raise usage_error(f"--retry-timeout {raw!r} is not a number of seconds between 0 and "
                              f"{MAX_RETRY_TIMEOUT_S:.0f}", checked=["--retry-timeout", "DBRUNBOOK_RETRY_TIMEOUT"],
                              fixes=["--retry-timeout=60"])
    gates = Gates(fail_on, loaded, waivers_file, retry)
    config.stash[GATES_KEY] = gates
    return gates


def of(config: pytest.Config) -> Gates:
    """The run's gates (defaults when the plugin's configure did not run)."""
    return config.stash.get(GATES_KEY, Gates())
