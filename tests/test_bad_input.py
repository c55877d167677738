"""Bad input never crashes (issue 8 item 6): the catalogue of what a user can get wrong, one row each.

Inputs that make the whole run meaningless (the targets file, its keys, types and ranges, the
command-line options and their env/ini twins) are usage errors: exit 4, no traceback, no
INTERNALERROR, and a first line that names the file, the key or the option. The product runs as a
user runs it (``Product``); every row is a row of the fault matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import Product, url_target
from dbrunbook.outcomes import EXIT_INCONCLUSIVE
from dbrunbook.resources import demo_workdir
from dbrunbook.targets.embedded import EmbeddedInfo

SELECT_1 = "checks/test_database.py"
PASSWORD = "Pasted-Secret-Passw0rd"


@dataclass(frozen=True)
class Case:
    """One bad input: the run's arguments, its targets file and env, what the first error line names."""

    scenario: str
    names: tuple[str, ...]  # every one of these is on the error's first line ({tmp} = the run's folder)
    args: tuple[str, ...] = ("--target=t",)
    toml: str | None = url_target()
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # written under {tmp} before the run
    never: tuple[str, ...] = ()  # must not appear anywhere in the output


def thresholds(line: str) -> str:
    return url_target(f"[targets.t.thresholds]\n{line}\n")


def service(lines: str) -> str:
    return url_target(f"[[targets.t.services]]\n{lines}\n")


