"""Findings and check metadata: what a failing check says, in the shape of a runbook step."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from dbrunbook import runbook

# The model lives in severity.py; re-exported here for the checks that import it from findings.
from dbrunbook.severity import SEVERITIES, SEVERITY_MEANING, Severity

__all__ = ["SEVERITIES", "SEVERITY_MEANING", "CheckMeta", "Finding", "Severity", "render_all"]


@dataclass(frozen=True)
class CheckMeta:
    """From ``@pytest.mark.check("triage.db_reachable", severity="P1", runbook="Triage 1")``."""

    check_id: str
    severity: Severity
    runbook: str

    @classmethod
    def of(cls, item: pytest.Item) -> CheckMeta | None:
        """Read the ``check`` marker of a test item (None when it has none).

        Read once per item (the fixture and every report phase ask: an RLS matrix has hundreds of items).
        """
        if _META in item.stash:
            return item.stash[_META]
        marker = item.get_closest_marker("check")
        meta = None
        if marker is not None:
            check_id = marker.args[0] if marker.args else marker.kwargs.get("id", item.name)
            severity = marker.kwargs.get("severity", "P2")
            if severity not in SEVERITIES:
                raise pytest.UsageError(f"{item.nodeid}: severity {severity!r} is not one of {SEVERITIES}")
            meta = cls(check_id, severity, runbook.english(marker.kwargs.get("runbook", "")))
        item.stash[_META] = meta
        return meta


_META = pytest.StashKey[CheckMeta | None]()


@dataclass(frozen=True)
class Finding:
    """One thing wrong: what, where, which runbook step, what to do."""

    check_id: str
    severity: Severity
    title: str
    where: str
    remediation: str
    runbook: str = ""
    detail: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["metadata"] = dict(self.metadata)
        return data

    def render(self) -> str:
        """The failure text: reads like a good runbook step."""
        lines = [f"[{self.severity}] {self.check_id}: {self.title}", f"  where:   {self.where}"]
        if self.detail:
            lines += [f"  {line}" if i else f"  detail:  {line}" for i, line in enumerate(self.detail.splitlines())]
        if self.runbook:
            lines.append(f"  runbook: {self.runbook}")
        lines += [f"  {'do:' if i == 0 else '   '}      {line}" for i, line in enumerate(self.remediation.splitlines())]
        return "\n".join(lines)


def render_all(findings: Iterable[Finding]) -> str:
    """Several findings, one block each."""
    return "\n\n".join(f.render() for f in findings)
