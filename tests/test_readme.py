"""The README works as written: every command of its ``bash`` blocks runs in a fresh clone.

The repository is cloned into a temporary directory (what a new on-call engineer starts from) and
each command runs there with ``bash -c``, in README order, from the clone's root, with none of the
developer's database variables. The commands that cannot run here are listed in ``SKIP`` with their
reason; the README's "Developing" section names the same list.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import _SCRUBBED, REPO

README = REPO / "README.md"

#: (pattern, why the command does not run in this check); the README's "Developing" section says the same.
SKIP: tuple[tuple[str, str], ...] = (
    (r"--target=(prod|staging)\b", "needs production/staging credentials"),
    (r"--target=local\b", "needs a running Supabase CLI stack (npx supabase start)"),
    (r"^export SUPABASE_DB_URL=", "a placeholder for your production URL"),
    (r"--workdir=\.\./my-app", "your own project, outside this repository"),
    (r"^make test\b", "runs this check itself"),
    (r"^make faults\b", "a subset of make test"),
    (r"^make bench\b", "installs the Supabase CLI, migra and pgTAP, and runs for minutes"),
)

#: Paths of this repository a reader may look for; each one the README names must exist.
_REPO_PATH = re.compile(r"^(?:(?:docs|dbrunbook|tests|checks|rls_contracts|examples|fixtures|bench|\.ci)/[\w./-]*"
                        r"|Makefile|pyproject\.toml|dbrunbook\.toml|tox\.ini|conftest\.py)$")


def commands(text: str) -> list[str]:
    """The commands of every ```bash block, continuation lines joined, comment-only lines dropped.

    >>> commands("x\\n```bash\\nmake a   # why\\n# note\\necho b \\\\\\n  c\\n```\\n```toml\\nk = 1\\n```\\n")
    ['make a   # why', 'echo b    c']
    """
    found: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        joined = block.replace("\\\n", " ")
        found += [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return found


def skip_reason(command: str) -> str | None:
    """Why ``command`` is not run here (None: it runs)."""
    return next((why for pattern, why in SKIP if re.search(pattern, command)), None)


COMMANDS = commands(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh clone of this repository's committed state, as a new engineer gets it."""
    where = tmp_path_factory.mktemp("readme") / "dbrunbook"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(where)], check=True, timeout=120)
    yield where


def _env() -> dict[str, str]:
    # MAKEFLAGS/PYTEST_ARGS: under `make test PYTEST_ARGS=...` a README `make triage` would inherit
    # the outer PYTEST_ARGS (make exports command-line variables to recipes) and run something else.
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("VIRTUAL_ENV")
           and k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTEST_ARGS")}
    # A developer's activated venv must not stand in for the clone's own .venv.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "/.venv/" not in p)
    return env


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs_in_a_fresh_clone(clone: Path, command: str) -> None:
    reason = skip_reason(command)
    if reason:
        pytest.skip(f"{reason}: {command}")
    proc = subprocess.run(["bash", "-c", command], cwd=clone, env=_env(), capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, f"`{command}` exited {proc.returncode}\n{(proc.stdout + proc.stderr)[-4000:]}"


def test_the_readme_check_runs_the_main_commands() -> None:
    """The walker cannot pass by skipping everything: the quick start and a whole-suite run are walked."""
    runs = [c for c in COMMANDS if not skip_reason(c)]
    assert "make install" in " ".join(runs) and any(c.startswith("make triage") for c in runs), runs
    assert any(c.startswith(".venv/bin/pytest") for c in runs) and "make lint" in " ".join(runs), runs
    assert not [c for c in COMMANDS if re.match(r"^pytest\b", c)], "write .venv/bin/pytest, as the README says"


def test_every_repository_path_the_readme_names_exists() -> None:
    text = README.read_text(encoding="utf-8")
    named = {span for span in re.findall(r"`([^`\s]+)`", text) if _REPO_PATH.match(span)}
    named |= set(re.findall(r"\]\(([\w./-]+)\)", text))
    missing = sorted(p for p in named if not (REPO / p.rstrip("/")).exists() and "*" not in p)
    assert not missing, f"the README names files that are not in the repository: {missing}"


def test_commands_are_read_from_bash_blocks_only() -> None:
    text = "x\n```bash\nmake a   # why\n# note\necho b \\\n  c\n```\n```toml\nk = 1\n```\n```\nmake z\n```\n"
    assert commands(text) == ["make a   # why", "echo b    c"]
    assert skip_reason(".venv/bin/pytest -m drift --target=prod") == "needs production/staging credentials"
    assert skip_reason("make triage") is None


def test_every_readme_block_says_what_it_holds() -> None:
    """An untagged block could hide a command from the walker: blocks are bash, toml, text, ..."""
    fences = re.findall(r"^```(.*)$", README.read_text(encoding="utf-8"), flags=re.M)
    openings = fences[::2]
    assert all(tag.strip() for tag in openings), f"untagged code blocks in README.md: {openings}"
