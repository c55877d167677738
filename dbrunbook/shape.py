"""Know what you are looking at: is the target Supabase-shaped (auth schema, API roles, history table).

Checks marked ``@pytest.mark.supabase`` (every RLS contract, the RLS lints, the migration history
checks) need a Supabase database: on a plain PostgreSQL they would report every missing role and
schema as a P0. The ``target`` fixture asks :func:`require` once per target and run; a target that
is not Supabase-shaped gets one finding saying what is missing and what is skipped, and every
other such check skips pointing at it, while database, locks, connections, pool and drift still run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dbrunbook import resources, session
from dbrunbook.outcomes import Inconclusive

if TYPE_CHECKING:
    from dbrunbook.targets import Target

#: What a Supabase database has, in the words of the finding.
PARTS = {
    "auth_schema": "the auth schema",
    "anon_role": "the anon role",
    "authenticated_role": "the authenticated role",
    "history_table": "supabase_migrations.schema_migrations",
}
#: A database without these is not Supabase (a project that never ran `supabase db push` has no
#: history table and is still Supabase-shaped: migrations.history_table_present reports that).
REQUIRED = ("auth_schema", "anon_role", "authenticated_role")

_MISSING: dict[str, list[str]] = {}


def missing(target: Target) -> list[str]:
    """What this target lacks of ``PARTS`` (read once per target and run)."""
    if target.name not in _MISSING:
        rows = session.query(target.connection(), target.policy, resources.sql("target_shape"))
        row = rows[0] if rows else {}
        _MISSING[target.name] = [key for key in PARTS if not row.get(key)]
    return _MISSING[target.name]


def require(target: Target) -> None:
    """Raise the target's ``not_supabase`` cause if it lacks a part every Supabase database has."""
    lacks = missing(target)
    if not any(key in REQUIRED for key in lacks):
        return
    raise Inconclusive(
        "not_supabase",
        f"{target.name} is not Supabase-shaped (missing: {', '.join(PARTS[k] for k in lacks)}); the checks that "
        "need Supabase (RLS contracts and lints, migration history) are skipped, database, locks, "
        "connections, pool and schema drift still run",
        fix=f"nothing to do if {target.name} is a plain PostgreSQL; if it should be a Supabase database, check "
            "that the DB URL points at the project's database (runbook 'Diagnóstico 1')")


def reset() -> None:
    """Forget what was read (a new session starts)."""
    _MISSING.clear()
