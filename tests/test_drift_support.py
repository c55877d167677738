"""Helpers shared by the migrations/drift self-tests: cloned databases and project copies."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from databases import clone_database, drop_database, with_db

from dbrunbook.targets.embedded import EmbeddedInfo

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Clone:
    """A throwaway copy of a server's ``postgres`` database."""

    name: str
    dsn: str
    admin_dsn: str

    def admin(self, *statements: str) -> None:
        """Run fault-injection SQL as the superuser, in one transaction."""
        with psycopg.connect(self.admin_dsn, autocommit=False) as conn:
            for statement in statements:
                conn.execute(statement.encode())
            conn.commit()

    def as_postgres(self, *statements: str) -> None:
        """Run SQL as ``postgres`` (the role migrations run as)."""
        with psycopg.connect(self.dsn, autocommit=False) as conn:
            for statement in statements:
                conn.execute(statement.encode())
            conn.commit()


@contextmanager
def cloned_database(info: EmbeddedInfo, name: str) -> Iterator[Clone]:
    """``create database <name> template postgres`` on the server; dropped afterwards."""
    clone_database(info.admin_dsn, "postgres", name)
    try:
        yield Clone(name, with_db(info.dsn, name), with_db(info.admin_dsn, name))
    finally:
        drop_database(info.admin_dsn, name)


def copy_project(src: Path, dest: Path) -> Path:
    """Copy an example project (the folder holding supabase/) to edit it; returns its migrations dir."""
    shutil.copytree(src, dest)
    return dest / "supabase" / "migrations"
