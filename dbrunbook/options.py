"""Command-line options, each paired with an ini key and an env var, resolved once into RunbookConfig.

Precedence (highest first): command line, environment variable, ini key (pyproject/pytest.ini),
built-in default.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dbrunbook.config import RunbookConfig, load_escalation, load_targets, select_targets
from dbrunbook.configkeys import did_you_mean
from dbrunbook.exceptions import usage_error


@dataclass(frozen=True)
class Option:
    """One setting: ``--flag``, ``ini`` key and ``ENV`` var sharing a dest."""

    flag: str
    dest: str
    env: str
    help: str
    is_list: bool = False
    is_flag: bool = False
    choices: tuple[str, ...] = ()


OPTIONS: tuple[Option, ...] = (
    Option("--target", "dbrunbook_target", "DBRUNBOOK_TARGET",
           "target name from dbrunbook.toml, or a built-in (embedded, local); repeat for several; "
           "default: embedded", is_list=True),
    Option("--targets-file", "dbrunbook_targets_file", "DBRUNBOOK_TARGETS_FILE",
           "targets file; default: dbrunbook.toml in the rootdir"),
    Option("--workdir", "dbrunbook_workdir", "DBRUNBOOK_WORKDIR",
           "folder that holds supabase/ (as in the Supabase CLI); default: the demo project for embedded, "
           "the rootdir otherwise"),
    Option("--reports-dir", "dbrunbook_reports_dir", "DBRUNBOOK_REPORTS_DIR",
           "where the HTML, JUnit and JSON reports go; default: reports/ in the rootdir"),
    Option("--no-reports", "dbrunbook_no_reports", "DBRUNBOOK_NO_REPORTS",
           "do not write the HTML/JUnit/JSON reports", is_flag=True),
    Option("--incident-start", "dbrunbook_incident_start", "DBRUNBOOK_INCIDENT_START",
           "when the incident started (ISO 8601, UTC if no zone): after 15 minutes the summary says to "
           "call the infra/DBA owner"),
    Option("--logs", "dbrunbook_logs", "DBRUNBOOK_LOGS",
           "service log file to scan for the runbook's symptoms, or - for standard input"),
    Option("--contracts", "dbrunbook_contracts", "DBRUNBOOK_CONTRACTS",
           "RLS contracts file; default: rls_contracts/contracts.toml"),
    Option("--compare-target", "dbrunbook_compare_target", "DBRUNBOOK_COMPARE_TARGET",
           "drift: compare each target's schema with this target's (e.g. staging) instead of the shadow "
           "built from supabase/migrations"),
    Option("--compare-snapshot", "dbrunbook_compare_snapshot", "DBRUNBOOK_COMPARE_SNAPSHOT",
           "drift: compare each target's schema with a snapshot saved by --snapshot-out"),
    Option("--snapshot-out", "dbrunbook_snapshot_out", "DBRUNBOOK_SNAPSHOT_OUT",
           "drift: write each target's normalized schema snapshot (JSON) to this path; {target} in the "
           "path is replaced by the target's name"),
    # --- drift scope (drift: dbrunbook/driftscope.py) ---
    Option("--drift-scope", "dbrunbook_drift_scope", "DBRUNBOOK_DRIFT_SCOPE",
           "drift: user (default) reports what supabase/migrations create or change; all also shows the "
           "platform layer's differences (extensions and versions, platform roles' grants, default privileges "
           "and settings, platform schemas)", choices=("user", "all")),
    # --- end drift scope ---
    # --- gates (verdicts: dbrunbook/gates.py resolves and validates these three) ---
    Option("--fail-on", "dbrunbook_fail_on", "DBRUNBOOK_FAIL_ON",
           "exit 1 only for failures at or above this severity (P0, P1, P2, P3); default: any failure"),
    Option("--waivers", "dbrunbook_waivers", "DBRUNBOOK_WAIVERS",
           "TOML file of accepted findings (check id + object glob, reason, owner, expires); waived findings "
           "stay visible as waived, expired waivers fail"),
    Option("--retry-timeout", "dbrunbook_retry_timeout", "DBRUNBOOK_RETRY_TIMEOUT",
           "wait up to SECONDS for each target's database to accept connections before the first verdict "
           "(gates that start right after a deploy); default: 0, no wait"),
    # --- end gates ---
)


def add_options(parser: pytest.Parser) -> None:
    """Register every option in one group, with its ini twin."""
    group = parser.getgroup("dbrunbook", "dbrunbook: the database runbook as checks")
    for opt in OPTIONS:
        help_text = f"{opt.help} [env {opt.env}, ini {opt.dest}]"
        if opt.is_flag:
            group.addoption(opt.flag, action="store_true", dest=opt.dest, default=None, help=help_text)
            parser.addini(opt.dest, help_text, type="bool", default=False)
        elif opt.is_list:
            group.addoption(opt.flag, action="append", dest=opt.dest, default=None, metavar="NAME",
                            help=help_text)
            parser.addini(opt.dest, help_text, type="linelist", default=[])
        else:
            group.addoption(opt.flag, action="store", dest=opt.dest, default=None, help=help_text,
                            choices=opt.choices or None)
            parser.addini(opt.dest, help_text, type="string", default="")


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
#: A future --incident-start within this much is clock skew between machines: read as "now".
CLOCK_SKEW = timedelta(minutes=5)


def value(config: pytest.Config, opt: Option | str) -> object:
    """The resolved value of one option (``opt`` or its dest name): CLI, then env, then ini."""
    return value_and_source(config, opt)[0]


def value_and_source(config: pytest.Config, opt: Option | str) -> tuple[object, str]:
    """The resolved value and where it came from (``--flag``, the env var or the ini key), to name in errors.

    :raises pytest.UsageError: an env var or ini key of a flag holds something other than a yes/no word
    """
    if isinstance(opt, str):
        opt = next(o for o in OPTIONS if o.dest == opt)
    cli = config.getoption(opt.dest)
    if cli is not None:  # explicit `is not None`: an empty value given on purpose still wins
        return cli, opt.flag
    env = os.environ.get(opt.env)
    if env is not None and env != "":
        if opt.is_flag:
            if env.strip().lower() not in _TRUE + _FALSE:
                raise usage_error(f"{opt.env}={env[:40]!r} is not a yes/no value (for {opt.flag})",
                                  checked=[opt.env], fixes=[f"{opt.env}=1 (or 0)", f"unset {opt.env}"])
            return env.strip().lower() in _TRUE, opt.env
        if opt.is_list:
            return [v.strip() for v in env.split(",") if v.strip()], opt.env
        return env, opt.env
    try:
        ini = config.getini(opt.dest)
    except ValueError as exc:  # pytest's bool parsing of the ini value
        raise usage_error(f"ini {opt.dest}: {exc}", checked=[str(config.inipath or "ini file")],
                          fixes=[f"{opt.dest} = true (or false)"]) from None
    return (ini if ini not in ("", []) else None), f"ini {opt.dest}"


def _parse_time(value: str, source: str, now: datetime) -> datetime:
    """``--incident-start``: ISO 8601, UTC when it has no zone; a future time is a usage error."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise usage_error(f"{source} {value[:60]!r} is not an ISO 8601 time",
                          checked=["--incident-start", "DBRUNBOOK_INCIDENT_START"],
                          fixes=["--incident-start=2026-11-29T14:05Z (UTC)",
                                 "--incident-start=2026-11-29T11:05-03:00"]) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > now + CLOCK_SKEW:
        # Usually a local time written without its zone (read as UTC): minutes since would be negative.
        raise usage_error(
            f"{source} {value!r} is in the future (now is {now:%Y-%m-%dT%H:%MZ}); "
            "a time without a zone is read as UTC",
            checked=["--incident-start", "DBRUNBOOK_INCIDENT_START"],
            fixes=["add your zone: --incident-start=2026-11-29T11:05-03:00", "write the time in UTC with a Z"])
    return min(moment, now)


