"""A DB URL that does not parse (bad port, unterminated quote, bad percent-encoding, a stray word) never
shows its password, nor a piece of it, in any output: libpq's and our own parse errors quote the string."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from test_safety import CATALOGUE_PASSWORD, _every_output, _leaks

from conftest import Product, url_target
from dbrunbook.targets.embedded import EmbeddedInfo

PW = CATALOGUE_PASSWORD
SPACED = "Hunter2 Xy9-Kq7Lp3"
_CONNINFO_PW = PW.replace("\\", "\\\\").replace("'", "\\'")
MALFORMED = {
    "url_bad_port": f"postgresql://leaky:{quote(PW, safe='')}@127.0.0.1:54x32/postgres",
    "url_port_out_of_range": f"postgresql://leaky:{quote(PW, safe='')}@127.0.0.1:99999/postgres",
    "url_raw_password": f"postgresql://leaky:{PW}@127.0.0.1:9/postgres",
    "url_bad_percent": f"postgresql://leaky:{quote(PW, safe='%')}@127.0.0.1:9/postgres",
    "conninfo_unterminated_quote": f"host=127.0.0.1 port=9 user=leaky password='{_CONNINFO_PW}",
    "conninfo_stray_word": f"host=127.0.0.1 port=9 user=leaky password='{_CONNINFO_PW}' dbname",
    "conninfo_bad_port": f"host=127.0.0.1 port=54x32 user=leaky password='{_CONNINFO_PW}'",
    "conninfo_unquoted": f"host=127.0.0.1 port=9 user=leaky password={PW} sslmode=disable",
    # A password with a space, not quoted: libpq reads its second half as an option name.
    "conninfo_unquoted_space": f"host=127.0.0.1 port=9 user=leaky password=Hunter2 {SPACED[8:]} sslmode=disable",
    "conninfo_unquoted_space_eq": f"host=127.0.0.1 port=9 user=leaky password=Hunter2 {SPACED[8:]}=x",
}


@pytest.mark.fault(scenario="a DB URL that does not parse, with a password (' \\\\ \" @ / % unicode): bad or "
                            "out-of-range port, raw or badly percent-encoded password, unterminated quote, stray word",
                   expect="the run reports the URL as unusable (not a pass) and no spelling or 8-character piece of "
                          "the password is in the terminal, HTML, JUnit or JSON")
@pytest.mark.parametrize("dsn", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_db_url_never_shows_its_password(product: Product, dsn: str) -> None:
    run = product.run("-m", "triage", "--target=t", "-l", "--tb=long", targets_toml=url_target(),
                      env={"T_DB_URL": dsn}, timeout=120)
    assert run.returncode not in (0, 3), run.output
    everything = _every_output(run)
    if dsn != MALFORMED["conninfo_unquoted"]:  # libpq reads that one (another password than meant)
        assert run.outcome("env.db_url_present") == "failed", run.output
        assert "does not parse" in run.message("env.db_url_present"), run.output
    assert not _leaks(everything, PW), _leaks(everything, PW)
    assert not _leaks(everything, SPACED[8:]), _leaks(everything, SPACED[8:])


SERVICE = """
[[targets.t.services]]
name = "backoffice-api"
db_url_env = "SERVICE_DB_URL"
pool_max_size = 2
"""


@pytest.mark.fault(scenario="a service's DB URL (db_url_env) with a raw '@ /' in its password, and one with a "
                            "space in an unquoted password",
                   expect="pool.service_ready fails naming the service and 'does not parse'; no piece of the "
                          "password in any output")
@pytest.mark.parametrize("case", ["url_raw_password", "conninfo_unquoted_space"])
def test_a_malformed_service_url_never_shows_its_password(product: Product, supabase_server: EmbeddedInfo,
                                                          case: str) -> None:
    run = product.run("-m", "triage", "--target=t", "-l", "--tb=long", targets_toml=url_target(SERVICE),
                      env={"T_DB_URL": supabase_server.dsn, "SERVICE_DB_URL": MALFORMED[case]}, timeout=240)
    assert run.outcome("pool.service_ready") == "failed", run.output[-3000:]
    message = run.message("pool.service_ready")
    assert "backoffice-api" in message and "does not parse" in message, message
    everything = _every_output(run)
    assert not _leaks(everything, PW), _leaks(everything, PW)
    assert not _leaks(everything, SPACED[8:]), _leaks(everything, SPACED[8:])
