"""The type and range of every key of the targets file, checked before any probe runs.

A wrong value in ``dbrunbook.toml`` makes the whole run meaningless (a threshold of ``"fast"`` became a
false P1 "cannot connect"; negative thresholds gave 96 failures and a P0 escalation), so it is a usage
error (exit 4) whose first line names the file, the table, the key and what the key takes.
String values are never echoed (a URL or key pasted into the wrong key may hold a secret).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from dbrunbook.exceptions import usage_error
from dbrunbook.urls import has_password

ValueKind = Literal["str", "url", "bool", "int", "number", "env", "envs", "path", "choice", "table", "tables"]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WORD = re.compile(r"^[\w.\- ]{1,40}$")
_NUMBER_TYPES = (int, float)


@dataclass(frozen=True)
class Key:
    """What one key takes: its kind, allowed choices or range, and an example for the fix line."""

    kind: ValueKind
    example: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    low_open: bool = False  # the low bound itself is not allowed (> instead of >=)
    high: float | None = None

    def describe(self) -> str:
        """What the key takes, in words ("a number of seconds > 0 and <= 600")."""
        words = {
            "str": "a string", "url": "an http(s) URL", "bool": "true or false", "int": "an integer",
            "number": "a number", "env": "an environment variable name (a string)",
            "envs": "an environment variable name or a list of them", "path": "a path (a string)",
            "choice": "one of " + ", ".join(repr(c) for c in self.choices), "table": "a table",
            "tables": "an array of tables ([[...]])",
        }[self.kind]
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            bounds.append(f"<= {self.high:g}")
        return words + (" " + " and ".join(bounds) if bounds else "")


def _timeout_s(example: str) -> Key:
    return Key("number", example, low=0.0, low_open=True, high=600.0)


def _timeout_ms(example: str) -> Key:
    return Key("int", example, low=1.0, high=600_000.0)


def _at_least_0(example: str) -> Key:
    return Key("number", example, low=0.0)


#: ``[targets.<name>.thresholds]``: every wait is bounded, so a timeout of 0 (PostgreSQL: "no limit"),
#: a negative value or one over 10 minutes is refused; warning thresholds may be 0 (report anything).
THRESHOLD_KEYS: dict[str, Key] = {
    "connect_timeout_s": _timeout_s("connect_timeout_s = 5"),
    "statement_timeout_ms": _timeout_ms("statement_timeout_ms = 5000"),
    "lock_timeout_ms": _timeout_ms("lock_timeout_ms = 1000"),
    "idle_in_transaction_session_timeout_ms": _timeout_ms("idle_in_transaction_session_timeout_ms = 10000"),
    "http_timeout_s": _timeout_s("http_timeout_s = 3"),
    "probe_latency_warn_ms": _at_least_0("probe_latency_warn_ms = 1000"),
    "long_query_s": _at_least_0("long_query_s = 60"),
    "idle_in_transaction_s": _at_least_0("idle_in_transaction_s = 60"),
    "oldest_transaction_s": _at_least_0("oldest_transaction_s = 600"),
    "lock_wait_s": _at_least_0("lock_wait_s = 5"),
    "connections_used_pct": Key("number", "connections_used_pct = 80", low=0.0, low_open=True, high=100.0),
    "pool_keep_free_slots": Key("int", "pool_keep_free_slots = 5", low=0.0),
    "exclusive_lock_held_s": _at_least_0("exclusive_lock_held_s = 30"),
}

#: ``[[targets.<name>.services]]``
SERVICE_KEYS: dict[str, Key] = {
    "name": Key("str", 'name = "backoffice-api"'),
    "health_url": Key("url", 'health_url = "http://127.0.0.1:4000/health"'),
    "health_url_env": Key("env", 'health_url_env = "BACKOFFICE_HEALTH_URL"'),
    "db_url_env": Key("envs", 'db_url_env = "BACKOFFICE_DB_URL"'),
    "pool_min_size": Key("int", "pool_min_size = 1", low=0.0),
    "pool_max_size": Key("int", "pool_max_size = 10", low=1.0),
    "pooler_mode": Key("choice", 'pooler_mode = "transaction"', choices=("session", "transaction")),
    "prepared_statements": Key("bool", "prepared_statements = false"),
}

#: ``[targets.<name>]`` and ``[defaults]``
TARGET_KEYS: dict[str, Key] = {
    "kind": Key("choice", 'kind = "url"', choices=("embedded", "url", "container")),
    "db_url_env": Key("envs", 'db_url_env = ["SUPABASE_DB_URL", "DATABASE_URL"]'),
    "db_url": Key("str", 'db_url = "postgresql://postgres@127.0.0.1:54322/postgres"'),
    "api_url_env": Key("env", 'api_url_env = "SUPABASE_URL"'),
    "api_url": Key("url", 'api_url = "http://127.0.0.1:54321"'),
    "anon_key_env": Key("env", 'anon_key_env = "SUPABASE_ANON_KEY"'),
    "service_role_key_env": Key("env", 'service_role_key_env = "SUPABASE_SERVICE_ROLE_KEY"'),
    "jwt_secret_env": Key("env", 'jwt_secret_env = "SUPABASE_JWT_SECRET"'),
    "read_only": Key("bool", "read_only = true"),
    "throwaway": Key("bool", "throwaway = false"),
    "local_stack": Key("bool", "local_stack = false"),
    "workdir": Key("path", 'workdir = "../my-app"'),
    "contracts": Key("path", 'contracts = "rls_contracts/contracts.toml"'),
    "bootstrap_mode": Key("choice", 'bootstrap_mode = "classic"', choices=("classic", "no_auto_expose")),
    "platform": Key("choice", 'platform = "auto"', choices=("auto", "2024", "2025", "2026")),
    "pg_major": Key("int", "pg_major = 15", low=12.0, high=99.0),
    "services": Key("tables", '[[targets.<name>.services]] with name = "backoffice-api"'),
    "thresholds": Key("table", "[targets.<name>.thresholds] with connect_timeout_s = 5"),
    "api_probe_table": Key("str", 'api_probe_table = "companies"'),
    "in_docker_network": Key("bool", "in_docker_network = false"),
    "studio_url": Key("url", 'studio_url = "http://127.0.0.1:54323"'),
}

#: ``[escalation]``
ESCALATION_KEYS: dict[str, Key] = {
    "infra_dba": Key("str", 'infra_dba = "the infra/DBA owner (#infra-oncall)"'),
    "incident_p0": Key("str", 'incident_p0 = "incident P0 (#incidents)"'),
}

#: The top level of the file.
TOP_KEYS: dict[str, Key] = {
    "defaults": Key("table", "[defaults] with the keys of a [targets.<name>] table"),
    "targets": Key("table", '[targets.prod] with kind = "url"'),
    "escalation": Key("table", '[escalation] with infra_dba = "..."'),
}


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest allowed name to a misspelt one, if any is close.

    >>> did_you_mean("readonly", ["read_only", "kind"])
    'read_only'
    """
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def check_keys(table: Mapping[str, Any], allowed: Mapping[str, Key] | Iterable[str], where: str, path: Path) -> None:
    """Unknown keys are a usage error naming the closest known key.

    :raises pytest.UsageError: on the first unknown key
    """
    names = sorted(allowed)
    for key in sorted(set(table) - set(names)):
        close = did_you_mean(key, names)
        hint = f"; did you mean {close!r}?" if close else ""
        raise usage_error(
            f"{path}: unknown key(s) {key!r} in {where or 'the top level'}{hint}",
            checked=[str(path)],
            fixes=[f"rename it to {close!r}" if close else f"remove {key!r}", f"use one of: {', '.join(names)}"],
        )


