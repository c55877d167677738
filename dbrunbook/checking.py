"""The ``check`` fixture's object: collects findings and evidence for one test and fails it well."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import pytest

from dbrunbook import runbook
from dbrunbook.findings import CheckMeta, Finding, Severity, render_all
from dbrunbook.redact import REDACTOR

CHECK_KEY = pytest.StashKey["Check"]()


class Check:
    """Handed to every check test; the reporting hooks read what it collected.

    >>> # in a check:  check.fail(check.finding("RLS disabled", "public.notes", "alter table ..."))
    """

    def __init__(self, meta: CheckMeta, target_name: str | None) -> None:
        self.meta = meta
        self.target_name = target_name
        self.findings: list[Finding] = []
        self.evidence: dict[str, Any] = {}

    def finding(self, title: str, where: str, remediation: str, *, detail: str = "",
                severity: Severity | None = None, metadata: Mapping[str, Any] | None = None) -> Finding:
        """Build a finding carrying this check's id, severity and runbook step."""
        return Finding(self.meta.check_id, severity or self.meta.severity, title, where, runbook.english(remediation),
                       self.meta.runbook, detail, dict(metadata or {}))

    def add_evidence(self, name: str, data: Any) -> None:
        """Attach data to the JSON bundle and the HTML report (redacted on the way out)."""
        self.evidence[name] = data

    def fail(self, *findings: Finding) -> NoReturn:
        """Fail the test with these findings, printed as runbook steps."""
        __tracebackhide__ = True
        self.findings.extend(findings)
        pytest.fail(REDACTOR.text(render_all(findings)), pytrace=False)

    def require_none(self, findings: Iterable[Finding]) -> None:
        """Fail if there is any finding; pass otherwise."""
        __tracebackhide__ = True
        found = list(findings)
        if found:
            self.fail(*found)
