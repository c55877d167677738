"""Per-process state of a run: resolved targets and, on the controller, the embedded server."""

from __future__ import annotations

from typing import Any

import pytest

from dbrunbook.config import RunbookConfig, TargetSpec
from dbrunbook.exceptions import DbrunbookError
from dbrunbook.redact import REDACTOR
from dbrunbook.resources import demo_workdir
from dbrunbook.targets import KINDS, Target
from dbrunbook.targets.embedded import EmbeddedServer


class Runtime:
    """Built in ``pytest_configure``; fixtures and report hooks read it from ``config.stash``."""

    def __init__(self, config: pytest.Config, cfg: RunbookConfig) -> None:
        self.config = config
        self.cfg = cfg
        self.targets: dict[str, Target] = {}
        self._server: EmbeddedServer | None = None
        self._embedded_error: str | None = None
        self.is_worker = hasattr(config, "workerinput")

    def spec(self, name: str) -> TargetSpec:
        """The selected target spec with this name."""
        return next(t for t in self.cfg.targets if t.name == name)

    def _workdir(self, spec: TargetSpec) -> Any:
        return self.cfg.workdir or spec.workdir or demo_workdir()

    def _start_embedded(self, spec: TargetSpec) -> dict[str, Any]:
        if self.is_worker:
            return dict(self.config.workerinput.get("dbrunbook_embedded") or {})  # type: ignore[attr-defined]
        if self._embedded_error:
            return {"error": self._embedded_error}
        if self._server is None:
            self._server = EmbeddedServer(self._workdir(spec), mode=spec.bootstrap_mode, pg_major=spec.pg_major)
        try:
            return self._server.start().as_dict()
        except (DbrunbookError, OSError) as exc:
            self._embedded_error = f"the embedded target could not start: {exc}"
            return {"error": self._embedded_error}

    def embedded_for_workers(self) -> dict[str, Any]:
        """Start the shared embedded server if a selected target needs it; describe it for workers."""
        embedded = [t for t in self.cfg.targets if t.kind == "embedded"]
        return self._start_embedded(embedded[0]) if embedded else {}

    def target(self, name: str) -> Target:
        """Resolve a target once per process."""
        if name in self.targets:
            return self.targets[name]
        spec = self.spec(name)
        resolver = KINDS[spec.kind]
        if resolver is not None:
            resolved = resolver(spec)
        else:
            resolved = Target(spec)
            info = self._start_embedded(spec)
            if "error" in info:
                resolved.problem = str(info["error"])
            elif info:
                REDACTOR.add(str(info["password"]))
                resolved.dsn, resolved.dsn_source, resolved.info = str(info["dsn"]), "embedded server", info
        self.targets[name] = resolved
        return resolved

    def describe(self, name: str) -> dict[str, str]:
        """Target, redacted host, server version and read-only flag (connects once, bounded)."""
        resolved = self.target(name)
        spec = resolved.spec
        facts = {"kind": spec.kind, "host": resolved.host,
                 "mode": "read-only" if spec.read_only else "writable (throwaway)" if spec.throwaway else "writable"}
        if resolved.skip_reason:
            facts["server"] = f"skipped: {resolved.skip_reason}"
        elif resolved.problem:
            facts["server"] = resolved.problem
        else:
            reach = resolved.reachability()
            facts["server"] = (f"PostgreSQL {reach.server_version} as {reach.current_user}" if reach.ok
                               else f"unreachable ({reach.failure.cause if reach.failure else '?'})")
        return facts

    def header_lines(self) -> list[str]:
        """Report header: one line per target; the values also go to the HTML Environment table."""
        lines = []
        for spec in self.cfg.targets:
            facts = self.describe(spec.name)
            lines.append(f"dbrunbook target {spec.name}: {facts['host']}, {facts['server']}, {facts['mode']}"
                         + ("; probes never write" if spec.read_only else ""))
            self._metadata(f"dbrunbook target {spec.name}", REDACTOR.text(", ".join(facts.values())))
        if self.cfg.targets_file:
            lines.append(f"dbrunbook targets file: {self.cfg.targets_file}")
        return [REDACTOR.text(line) for line in lines]

    def _metadata(self, key: str, value: str) -> None:
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:
            return
        self.config.stash.setdefault(metadata_key, {})[key] = value

    def close(self) -> None:
        """Close probe sessions; stop the embedded server we started."""
        for resolved in self.targets.values():
            resolved.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
