"""Per-process state of a run: resolved targets and, on the controller, the embedded server."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dbrunbook import causes, gates
from dbrunbook.config import RunbookConfig, TargetSpec
from dbrunbook.exceptions import DbrunbookError, first_line
from dbrunbook.outcomes import Inconclusive
from dbrunbook.redact import REDACTOR
from dbrunbook.resources import demo_workdir
from dbrunbook.targets import KINDS, Target
from dbrunbook.targets.embedded import EmbeddedServer
from dbrunbook.targets.progress import terminal_progress


class Runtime:
    """Built in ``pytest_configure``; fixtures and report hooks read it from ``config.stash``."""

    def __init__(self, config: pytest.Config, cfg: RunbookConfig) -> None:
        self.config = config
        self.cfg = cfg
        self.targets: dict[str, Target] = {}
        self._server: EmbeddedServer | None = None
        self._embedded_error: str | None = None
        self._embedded_exc: BaseException | None = None
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
            self._server = EmbeddedServer(self._workdir(spec), mode=spec.bootstrap_mode, pg_major=spec.pg_major,
                                          platform=spec.platform, progress=terminal_progress(self.config))
        try:
            return self._server.start().as_dict()
        except (DbrunbookError, OSError) as exc:
            self._embedded_error = f"the embedded target could not start: {exc}"
            self._embedded_exc = exc
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
                # Not a DB URL problem: the build error is reported once, as a setup error (build_cause).
                self._embedded_error = self._embedded_error or str(info["error"])
            elif info:
                REDACTOR.add(str(info["password"]))
                resolved.dsn, resolved.dsn_source, resolved.info = str(info["dsn"]), "embedded server", info
        self.targets[name] = resolved
        self._wait_until_up(resolved)
        return resolved

    def build_cause(self, name: str) -> Inconclusive | None:
        """The setup error of a throwaway target that could not be built or started (None: it was)."""
        if self.spec(name).kind != "embedded" or not self._embedded_error:
            return None
        exc = self._embedded_exc
        cause = causes.from_exception(exc, name) if exc is not None else None
        return cause or Inconclusive(
            "setup", f"the throwaway target {name} could not start: "
                     f"{first_line(exc) if exc is not None else self._embedded_error}",
            fix="see README 'Throwaway target' (PostgreSQL binaries, the cache folder); or pick a "
                "configured target with --target", scope="build")

    def _wait_until_up(self, resolved: Target) -> None:
        """--retry-timeout: poll the first connection until it succeeds or the bound expires."""
        wait = gates.of(self.config).retry_timeout_s if not self.is_worker else 0.0
        if wait <= 0 or not resolved.dsn or resolved.problem or resolved.skip_reason:
            return
        deadline = time.monotonic() + wait
        while not resolved.reachability().ok and time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            resolved._reach = None  # a fresh attempt: Target caches the first one

    def describe(self, name: str) -> dict[str, str]:
        """Target, redacted host, server version and read-only flag (connects once, bounded)."""
        resolved = self.target(name)
        spec = resolved.spec
        facts = {"kind": spec.kind, "host": resolved.host,
                 "mode": "read-only" if spec.read_only else "writable (throwaway)" if spec.throwaway else "writable"}
        if resolved.skip_reason:
            facts["server"] = f"skipped: {resolved.skip_reason}"
        elif spec.kind == "embedded" and self._embedded_error:
            facts["server"] = self._embedded_error
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
            stand_ins = (self.target(spec.name).info or {}).get("stand_ins") if spec.kind == "embedded" else None
            if stand_ins:  # nobody should trust a behaviour the throwaway target does not have
                lines.append(f"dbrunbook target {spec.name}: stand-ins used: {', '.join(stand_ins)}")
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
