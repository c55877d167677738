"""The HTTP RLS matrix (rls.api_read_isolation) through a gateway+PostgREST stand-in over the real demo database."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import psycopg
import pytest
from databases import clone_database, drop_database, with_db
from postgrest_standin import Gateway, postgrest_standin
from test_rls_demo import failures, only_failure

from conftest import Product, ProductRun, demo_target
from dbrunbook.rls.claims import key_claims
from dbrunbook.rls.http import mint
from dbrunbook.targets.embedded import EmbeddedInfo

pytest.importorskip("supabase", reason="the HTTP matrix needs supabase-py: pip install 'dbrunbook[http]'")

CHECK = "rls.api_read_isolation"
TEST_FILE = "rls_contracts/test_http.py"
#: Skip reasons in the terminal summary whatever addopts says (they carry "reported by" / "export ...").
REPORT = "-rfEs"
SECRET = "standin-jwt-secret-7f3a9c1e5b2d4086a1c3e5f7b9d1a3c5"
EXPOSED = ("public", "graphql_public", "core")
RAW_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")


def anon_key(secret: str = SECRET) -> str:
    """A legacy anon API key: a JWT signed with the project's secret (supabase-facts.md 2.3)."""
    return mint({**key_claims("anon"), "exp": int(time.time()) + 86400}, secret)


ANON_KEY = anon_key()
Start = Callable[..., tuple[str, Gateway]]


@pytest.fixture
def standin(supabase_server: EmbeddedInfo) -> Iterator[Start]:
    """Start a stand-in in front of a database (default: the healthy demo); returns (project URL, gateway)."""
    with ExitStack() as stack:

        def start(dsn: str | None = None) -> tuple[str, Gateway]:
            gateway = Gateway(dsn or supabase_server.dsn, SECRET, frozenset({ANON_KEY}), EXPOSED)
            return stack.enter_context(postgrest_standin(gateway)), gateway

        yield start


@pytest.fixture
def faulty_db(supabase_server: EmbeddedInfo) -> Iterator[Callable[[str], str]]:
    """Clone the demo database, inject the fault as superuser, return the clone's DSN (as postgres)."""
    made: list[str] = []

    def fault(fault_sql: str) -> str:
        name = clone_database(supabase_server.admin_dsn, "postgres")
        made.append(name)
        with psycopg.connect(with_db(supabase_server.admin_dsn, name), autocommit=True) as conn:
            conn.execute(fault_sql)
        return with_db(supabase_server.dsn, name)

    yield fault
    for name in made:
        drop_database(supabase_server.admin_dsn, name)



def run_http(product: Product, db_dsn: str, url: str, *extra: str, key: str = ANON_KEY) -> ProductRun:
    return product.run(TEST_FILE, REPORT, "--target=t", *extra, targets_toml=demo_target(),
                       env={"T_DB_URL": db_dsn, "SUPABASE_URL": url, "SUPABASE_ANON_KEY": key,
                            "SUPABASE_JWT_SECRET": SECRET}, timeout=180)


def assert_no_secret(run: ProductRun, *secrets: str) -> None:
    texts = {"terminal": run.output, **{p.name: p.read_text(errors="replace") for p in run.reports_dir.glob("*.*")}}
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret reached {where}"
        assert not RAW_JWT.search(text), f"an unmasked JWT reached {where}: {RAW_JWT.search(text)}"


@pytest.mark.fault(scenario="healthy demo over the Data API", expect="pass: rls.api_read_isolation")
def test_healthy_demo_passes_over_http(product: Product, supabase_server: EmbeddedInfo,
                                       standin: Start) -> None:
    url, gateway = standin()
    run = run_http(product, supabase_server.dsn, url)
    assert run.returncode == 0, run.output[-4000:]
    passed = [r for r in run.results if r["check_id"] == CHECK and r["outcome"] == "passed"]
    assert len(passed) >= 70, run.output[-3000:]  # 13 tables x 6 identities
    # The reads really went through HTTP, with minted tokens for users and service_role.
    roles = {role for role, *_ in gateway.seen}
    assert {"anon", "authenticated", "service_role"} <= roles
    assert ("anon", "GET", "/rest/v1/customers", 401) in gateway.seen  # anon has no grant: 401 42501, 0 rows
    assert_no_secret(run, SECRET, ANON_KEY)
    assert "<th>api select</th>" in run.report_files()["html"].read_text()  # the HTML matrix has its column


@pytest.mark.fault(scenario="Data API not configured", expect="one node, skipped, naming the env vars to export")
def test_unconfigured_api_skips_with_the_reason(product: Product, supabase_server: EmbeddedInfo) -> None:
    run = product.run(TEST_FILE, REPORT, "--target=t", targets_toml=demo_target(),
                      env={"T_DB_URL": supabase_server.dsn}, timeout=120)
    assert run.returncode == 0, run.output[-3000:]
    # Not one skipped node per table x identity: one that says why.
    results = [r for r in run.results if r["check_id"] == CHECK]
    assert [(r["outcome"], r["nodeid"].rpartition("[")[2]) for r in results] == [("skipped", "no-data-api-t]")]
    assert "export SUPABASE_URL" in run.output and "export SUPABASE_JWT_SECRET" in run.output


