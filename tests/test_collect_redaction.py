"""Redaction of what test reports do not cover: a collection error with the DB URL, a masked value redacted twice."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from test_safety import CATALOGUE_PASSWORD, _every_output, _leaks

from conftest import Product, url_target

#: A check module as people write them while adding a check: it reads the target's URL at import
#: time and fails there (a typo, a missing helper) with the URL in the message and in its globals.
HALF_WRITTEN = '''
import os

DB_URL = os.environ["T_DB_URL"]
raise RuntimeError(f"half-written check: no helper for {DB_URL}")
'''


@pytest.mark.fault(scenario="a check module fails at import (collection error) with the DB URL (password with "
                            "' \\\\ \" @ / % and unicode) in its message and globals; -l --tb=long",
                   expect="the collection error is reported (exit != 0) and no spelling or 8-character piece of "
                          "the password is in the terminal, HTML, JUnit or JSON")
def test_a_collection_error_does_not_show_the_password(product: Product, tmp_path: Path) -> None:
    pw = CATALOGUE_PASSWORD
    # Never connected to: the run stops at collection (the URL's port is closed anyway).
    dsn = f"postgresql://leaky:{quote(pw, safe='')}@127.0.0.1:9/postgres?sslmode=disable"
    check = tmp_path / "checks_extra" / "test_half_written.py"
    check.parent.mkdir()
    check.write_text(HALF_WRITTEN)
    run = product.run(str(check), "-l", "--tb=long", "--target=t", targets_toml=url_target(),
                      env={"T_DB_URL": dsn}, timeout=120)
    assert run.returncode not in (0, 3), run.output
    assert "half-written check" in run.output and "test_half_written.py" in run.output, run.output
    everything = _every_output(run)
    assert "leaky" in everything  # the error does show the URL...
    assert not _leaks(everything, pw), _leaks(everything, pw)  # ...but never its password


#: A check whose finding quotes a conninfo fragment, as a fix text might ("quote it: password='...'").
QUOTING = '''
import pytest


@pytest.mark.check("custom.quoting", severity="P2", runbook="Diagnóstico 1")
def test_quoting(check):
    check.fail(check.finding("a value with spaces goes in quotes (password='s3cr3t words')", "here", "quote it"))
'''


@pytest.mark.fault(scenario="a finding whose text holds password='...' (the JSON bundle is redacted field by field, "
                            "then again as a whole)",
                   expect="the JSON bundle stays valid JSON, the value masked (before: the second pass ate the "
                          "closing quote: invalid control character)")
def test_a_masked_password_in_a_finding_keeps_the_json_bundle_valid(product: Product, tmp_path: Path) -> None:
    check = tmp_path / "checks_extra" / "test_quoting.py"
    check.parent.mkdir()
    check.write_text(QUOTING)
    run = product.run(str(check), "--target=t", targets_toml=url_target(),
                      env={"T_DB_URL": "postgresql://postgres@127.0.0.1:9/postgres"}, timeout=120)
    assert run.outcome("custom.quoting") == "failed", run.output  # run.results came from json.loads
    assert "password=***" in run.message("custom.quoting") and "s3cr3t" not in run.output
