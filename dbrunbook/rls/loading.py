"""Which contract a target is checked against, and what happens when there is none or it is broken.

Order: ``--contracts`` / ``DBRUNBOOK_CONTRACTS`` (every target), the target's ``contracts`` in
dbrunbook.toml, else the demo contract ``rls_contracts/contracts.toml``, but only for the demo project
itself (a target built from, or declared with, ``examples/demo``). A user's database is never judged
against the demo's tables: without a contract it gets the structural lints and discovery, and the
behavioural checks report one cause, "no contract", with the command that writes one.

A contract that cannot be used (unknown key, unknown identity, table missing from the database,
oracle that does not parse, seed that errors) is an inconclusive ``setup`` cause of the RLS checks
only: one finding per file, and every other check of the run still runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dbrunbook import lockguard, options, resources
from dbrunbook.config import TargetSpec
from dbrunbook.outcomes import Inconclusive
from dbrunbook.rls import validate
from dbrunbook.rls.contract import Contract, ContractError, load

if TYPE_CHECKING:
    import psycopg

    from dbrunbook.targets import Target

NO_CONTRACT = "no contract: behavioural isolation not checked; `dbrunbook contract init` writes one"
_LOADED = pytest.StashKey[dict[Path, Contract | ContractError]]()
_CHECKED_CONTRACT = pytest.StashKey[dict[tuple[str, int], Contract]]()


def _demo_contract(config: pytest.Config) -> Path:
    return Path(config.rootpath) / "rls_contracts" / "contracts.toml"


def _is_demo(config: pytest.Config, spec: TargetSpec) -> bool:
    """The target is the demo project: what the default contract describes."""
    from dbrunbook.factories import CONFIG_KEY
    from dbrunbook.history import resolve_workdir

    workdir = resolve_workdir(config.stash[CONFIG_KEY].cfg, spec, Path(config.rootpath))
    return workdir is not None and workdir.resolve() == resources.demo_workdir().resolve()


def contract_path(config: pytest.Config, spec: TargetSpec | None = None) -> Path | None:
    """The contracts file for ``spec`` (the run's first target when None); None: no contract applies."""
    given = options.value(config, "dbrunbook_contracts")
    if given:
        return Path(str(given)).expanduser().resolve()
    from dbrunbook.factories import CONFIG_KEY

    specs = [spec] if spec is not None else list(config.stash[CONFIG_KEY].cfg.targets)
    for s in specs[:1]:
        if s.contracts:
            return s.contracts
        if _is_demo(config, s):
            return _demo_contract(config)
    return None


def _parsed(config: pytest.Config, path: Path) -> Contract | ContractError:
    cache = config.stash.setdefault(_LOADED, {})
    if path not in cache:
        try:
            cache[path] = load(path)
        except ContractError as exc:
            cache[path] = exc
    return cache[path]


def collected(config: pytest.Config) -> Contract | None:
    """The contract the matrix is generated from at collection; None when absent or unusable.

    Never raises: a broken contract must not stop collection (the RLS checks report it instead).
    """
    path = contract_path(config)
    if path is None:
        return None
    got = _parsed(config, path)
    return got if isinstance(got, Contract) else None


def unusable(exc: ContractError) -> Inconclusive:
    """The inconclusive cause for a contract that cannot be used (one per file)."""
    return Inconclusive("setup", f"contract {exc.path}: {exc.what}", fix=exc.fix, scope=str(exc.path))


def missing(spec: TargetSpec) -> Inconclusive:
    """The inconclusive cause for a target without a contract."""
    return Inconclusive("setup", f"{spec.name}: {NO_CONTRACT}",
                        fix=f"dbrunbook contract init --target {spec.name} --out contracts.toml (or --workdir DIR), "
                            f"then contracts = \"contracts.toml\" under [targets.{spec.name}] or --contracts PATH "
                            "(docs/contracts.md)",
                        scope="no contract")


def for_target(config: pytest.Config, spec: TargetSpec) -> Contract | None:
    """The parsed contract of one target, None when none applies.

    :raises Inconclusive: the contract cannot be used
    """
    path = contract_path(config, spec)
    if path is None:
        return None
    got = _parsed(config, path)
    if isinstance(got, ContractError):
        raise unusable(got)
    return got


def contract_of(config: pytest.Config, spec: TargetSpec | None = None) -> Contract:
    """The contract of ``spec`` (default: the run's first target).

    :raises Inconclusive: no contract applies, or it cannot be used
    """
    if spec is None:
        from dbrunbook.factories import CONFIG_KEY

        spec = config.stash[CONFIG_KEY].cfg.targets[0]
    got = for_target(config, spec)
    if got is None:
        raise missing(spec)
    return got


def checked_contract(config: pytest.Config, target: Target, db: psycopg.Connection[dict[str, Any]]) -> Contract:
    """The target's contract, validated against its database once, before any probe.

    :raises Inconclusive: no contract applies, or it cannot be used on this database (setup cause)
    """
    # Every matrix node asks (thousands a run): a contract that passed once on this connection is
    # kept; a cause is worked out again for each node, as before (raised fresh each time).
    memo = config.stash.setdefault(_CHECKED_CONTRACT, {})
    key = (target.name, id(db))
    if key not in memo:
        memo[key] = _checked_contract(config, target, db)
    return memo[key]


def _checked_contract(config: pytest.Config, target: Target, db: psycopg.Connection[dict[str, Any]]) -> Contract:
    contract = contract_of(config, target.spec)
    first = collected(config)
    if first is not None and first.path != contract.path:
        raise Inconclusive("setup", f"{target.name} uses contract {contract.path}, but the matrix was collected "
                           f"from {first.path}", fix="run one target per contracts file (or pass --contracts)",
                           scope=str(contract.path))
    try:
        validate.checked(db, target.policy, contract, run_seed=not target.spec.read_only, key=target.name,
                         locked=frozenset(lockguard.exclusive_locks(target, db)))
    except ContractError as exc:
        raise unusable(exc) from None
    return contract
