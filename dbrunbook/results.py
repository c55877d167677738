"""The run's result records: one dict per check node, in run order (shape: reporting.py's docstring).

Filled by the report hooks on the controller (reporting.py), read by the terminal summary, the JSON
bundle and the HTML first screen. A module of its own so that readers need not import the hooks.
"""

from __future__ import annotations

from typing import Any

RESULTS: list[dict[str, Any]] = []
