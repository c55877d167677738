"""The HTML report of a failing run, read as on-call reads it: in a real browser, first screen first.

A P0 leak (a tenant policy weakened to ``using (true)``) and a P2 lock (a row-lock chain) are injected
into a clone of the demo database; the product runs ``-m triage`` on it as a user would, and headless
Chromium (Debian's ``chromium`` through ``/usr/bin/chromedriver``) opens the report at 1400x900.
The screenshot is kept under ``reports/browser/`` as a CI artifact.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faults
import psycopg
import pytest
from databases import clone_database, drop_database, with_db

from conftest import REPO, Product, ProductRun, demo_target
from dbrunbook.targets.embedded import EmbeddedInfo

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install chromium chromium-driver && pip install -e '.[dev]' (selenium)"
ARTIFACTS = REPO / "reports" / "browser"
VIEWPORT = (1400, 900)

FAILING = demo_target("""
    [targets.t.thresholds]
    lock_wait_s = 0.2
    [escalation]
    infra_dba = "Ana (infra/DBA, +55 11 5555-0101)"
    incident_p0 = "the incident commander (#incidents)"
    """)


@pytest.fixture(scope="module")
def failing_run(supabase_server: EmbeddedInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductRun]:
    """``-m triage`` on a clone with a P0 leak on public.customers and a row-lock chain on public.contacts."""
    name = clone_database(supabase_server.admin_dsn, "postgres")
    try:
        with psycopg.connect(with_db(supabase_server.admin_dsn, name), autocommit=True) as conn:
            conn.execute('alter policy "Tenant members can view customers" on public.customers using (true)')
        with faults.row_lock_chain(with_db(supabase_server.admin_dsn, name), "public.contacts"):
            time.sleep(0.3)  # let the waits pass lock_wait_s (not a timing assertion)
            started = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() - 22 * 60))
            run = Product(tmp_path_factory.mktemp("html")).run(
                "-m", "triage", "--target=t", f"--incident-start={started}", targets_toml=FAILING,
                env={"T_DB_URL": with_db(supabase_server.dsn, name)}, timeout=240)
        yield run
    finally:
        drop_database(supabase_server.admin_dsn, name)


def _browser() -> Any:
    """Headless Debian Chromium through Selenium, or a skip that says what to install."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip(f"selenium is not installed: {INSTALL}")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"no {CHROMIUM} or {CHROMEDRIVER}: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # The viewport itself (window-size would include the browser's own chrome).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False})
    return driver


@pytest.fixture
def browser() -> Iterator[Any]:
    driver = _browser()
    try:
        yield driver
    finally:
        driver.quit()


def _in_first_viewport(driver: Any, selector: str) -> str:
    """The text of the first element matching ``selector``, asserting it lies inside the first viewport."""
    box = driver.execute_script(
        "const e = document.querySelector(arguments[0]); if (!e) return null;"
        "const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, text: e.innerText};", selector)
    assert box is not None, f"{selector} is not on the page"
    assert box["top"] >= 0 and box["bottom"] <= VIEWPORT[1], f"{selector} is outside the first 1400x900: {box}"
    return str(box["text"])


@pytest.mark.fault(scenario="P0 RLS leak + P2 row-lock chain, report opened in headless Chromium",
                   expect="first 1400x900: verdict P0, counts, escalation, first fix; leak cells marked")
