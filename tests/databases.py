"""Throwaway copies of a self-test server's databases: clone a template, point a DSN at it, drop it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def with_db(dsn: str, name: str) -> str:
    """The same DSN, on database ``name``."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


def clone_database(admin_dsn: str, template: str = "postgres", name: str | None = None) -> str:
    """``create database <name> template <template>``; retried while a closing session still uses the template."""
    name = name or f"rls_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        for attempt in range(50):
            try:
                conn.execute(sql.SQL("create database {} template {}").format(
                    sql.Identifier(name), sql.Identifier(template)))
                return name
            except psycopg.errors.ObjectInUse:
                if attempt == 49:
                    raise
                time.sleep(0.2)
    raise AssertionError("unreachable")


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop a clone, closing whatever still uses it."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def clones(admin_dsn: str, dsn: str) -> Iterator[Callable[[str], str]]:
    """A fixture body: ``make(fault_sql)`` clones the server's ``postgres`` database, runs ``fault_sql`` in the
    clone as superuser and returns the clone's DSN; every clone is dropped afterwards."""
    made: list[str] = []

    def make(fault_sql: str = "") -> str:
        name = clone_database(admin_dsn, "postgres")
        made.append(name)
        if fault_sql:
            with psycopg.connect(with_db(admin_dsn, name), autocommit=True) as conn:
                conn.execute(fault_sql)
        return with_db(dsn, name)

    yield make
    for name in made:
        drop_database(admin_dsn, name)
