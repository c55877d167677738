"""Target registry: one module per kind (embedded, url, container), as testinfra has one per backend."""

from __future__ import annotations

from collections.abc import Callable

from dbrunbook.config import Kind, TargetSpec
from dbrunbook.targets import container, url
from dbrunbook.targets.base import Reachability, Target

#: Resolvers for the kinds that need nothing but the spec; ``embedded`` is resolved by the plugin,
#: which owns the one server a run shares (also across pytest-xdist workers).
KINDS: dict[Kind, Callable[[TargetSpec], Target] | None] = {
    "url": url.resolve,
    "container": container.resolve,
    "embedded": None,
}

__all__ = ["KINDS", "Reachability", "Target"]