def test_first_screen_answers_what_how_bad_and_what_to_do(failing_run: ProductRun, browser: Any) -> None:
    assert failing_run.returncode != 0, failing_run.output[-3000:]
    page = failing_run.report_files()["html"]
    browser.get(page.as_uri())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "first-screen.png"))

    verdict = _in_first_viewport(browser, ".dbr-verdict")
    assert verdict.startswith("P0") and "multi-tenant" in verdict
    counts = _in_first_viewport(browser, ".dbr-counts")
    assert re.search(r"\b[1-9][0-9]* P0\b", counts) and "1 P2" in counts and "0 P1" in counts, counts
    assert "inconclusive" in counts and "skipped" in counts
    escalation = _in_first_viewport(browser, "#dbr-escalation")
    assert "the incident commander (#incidents)" in escalation
    assert "min since the incident started" in escalation and "Ana (infra/DBA" in escalation
    first = _in_first_viewport(browser, ".dbr-finding")
    assert first.startswith("P0") and "LEAK" in first and "public.customers" in first
    assert "Fix:" in first and "pg_policies" in first
    findings = browser.execute_script("return [...document.querySelectorAll('.dbr-finding .dbr-badge')]"
                                      ".map(e => e.innerText)")
    assert findings == sorted(findings) and "P2" in findings, findings  # worst first

    # The matrix: leak cells carry their state, and a click shows the leaked rows.
    states = browser.execute_script(
        "return [...document.querySelectorAll('#dbr-rls table')].map(t => [t.caption.innerText,"
        " [...t.querySelectorAll('td.dbr-cell')].map(c => c.dataset.state)])")
    assert states[0][0].startswith("public.customers"), states[0]  # leaks first
    assert states[0][1].count("leak") == 4 and "ok" in states[0][1]
    assert all(set(cells) <= {"ok", "not_probed"} and "ok" in cells for _, cells in states[1:]), states[1:]
    browser.find_element("css selector", "td.dbr-leak a").click()
    detail = browser.execute_script("const e = document.querySelector('.dbr-cell-detail:target');"
                                    "return e && e.offsetHeight > 0 ? e.innerText : null")
    assert detail and "LEAK" in detail and "22222222-2222-4222-8222-222222222222" in detail
    assert "using (true)" in detail  # the policy that leaks, as rls_contracts records it
    browser.save_screenshot(str(ARTIFACTS / "rls-cell.png"))


def test_failing_rows_come_first_by_severity_with_inline_evidence(failing_run: ProductRun, browser: Any) -> None:
    browser.get(failing_run.report_files()["html"].as_uri())
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#results-table tbody.results-table-row')].slice(0, 6)"
        ".map(b => [b.querySelector('.col-result').innerText, b.querySelector('.col-severity').innerText])")
    # One row per node: the matrix node of public.customers (its 4 leaking cells) and the other P0, then the P2.
    assert [r[0] for r in rows[:3]] == ["Failed"] * 3 and rows[3][0] != "Failed", rows
    assert [r[1] for r in rows[:3]] == ["P0", "P0", "P2"], rows
    # The lock tree is shown whole (no max-height box), and no evidence link is a data: URL.
    tree = browser.execute_script(
        "const p = [...document.querySelectorAll('.dbr-row-finding pre')].find(e => e.innerText.includes('root pid'));"
        "return p && {scroll: p.scrollHeight, client: p.clientHeight, text: p.innerText}")
    assert tree and tree["scroll"] <= tree["client"] + 1 and "waits" in tree["text"]
    assert not browser.execute_script("return [...document.querySelectorAll('a[href^=\"data:\"]')].length")


def test_terminal_shows_the_compact_grid_when_the_matrix_fails(failing_run: ProductRun) -> None:
    out = failing_run.stdout
    assert "RLS matrix (L leak" in out
    grid = out[out.index("RLS matrix (L leak"):].splitlines()[1:8]
    assert grid[0].split()[:3] == ["public.customers", "[t]", "select"], grid
    marks = {line.split()[0]: line.split()[1] for line in grid[1:7]}
    assert marks == {"acme_agent": "L", "acme_owner": "L", "anon": ".", "globex_admin": "L",
                     "initech_agent": "L", "service_role": "."}, grid


def test_healthy_run_says_pass_and_calls_nobody(product: Product, supabase_server: EmbeddedInfo) -> None:
    run = product.run("-m", "triage", "--target=t", "-q", targets_toml=demo_target(),
                      env={"T_DB_URL": supabase_server.dsn})
    assert run.returncode == 0, run.output[-3000:]
    for path in run.report_files().values():  # -q: junitxml prints no path, so we do; still each once
        assert run.stdout.count(path.name) == 1, (path.name, run.stdout[-2000:])
    page = run.report_files()["html"].read_text()
    assert 'data-worst="pass"' in page and "No escalation" in page
    assert 'data-state="leak"' not in page and 'data-state="ok"' in page
    assert "RLS matrix (L leak" not in run.stdout
    assert page.index('id="dbr-first"') < page.index('id="dbr-environment"') < page.index('id="environment"')



