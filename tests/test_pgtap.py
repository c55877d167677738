"""``pytest -m pgtap --workdir=DIR``: each example builds and its own pgTAP suite passes, one node per
file; a failing assertion fails its node with its description; a psql error names its line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import Product
from dbrunbook import pgtap

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = ("remote-commit-2024", "vector-search")


def _nodes(run_results: list[dict[str, object]]) -> dict[str, str]:
    return {str(r["nodeid"]).split("[")[1].rsplit("-", 1)[0]: str(r["outcome"]) for r in run_results
            if r["check_id"] == "pgtap.file_passes"}


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_builds_and_its_suite_passes(product: Product, example: str) -> None:
    workdir = REPO / "examples" / example
    run = product.run("-m", "pgtap", f"--workdir={workdir}")
    assert run.returncode == 0, run.output
    files = [p.relative_to(pgtap.tests_dir(workdir)).as_posix() for p in pgtap.test_files(workdir)]
    assert len(files) >= 2
    assert _nodes(run.results) == dict.fromkeys(files, "passed")


def test_files_follow_pg_prove_rules(tmp_path: Path) -> None:
    tests = tmp_path / "supabase" / "tests"
    (tests / "sub").mkdir(parents=True)
    for name in ("b.sql", "a.pg", "sub/c.sql", "notes.md", "Z.sql"):
        (tests / name).write_text("select 1;")
    assert [p.relative_to(tests).as_posix() for p in pgtap.test_files(tmp_path)] == ["Z.sql", "a.pg", "b.sql",
                                                                                      "sub/c.sql"]


@pytest.mark.fault(scenario="a project's pgTAP file with a failing assertion and one stopped by an SQL error",
                   expect="that file's node fails with 'not ok N - <description>' and pgTAP's have/want; the "
                          "stopped file names file:line and the error; the other files pass")
def test_failing_assertion_fails_its_node_with_the_description(product: Product, tmp_path: Path) -> None:
    workdir = tmp_path / "proj"
    shutil.copytree(REPO / "examples" / "vector-search", workdir)
    (workdir / "supabase" / "tests" / "020-broken.sql").write_text(
        "begin;\nselect plan(2);\nselect ok(true, 'this one holds');\n"
        "select is(2 + 2, 5, 'arithmetic still works');\nselect * from finish();\nrollback;\n")
    (workdir / "supabase" / "tests" / "030-stops.sql").write_text(
        "begin;\nselect plan(2);\nselect ok(true, 'first');\nselect no_such_function();\nrollback;\n")
    run = product.run("-m", "pgtap", f"--workdir={workdir}")
    assert run.returncode == 1, run.output
    nodes = _nodes(run.results)
    assert nodes == {"000-helpers.sql": "passed", "010-vector-search.sql": "passed", "020-broken.sql": "failed",
                     "030-stops.sql": "failed"}
    by_file = {str(r["nodeid"]).split("[")[1].rsplit("-", 1)[0]: r for r in run.results}
    broken = str(by_file["020-broken.sql"]["message"])
    assert "not ok 2 - arithmetic still works" in broken and "have: 4" in broken and "want: 5" in broken
    assert "this one holds" not in broken
    stopped = str(by_file["030-stops.sql"]["message"])
    assert "030-stops.sql:4: ERROR:" in stopped and "no_such_function() does not exist" in stopped
    assert "not ok 2 - arithmetic still works" in run.stdout  # the terminal shows it too


def test_project_without_tests_skips_with_the_reason(product: Product, tmp_path: Path) -> None:
    workdir = tmp_path / "proj"
    shutil.copytree(REPO / "examples" / "vector-search", workdir)
    shutil.rmtree(workdir / "supabase" / "tests")
    run = product.run("-m", "pgtap", f"--workdir={workdir}")
    assert [r["outcome"] for r in run.results if r["check_id"] == "pgtap.file_passes"] == ["skipped"]
    assert "no pgTAP files" in run.output


@pytest.mark.fault(scenario="a project's pgTAP file that hangs (select pg_sleep(120)) with DBRUNBOOK_PGTAP_TIMEOUT_S=4",
                   expect="that file's node is inconclusive (timeout) naming the file, pg_prove and its psql are "
                          "killed, the other files pass; psql runs as dbrunbook-pgtap with the deadline + 5 s as "
                          "its server-side statement_timeout")
def test_a_hanging_file_is_inconclusive_within_its_deadline(product: Product, tmp_path: Path) -> None:
    workdir = tmp_path / "proj"
    shutil.copytree(REPO / "examples" / "vector-search", workdir)
    (workdir / "supabase" / "tests" / "020-hangs.sql").write_text(
        "begin;\nselect plan(1);\nselect pg_sleep(120);\nselect ok(true, 'never reached');\nrollback;\n")
    (workdir / "supabase" / "tests" / "030-session.sql").write_text(
        "begin;\nselect plan(3);\n"
        "select is(current_setting('application_name'), 'dbrunbook-pgtap', 'labelled');\n"
        "select is(current_setting('statement_timeout'), '9s', 'deadline + 5 s on the server');\n"
        "select is(current_setting('lock_timeout'), '1s', 'the target''s lock_timeout');\n"
        "select * from finish();\nrollback;\n")
    run = product.run("-m", "pgtap", f"--workdir={workdir}", env={"DBRUNBOOK_PGTAP_TIMEOUT_S": "4"}, timeout=150)
    nodes = _nodes(run.results)
    assert nodes == {"000-helpers.sql": "passed", "010-vector-search.sql": "passed", "020-hangs.sql": "inconclusive",
                     "030-session.sql": "passed"}, run.output
    hung = next(r for r in run.results if "020-hangs.sql" in str(r["nodeid"]))
    assert hung["cause"]["kind"] == "timeout", hung
    assert "020-hangs.sql did not finish within 4 s" in str(hung["message"]), hung
    assert run.returncode != 0, run.output
