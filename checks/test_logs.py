"""Runbook "Triage 3 (Checar logs)": the services' logs show none of the runbook's symptoms.

One node per symptom class (``dbrunbook.logscan.SYMPTOMS``), each with its own check id, severity and
runbook step. Source: ``--logs FILE`` or ``--logs -`` (standard input); on the local stack without
``--logs``, the runbook's ``docker compose ... logs --tail=200 backoffice-api agent-runtime`` when
Docker answers. Elsewhere the nodes skip and say how to pass logs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbrunbook import inputfiles, logscan
from dbrunbook.checking import Check
from dbrunbook.config import RunbookConfig
from dbrunbook.outcomes import Inconclusive
from dbrunbook.redact import REDACTOR
from dbrunbook.targets import Target
from dbrunbook.targets.container import docker_engine_answers

pytestmark = [pytest.mark.triage, pytest.mark.logs]

COMPOSE_TIMEOUT_S = 30.0
HOW = "pass --logs FILE (or - for stdin), e.g. docker compose ... logs --tail=200 | pytest -m logs --logs -"
_READ: dict[str, logscan.LogText | str | Inconclusive] = {}


def _read_option(config: pytest.Config, spec: str) -> logscan.LogText | Inconclusive:
    """The --logs input, read once per process; asked for but unusable: a setup cause (inputfiles.py)."""
    text = _read_spec(config, spec)
    if isinstance(text, logscan.LogText) and not text.lines:
        return inputfiles.logs_empty(spec, text.source)
    return text


def _read_spec(config: pytest.Config, spec: str) -> logscan.LogText | Inconclusive:
    if spec != "-":
        path = Path(spec).expanduser()
        try:
            return logscan.read_file(path)
        except OSError as exc:
            return inputfiles.logs_unreadable(spec, exc)
    if hasattr(config, "workerinput"):
        return inputfiles.logs_unavailable(spec, "pytest-xdist workers cannot read standard input (their stdin is "
                                                 "the controller's channel): save the logs to a file, or drop -n")
    capman = config.pluginmanager.getplugin("capturemanager")
    # pytest points fd 0 at /dev/null while tests run; suspend capturing (stdin included) to read the real one
    if capman is not None:
        capman.suspend_global_capture(in_=True)
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return inputfiles.logs_unavailable(spec, "standard input is a terminal: pipe the logs in "
                                                     "(docker compose ... logs --tail=200 | pytest -m logs --logs -)")
        return logscan.read_fd(sys.stdin.fileno(), "standard input")
    finally:
        if capman is not None:
            capman.resume_global_capture()


def _compose_logs(target: Target, runbook_config: RunbookConfig, rootdir: Path) -> logscan.LogText | str:
    docker = shutil.which("docker")
    if docker is None:
        return f"target {target.name}: no docker command for the runbook's compose logs; {HOW}"
    ok, detail = docker_engine_answers()
    if not ok:
        return f"target {target.name}: the runbook's compose logs need Docker ({detail}); {HOW}"
    folders = [p for p in (runbook_config.workdir, target.spec.workdir, rootdir) if p is not None]
    workdir = next((p for p in folders if (p / logscan.COMPOSE_LOGS[3]).is_file()), None)
    if workdir is None:
        return f"target {target.name}: no {logscan.COMPOSE_LOGS[3]} in {', '.join(map(str, folders))}; {HOW}"
    command = [docker, *logscan.COMPOSE_LOGS[1:]]
    try:
        proc = subprocess.run(command, cwd=workdir, capture_output=True, timeout=COMPOSE_TIMEOUT_S, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(logscan.COMPOSE_LOGS)}` did not finish within {COMPOSE_TIMEOUT_S:g} s; {HOW}"
    if proc.returncode != 0:
        err = REDACTOR.text(proc.stderr.decode("utf-8", "replace").strip())[:300]
        return f"`{' '.join(logscan.COMPOSE_LOGS)}` failed ({err}); {HOW}"
    return logscan.LogText(f"{' '.join(logscan.COMPOSE_LOGS)} (in {workdir})",
                           tuple(proc.stdout.decode("utf-8", "replace").splitlines()))


@pytest.fixture
def log_text(target: Target, runbook_config: RunbookConfig, pytestconfig: pytest.Config) -> logscan.LogText:
    """The lines to scan for this target (read once per run)."""
    key = "--logs" if runbook_config.logs else f"target:{target.name}"
    if key not in _READ:
        if runbook_config.logs:
            _READ[key] = _read_option(pytestconfig, runbook_config.logs)
        elif target.spec.local_stack:
            _READ[key] = _compose_logs(target, runbook_config, Path(pytestconfig.rootpath))
        else:
            _READ[key] = f"no logs to scan for target {target.name}: {HOW}"
    text = _READ[key]
    if isinstance(text, Inconclusive):  # one cause for every symptom node (reported once by the hooks)
        raise Inconclusive(text.kind, text.message, fix=text.fix, scope=text.scope)
    if isinstance(text, str):
        pytest.skip(text)
    return text


_SCANS: dict[str, dict[str, list[logscan.Hit]]] = {}
#: How often each source was scanned in this process (evidence: it must stay 1).
_SCAN_COUNT: dict[str, int] = {}


@pytest.mark.parametrize("symptom", [
    pytest.param(s, id=s.id, marks=pytest.mark.check(f"logs.{s.id}", severity=s.severity, runbook=s.runbook))
    for s in logscan.SYMPTOMS])
def test_logs_show_no_runbook_symptom(symptom: logscan.Symptom, log_text: logscan.LogText, check: Check) -> None:
    """No log line shows this runbook symptom (count, first/last line, a redacted sample, the service)."""
    if log_text.source not in _SCANS:  # once per run: every symptom node reads the same scan
        _SCANS[log_text.source] = logscan.scan(log_text.lines, first_line=log_text.first_line)
        _SCAN_COUNT[log_text.source] = _SCAN_COUNT.get(log_text.source, 0) + 1
    hits = _SCANS[log_text.source][symptom.id]
    check.add_evidence("logs", {"source": log_text.source, "lines": len(log_text.lines), "note": log_text.note,
                                "first_line": log_text.first_line, "scans": _SCAN_COUNT[log_text.source],
                                "symptom": symptom.id,
                                "hits": [{"service": h.service, "count": h.count, "first_line": h.first_line,
                                          "last_line": h.last_line, "sample": h.sample,
                                          "objects": sorted(h.objects)} for h in hits]})
    check.require_none(
        check.finding(
            f"{h.count} log line(s) with {symptom.title}"
            + (f" from {h.service}" if h.service else "")
            + (f" (objects: {', '.join(sorted(h.objects)[:5])})" if h.objects else ""),
            f"{log_text.source}, lines {h.first_line}-{h.last_line}"
            + (f", service {h.service}" if h.service else ""),
            symptom.do,
            detail=f"first (line {h.first_line}): {h.sample}" + (f"\n({log_text.note})" if log_text.note else ""),
        )
        for h in hits)
