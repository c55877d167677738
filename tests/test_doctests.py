"""The ``>>>`` examples in the package's docstrings are tests too: one node per module that has some.

A module without examples gets no node: a test that only proves a module imports would inflate the
self-test count without being able to fail (issue 12).
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from typing import Any

import pytest

import dbrunbook


class _Finder(doctest.DocTestFinder):
    """Also searches classes whose ``__module__`` is pinned to the public package (outcomes.Inconclusive).

    The default finder skips them as "imported" (so their examples never ran); the file their methods
    were compiled from says where they belong.
    """

    def _from_module(self, module: Any, obj: Any) -> bool:
        if inspect.isclass(obj):
            files = {f.__code__.co_filename for f in vars(obj).values() if inspect.isfunction(f)}
            if files:
                return module.__file__ in files
        return bool(super()._from_module(module, obj))  # type: ignore[misc]


_FINDER = _Finder()


def _real_examples(module_name: str) -> list[doctest.DocTest]:
    """Docstring tests of a module that hold at least one example that is more than a comment."""
    module = importlib.import_module(module_name)
    tests = _FINDER.find(module, module_name)
    return [t for t in tests if any(not e.source.lstrip().startswith("#") for e in t.examples)]


MODULES = sorted(m.name for m in pkgutil.walk_packages(dbrunbook.__path__, "dbrunbook.")
                 if m.name != "dbrunbook.plugin" and _real_examples(m.name))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in _real_examples(name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0 and result.failed == 0, f"{result.failed} doctest failures in {name}"


def test_modules_without_real_examples_get_no_node() -> None:
    """config.py has no example, checking.py only a commented one: neither may pose as a test."""
    assert "dbrunbook.config" not in MODULES and "dbrunbook.checking" not in MODULES
    assert "dbrunbook.outcomes" in MODULES
