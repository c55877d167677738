"""Files that only some checks read (``--logs``, ``--compare-snapshot``, ``--snapshot-out``).

When one is unusable the checks that read it cannot reach a verdict: they raise one
:class:`~dbrunbook.outcomes.Inconclusive` of kind ``setup`` whose scope is the file, so the run
reports it once, names the fix, still runs every other check, and exits non-zero (6). Before, a
missing ``--logs`` file skipped quietly and the run exited 0: a triage that scanned nothing read green.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from dbrunbook.outcomes import Inconclusive

if TYPE_CHECKING:
    from dbrunbook.catalog import Snapshot

LOGS_FIX = "--logs=FILE with the services' log (docker compose ... logs --tail=200 > service.log), " \
           "or --logs=- to pipe it in"
SNAPSHOT_FIX = "--compare-snapshot=PATH to a file written by --snapshot-out (pytest -m drift --target=staging " \
               "--snapshot-out=staging.json)"


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def logs_unreadable(spec: str, exc: OSError) -> Inconclusive:
    """``--logs FILE`` that is missing, a directory or unreadable.

    >>> logs_unreadable("nope.log", FileNotFoundError(2, "No such file or directory")).message
    '--logs nope.log: cannot read it (No such file or directory)'
    """
    return Inconclusive("setup", f"--logs {spec}: cannot read it ({_why(exc)})", fix=LOGS_FIX, scope=spec)


def logs_empty(spec: str, source: str) -> Inconclusive:
    """A logs source with no line: nothing was scanned, so no symptom check may pass."""
    return Inconclusive("no_data", f"--logs {spec}: {source} has no line to scan", fix=LOGS_FIX, scope=spec)


def logs_unavailable(spec: str, why: str) -> Inconclusive:
    """``--logs -`` that cannot be read here (a terminal, an xdist worker)."""
    return Inconclusive("setup", f"--logs {spec}: {why}", fix=LOGS_FIX, scope=spec)


def load_snapshot(path: Path) -> Snapshot:
    """Read ``--compare-snapshot``; an unusable file is a setup cause of the drift checks.

    :raises Inconclusive: missing, a directory, not UTF-8 JSON, or not a dbrunbook snapshot
    """
    from dbrunbook.catalog import Snapshot

    def setup(what: str) -> Inconclusive:
        return Inconclusive("setup", f"--compare-snapshot {path} {what}", fix=SNAPSHOT_FIX, scope=str(path))

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except IsADirectoryError:
        raise setup("is a directory, not a snapshot file") from None
    except FileNotFoundError:
        raise setup("does not exist") from None
    except OSError as exc:
        raise setup(f"cannot be read ({_why(exc)})") from None
    except UnicodeDecodeError:
        raise setup("is not UTF-8 text: not a snapshot written by --snapshot-out") from None
    except json.JSONDecodeError as exc:
        raise setup(f"is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise setup("is JSON but not a dbrunbook snapshot (no objects)")
    try:
        return Snapshot.from_json(data, f"snapshot {path.name} ({data.get('source', '?')})")
    except (ValueError, TypeError) as exc:
        raise setup(f"is not usable: {exc}") from None


def save_snapshot(snapshot: Snapshot, path: Path) -> Inconclusive | None:
    """Write ``--snapshot-out``; the reason it could not be written, as a setup cause, else None."""
    try:
        snapshot.save(path)
    except OSError as exc:
        # mkdir on a path through a file says "File exists": name the file in the way instead
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker is not None else _why(exc)
        return Inconclusive("setup", f"--snapshot-out {path}: cannot write it ({why})",
                            fix="--snapshot-out=PATH in a folder you can write", scope=str(path))
    return None
