"""The CLI-faithful splitter: what history comparisons rest on (edited-after-apply must not misfire).

Every expected value in ``CLI_CASES`` is what Supabase CLI 2.117.0 recorded in
``supabase_migrations.schema_migrations.statements`` for those bytes (``supabase migration repair
--status applied`` reads, splits and stores the local file; docs/checks/migrations.md tells how to
re-check them against a newer CLI).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from dbrunbook.migrations import MigrationFile, MigrationFileError, check_versions, migrations_dir, read_sql, scan
from dbrunbook.resources import demo_workdir
from dbrunbook.sqlsplit import split_and_trim
from dbrunbook.targets.embedded import EmbeddedInfo

CLI_CASES: list[tuple[bytes, list[str]]] = [
    # identifiers that contain ATOMIC are not BEGIN ATOMIC (the bug merged these two statements)
    (b"create table a (atomic_id int);\ncreate table b (x int);\n",
     ["create table a (atomic_id int)", "create table b (x int)"]),
    (b"select is_atomic from t; select col1atomic; select atomic_example();",
     ["select is_atomic from t", "select col1atomic", "select atomic_example()"]),
    (b"create function f() returns int language sql begin atomic select 1; select 2; end; select 3;",
     ["create function f() returns int language sql begin atomic select 1; select 2; end", "select 3"]),
    (b"create function f() returns int language sql BEGIN\n  ATOMIC select 1 as pending; select 2; end; select 3;",
     ["create function f() returns int language sql BEGIN\n  ATOMIC select 1 as pending", "select 2",
      "end", "select 3"]),
    (b"create function g() returns int language sql begin atomic select (1); end; select 2;",
     ["create function g() returns int language sql begin atomic select (1); end", "select 2"]),
    (b"create function h() returns text language sql begin atomic select 'end'; select \"END\"; end; select 9;",
     ["create function h() returns text language sql begin atomic select 'end'; select \"END\"; end", "select 9"]),
    # the ) closing an inner group closes the outer one too: the CLI cuts this rule at its ;
    (b"create rule r as on insert to t do (insert into a values (1); insert into b values (2));",
     ["create rule r as on insert to t do (insert into a values (1)", "insert into b values (2))"]),
    (b"select ((1)); select 2; select (a; b); select 3;",
     ["select ((1))", "select 2", "select (a; b)", "select 3"]),
    # CRLF is kept inside statements; a lone \r does not end a -- comment
    (b"create table t (x int);\r\nselect 1;\r\n-- c;\r\nselect 2;\r\n",
     ["create table t (x int)", "select 1", "-- c;\r\nselect 2"]),
    (b"-- comment\rcreate table t (x int);\rselect 1;\r", ["-- comment\rcreate table t (x int);\rselect 1;"]),
    # dollar quotes: any tag, nested tags, $1 parameters, $$$
    (b"select $$a;b$$; select $tag$ x; $$ ; $tag$; select $1; select 2",
     ["select $$a;b$$", "select $tag$ x; $$ ; $tag$", "select $1", "select 2"]),
    (b"do $outer$ begin execute $sql$ select 1; $sql$; end $outer$; select 3;",
     ["do $outer$ begin execute $sql$ select 1; $sql$; end $outer$", "select 3"]),
    (b"select $$$; select 1;$$; select 2;", ["select $$$", "select 1", "$$; select 2"]),
    (b"select $a1$ ; $a1$ , $\xc3\xa9$ ; $\xc3\xa9$ ; select 7;",
     ["select $a1$ ; $a1$ , $\u00e9$ ; $\u00e9$", "select 7"]),
    # comments at odd places: nested, /*/ closing, -- at the end without a newline
    (b"/* a; /* nested; */ b; */ select 1; /*/ select 2; */ select 3;",
     ["/* a; /* nested; */ b; */ select 1", "/*/ select 2", "*/ select 3"]),
    (b"select 1 -- trailing; comment\n; select 2 --;\n", ["select 1 -- trailing; comment", "select 2 --;"]),
    (b"select 1 - -2; select 3-\n4; select 5/2; select 6 / * 2;",
     ["select 1 - -2", "select 3-\n4", "select 5/2", "select 6 / * 2"]),
    (b"select 1 \\; select 2; select 3 /* unterminated", ["select 1 \\; select 2", "select 3 /* unterminated"]),
    (b"select 'it''s; fine'; select \"a;\"\"b\" from t; select E'\\'; x'; select 4;",
     ["select 'it''s; fine'", "select \"a;\"\"b\" from t", "select E'\\'", "x'; select 4"]),
    # trimming: trailing ; then white space as the CLI's trim (a BOM is trimmed, U+0085 is not)
    (b"select 1;;;  ;\n\n", ["select 1"]),
    (b"\xef\xbb\xbfselect 1;\n", ["select 1"]),
    (b"select 1;\xef\xbb\xbfselect 2;\n\xef\xbb\xbf", ["select 1", "select 2"]),
    (b"\xc2\x85select 4;\xc2\x85\n", ["\x85select 4", "\x85"]),
    (b"\x1cselect 2\x1c;\n", ["\x1cselect 2\x1c"]),
    (b"\xe3\x80\x80select 5;\xe3\x80\x80", ["select 5"]),
]


@pytest.mark.parametrize(("data", "expected"), CLI_CASES, ids=[f"cli{n:02d}" for n in range(len(CLI_CASES))])
def test_split_like_cli_2_117(data: bytes, expected: list[str], tmp_path: Path) -> None:
    path = tmp_path / "20250101000000_case.sql"
    path.write_bytes(data)
    assert MigrationFile(path, "20250101000000", "case").statements() == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("select 1; select 2;", ["select 1", "select 2"]),
    ("select ';' ; select \"a;b\" from t;", ["select ';'", 'select "a;b" from t']),
    ("do $x$ begin perform 1; end $x$; select 2", ["do $x$ begin perform 1; end $x$", "select 2"]),
    ("\n\n;;\n", []),
])
def test_split_like_the_cli(text: str, expected: list[str]) -> None:
    assert split_and_trim(text) == expected


def test_a_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "20250101000000_latin1.sql"
    path.write_bytes(b"-- ok\ncomment on table t is 'caf\xe9';\n")
    with pytest.raises(MigrationFileError) as err:
        read_sql(path)
    message = str(err.value)
    assert message.startswith(f"{path}: not UTF-8 (byte 0xe9 at line 2)") and "iconv -f latin1 -t utf-8" in message
    assert "\n" not in message


def test_two_files_with_one_version_name_the_second(tmp_path: Path) -> None:
    for name in ("20250101000000_a.sql", "20250101000000_b.sql"):
        (tmp_path / name).write_text("select 1;")
    files, _ = scan(tmp_path)
    with pytest.raises(MigrationFileError, match=r"20250101000000_b\.sql: version 20250101000000 is also used by "
                                                 r"20250101000000_a\.sql"):
        check_versions(files)


def test_recorded_statements_equal_the_split_of_every_demo_file(supabase_server: EmbeddedInfo) -> None:
    with psycopg.connect(supabase_server.dsn) as conn:
        recorded = dict(conn.execute(
            "select version, statements from supabase_migrations.schema_migrations").fetchall())
    files, _ = scan(migrations_dir(demo_workdir()))
    assert files and {f.version for f in files} == set(recorded)
    for f in files:
        assert f.statements() == recorded[f.version], f.path.name
