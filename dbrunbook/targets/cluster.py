"""A throwaway PostgreSQL cluster on 127.0.0.1: created, started and removed by us, never as root.

Lifecycle guarantees (issue 2): the server listens on loopback only, on a free port; it runs as
an unprivileged OS user when we are root; it dies with the process that started it (Linux
parent-death signal), and any cluster left by a killed run is removed by the next start.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from dbrunbook.exceptions import TargetUnavailable
from dbrunbook.targets.pginstall import PgInstall

SUPERUSER = "supabase_admin"
_PR_SET_PDEATHSIG = 1

# Settings for a disposable, fast server. fsync off: the data is rebuilt from a template anyway.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "shared_buffers": "64MB",
    "max_connections": "100",
    "max_prepared_transactions": "10",
    "log_min_messages": "warning",
    "logging_collector": "off",
    "password_encryption": "scram-sha-256",
    "max_wal_size": "256MB",
    "checkpoint_timeout": "30min",
}


def cache_root() -> Path:
    """Where templates and running clusters live; traversable by the unprivileged server user."""
    override = os.environ.get("DBRUNBOOK_CACHE_DIR")
    if override:
        root = Path(override)
    elif os.geteuid() == 0:
        root = Path("/var/tmp/dbrunbook")  # noqa: S108 /root is not readable by the server user
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(base) / "dbrunbook"
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chmod(root, 0o755)  # noqa: S103 (the server user must traverse it)
    return root


@dataclass(frozen=True)
class RunAs:
    """The OS account the server runs as."""

    uid: int
    gid: int
    name: str
    home: str

    @classmethod
    def pick(cls) -> RunAs:
        """Ourselves, or when we are root the ``postgres`` account (else ``nobody``)."""
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
            return cls(entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir)
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return cls(entry.pw_uid, entry.pw_gid, entry.pw_name, "/tmp")  # noqa: S108
        raise TargetUnavailable("running as root and neither a 'postgres' nor a 'nobody' OS user exists: "
                                "PostgreSQL refuses to run as root. Create one with: useradd -r postgres")

    def chown(self, path: Path, *, recursive: bool = True) -> None:
        """Give ``path`` (recursively by default) to this account when we are root."""
        if os.geteuid() != 0:
            return
        if not recursive:
            os.chown(path, self.uid, self.gid)
            return
        for dirpath, dirnames, filenames in os.walk(path):
            os.chown(dirpath, self.uid, self.gid)
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), self.uid, self.gid)

    def run(self, args: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool as this account; raise with its output on failure."""
        extra = {} if os.geteuid() != 0 else {"user": self.uid, "group": self.gid, "extra_groups": []}
        proc: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
            args, capture_output=True, text=True, timeout=timeout, env=_server_env(self), cwd="/", check=False,
            **extra)
        if proc.returncode != 0:
            raise TargetUnavailable(f"{Path(args[0]).name} failed ({proc.returncode}): "
                                    f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        return proc


def _server_env(run_as: RunAs) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    return {**keep, "HOME": run_as.home, "USER": run_as.name, "LC_ALL": "C"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # SIGQUIT = immediate shutdown: the postmaster takes its children down with it.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)


def pid_alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return True


def remove_stale_clusters(root: Path) -> list[str]:
    """Stop and delete clusters whose owning process is gone (pytest killed, machine reboot)."""
    removed: list[str] = []
    for owner_file in sorted((root / "run").glob("*/owner.json")):
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            owner = {}
        owner_pid = int(owner.get("owner_pid") or 0)
        if owner_pid > 0 and pid_alive(owner_pid):  # pid 0 would mean "our process group": never alive
            continue
        server_pid = int(owner.get("server_pid", 0) or 0)
        if server_pid and pid_alive(server_pid):
            with contextlib.suppress(OSError):
                os.kill(server_pid, signal.SIGQUIT)
        shutil.rmtree(owner_file.parent, ignore_errors=True)
        removed.append(owner_file.parent.name)
    return removed


def initdb(install: PgInstall, datadir: Path, password: str, run_as: RunAs) -> None:
    """Create a cluster whose superuser is ``supabase_admin`` (as in the supabase/postgres image)."""
    datadir.parent.mkdir(parents=True, exist_ok=True)
    pwfile = datadir.parent / f".pw-{os.getpid()}"
    pwfile.write_text(password + "\n")
    os.chmod(pwfile, 0o600)
    run_as.chown(datadir.parent)
    try:
        run_as.run([str(install.tool("initdb")), "-D", str(datadir), "-U", SUPERUSER, "--pwfile", str(pwfile),
                    "-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "-N"], timeout=120)
    finally:
        pwfile.unlink(missing_ok=True)
    (datadir / "pg_hba.conf").write_text(
        "# dbrunbook throwaway cluster: loopback TCP only, passwords required\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
    )
    run_as.chown(datadir)


@dataclass
class RunningServer:
    """A started postmaster we own."""

    install: PgInstall
    datadir: Path
    port: int
    run_as: RunAs
    process: subprocess.Popen[bytes]
    logfile: Path
    started_s: float = field(default=0.0)

    @property
    def host(self) -> str:
        """Always loopback."""
        return "127.0.0.1"

    def stop(self, *, fast: bool = True) -> None:
        """Shut down (fast: SIGINT, rolls back open transactions) and wait, bounded."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT if fast else signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGQUIT)
                self.process.wait(timeout=10)


def start(install: PgInstall, datadir: Path, run_as: RunAs, *, owner_dir: Path | None = None,
          settings: dict[str, str] | None = None, timeout: float = 30.0) -> RunningServer:
    """Start ``postgres`` on a free loopback port and wait until it accepts connections."""
    logfile = datadir.parent / "server.log"
    opts = {**SERVER_SETTINGS, **(settings or {})}
    (datadir / "postmaster.pid").unlink(missing_ok=True)
    last_error = ""
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = free_port()
        args = [str(install.tool("postgres")), "-D", str(datadir), "-p", str(port)]
        for key, value in opts.items():
            args += ["-c", f"{key}={value}"]
        extra = {} if os.geteuid() != 0 else {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        with open(logfile, "wb") as log:
            t0 = time.monotonic()
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=_server_env(run_as), cwd="/", preexec_fn=_die_with_parent,
                                    start_new_session=True, **extra)  # type: ignore[call-overload]
        server = RunningServer(install, datadir, port, run_as, proc, logfile)
        if owner_dir is not None:
            (owner_dir / "owner.json").write_text(json.dumps(
                {"owner_pid": os.getpid(), "server_pid": proc.pid, "port": port}))
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if _log_says_ready(logfile):
                    server.started_s = time.monotonic() - t0
                    return server
            time.sleep(0.02)
        last_error = logfile.read_text(errors="replace")[-1500:] if logfile.exists() else ""
        server.stop()
        if "could not bind" not in last_error and "Address already in use" not in last_error:
            break
    raise TargetUnavailable(f"PostgreSQL {install.version} did not start from {datadir}: {last_error.strip()}")


def _log_says_ready(logfile: Path) -> bool:
    try:
        return b"ready to accept connections" in logfile.read_bytes()[-4000:]
    except OSError:
        return False


def new_password() -> str:
    """A random password for the throwaway cluster's login roles."""
    return secrets.token_urlsafe(18)
