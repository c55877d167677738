"""Which contract a run uses: --contracts, else the first target's ``contracts``, else the default file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbrunbook import options
from dbrunbook.rls.contract import Contract, load

_CONTRACT_KEY = pytest.StashKey[Contract]()


def contract_path(config: pytest.Config) -> Path:
    """--contracts / DBRUNBOOK_CONTRACTS, then the first target's ``contracts``, then rls_contracts/contracts.toml."""
    given = options.value(config, "dbrunbook_contracts")
    if given:
        return Path(str(given)).expanduser().resolve()
    from dbrunbook.factories import CONFIG_KEY

    for spec in config.stash[CONFIG_KEY].cfg.targets:
        if spec.contracts:
            return spec.contracts
    return Path(config.rootpath) / "rls_contracts" / "contracts.toml"


def contract_of(config: pytest.Config) -> Contract:
    """The run's contract, parsed once (at collection: no database needed)."""
    if _CONTRACT_KEY not in config.stash:
        config.stash[_CONTRACT_KEY] = load(contract_path(config))
    return config.stash[_CONTRACT_KEY]
