"""Where dbrunbook's data lives: bootstrap SQL, stand-in extensions, the demo project, SQL probes."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_root() -> Path:
    """Folder holding ``fixtures/`` and ``examples/``.

    A wheel carries them in ``dbrunbook/_data`` (see pyproject's force-include); a checkout or
    an editable install uses the repository itself.
    """
    bundled = _PACKAGE / "_data"
    if (bundled / "fixtures").is_dir():
        return bundled
    return _PACKAGE.parent


def fixtures_dir() -> Path:
    """The ``fixtures/`` folder (data only: bootstrap SQL, extension stand-ins, claim sets)."""
    return data_root() / "fixtures"


def demo_workdir() -> Path:
    """The demo project: the folder that holds ``supabase/``, as ``--workdir`` takes it."""
    return data_root() / "examples" / "demo"


@cache
def sql(name: str) -> str:
    """Text of ``dbrunbook/sql/<name>.sql``.

    >>> "select" in sql("db_reachable").lower()
    True
    """
    return (_PACKAGE / "sql" / f"{name}.sql").read_text(encoding="utf-8")
