"""The ``embedded`` target: a throwaway, Supabase-shaped PostgreSQL loaded with a project.

Start-up is layered and cached, so only the first run pays for initdb and migrations:

1. base template: initdb + ``fixtures/bootstrap`` (+ the bootstrap mode), keyed by the binaries,
   the bootstrap SQL and the stand-in extensions;
2. project template: base + the project's ``supabase/migrations`` + ``supabase/seed.sql``,
   keyed by the base and those files;
3. the run's cluster: a copy of the project template, started on a free loopback port.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dbrunbook import migrations
from dbrunbook.config import BootstrapMode
from dbrunbook.exceptions import TargetUnavailable
from dbrunbook.redact import REDACTOR
from dbrunbook.resources import fixtures_dir
from dbrunbook.targets import cluster, pginstall

#: Login roles whose password we set (the CLI's schema.sql does the same for the local stack).
LOGIN_ROLES = ("postgres", "authenticator", "supabase_auth_admin", "supabase_storage_admin", "pgbouncer",
               "supabase_replication_admin", "supabase_read_only_user", "supabase_functions_admin")
TEMPLATE_FORMAT = "3"  # bump when the template layout or bootstrap procedure changes


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

    def as_dict(self) -> dict[str, object]:
        """Serializable form (passed to pytest-xdist workers)."""
        return dict(self.__dict__)


def bootstrap_files(mode: BootstrapMode) -> list[Path]:
    """Base bootstrap files in order, then the mode file."""
    root = fixtures_dir() / "bootstrap"
    files = sorted(root.glob("[0-9]*.sql"))
    mode_file = root / "modes" / f"{mode}.sql"
    if not files:
        raise TargetUnavailable(f"no bootstrap SQL found in {root}")
    return files + ([mode_file] if mode_file.exists() else [])


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


def _build_base(install: pginstall.PgInstall, dest: Path, mode: BootstrapMode, run_as: cluster.RunAs) -> None:
    password = cluster.new_password()
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cluster.initdb(install, tmp / "data", password, run_as)
    server = cluster.start(install, tmp / "data", run_as)
    try:
        with _connect_admin(server.port, password) as conn:
            for path in bootstrap_files(mode):
                try:
                    with conn.transaction():
                        conn.execute(path.read_bytes(), prepare=False)
                except Exception as exc:
                    raise TargetUnavailable(f"bootstrap file {path.name} failed: {exc}") from None
            for role in LOGIN_ROLES:
                conn.execute(f"do $$ begin if exists (select from pg_roles where rolname = '{role}') then "
                             f"execute format('alter role %I with login password %L', '{role}', "
                             f"'{password}'); end if; end $$")
    finally:
        server.stop()
    (tmp / "secret").write_text(password)
    os.chmod(tmp / "secret", 0o600)
    tmp.rename(dest)


def _build_project(install: pginstall.PgInstall, base: Path, dest: Path, workdir: Path,
                   run_as: cluster.RunAs) -> None:
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    _copy_datadir(base / "data", tmp / "data", run_as)
    shutil.copy2(base / "secret", tmp / "secret")
    password = (base / "secret").read_text()
    server = cluster.start(install, tmp / "data", run_as)
    try:
        # Migrations run as postgres (demoted, BYPASSRLS), as `supabase db push` does on hosted.
        with _connect_admin(server.port, password, user="postgres") as conn:
            migrations.apply_all(conn, workdir)
            migrations.apply_seed(conn, workdir)
    finally:
        server.stop()
    tmp.rename(dest)


def _project_files(workdir: Path) -> list[Path]:
    files, _ = migrations.scan(migrations.migrations_dir(workdir))
    seed = workdir / "supabase" / "seed.sql"
    return [f.path for f in files] + ([seed] if seed.is_file() else [])


class EmbeddedServer:
    """Starts (once) and stops the throwaway server of a run."""

    def __init__(self, workdir: Path, *, mode: BootstrapMode = "classic", pg_major: int | None = None) -> None:
        self.workdir = workdir
        self.mode = mode
        self.pg_major = pg_major
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
        run_as = cluster.RunAs.pick()
        install = pginstall.build_overlay(pginstall.choose(self.pg_major), root)
        base_key = migrations.digest([*bootstrap_files(self.mode)])[:16]
        base_key = f"pg{install.major}-{self.mode}-{base_key}-{_overlay_id(install)}-v{TEMPLATE_FORMAT}"
        base = root / "templates" / f"base-{base_key}"
        cached = True
        with _locked(root / "templates" / f"base-{base_key}.lock"):
            if not base.exists():
                cached = False
                _build_base(install, base, self.mode, run_as)
        project_key = migrations.digest(_project_files(self.workdir))[:16]
        project = root / "templates" / f"project-{base_key}-{project_key}"
        with _locked(root / "templates" / f"project-{base_key}-{project_key}.lock"):
            if not project.exists():
                cached = False
                _build_project(install, base, project, self.workdir, run_as)
        password = (project / "secret").read_text()
        REDACTOR.add(password)
        self.run_dir = root / "run" / f"{os.getpid()}-{int(time.time() * 1000) % 100000000}"
        _copy_datadir(project / "data", self.run_dir / "data", run_as)
        self.server = cluster.start(install, self.run_dir / "data", run_as, owner_dir=self.run_dir)
        port = self.server.port
        self.info = EmbeddedInfo(
            dsn=f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres?sslmode=disable",
            admin_dsn=f"postgresql://{cluster.SUPERUSER}:{password}@127.0.0.1:{port}/postgres?sslmode=disable",
            password=password, port=port, pg_version=install.version, workdir=str(self.workdir),
            start_s=round(time.monotonic() - t0, 3), cached=cached, datadir=str(self.run_dir / "data"),
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