CRASHING = '''
import pytest

from dbrunbook.outcomes import Inconclusive


@pytest.mark.check("selftest.crash", severity="P1", runbook="Triage 1")
def test_crashes(check):
    columns = {"customers": ["id", "company_id"], "notes": list(range(40))}
    return columns["contacts"]


@pytest.mark.check("selftest.inconclusive", severity="P0", runbook="Diagnosis 4")
def test_cannot_decide(check):
    raise Inconclusive("setup", "contract rls.toml: unknown identity 'tenant_c'", fix="add [identities.tenant_c]")
'''


def test_crashed_check_shows_its_error_first_in_junit_and_html(product: Product, tmp_path: Path,
                                                                browser: Any) -> None:
    test_file = tmp_path / "test_crash.py"
    test_file.write_text(CRASHING)
    run = product.run(f"--rootdir={REPO}", f"--config-file={REPO / 'pyproject.toml'}", str(test_file),
                      "--target=embedded")
    assert run.returncode != 0, run.output[-3000:]
    cases = {case.get("name"): case for case in run.junit().iter("testcase")}
    crash = next(c for n, c in cases.items() if n and n.startswith("test_crashes"))
    failure = crash.find("failure")
    assert failure is not None, run.output[-3000:]
    assert failure.get("message") == "KeyError: 'contacts'"  # the line a CI annotation shows
    assert failure.text and failure.text.startswith("KeyError: 'contacts'")
    assert "columns = " in failure.text  # the traceback is still there, below
    # The inconclusive check: whatever element it becomes, its first line is the cause, not a dump.
    undecided = next(c for n, c in cases.items() if n and n.startswith("test_cannot_decide"))
    element = next(e for e in undecided if e.tag in ("failure", "error", "skipped"))
    assert "unknown identity 'tenant_c'" in (element.get("message") or "").splitlines()[0], et_dump(undecided)
    assert "FAILED" in run.stdout and "KeyError: 'contacts'" in run.stdout  # the short summary line

    browser.get(run.report_files()["html"].as_uri())
    browser.execute_script("document.querySelector('#results-table').scrollIntoView()")
    row = browser.execute_script(
        "const b = [...document.querySelectorAll('#results-table tbody.results-table-row')]"
        ".find(b => b.id.includes('test_crashes'));"
        "const err = b.querySelector('.dbr-row-error'); const tb = b.querySelector('details.dbr-trace');"
        "return {error: err && err.innerText, errTop: err && err.getBoundingClientRect().top,"
        " traceOpen: tb && tb.open, traceTop: tb && tb.getBoundingClientRect().top}")
    assert row["error"] == "KeyError: 'contacts'", row
    assert row["traceOpen"] is False and row["traceTop"] > row["errTop"], row  # traceback folded, below
    cells = browser.execute_script(
        "const b = [...document.querySelectorAll('#results-table tbody.results-table-row')]"
        ".find(b => b.id.includes('test_cannot_decide'));"
        "return [b.querySelector('.col-result').innerText, b.querySelector('.col-severity').innerText]")
    assert cells[1] == "inconclusive: setup", cells  # never the marker's P0 for a check that decided nothing
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "crashed-check.png"))


def et_dump(element: Any) -> str:
    import xml.etree.ElementTree as ET

    return ET.tostring(element, encoding="unicode")


def test_runbook_steps_read_in_english_with_the_original_name(failing_run: ProductRun) -> None:
    leak = next(r for r in failing_run.results if r["check_id"] == "rls.read_isolation" and r["outcome"] == "failed")
    assert leak["runbook"].startswith("Diagnosis 4 (RLS errors) [Diagnóstico 4 (Erros de RLS)]"), leak["runbook"]
    assert "Escalation [Escalação]" in failing_run.stdout
    lock = failing_run.result("locks.blocking_chains")
    assert "Mitigation (carefully) [Mitigação (com cuidado)]" in lock["findings"][0]["remediation"]


def test_each_report_path_is_printed_once(failing_run: ProductRun) -> None:
    files = failing_run.report_files()
    for kind in ("html", "xml", "json"):
        assert failing_run.stdout.count(files[kind].name) == 1, (kind, failing_run.stdout[-2500:])
