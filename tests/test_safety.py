"""Safe under production faults (issue 9): bounded when the server freezes mid-run."""

from __future__ import annotations

import faults
import pytest

from conftest import Product, url_target

#: The frozen-server bound: connect_timeout_s + statement_timeout + CLIENT_GRACE_S, plus the
#: product's own start and report writing. The subprocess timeout is the assertion: a run that
#: waits on the frozen server never ends and fails this test by TimeoutExpired.
CONNECT_S, STATEMENT_MS = 2, 2000
FROZEN_RUN_CAP_S = 90

#: The run is past its first connection and first query (``db_reachable``) when our session shows
#: anything else as its last statement: freezing then hits a probe in the middle of triage.
_MID_RUN = ("select exists (select from pg_catalog.pg_stat_activity where application_name = 'dbrunbook' "
            "and query !~* '(server_version|^\\s*(begin|rollback|commit)|set_config)')")


@pytest.mark.fault(scenario="server frozen mid-triage (postmaster and backends SIGSTOPped; kernel still ACKs)",
                   expect="run ends within connect_timeout + statement_timeout + 2 s + startup; 'stopped "
                          "answering at HH:MM:SS UTC' (target_gone); HTML/JSON/JUnit written; exit non-zero")
def test_frozen_server_ends_the_run_bounded_with_reports(product: Product) -> None:
    toml = url_target(f"""
    [targets.t.thresholds]
    connect_timeout_s = {CONNECT_S}
    statement_timeout_ms = {STATEMENT_MS}
    """)
    with faults.small_cluster(max_connections=20) as small:
        thread, release, state = faults.freeze_when(small.admin_dsn, small.server_pid, _MID_RUN)
        try:
            run = product.run("-m", "triage", "--target=t", targets_toml=toml, env={"T_DB_URL": small.dsn},
                              timeout=FROZEN_RUN_CAP_S)
        finally:
            release.set()
            thread.join(timeout=30)
    assert state.get("pids"), f"the server was never frozen: the run finished first\n{run.output}"
    assert run.returncode not in (0, 3), run.output  # neither green nor an INTERNALERROR
    assert "INTERNALERROR" not in run.output
    gone = [r for r in run.results if "t stopped answering at " in str(r.get("message") or "")]
    assert gone, run.output
    assert "UTC" in str(gone[0]["message"])
    files = run.report_files()
    assert {"html", "json", "xml"} <= set(files), files
    assert "stopped answering" in files["html"].read_text()


@pytest.mark.fault(scenario="probe role has statement_timeout = 1ms (ALTER ROLE ... SET)",
                   expect="our SET LOCAL timeouts come first and lift it: triage runs, no INTERNALERROR; "
                          "db_reachable passes or names the role setting")
def test_a_one_millisecond_role_statement_timeout_does_not_crash_the_run(product: Product) -> None:
    with faults.small_cluster(max_connections=20) as small:
        with faults.psycopg.connect(small.admin_dsn, autocommit=True) as conn:
            conn.execute("alter role postgres set statement_timeout = '1ms'")
        run = product.run("-m", "triage", "--target=t", targets_toml=url_target(), env={"T_DB_URL": small.dsn},
                          timeout=120)
    assert "INTERNALERROR" not in run.output and run.returncode != 3, run.output
    reachable = run.result("triage.db_reachable")
    assert reachable["outcome"] == "passed" or "statement_timeout" in str(reachable.get("message")), run.output
    # our local timeouts held for the probes after the first one: nothing was cancelled by the 1 ms
    assert "canceling statement due to statement timeout" not in run.output, run.output