USAGE = [
    # the targets file: its shape and encoding
    Case("db_url_env = 42", ("dbrunbook.toml", "[targets.t]", "db_url_env is 42", "environment variable name"),
         toml='[targets.t]\nkind = "url"\ndb_url_env = 42\n'),
    Case("targets = 3", ("dbrunbook.toml", "targets is 3, expected a table"), toml="targets = 3\n"),
    Case("targets file is not UTF-8", ("bad.toml", "is not UTF-8"),
         args=("--target=t", "--targets-file={tmp}/bad.toml"), toml=None,
         files={"bad.toml": b'# caf\xe9 latin-1\n[targets.t]\nkind = "url"\n'}),
    Case("--targets-file is a directory", ("--targets-file", "is a directory"),
         args=("--target=t", "--targets-file={tmp}"), toml=None),
    Case("a target that is not a table", ("targets.t must be a table",), toml='[targets]\nt = "url"\n'),
    # unknown keys, with a did-you-mean
    Case("unknown key in a target", ("[targets.t]", "'knd'", "did you mean 'kind'"),
         toml='[targets.t]\nknd = "url"\n'),
    Case("unknown threshold", ("[targets.t.thresholds]", "'conect_timeout_s'", "did you mean 'connect_timeout_s'"),
         toml=thresholds("conect_timeout_s = 2")),
    Case("unknown top-level table", ("'target'", "the top level", "did you mean 'targets'"),
         toml='[target.t]\nkind = "url"\n'),
    Case("unknown key in a service", ("[[targets.t.services]] #1", "'pool_maxsize'", "did you mean 'pool_max_size'"),
         toml=service('name = "api"\npool_maxsize = 4')),
    # types and ranges of the thresholds
    Case('connect_timeout_s = "fast"', ("[targets.t.thresholds]", "connect_timeout_s is a string",
                                        "a number > 0"), toml=thresholds('connect_timeout_s = "fast"')),
    Case("negative threshold", ("[targets.t.thresholds]", "lock_wait_s = -1", "out of range", ">= 0"),
         toml=thresholds("lock_wait_s = -1")),
    Case("statement_timeout_ms = 0 (no limit)", ("statement_timeout_ms = 0", "out of range", ">= 1"),
         toml=thresholds("statement_timeout_ms = 0")),
    Case("statement_timeout_ms not an integer", ("statement_timeout_ms is 1.5", "an integer"),
         toml=thresholds("statement_timeout_ms = 1.5")),
    Case("connect_timeout_s = nan", ("connect_timeout_s is nan",), toml=thresholds("connect_timeout_s = nan")),
    Case("connect timeout of an hour", ("connect_timeout_s = 3600", "<= 600"),
         toml=thresholds("connect_timeout_s = 3600")),
    Case("connections_used_pct = 150", ("connections_used_pct = 150", "<= 100"),
         toml=thresholds("connections_used_pct = 150")),
    Case("threshold true", ("http_timeout_s is true", "a number"), toml=thresholds("http_timeout_s = true")),
    # types and choices of the target's keys
    Case('kind = "postgres"', ("[targets.t]", "kind = 'postgres'", "'embedded', 'url', 'container'"),
         toml='[targets.t]\nkind = "postgres"\n'),
    Case('read_only = "yes"', ("[targets.t]", "read_only is a string", "true or false"),
         toml=url_target('read_only = "yes"')),
    Case("URL pasted into db_url_env", ("[targets.t]", "db_url_env holds a URL"), never=(PASSWORD,),
         toml=f'[targets.t]\nkind = "url"\ndb_url_env = "postgresql://postgres:{PASSWORD}@db.example.test/postgres"\n'),
    Case('bootstrap_mode = "auto"', ("bootstrap_mode = 'auto'", "'classic', 'no_auto_expose'"),
         toml=url_target('bootstrap_mode = "auto"')),
    Case("workdir that does not exist", ("[targets.t]", "workdir", "no supabase/ folder"),
         toml=url_target('workdir = "no-such-project"')),
    Case("[defaults] with a wrong type", ("[defaults]", "read_only is 1"), toml="[defaults]\nread_only = 1\n"
         + url_target()),
    Case("services is not an array of tables", ("[targets.t]", "services is a string"),
         toml=url_target('services = "api"')),
    Case("service without a name", ("[[targets.t.services]] #1", "has no name"), toml=service("pool_max_size = 4")),
    Case("pool_min_size above pool_max_size", ("pool_min_size = 5 is above pool_max_size = 2",),
         toml=service('name = "api"\npool_min_size = 5\npool_max_size = 2')),
    Case('pooler_mode = "txn"', ("pooler_mode = 'txn'", "'session', 'transaction'"),
         toml=service('name = "api"\npooler_mode = "txn"')),
    Case("health_url without http://", ("[[targets.t.services]] #1", "health_url is not an http(s) URL"),
         toml=service('name = "api"\nhealth_url = "localhost:4000/health"')),
    Case("password in a service's health_url", ("[[targets.t.services]] #1", "health_url contains a password"),
         toml=service(f'name = "api"\nhealth_url = "http://admin:{PASSWORD}@127.0.0.1:4000/health"'),
         never=(PASSWORD,)),
    Case("db_url_env = [] (no variable)", ("[targets.t]", "db_url_env is an array", "environment variable name"),
         toml='[targets.t]\nkind = "url"\ndb_url_env = []\n'),
    Case("pg_major = 9", ("[targets.t]", "pg_major = 9", "out of range", ">= 12"), toml=url_target("pg_major = 9")),
    Case("[escalation] contact not a string", ("[escalation]", "infra_dba is 5"),
         toml=url_target() + "\n[escalation]\ninfra_dba = 5\n"),
    # options, and their env twins
    Case("--target misspelt", ("unknown target 'tt'", "did you mean 't'"), args=("--target=tt",)),
    Case("DBRUNBOOK_TARGET unknown", ("unknown target 'prdo' (from DBRUNBOOK_TARGET)",), args=(),
         env={"DBRUNBOOK_TARGET": "prdo"}),
    Case("--compare-target unknown", ("--compare-target 'stagign'", "is not a target"),
         args=("--target=t", "--compare-target=stagign")),
    Case("--fail-on P5", ("--fail-on 'P5'", "is not a severity"), args=("--target=t", "--fail-on=P5")),
    Case("--retry-timeout negative", ("--retry-timeout '-1'", "between 0 and"),
         args=("--target=t", "--retry-timeout=-1")),
    Case("--waivers names a missing file", ("waivers file {tmp}/waivers.toml", "does not exist"),
         args=("--target=t", "--waivers={tmp}/waivers.toml")),
    Case("--reports-dir not writable", ("--reports-dir", "cannot write reports there"),
         args=("--target=t", "--reports-dir={tmp}/a-file/reports"), files={"a-file": b"not a folder"}),
    Case("--incident-start in the future", ("--incident-start '2999-01-01T00:00Z'", "is in the future"),
         args=("--target=t", "--incident-start=2999-01-01T00:00Z")),
    Case("DBRUNBOOK_INCIDENT_START in the future", ("DBRUNBOOK_INCIDENT_START", "is in the future"),
         env={"DBRUNBOOK_INCIDENT_START": "2999-01-01T00:00"}),
    Case("--incident-start not a time", ("--incident-start 'yesterday'", "ISO 8601"),
         args=("--target=t", "--incident-start=yesterday")),
    Case("DBRUNBOOK_NO_REPORTS=maybe", ("DBRUNBOOK_NO_REPORTS='maybe'", "yes/no"),
         env={"DBRUNBOOK_NO_REPORTS": "maybe"}),
    Case("--workdir without supabase/", ("--workdir", "has no supabase/ folder"),
         args=("--target=t", "--workdir={tmp}")),
]


