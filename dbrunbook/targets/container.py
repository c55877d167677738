"""The ``container`` target: the official supabase/postgres image through testcontainers.

Only usable when a Docker engine answers; the probe below takes milliseconds, so a machine
without Docker gets a clear skip instead of a long hang.
"""

from __future__ import annotations

import os
import socket
import time
from urllib.parse import urlsplit

from dbrunbook.config import TargetSpec
from dbrunbook.targets.base import Target

IMAGE = "supabase/postgres:15.8.1.085"


def docker_engine_answers(timeout_s: float = 0.2) -> tuple[bool, str]:
    """Ping the Docker engine (``DOCKER_HOST`` or the default socket); return (ok, what was checked)."""
    t0 = time.monotonic()
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    parts = urlsplit(host)
    try:
        if parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout_s)
            try:
                sock.connect(parts.path)
            except OSError:
                sock.close()
                raise
        elif parts.scheme == "tcp" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
            sock = socket.create_connection((parts.hostname, parts.port or 2375), timeout=timeout_s)
        else:
            return False, f"DOCKER_HOST={host} is not a local engine; not probed"
        with sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            answer = sock.recv(64)
    except OSError as exc:
        ms = (time.monotonic() - t0) * 1000
        return False, f"no Docker engine answers at {host} ({exc.strerror or exc}; checked in {ms:.0f} ms)"
    ok = answer.startswith(b"HTTP/1") and b" 200 " in answer
    ms = (time.monotonic() - t0) * 1000
    return ok, f"Docker engine at {host} {'answered' if ok else 'gave an unexpected answer'} in {ms:.0f} ms"


def resolve(spec: TargetSpec) -> Target:
    """A container target, or one that skips with the reason when Docker is not there."""
    target = Target(spec)
    ok, detail = docker_engine_answers()
    if not ok:
        target.skip_reason = f"container target {spec.name!r} needs Docker: {detail}"
        return target
    try:
        import testcontainers  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        target.skip_reason = ("container target needs testcontainers: pip install testcontainers "
                              f"(image {IMAGE})")
        return target
    target.skip_reason = (f"Docker answers, but the container target is not implemented yet: use the "
                          f"embedded target ({detail})")
    return target
