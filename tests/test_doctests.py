"""The ``>>>`` examples in the package's docstrings are tests too."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dbrunbook

MODULES = sorted(m.name for m in pkgutil.walk_packages(dbrunbook.__path__, "dbrunbook.")
                 if m.name not in ("dbrunbook.plugin",))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest failures in {name}"
