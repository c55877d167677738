"""Runbook "Triage 1", local: the Supabase CLI stack's ports answer and ``supabase status`` is clean.

Only for the local stack (built-in target ``local``, or any target with ``local_stack = true``).
Ports come from the target's own URLs (DB 54322, API 54321 by default); Studio (54323) is optional.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dbrunbook import localstack, urls
from dbrunbook.checking import Check
from dbrunbook.config import RunbookConfig
from dbrunbook.redact import REDACTOR
from dbrunbook.targets import Target
from dbrunbook.targets.container import docker_engine_answers

pytestmark = [pytest.mark.triage]

RUNBOOK = "Triage 1 (Local: npx supabase status --workdir .)"


def _endpoint(target: Target, role: str) -> tuple[str, int] | None:
    if role == "database":
        if not target.dsn:
            return None
        try:
            parts = urls.parse(target.dsn)
        except ValueError:
            return None
        return (parts.host or "127.0.0.1"), parts.port or 5432
    url = target.api_url if role == "api" else (target.spec.studio_url or localstack.STUDIO_URL)
    if not url:
        return None
    split = urlsplit(url)
    return split.hostname or "127.0.0.1", split.port or (443 if split.scheme == "https" else 80)


@pytest.mark.parametrize("stack_part", ["database", "api", "studio"])
@pytest.mark.check("local.port_answers", severity="P1", runbook=RUNBOOK)
def test_local_stack_port_answers(target: Target, stack_part: str, check: Check) -> None:
    """The local DB (54322) and API gateway (54321) accept a TCP connection; Studio (54323) if it runs."""
    if not target.spec.local_stack:
        pytest.skip(f"target {target.name} is not the local Supabase stack (local_stack = true, e.g. --target=local)")
    endpoint = _endpoint(target, stack_part)
    if endpoint is None:
        pytest.skip(f"target {target.name} has no {stack_part} URL to probe")
    host, port = endpoint
    if not urls.is_loopback(host):
        pytest.skip(f"target {target.name}: the {stack_part} URL points at {host}, not this machine's stack")
    ok, detail = localstack.tcp_answers(host, port, target.spec.thresholds.connect_timeout_s)
    check.add_evidence("port", {"part": stack_part, "host": host, "port": port, "ok": ok, "detail": detail})
    if ok:
        return
    if stack_part == "studio":
        pytest.skip(f"Studio is optional and not answering ({detail}); `npx supabase start` starts it "
                    "unless [studio] enabled = false in supabase/config.toml")
    check.fail(check.finding(
        f"the local stack's {stack_part} port does not answer: {detail}",
        f"target {target.name}: {stack_part} at {host}:{port}",
        f"start the stack: {localstack.START} (then {localstack.STATUS}); if it runs on other ports, "
        f"set the URLs of [targets.{target.name}] to what `supabase status` prints"))


def _workdirs(runbook_config: RunbookConfig, target: Target, rootdir: Path) -> list[Path]:
    found = [runbook_config.workdir, target.spec.workdir, rootdir]
    return [p for i, p in enumerate(found) if p is not None and p not in found[:i]]


@pytest.mark.local_only
@pytest.mark.check("local.supabase_status", severity="P1", runbook=RUNBOOK)
def test_supabase_status_reports_a_running_stack(target: Target, check: Check, runbook_config: RunbookConfig,
                                                 pytestconfig: pytest.Config) -> None:
    """`supabase status` exits 0 (bounded) and its DB/API URLs are the ones the target uses."""
    workdirs = _workdirs(runbook_config, target, Path(pytestconfig.rootpath))
    cli, checked = localstack.find_cli(*workdirs)
    if cli is None:
        pytest.skip(f"the Supabase CLI is not installed (checked: {', '.join(checked)}); "
                    "npm i -D supabase, or see https://supabase.com/docs/guides/local-development/cli")
    docker_ok, docker_detail = docker_engine_answers()
    if not docker_ok:
        pytest.skip(f"`supabase status` needs Docker: {docker_detail}")
    workdir = next((p for p in workdirs if (p / "supabase").is_dir()), workdirs[0])
    result = localstack.supabase_status(cli, workdir)
    check.add_evidence("supabase_status", {"workdir": str(workdir), "returncode": result.returncode,
                                           "timed_out": result.timed_out, "urls": result.values})
    where = f"target {target.name}: supabase status --workdir {workdir}"
    if result.timed_out:
        check.fail(check.finding(f"`supabase status` did not finish within {localstack.STATUS_TIMEOUT_S:g} s",
                                 where, "check that Docker is healthy (docker ps); restart Docker if it hangs"))
    if result.returncode != 0:
        check.fail(check.finding(
            "`supabase status` says the local stack is not running", where,
            f"start it: {localstack.START}; then run the triage again",
            detail=REDACTOR.text(localstack.stderr_summary(result.stderr))))
    mismatches = []
    for key, ours, var in (("DB_URL", target.dsn, "the DB URL"), ("API_URL", target.api_url, "the API URL")):
        theirs = result.values.get(key)
        if theirs and ours and _hostport(theirs) != _hostport(ours):
            mismatches.append(check.finding(
                f"{var} of target {target.name} is not the running stack's {key}",
                f"{where}: stack {_hostport(theirs)}, target {_hostport(ours)}",
                f"point {var} at {_hostport(theirs)} (from `supabase status -o env`)"))
    check.require_none(mismatches)


def _hostport(url: str) -> str:
    try:
        return urls.parse(url).hostport.replace("localhost", "127.0.0.1")
    except ValueError:
        return "(unparsable)"
