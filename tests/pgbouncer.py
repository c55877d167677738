"""A throwaway PgBouncer (Debian's binary) in transaction mode in front of a throwaway Postgres.

Runs as the ``postgres`` OS user when we are root, on a free 127.0.0.1 port, with a plain-text
auth_file we write; skipped with a clear reason when the binary is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from dbrunbook.targets import cluster

BINARIES = ("pgbouncer", "/usr/sbin/pgbouncer")


@dataclass(frozen=True)
class Bouncer:
    port: int
    dsn: str  # same user/password/database as the backend DSN, through the pooler

    def url(self, *, user: str | None = None, password: str | None = None) -> str:
        parts = urlsplit(self.dsn)
        netloc = f"{user or parts.username}:{password or parts.password}@127.0.0.1:{self.port}"
        return parts._replace(netloc=netloc).geturl()


def binary() -> str | None:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


@contextlib.contextmanager
def pgbouncer(backend_dsn: str, *, pool_mode: str = "transaction", pool_size: int = 5,
              stats_user: bool = False) -> Iterator[Bouncer]:
    exe = binary()
    if exe is None:
        pytest.skip("pgbouncer is not installed (apt-get install -y pgbouncer; .ci/run installs it)")
    backend = urlsplit(backend_dsn)
    run_as = cluster.RunAs.pick()
    workdir = cluster.cache_root() / "run" / f"{os.getpid()}-pgbouncer-{int(time.time() * 1000) % 10**8}"
    workdir.mkdir(parents=True)
    port = cluster.free_port()
    (workdir / "userlist.txt").write_text(f'"{backend.username}" "{backend.password}"\n')
    (workdir / "pgbouncer.ini").write_text(f"""\
[databases]
{backend.path.lstrip('/')} = host=127.0.0.1 port={backend.port} dbname={backend.path.lstrip('/')}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = plain
auth_file = {workdir / 'userlist.txt'}
pool_mode = {pool_mode}
default_pool_size = {pool_size}
max_client_conn = 100
{f"stats_users = {backend.username}" if stats_user else ""}
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {workdir / 'pgbouncer.log'}
pidfile = {workdir / 'pgbouncer.pid'}
""")
    os.chmod(workdir / "userlist.txt", 0o600)
    run_as.chown(workdir)
    extra = {} if os.geteuid() != 0 else {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
    proc = subprocess.Popen([exe, str(workdir / "pgbouncer.ini")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, cwd="/", start_new_session=True, **extra)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = (workdir / "pgbouncer.log").read_text(errors="replace")[-1500:]
                raise AssertionError(f"pgbouncer exited ({proc.returncode}): {log}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        bouncer = Bouncer(port, backend_dsn)
        yield Bouncer(port, bouncer.url())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)