def _reports_dir(raw: object, source: str, rootdir: Path) -> Path:
    """The reports folder, created now: a folder we cannot write is a usage error, not a lost report."""
    reports = Path(str(raw or rootdir / "reports")).expanduser()
    reports = reports if reports.is_absolute() else (Path.cwd() / reports)
    try:
        reports.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=reports):
            pass
    except OSError as exc:
        raise usage_error(f"{source} {reports}: cannot write reports there ({exc.strerror or exc})",
                          checked=[str(reports)],
                          fixes=["--reports-dir=DIR to a folder you can write", "--no-reports"]) from None
    return reports


def build_config(config: pytest.Config) -> RunbookConfig:
    """Resolve every option once; raise ``pytest.UsageError`` naming the option and the fix on bad input."""
    resolved = {opt.dest: value_and_source(config, opt) for opt in OPTIONS}
    values = {dest: v for dest, (v, _) in resolved.items()}
    for opt in OPTIONS:  # --flag choices are argparse's; the env var and ini key get the same check here
        chosen = values[opt.dest]
        if opt.choices and chosen not in (None, "") and str(chosen).strip().lower() not in opt.choices:
            raise usage_error(f"{resolved[opt.dest][1]} {chosen!r} is not one of: {', '.join(opt.choices)}",
                              checked=[opt.flag, opt.env, opt.dest], fixes=[f"{opt.flag}={opt.choices[0]}"])
    rootdir = Path(config.rootpath)
    targets_file: Path | None
    if values["dbrunbook_targets_file"]:
        source = resolved["dbrunbook_targets_file"][1]
        targets_file = Path(str(values["dbrunbook_targets_file"])).expanduser().resolve()
        if not targets_file.is_file():
            what = "is a directory, not a file" if targets_file.is_dir() else "does not exist"
            raise usage_error(f"{source}: targets file {targets_file} {what}", checked=[str(targets_file)],
                              fixes=["--targets-file=PATH to an existing dbrunbook.toml",
                                     "unset DBRUNBOOK_TARGETS_FILE"])
    else:
        default = rootdir / "dbrunbook.toml"
        targets_file = default if default.is_file() else None
    available = load_targets(targets_file)
    names, names_source = resolved["dbrunbook_target"]
    targets = select_targets(available, list(names) if isinstance(names, list) else [], targets_file, names_source)
    compare = values["dbrunbook_compare_target"]
    if compare and str(compare) not in available:
        close = did_you_mean(str(compare), available)
        raise usage_error(
            f"{resolved['dbrunbook_compare_target'][1]} {str(compare)!r} is not a target; expected one of: "
            f"{', '.join(sorted(available))}" + (f"; did you mean {close!r}?" if close else ""),
            checked=[f"targets file: {targets_file or '(none found)'}"],
            fixes=[f"--compare-target={close or 'staging'}", "add the target to the targets file"])
    workdir = Path(str(values["dbrunbook_workdir"])).expanduser().resolve() if values["dbrunbook_workdir"] else None
    if workdir is not None and not (workdir / "supabase").is_dir():
        raise usage_error(f"{resolved['dbrunbook_workdir'][1]} {workdir} has no supabase/ folder",
                          checked=[str(workdir / "supabase")],
                          fixes=["--workdir=DIR where DIR/supabase/migrations exists (as npx supabase --workdir)"])
    write_reports = not bool(values["dbrunbook_no_reports"])
    reports_raw, reports_source = resolved["dbrunbook_reports_dir"]
    if write_reports:
        reports = _reports_dir(reports_raw, reports_source, rootdir)
    else:
        reports = Path(str(reports_raw or rootdir / "reports")).expanduser()
    start, start_source = resolved["dbrunbook_incident_start"]
    contracts = values["dbrunbook_contracts"]
    return RunbookConfig(
        targets=targets,
        known_targets=tuple(sorted(available)),
        targets_file=targets_file,
        workdir=workdir,
        reports_dir=reports if reports.is_absolute() else (Path.cwd() / reports),
        write_reports=write_reports,
        incident_start=_parse_time(str(start), start_source, datetime.now(UTC)) if start else None,
        logs=str(values["dbrunbook_logs"]) if values["dbrunbook_logs"] else None,
        contracts=Path(str(contracts)).resolve() if contracts else None,
        escalation=load_escalation(targets_file),
    )