def _first_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("ERROR: ")]
    assert lines, stderr
    return lines[0]


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.scenario, marks=pytest.mark.fault(scenario=c.scenario,
                                                           expect="usage error (exit 4) naming " + ", ".join(c.names)))
    for c in USAGE])
def test_bad_input_is_a_usage_error_naming_the_key_and_the_fix(product: Product, tmp_path: Path, case: Case) -> None:
    tmp = tmp_path / "input"
    tmp.mkdir()
    for name, data in case.files.items():
        (tmp / name).write_bytes(data)
    args = [a.replace("{tmp}", str(tmp)) for a in case.args]
    run = product.run("-m", "triage", SELECT_1, *args, targets_toml=case.toml, env={"T_DB_URL": "", **case.env},
                      timeout=60)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.output
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output, run.output
    first = _first_error_line(run.stderr)
    for name in case.names:
        assert name.replace("{tmp}", str(tmp)) in first, (name, first)
    assert "To fix this" in run.stderr
    for secret in case.never:
        assert secret not in run.output


@pytest.mark.fault(scenario="--incident-start a minute ahead (clock skew)", expect="read as now: 0 min, no error")
def test_incident_start_within_clock_skew_is_read_as_now(product: Product, stopped_server_dsn: str) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = product.run("-m", "triage", SELECT_1, "--target=t", f"--incident-start={soon}", targets_toml=url_target(),
                      env={"T_DB_URL": stopped_server_dsn}, timeout=120)
    assert run.returncode not in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR), run.output
    assert "0 min since the incident started" in run.stdout, run.output


def test_every_key_of_the_targets_file_has_a_type_and_range() -> None:
    from dataclasses import fields

    from dbrunbook import config, configkeys

    for cls, keys, extra in [(config.TargetSpec, configkeys.TARGET_KEYS, {"name"}),
                             (config.ServiceSpec, configkeys.SERVICE_KEYS, set()),
                             (config.Thresholds, configkeys.THRESHOLD_KEYS, set()),
                             (config.Escalation, configkeys.ESCALATION_KEYS, set())]:
        missing = {f.name for f in fields(cls)} - set(keys) - extra
        assert not missing, f"add {sorted(missing)} of {cls.__name__} to dbrunbook/configkeys.py (type, range)"


@dataclass(frozen=True)
class SetupCase:
    """A file only some checks read: those checks stop with one cause naming it, the others still run."""

    scenario: str
    checks: str  # the product test file that reads the file
    prefix: str  # the dependent checks' id prefix
    reason: str  # in the cause's message ({tmp} = the run's folder)
    args: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)
    verdicts_still_count: bool = False  # the dependent checks other than the first still give verdicts


SETUP = [
    SetupCase("--logs names a missing file", "checks/test_logs.py", "logs.",
              "--logs {tmp}/service.log: cannot read it (No such file or directory)", ("--logs={tmp}/service.log",)),
    SetupCase("--logs names a directory", "checks/test_logs.py", "logs.",
              "--logs {tmp}: cannot read it (Is a directory)", ("--logs={tmp}",)),
    SetupCase("--logs names an empty file", "checks/test_logs.py", "logs.",
              "--logs {tmp}/empty.log: {tmp}/empty.log has no line to scan", ("--logs={tmp}/empty.log",),
              files={"empty.log": b""}),
    SetupCase("--compare-snapshot names a missing file", "checks/test_drift.py", "drift.",
              "--compare-snapshot {tmp}/staging.json does not exist", ("--compare-snapshot={tmp}/staging.json",)),
    SetupCase("--compare-snapshot is not JSON", "checks/test_drift.py", "drift.",
              "--compare-snapshot {tmp}/staging.json is not JSON (line 1, column 2",
              ("--compare-snapshot={tmp}/staging.json",), files={"staging.json": b"{not json"}),
    SetupCase("--compare-snapshot is JSON but no snapshot", "checks/test_drift.py", "drift.",
              "--compare-snapshot {tmp}/staging.json is JSON but not a dbrunbook snapshot",
              ("--compare-snapshot={tmp}/staging.json",), files={"staging.json": b"[1, 2]"}),
    SetupCase("--snapshot-out cannot be written", "checks/test_drift.py", "drift.",
              "--snapshot-out {tmp}/a-file/prod.json: cannot write it ({tmp}/a-file is a file, not a folder)",
              ("--snapshot-out={tmp}/a-file/prod.json",), files={"a-file": b"not a folder"}, verdicts_still_count=True),
]


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.scenario, marks=pytest.mark.fault(
        scenario=c.scenario, expect=f"setup error (exit 6) in {c.prefix}* only, naming the file; database checks pass"))
    for c in SETUP])
