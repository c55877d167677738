"""The ``embedded`` target: a throwaway, Supabase-shaped PostgreSQL loaded with a project.

Start-up is layered and cached, so only the first run pays for initdb and migrations:

1. base template: initdb + ``fixtures/bootstrap`` (+ the bootstrap mode and the platform era),
   keyed by the binaries, the bootstrap SQL and the stand-in extensions;
2. project template: base + the project's ``supabase/migrations`` + ``supabase/seed.sql``,
   keyed by the base and those files;
3. the run's cluster: a copy of the project template, started on a free loopback port.

A build that takes more than a moment prints its progress (files applied of total, elapsed); a
failed or interrupted build removes its ``*.tmp<PID>`` folder, and folders left by killed builds
are swept at the next start (housekeeping.py).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dbrunbook import migrations, resources
from dbrunbook.config import BootstrapMode
from dbrunbook.exceptions import TargetUnavailable
from dbrunbook.redact import REDACTOR
from dbrunbook.resources import fixtures_dir
from dbrunbook.targets import cluster, housekeeping, pginstall
from dbrunbook.targets.progress import Progress, stderr_lines

#: Login roles whose password we set (the CLI's schema.sql does the same for the local stack).
LOGIN_ROLES = ("postgres", "authenticator", "supabase_auth_admin", "supabase_storage_admin", "pgbouncer",
               "supabase_replication_admin", "supabase_read_only_user", "supabase_functions_admin")
TEMPLATE_FORMAT = "4"  # bump when the template layout or bootstrap procedure changes

#: Platform eras (``platform`` target setting): what a hosted project created then has pre-installed
#: (fixtures/bootstrap/platforms/<era>.sql, docs/platform-eras.md). ``auto`` = the year of the
#: project's first migration, clamped to this range; a project without migrations gets the newest.
PLATFORMS = ("2024", "2025", "2026")

#: What each stand-in extension lacks, for the report header ("stand-ins used: ...").
STANDIN_LIMITS = {
    "vector": "no ANN search",
    "pg_net": "no HTTP",
    "pg_cron": "jobs never run",
    "pgsodium": "not libsodium",
    "supabase_vault": "constant key",
    "pg_graphql": "no GraphQL",
    "pg_jsonschema": "JSON Schema subset",
    "pgjwt": "pure SQL",
    "http": "no network",
    "pg_tle": "bundled packages only",
    "supabase-dbdev": "bundled packages only",
    "basejump-supabase_test_helpers": "dbrunbook implementation",
}
STANDIN_OBJECTS_SHOWN = 4  # objects named per stand-in in the header; the rest are counted

@dataclass(frozen=True)
class EmbeddedInfo:
    """What the workers and the checks need to use a started embedded server."""

    dsn: str
    admin_dsn: str
    password: str
    port: int
    pg_version: str
    workdir: str
    start_s: float
    cached: bool
    datadir: str
    platform: str = "2026"
    #: stand-in extensions installed on this target, each with what it lacks ("vector (no ANN search)")
    stand_ins: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """Serializable form (passed to pytest-xdist workers)."""
        return dict(self.__dict__)


def bootstrap_files(mode: BootstrapMode, platform: str = PLATFORMS[-1]) -> list[Path]:
    """Base bootstrap files in order, then the mode file, then the platform era's file."""
    root = fixtures_dir() / "bootstrap"
    files = sorted(root.glob("[0-9]*.sql"))
    mode_file = root / "modes" / f"{mode}.sql"
    era_file = root / "platforms" / f"{platform}.sql"
    if not files:
        raise TargetUnavailable(f"no bootstrap SQL found in {root}")
    if not era_file.exists():
        raise TargetUnavailable(f"unknown platform {platform!r}: expected one of {', '.join(PLATFORMS)} or auto")
    return files + ([mode_file] if mode_file.exists() else []) + [era_file]


def resolve_platform(platform: str, workdir: Path) -> str:
    """``auto`` -> the era of the project's first migration (its version's year), else as given.

    >>> resolve_platform("2025", Path("/nonexistent"))
    '2025'
    >>> resolve_platform("auto", Path("/nonexistent"))
    '2026'
    """
    if platform != "auto":
        return platform
    files, _ = migrations.scan(migrations.migrations_dir(workdir))
    year = files[0].version[:4] if files and re.fullmatch(r"20\d\d", files[0].version[:4]) else PLATFORMS[-1]
    return min(max(year, PLATFORMS[0]), PLATFORMS[-1])


