"""Targets, services and thresholds: frozen dataclasses built once from file + env + CLI."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from dbrunbook.configkeys import (
    ESCALATION_KEYS,
    SERVICE_KEYS,
    TARGET_KEYS,
    THRESHOLD_KEYS,
    TOP_KEYS,
    Key,
    check_table,
    did_you_mean,
)
from dbrunbook.exceptions import usage_error

Kind = Literal["embedded", "url", "container"]
KINDS: tuple[Kind, ...] = ("embedded", "url", "container")
BootstrapMode = Literal["classic", "no_auto_expose"]

#: The runbook's own names for the database URL (runbook-database.md "Escopo").
DEFAULT_DB_URL_ENV: tuple[str, ...] = ("SUPABASE_DB_URL", "DATABASE_URL")
LOCAL_DB_URL = "postgresql://postgres:postgres@127.0.0.1:54322/postgres"
LOCAL_API_URL = "http://127.0.0.1:54321"


@dataclass(frozen=True)
class Thresholds:
    """Every wait is bounded by one of these; per target in ``dbrunbook.toml``."""

    connect_timeout_s: float = 5.0
    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 1000
    idle_in_transaction_session_timeout_ms: int = 10000
    http_timeout_s: float = 3.0
    probe_latency_warn_ms: float = 1000.0
    long_query_s: float = 60.0
    idle_in_transaction_s: float = 60.0
    oldest_transaction_s: float = 600.0
    lock_wait_s: float = 5.0
    connections_used_pct: float = 80.0
    pool_keep_free_slots: int = 5
    exclusive_lock_held_s: float = 30.0


@dataclass(frozen=True)
class ServiceSpec:
    """A service we monitor but do not own (backoffice-api, agent-runtime, ...)."""

    name: str
    health_url: str | None = None
    health_url_env: str | None = None
    db_url_env: tuple[str, ...] = ()
    pool_min_size: int = 1
    pool_max_size: int = 10
    pooler_mode: str | None = None
    prepared_statements: bool | None = None


@dataclass(frozen=True)
class TargetSpec:
    """A named target as configured; holds env var *names*, never secret values."""

    name: str
    kind: Kind = "url"
    db_url_env: tuple[str, ...] = DEFAULT_DB_URL_ENV
    db_url: str | None = None
    api_url_env: str | None = "SUPABASE_URL"
    api_url: str | None = None
    anon_key_env: str | None = "SUPABASE_ANON_KEY"
    service_role_key_env: str | None = "SUPABASE_SERVICE_ROLE_KEY"
    jwt_secret_env: str | None = "SUPABASE_JWT_SECRET"  # noqa: S105 (a variable name)
    read_only: bool = True
    throwaway: bool = False
    local_stack: bool = False
    workdir: Path | None = None
    contracts: Path | None = None
    bootstrap_mode: BootstrapMode = "classic"
    #: Hosted platform era the embedded target models: "2024" | "2025" | "2026" | "auto" (docs/platform-eras.md).
    platform: str = "auto"
    pg_major: int | None = None
    services: tuple[ServiceSpec, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: A table the anon key may read through the Data API: ``GET /rest/v1/<table>?select=*&limit=1``.
    api_probe_table: str | None = None
    #: dbrunbook itself runs inside the stack's Docker network, where ``db:5432``/``kong:8000`` are right.
    in_docker_network: bool = False
    #: Studio of a local stack (optional there); None means http://127.0.0.1:54323.
    studio_url: str | None = None

    @property
    def pytest_id(self) -> str:
        """Node ids read ``test_x[prod]``."""
        return self.name


def _builtin_targets() -> dict[str, TargetSpec]:
    return {
        "embedded": TargetSpec(
            name="embedded", kind="embedded", db_url_env=(), api_url_env=None, anon_key_env=None,
            service_role_key_env=None, jwt_secret_env=None, read_only=False, throwaway=True,
        ),
        # The Supabase CLI's local stack (supabase-facts.md 5.1).
        "local": TargetSpec(
            name="local", kind="url", db_url=LOCAL_DB_URL, api_url=LOCAL_API_URL, local_stack=True,
        ),
    }


@dataclass(frozen=True)
class Escalation:
    """Whom the terminal summary names (runbook "Escalação"); ``[escalation]`` in dbrunbook.toml."""

    infra_dba: str = "the infra/DBA owner"
    incident_p0: str = "incident P0"


@dataclass(frozen=True)
class RunbookConfig:
    """Everything resolved once per run (plugin.py builds it in ``pytest_configure``)."""

    targets: tuple[TargetSpec, ...]
    known_targets: tuple[str, ...]
    targets_file: Path | None
    workdir: Path | None
    reports_dir: Path
    write_reports: bool
    incident_start: datetime | None
    logs: str | None
    contracts: Path | None
    escalation: Escalation = field(default_factory=Escalation)


def _schema(keys: Mapping[str, Key], cls: type[Any], *extra: str) -> dict[str, Key]:
    """The keys of ``keys`` that ``cls`` really has (so a schema entry never reaches a missing field)."""
    names = {f.name for f in fields(cls)} | set(extra)
    return {k: v for k, v in keys.items() if k in names}


_TARGET_KEYS = _schema(TARGET_KEYS, TargetSpec, "services", "thresholds")
_SERVICE_KEYS = _schema(SERVICE_KEYS, ServiceSpec)
_THRESHOLD_KEYS = _schema(THRESHOLD_KEYS, Thresholds)
_ESCALATION_KEYS = _schema(ESCALATION_KEYS, Escalation)


def _thresholds(raw: Mapping[str, Any], base: Thresholds, where: str, path: Path) -> Thresholds:
    return replace(base, **check_table(raw, _THRESHOLD_KEYS, where, path))


def _service(raw: Mapping[str, Any], where: str, path: Path) -> ServiceSpec:
    values = check_table(raw, _SERVICE_KEYS, where, path)
    if "name" not in values:
        raise usage_error(f"{path}: {where} has no name", checked=[str(path)],
                          fixes=['add name = "backoffice-api" (or the service\'s name)'])
    service = ServiceSpec(**values)
    if service.pool_min_size > service.pool_max_size:
        raise usage_error(
            f"{path}: {where} pool_min_size = {service.pool_min_size} is above pool_max_size = "
            f"{service.pool_max_size}", checked=[str(path)],
            fixes=["pool_min_size <= pool_max_size, as in the service's own pool settings"])
    return service


def _target(name: str, raw: Mapping[str, Any], base: TargetSpec, defaults: Mapping[str, Any],
            path: Path) -> TargetSpec:
    where = f"[targets.{name}]"
    values = {**defaults, **check_table(raw, _TARGET_KEYS, where, path)}
    services, thresholds = values.pop("services", None), values.pop("thresholds", None)
    for key in ("workdir", "contracts"):
        if key in values:
            values[key] = (path.parent / Path(values[key]).expanduser()).resolve()
    db_url = values.get("db_url")
    if db_url and _has_password(str(db_url)):
        raise usage_error(
            f"{path}: {where} db_url contains a password; secrets never go in this file",
            checked=[str(path)],
            fixes=['db_url_env = "PROD_DB_URL" and export PROD_DB_URL in the environment of the run'],
        )
    spec = replace(base, name=name, **values)
    if thresholds is not None:
        spec = replace(spec, thresholds=_thresholds(thresholds, base.thresholds,
                                                    f"[targets.{name}.thresholds]", path))
    if services is not None:
        spec = replace(spec, services=tuple(
            _service(s, f"[[targets.{name}.services]] #{i + 1}", path) for i, s in enumerate(services)))
    return spec


def _has_password(url: str) -> bool:
    from dbrunbook.urls import has_password  # every URL form: user:pw@, ?password=, conninfo password=

    return has_password(url)


def _read(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise usage_error(f"{path} is not valid TOML: {exc}", checked=[str(path)],
                          fixes=[f"fix the syntax of {path.name}", "point --targets-file elsewhere"]) from None
    except UnicodeDecodeError as exc:
        raise usage_error(f"{path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})",
                          checked=[str(path)],
                          fixes=[f"save {path.name} as UTF-8 (TOML files are UTF-8)",
                                 "point --targets-file elsewhere"]) from None
    except OSError as exc:
        raise usage_error(f"cannot read targets file {path}: {exc.strerror}", checked=[str(path)],
                          fixes=["--targets-file PATH to an existing file"]) from None
    check_table(document, TOP_KEYS, "", path)  # "" = the top level
    for name, raw in document.get("targets", {}).items():
        if not isinstance(raw, dict):
            raise usage_error(f"{path}: targets.{name} must be a table", checked=[str(path)],
                              fixes=[f"write [targets.{name}] with its keys below"])
    return document


def load_escalation(path: Path | None) -> Escalation:
    """The file's ``[escalation]`` contacts (``infra_dba``, ``incident_p0``), else the runbook's words."""
    if path is None:
        return Escalation()
    raw = _read(path).get("escalation", {})
    return Escalation(**check_table(raw, _ESCALATION_KEYS, "[escalation]", path))


def load_targets(path: Path | None) -> dict[str, TargetSpec]:
    """Built-in targets, overlaid with the file's ``[targets.*]`` and ``[defaults]``.

    :param path: the targets file, or None to use only the built-ins
    :raises pytest.UsageError: malformed TOML, unknown keys, or a value of the wrong type or range,
        naming the file, the key and the fix
    """
    targets = _builtin_targets()
    if path is None:
        return targets
    document = _read(path)
    # Checked once, so that an error in [defaults] is reported there, not under every target.
    defaults = check_table(document.get("defaults", {}), _TARGET_KEYS, "[defaults]", path)
    for name, raw in document.get("targets", {}).items():
        base = targets.get(name, TargetSpec(name=name))
        targets[name] = _target(name, raw, base, defaults if name not in targets else {}, path)
    return targets


def select_targets(available: Mapping[str, TargetSpec], names: list[str], path: Path | None,
                   source: str = "--target") -> tuple[TargetSpec, ...]:
    """Pick the ``--target`` names (default ``embedded``, the safe one), sorted for stable ids.

    :param source: where the names came from (``--target``, ``DBRUNBOOK_TARGET`` or the ini key), for errors
    """
    chosen = names or ["embedded"]
    for name in chosen:
        if name not in available:
            close = did_you_mean(name, available)
            raise usage_error(
                f"unknown target {name!r}"
                + (f" (from {source})" if source != "--target" else "")
                + f"; expected one of: {', '.join(sorted(available))}"
                + (f"; did you mean {close!r}?" if close else ""),
                checked=["built-in targets: embedded, local", f"targets file: {path or '(none found)'}"],
                fixes=[*([f"--target={close}"] if close else []),
                       f"add [targets.{name}] to {path or 'dbrunbook.toml'}",
                       "--targets-file PATH to the file that defines it", "--target with a listed name"],
            )
    selected = tuple(available[n] for n in sorted(set(chosen)))
    for spec in selected:
        # A workdir that is not there is a typo in the file: every migrations/drift/RLS check would
        # otherwise report "no migrations" against the wrong folder.
        if spec.workdir is not None and not (spec.workdir / "supabase").is_dir():
            raise usage_error(
                f"{path}: [targets.{spec.name}] workdir {spec.workdir} has no supabase/ folder",
                checked=[str(spec.workdir / "supabase")],
                fixes=["workdir = the folder that holds supabase/migrations (relative to the targets file)"])
    return selected