@pytest.mark.fault(scenario="select policy weakened to true, over HTTP", expect="fail rls.api_read_isolation P0 LEAK")
@pytest.mark.slow
def test_policy_weakened_to_true_leaks_over_http(product: Product, standin: Start,
                                                  faulty_db: Callable[[str], str]) -> None:
    dsn = faulty_db('alter policy "Tenant members can view customers" on public.customers using (true)')
    url, _ = standin(dsn)
    run = run_http(product, dsn, url, "-k", "customers or documents")
    msg = only_failure(run, CHECK, "public.customers-acme_owner")
    assert "LEAK" in msg and "acme_owner (authenticated) via the Data API reads" in msg
    assert re.search(r"reads \d+ rows of public\.customers, \d+ of them not its own \(oracle allows 3\)", msg), msg
    assert "identity acme_owner" in msg and "22222222-2222-4222-8222-222222222222" in msg
    assert all("public.customers" in n for n in failures(run, CHECK)), sorted(failures(run, CHECK))
    assert not [n for n in failures(run, CHECK) if "service_role" in n or "-anon-" in n]
    assert_no_secret(run, SECRET, ANON_KEY)


@pytest.mark.fault(scenario="select revoked from authenticated, over HTTP",
                   expect="fail rls.api_read_isolation P0 BLOCKING (403)")
def test_select_revoked_from_authenticated_blocks_with_403(product: Product, standin: Start,
                                                           faulty_db: Callable[[str], str]) -> None:
    dsn = faulty_db("revoke select on public.customers from authenticated")
    url, gateway = standin(dsn)
    run = run_http(product, dsn, url, "-k", "customers")
    msg = only_failure(run, CHECK, "public.customers-globex_admin")
    assert "BLOCKING" in msg and "reads 0 of the" in msg and "HTTP 403 42501 permission denied" in msg
    assert ("authenticated", "GET", "/rest/v1/customers", 403) in gateway.seen
    # anon and service_role do not depend on authenticated's grant: they still pass.
    assert not [n for n in failures(run, CHECK) if "service_role" in n or "-anon-" in n]


@pytest.mark.fault(scenario="wrong anon key", expect="one P1 CONFIGURATION failure, rest skip")
def test_wrong_anon_key_is_one_configuration_failure(product: Product, supabase_server: EmbeddedInfo,
                                                     standin: Start) -> None:
    url, _ = standin()
    wrong = anon_key("another-projects-jwt-secret-0123456789abcdef0123")
    run = run_http(product, supabase_server.dsn, url, "-k", "customers or documents", key=wrong)
    failed = failures(run, CHECK)
    assert len(failed) == 1, sorted(failed)
    msg = next(iter(failed.values()))
    assert "CONFIGURATION: HTTP 401 Invalid API key" in msg and "[P1]" in msg
    assert "copy SUPABASE_ANON_KEY from the same project as SUPABASE_URL" in msg
    skipped = [r for r in run.results if r["check_id"] == CHECK and r["outcome"] == "skipped"]
    assert len(skipped) >= 10  # the rest of the matrix stops fast instead of failing 12 times
    assert "the Data API refused our requests; reported by rls_contracts/test_http.py::" in run.output
    assert_no_secret(run, SECRET, wrong)


@pytest.mark.fault(scenario="wrong JWT secret", expect="one CONFIGURATION failure, not BLOCKING")
def test_wrong_jwt_secret_is_a_configuration_failure_not_blocking(product: Product, supabase_server: EmbeddedInfo,
                                                                   standin: Start) -> None:
    url, gateway = standin()
    wrong_secret = "not-this-projects-jwt-secret-0123456789abcdef"
    run = product.run(TEST_FILE, REPORT, "--target=t", "-k", "customers", targets_toml=demo_target(),
                      env={"T_DB_URL": supabase_server.dsn, "SUPABASE_URL": url, "SUPABASE_ANON_KEY": ANON_KEY,
                           "SUPABASE_JWT_SECRET": wrong_secret}, timeout=120)
    failed = failures(run, CHECK)
    assert len(failed) == 1, sorted(failed)
    msg = next(iter(failed.values()))
    assert "CONFIGURATION: HTTP 401 PGRST301" in msg and "minted with SUPABASE_JWT_SECRET" in msg
    assert "must be the JWT secret of the same project as SUPABASE_URL" in msg and "BLOCKING" not in msg
    assert any(status == 401 for *_, status in gateway.seen)
    assert_no_secret(run, SECRET, wrong_secret, ANON_KEY)
