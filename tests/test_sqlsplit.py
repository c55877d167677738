"""The CLI-faithful splitter: what history comparisons rest on (edited-after-apply must not misfire)."""

from __future__ import annotations

import psycopg
import pytest

from dbrunbook.migrations import migrations_dir, scan
from dbrunbook.resources import demo_workdir
from dbrunbook.sqlsplit import split_and_trim
from dbrunbook.targets.embedded import EmbeddedInfo


@pytest.mark.parametrize(("text", "expected"), [
    ("select 1; select 2;", ["select 1", "select 2"]),
    ("select ';' ; select \"a;b\" from t;", ["select ';'", 'select "a;b" from t']),
    ("select 'it''s; fine';", ["select 'it''s; fine'"]),
    ("do $x$ begin perform 1; end $x$; select 2", ["do $x$ begin perform 1; end $x$", "select 2"]),
    ("-- a; b\nselect 1; /* c; /* nested; */ d; */ select 2;",
     ["-- a; b\nselect 1", "/* c; /* nested; */ d; */ select 2"]),
    ("create function f() returns int language sql begin atomic select 1; select 2; end; select 3;",
     ["create function f() returns int language sql begin atomic select 1; select 2; end", "select 3"]),
    ("create rule r as on insert to t do (insert into a values (1); insert into b values (2));",
     ["create rule r as on insert to t do (insert into a values (1); insert into b values (2))"]),
    ("\n\n;;\n", []),
])
def test_split_like_the_cli(text: str, expected: list[str]) -> None:
    assert split_and_trim(text) == expected


def test_recorded_statements_equal_the_split_of_every_demo_file(supabase_server: EmbeddedInfo) -> None:
    with psycopg.connect(supabase_server.dsn) as conn:
        recorded = dict(conn.execute(
            "select version, statements from supabase_migrations.schema_migrations").fetchall())
    files, _ = scan(migrations_dir(demo_workdir()))
    assert files and {f.version for f in files} == set(recorded)
    for f in files:
        assert f.statements() == recorded[f.version], f.path.name