def _shown(value: Any) -> str:
    """A value for an error line: strings are not echoed, they may be a pasted secret."""
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _bad(path: Path, where: str, key: str, spec: Key, value: Any, what: str | None = None) -> pytest.UsageError:
    told = what or f"is {_shown(value)}, expected {spec.describe()}"
    return usage_error(f"{path}: {where + ' ' if where else ''}{key} {told}", checked=[str(path)],
                       fixes=[spec.example])


def check_value(value: Any, spec: Key, key: str, where: str, path: Path) -> Any:
    """The value, normalized (``envs`` becomes a tuple of names), or a usage error saying what the key takes."""
    kind = spec.kind
    if kind in ("str", "path", "url"):
        if not isinstance(value, str) or not value.strip():
            raise _bad(path, where, key, spec, value)
        if kind == "url" and not value.startswith(("http://", "https://")):
            raise _bad(path, where, key, spec, value, "is not an http(s) URL")
        if kind == "url" and has_password(value):
            raise _bad(path, where, key, spec, value, "contains a password; secrets never go in this file")
        if kind == "path" and "://" in value:
            raise _bad(path, where, key, spec, value, "holds a URL, not a path")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _bad(path, where, key, spec, value)
        return value
    if kind == "choice":
        if value not in spec.choices:
            # a word is echoed (a typo is easier to see); anything longer may be a pasted secret
            shown = repr(value) if isinstance(value, str) and _WORD.match(value) else _shown(value)
            raise _bad(path, where, key, spec, value, f"= {shown} is not {spec.describe()}")
        return value
    if kind == "env":
        return _env_name(value, spec, key, where, path)
    if kind == "envs":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names:
            raise _bad(path, where, key, spec, value)
        return tuple(_env_name(v, spec, key, where, path) for v in names)
    if kind in ("int", "number"):
        return _number(value, spec, key, where, path)
    if kind == "table":
        if not isinstance(value, dict):
            raise _bad(path, where, key, spec, value)
        return value
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):  # tables
        raise _bad(path, where, key, spec, value)
    return value


def _env_name(value: Any, spec: Key, key: str, where: str, path: Path) -> str:
    if not isinstance(value, str):
        raise _bad(path, where, key, spec, value)
    if "://" in value or "@" in value:
        # A URL pasted where its variable's name goes: say so without printing it (it may hold a password).
        raise _bad(path, where, key, spec, value,
                   "holds a URL, not the name of the environment variable that holds it")
    if not _ENV_NAME.match(value):
        raise _bad(path, where, key, spec, value, "is not an environment variable name (letters, digits, _)")
    return value


def _number(value: Any, spec: Key, key: str, where: str, path: Path) -> int | float:
    wants_int = spec.kind == "int"
    ok_type = isinstance(value, int) if wants_int else isinstance(value, _NUMBER_TYPES)
    if isinstance(value, bool) or not ok_type:
        raise _bad(path, where, key, spec, value)
    if not math.isfinite(value):
        raise _bad(path, where, key, spec, value)
    too_low = spec.low is not None and (value <= spec.low if spec.low_open else value < spec.low)
    too_high = spec.high is not None and value > spec.high
    if too_low or too_high:
        raise _bad(path, where, key, spec, value, f"= {value!r} is out of range: expected {spec.describe()}")
    number: int | float = value
    return number


def check_table(table: Mapping[str, Any], keys: Mapping[str, Key], where: str, path: Path) -> dict[str, Any]:
    """Check every key of one table (unknown keys first); return the normalized values."""
    check_keys(table, keys, where, path)
    return {k: check_value(v, keys[k], k, where, path) for k, v in table.items()}

