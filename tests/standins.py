"""Stand-ins for the services we monitor but do not own: small HTTP servers on 127.0.0.1 in a thread.

design.md allows stand-ins for backoffice-api / agent-runtime and the Supabase gateway (Postgres is
never mocked). Each server binds a free port; use them as context managers so they always stop.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

#: (status, JSON-able body) answered for a path; a callable gets the request headers.
Answer = tuple[int, Any]
Route = Answer | Callable[[dict[str, str]], Answer]

HEALTHY: Answer = (200, {"status": "ok"})
READY: Answer = (200, {"status": "ready", "checks": {"db": "ok"}})
DEGRADED_DB: Answer = (200, {"status": "degraded", "checks": {"db": "failed"}})
SERVER_ERROR: Answer = (500, {"error": "Internal Server Error"})


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Route]] = {}

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        route = self.routes.get(path) or self.routes.get("*") or (404, {"error": "not found"})
        status, body = route(dict(self.headers.items())) if callable(route) else route
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def http_standin(routes: dict[str, Route]) -> Iterator[str]:
    """Serve ``routes`` (path -> answer; ``"*"`` matches any path); yields ``http://127.0.0.1:<port>``."""
    with serve(type("Handler", (_Handler,), {"routes": routes})) as url:
        yield url


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run an HTTP handler class on a free 127.0.0.1 port in a thread; yields ``http://127.0.0.1:<port>``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def silent_standin() -> Iterator[str]:
    """A listener that accepts connections and never answers; yields ``http://127.0.0.1:<port>``."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_gateway(anon_key: str, tables: set[str]) -> dict[str, Route]:
    """Routes of a Supabase API gateway: key-auth on /auth/v1 and /rest/v1, PGRST205 for unknown tables."""

    def keyed(answer: Callable[[dict[str, str]], Answer]) -> Callable[[dict[str, str]], Answer]:
        def route(headers: dict[str, str]) -> Answer:
            key = {k.lower(): v for k, v in headers.items()}.get("apikey")
            if not key:
                return 401, {"message": "No API key found in request",
                             "hint": "No `apikey` request header or url param was found."}
            if key != anon_key:
                return 401, {"message": "Invalid API key",
                             "hint": "Double check your Supabase `anon` or `service_role` API key."}
            return answer(headers)
        return route

    routes: dict[str, Route] = {"/auth/v1/health": keyed(lambda _h: (200, {"name": "GoTrue", "version": "v2"}))}
    for table in ("companies", "profiles", "missing_table", "customers"):
        known = table in tables
        routes[f"/rest/v1/{table}"] = keyed(
            (lambda _h: (200, [])) if known else
            (lambda _h, t=table: (404, {"code": "PGRST205", "details": None, "hint": None,  # type: ignore[misc]
                                        "message": f"Could not find the table 'public.{t}' in the schema cache"})))
    return routes


@contextmanager
def docker_standin(socket_path: str) -> Iterator[str]:
    """A Unix socket that answers Docker's ``GET /_ping`` with 200; yields a ``DOCKER_HOST`` value."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn = server.accept()[0]
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"unix://{socket_path}"
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()
