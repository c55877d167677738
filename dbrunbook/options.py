"""Command-line options, each paired with an ini key and an env var, resolved once into RunbookConfig.

Precedence (highest first): command line, environment variable, ini key (pyproject/pytest.ini),
built-in default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dbrunbook.config import RunbookConfig, load_escalation, load_targets, select_targets
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
            group.addoption(opt.flag, action="store", dest=opt.dest, default=None, help=help_text)
            parser.addini(opt.dest, help_text, type="string", default="")


def value(config: pytest.Config, opt: Option | str) -> object:
    """The resolved value of one option (``opt`` or its dest name): CLI, then env, then ini."""
    if isinstance(opt, str):
        opt = next(o for o in OPTIONS if o.dest == opt)
    cli = config.getoption(opt.dest)
    if cli is not None:  # explicit `is not None`: an empty value given on purpose still wins
        return cli
    env = os.environ.get(opt.env)
    if env is not None and env != "":
        if opt.is_flag:
            return env.lower() in ("1", "true", "yes", "on")
        if opt.is_list:
            return [v.strip() for v in env.split(",") if v.strip()]
        return env
    ini = config.getini(opt.dest)
    return ini if ini not in ("", []) else None


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise usage_error(f"--incident-start {value!r} is not an ISO 8601 time",
                          checked=["--incident-start", "DBRUNBOOK_INCIDENT_START"],
                          fixes=["--incident-start 2026-11-29T14:05Z"]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_config(config: pytest.Config) -> RunbookConfig:
    """Resolve every option once; raise ``pytest.UsageError`` naming the fix on bad input."""
    values = {opt.dest: value(config, opt) for opt in OPTIONS}
    rootdir = Path(config.rootpath)
    targets_file: Path | None
    if values["dbrunbook_targets_file"]:
        targets_file = Path(str(values["dbrunbook_targets_file"])).expanduser().resolve()
        if not targets_file.is_file():
            raise usage_error(f"targets file {targets_file} does not exist", checked=[str(targets_file)],
                              fixes=["--targets-file PATH to an existing dbrunbook.toml",
                                     "unset DBRUNBOOK_TARGETS_FILE"])
    else:
        default = rootdir / "dbrunbook.toml"
        targets_file = default if default.is_file() else None
    available = load_targets(targets_file)
    names = values["dbrunbook_target"]
    targets = select_targets(available, list(names) if isinstance(names, list) else [], targets_file)
    workdir = Path(str(values["dbrunbook_workdir"])).expanduser().resolve() if values["dbrunbook_workdir"] else None
    if workdir is not None and not (workdir / "supabase").is_dir():
        raise usage_error(f"--workdir {workdir} has no supabase/ folder", checked=[str(workdir / "supabase")],
                          fixes=["--workdir DIR where DIR/supabase/migrations exists (as npx supabase --workdir)"])
    reports = Path(str(values["dbrunbook_reports_dir"] or rootdir / "reports")).expanduser()
    start = values["dbrunbook_incident_start"]
    contracts = values["dbrunbook_contracts"]
    return RunbookConfig(
        targets=targets,
        known_targets=tuple(sorted(available)),
        targets_file=targets_file,
        workdir=workdir,
        reports_dir=reports if reports.is_absolute() else (Path.cwd() / reports),
        write_reports=not bool(values["dbrunbook_no_reports"]),
        incident_start=_parse_time(str(start)) if start else None,
        logs=str(values["dbrunbook_logs"]) if values["dbrunbook_logs"] else None,
        contracts=Path(str(contracts)).resolve() if contracts else None,
        escalation=load_escalation(targets_file),
    )