def server_settings(install: pginstall.PgInstall) -> dict[str, str]:
    """Settings on top of cluster.SERVER_SETTINGS.

    pg_stat_statements is preloaded where the server has it (hosted preloads it; its view errors otherwise).
    """
    has_pgss = any((install.pkglibdir / f"pg_stat_statements{ext}").exists() for ext in (".so", ".dylib"))
    return {"shared_preload_libraries": "pg_stat_statements"} if has_pgss else {}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _connect_admin(port: int, password: str, user: str = cluster.SUPERUSER):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=port, user=user, password=password, dbname="postgres",
                           connect_timeout=10, autocommit=True, application_name="dbrunbook-bootstrap")


def _copy_datadir(src: Path, dest: Path, run_as: cluster.RunAs) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    # `cp -a` keeps owners and modes and is ~10x faster than copytree + chown on ~40 MB of small files:
    # this copy is most of a cached start.
    if shutil.which("cp") and subprocess.run(["cp", "-a", str(src), str(dest)], check=False,
                                             capture_output=True).returncode == 0:
        run_as.chown(dest.parent, recursive=False)
    else:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(src, dest, symlinks=True)
        run_as.chown(dest.parent)
    os.chmod(dest, 0o700)


def _build_base(install: pginstall.PgInstall, dest: Path, mode: BootstrapMode, platform: str,
                run_as: cluster.RunAs, progress: Progress) -> None:
    password = cluster.new_password()
    files = bootstrap_files(mode, platform)
    with housekeeping.build_folder(dest) as tmp:
        cluster.initdb(install, tmp / "data", password, run_as)
        progress.step("base: initdb done")
        server = cluster.start(install, tmp / "data", run_as, settings=server_settings(install))
        try:
            with _connect_admin(server.port, password) as conn:
                for number, path in enumerate(files, start=1):
                    try:
                        with conn.transaction():
                            conn.execute(path.read_bytes(), prepare=False)
                    except Exception as exc:
                        raise TargetUnavailable(f"bootstrap file {path.name} failed: {exc}") from None
                    progress.step(f"base: {number}/{len(files)} bootstrap files")
                for role in LOGIN_ROLES:
                    conn.execute(f"do $$ begin if exists (select from pg_roles where rolname = '{role}') then "
                                 f"execute format('alter role %I with login password %L', '{role}', "
                                 f"'{password}'); end if; end $$")
        finally:
            server.stop()
        (tmp / "secret").write_text(password)
        os.chmod(tmp / "secret", 0o600)


def _build_project(install: pginstall.PgInstall, base: Path, dest: Path, workdir: Path, platform: str,
                   run_as: cluster.RunAs, progress: Progress) -> None:
    with housekeeping.build_folder(dest) as tmp:
        _copy_datadir(base / "data", tmp / "data", run_as)
        shutil.copy2(base / "secret", tmp / "secret")
        password = (base / "secret").read_text()
        server = cluster.start(install, tmp / "data", run_as, settings=server_settings(install))
        try:
            # Migrations run as postgres (demoted, BYPASSRLS), as `supabase db push` does on hosted.
            with _connect_admin(server.port, password, user="postgres") as conn:
                migrations.apply_all(conn, workdir, platform=platform, on_file=lambda done, total: progress.step(
                    f"migrations: {done}/{total} files applied"))
                migrations.apply_seed(conn, workdir, platform)
        finally:
            server.stop()


def _stand_ins(port: int, password: str) -> tuple[str, ...]:
    """Installed stand-in extensions, each with what it lacks and what the project built on it.

    e.g. ``vector (no ANN search; used by: column public.documents.embedding, index public.documents_hnsw)``.
    """
    with _connect_admin(port, password) as conn:
        names = [str(n) for (n,) in conn.execute(
            "select e.extname from pg_catalog.pg_extension e join pg_catalog.pg_available_extensions a "
            "on a.name = e.extname where a.comment like '%dbrunbook%' order by 1").fetchall()]
        built: dict[str, list[str]] = {}
        for ext, obj in conn.execute(resources.sql("standin_objects")).fetchall():
            built.setdefault(str(ext), []).append(str(obj))
    labels = []
    for name in names:
        used = built.get(name, [])
        shown = ", ".join(used[:STANDIN_OBJECTS_SHOWN]) + (
            f" and {len(used) - STANDIN_OBJECTS_SHOWN} more" if len(used) > STANDIN_OBJECTS_SHOWN else "")
        labels.append(f"{name} ({STANDIN_LIMITS.get(name, 'stand-in')}" + (f"; used by: {shown})" if used else ")"))
    return tuple(labels)