def test_unusable_input_file_is_one_setup_cause_and_the_rest_still_runs(
        product: Product, supabase_server: EmbeddedInfo, tmp_path: Path, case: SetupCase) -> None:
    tmp = tmp_path / "input"
    tmp.mkdir()
    for name, data in case.files.items():
        (tmp / name).write_bytes(data)
    args = [a.replace("{tmp}", str(tmp)) for a in case.args]
    toml = url_target(f'workdir = "{demo_workdir()}"')
    run = product.run(case.checks, "checks/test_database.py", "--target=t", *args, targets_toml=toml,
                      env={"T_DB_URL": supabase_server.dsn}, timeout=240)
    assert run.returncode == EXIT_INCONCLUSIVE, run.output[-3000:]
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output, run.output[-3000:]
    reason = case.reason.replace("{tmp}", str(tmp))
    assert reason in run.output, run.output[-3000:]
    # the checks that do not read the file still ran, and passed
    assert run.outcome("triage.db_reachable") == "passed", run.output[-3000:]
    dependent = [r for r in run.results if r["check_id"].startswith(case.prefix)]
    stopped = [r for r in dependent if reason in str(r.get("message") or "")]
    assert [r["outcome"] for r in stopped][:1] == ["inconclusive"], [(r["nodeid"], r["outcome"]) for r in dependent]
    if case.verdicts_still_count:
        assert {r["outcome"] for r in dependent if r not in stopped} == {"passed"}, run.output[-3000:]
    else:  # nothing that depends on the file passed: no silent green
        assert "passed" not in {r["outcome"] for r in dependent}, [(r["nodeid"], r["outcome"]) for r in dependent]


WRONG_VALUES = ['42', '-1', '0', '1e400', 'nan', '"x"', '""', 'true', '[]', '[1]', '["A", 2]', '{a = 1}',
                '2026-01-01', '"postgresql://u:p@h/db"']


def test_any_value_of_any_key_is_accepted_or_a_usage_error(tmp_path: Path) -> None:
    """Every key, every kind of wrong value: a UsageError naming the key, never another exception."""
    from dbrunbook import config, configkeys

    tables = {"[targets.t]": configkeys.TARGET_KEYS, "[targets.t.thresholds]": configkeys.THRESHOLD_KEYS,
              "[[targets.t.services]]": configkeys.SERVICE_KEYS, "[escalation]": configkeys.ESCALATION_KEYS}
    path = tmp_path / "dbrunbook.toml"
    tried = 0
    for header, keys in tables.items():
        for key in keys:
            for value in WRONG_VALUES:
                target = "" if header == "[targets.t]" and key == "kind" else 'kind = "url"\n'
                body = 'name = "api"\n' if "services" in header and key != "name" else ""
                line = f"{body}{key} = {value}\n"
                path.write_text(f"[targets.t]\n{target}{line}" if header == "[targets.t]"
                                else f"[targets.t]\n{target}\n{header}\n{line}")
                tried += 1
                try:
                    specs = config.load_targets(path)
                    config.select_targets(specs, ["t"], path)
                    config.load_escalation(path)
                except pytest.UsageError as exc:
                    assert key in str(exc).splitlines()[0], (header, key, value, str(exc))
                    assert "p@h" not in str(exc), "a URL pasted into a key is echoed"
    assert tried > 500
