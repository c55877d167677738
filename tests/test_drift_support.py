"""Helpers shared by the migrations/drift self-tests: cloned databases and project copies."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

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


def _with_db(dsn: str, dbname: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@contextmanager
def cloned_database(info: EmbeddedInfo, name: str) -> Iterator[Clone]:
    """``create database <name> template postgres`` on the server; dropped afterwards."""
    with psycopg.connect(info.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        for attempt in range(20):
            try:
                conn.execute(sql.SQL("create database {} template postgres").format(sql.Identifier(name)))
                break
            except psycopg.errors.ObjectInUse:  # a product run's session still closing
                if attempt == 19:
                    raise
                time.sleep(0.25)
    try:
        yield Clone(name, _with_db(info.dsn, name), _with_db(info.admin_dsn, name))
    finally:
        with psycopg.connect(info.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def copy_project(src: Path, dest: Path) -> Path:
    """Copy an example project (the folder holding supabase/) to edit it; returns its migrations dir."""
    shutil.copytree(src, dest)
    return dest / "supabase" / "migrations"