def _project_files(workdir: Path) -> list[Path]:
    files, _ = migrations.scan(migrations.migrations_dir(workdir))
    seed = workdir / "supabase" / "seed.sql"
    return [f.path for f in files] + ([seed] if seed.is_file() else [])


class EmbeddedServer:
    """Starts (once) and stops the throwaway server of a run."""

    def __init__(self, workdir: Path, *, mode: BootstrapMode = "classic", pg_major: int | None = None,
                 platform: str = "auto", progress: Callable[[str], None] | None = None,
                 progress_after: float = 1.5) -> None:
        self.workdir = workdir
        self.mode = mode
        self.pg_major = pg_major
        self.platform = resolve_platform(platform, workdir)
        self.progress = progress if progress is not None else stderr_lines
        self.progress_after = progress_after  # seconds of silence before the first progress line
        self.server: cluster.RunningServer | None = None
        self.info: EmbeddedInfo | None = None
        self.run_dir: Path | None = None

    def start(self) -> EmbeddedInfo:
        """Start the server (idempotent) and return how to reach it."""
        if self.info is not None:
            return self.info
        t0 = time.monotonic()
        root = cluster.cache_root()
        cluster.remove_stale_clusters(root)
        housekeeping.sweep_stale(root / "templates")
        housekeeping.sweep_stale(root / "overlay")
        run_as = cluster.RunAs.pick()
        install = pginstall.build_overlay(pginstall.choose(self.pg_major), root)
        base_key = migrations.digest([*bootstrap_files(self.mode, self.platform)])[:16]
        base_key = (f"pg{install.major}-{self.mode}-p{self.platform}-{base_key}-{_overlay_id(install)}"
                    f"-v{TEMPLATE_FORMAT}")
        base = root / "templates" / f"base-{base_key}"
        cached = True
        progress = Progress(self.progress, "building the throwaway target", after=self.progress_after,
                            every=min(1.0, self.progress_after))
        with _locked(root / "templates" / f"base-{base_key}.lock"):
            if not base.exists():
                cached = False
                _build_base(install, base, self.mode, self.platform, run_as, progress)
        project_key = migrations.digest(_project_files(self.workdir))[:16]
        project = root / "templates" / f"project-{base_key}-{project_key}"
        with _locked(root / "templates" / f"project-{base_key}-{project_key}.lock"):
            if not project.exists():
                cached = False
                _build_project(install, base, project, self.workdir, self.platform, run_as, progress)
        progress.done()
        password = (project / "secret").read_text()
        REDACTOR.add(password)
        self.run_dir = root / "run" / f"{os.getpid()}-{int(time.time() * 1000) % 100000000}"
        _copy_datadir(project / "data", self.run_dir / "data", run_as)
        self.server = cluster.start(install, self.run_dir / "data", run_as, owner_dir=self.run_dir,
                                    settings=server_settings(install))
        port = self.server.port
        self.info = EmbeddedInfo(
            dsn=f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres?sslmode=disable",
            admin_dsn=f"postgresql://{cluster.SUPERUSER}:{password}@127.0.0.1:{port}/postgres?sslmode=disable",
            password=password, port=port, pg_version=install.version, workdir=str(self.workdir),
            start_s=round(time.monotonic() - t0, 3), cached=cached, datadir=str(self.run_dir / "data"),
            platform=self.platform, stand_ins=_stand_ins(port, password),
        )
        return self.info

    def stop(self) -> None:
        """Stop the server and delete its cluster directory."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
        self.info = None


def _overlay_id(install: pginstall.PgInstall) -> str:
    # The overlay dir name already encodes binaries + stand-in extension files.
    parts = install.bindir.parts
    for part in parts:
        if part.startswith(f"pg{install.major}-"):
            return part.split("-", 1)[1][:23]
    return "plain"
