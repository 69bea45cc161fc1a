"""Real servers for the easycore-path tests: HTTP, HTTPS (test CA) and FTP on 127.0.0.1.

Nothing here touches the internet. Every test gets its own ``EASYCORE_CACHE``, fast
retries, and the PathManager registrations it started with.
"""

from __future__ import annotations

import dataclasses
import http.server
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import easycore_path
from easycore_path import PathManager

_SEND_BLOCK = 64 * 1024  # bytes per write when a route serves slowly


@dataclasses.dataclass
class Route:
    """How the server answers one request for a path.

    Attributes:
        body: The bytes of the file.
        status: The HTTP status.
        content_length: The Content-Length header; by default the true ``len(body)``.
        cut_after: Send only this many body bytes, then drop the connection.
        stall_after: Send only this many body bytes, then go silent (until the test ends).
        delay: Seconds to wait before the status line (a slow server).
        block_delay: Seconds to wait between blocks of the body.
        block_size: Bytes per block of the body (64 KiB by default).
        headers: Extra response headers, such as ``{"Content-Encoding": "gzip"}``.
        etag: The ETag to send; a GET with a matching If-None-Match gets 304.
        ranges: Honour ``Range: bytes=N-`` (206) when If-Range, if sent, is ``etag``.
        ignores_if_range: With ``ranges``, answer a Range with 206 whatever If-Range says
            (as some servers do).
    """

    body: bytes = b""
    status: int = 200
    content_length: int | None = None
    cut_after: int | None = None
    stall_after: int | None = None
    delay: float = 0.0
    block_delay: float = 0.0
    block_size: int = _SEND_BLOCK
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    etag: str | None = None
    ranges: bool = False
    ignores_if_range: bool = False


class Site:
    """What a test server serves, and the requests it saw."""

    Route = Route  # so tests build routes without importing this conftest

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self.port = 0
        self.requests: list[tuple[str, str]] = []  # (method, raw path with query)
        self.echo_unknown = False  # serve b"echo:<path>" for paths without a route
        self.bytes_sent = 0  # body bytes written to clients, all requests together
        self.arrivals: list[float] = []  # time.monotonic() of each request
        self.request_headers: list[dict[str, str]] = []  # of each request, in order
        self.release = threading.Event()  # ends the silence of stall_after routes
        self._routes: dict[str, list[Route]] = {}
        self._lock = threading.Lock()

    def add(self, path: str, *responses: Route) -> str:
        """Serve ``responses`` in turn for ``path`` (the last one repeats); return the URL."""
        with self._lock:
            self._routes[path] = list(responses)
        return self.url(path)

    def serve(self, path: str, body: bytes) -> str:
        """Serve ``body`` at ``path``, honestly; return the URL."""
        return self.add(path, Route(body=body))

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def hits(self, path: str, method: str = "GET") -> int:
        """Count the requests for ``path`` (query ignored) with ``method``."""
        with self._lock:
            return sum(
                1
                for seen_method, raw in self.requests
                if seen_method == method and urllib.parse.urlsplit(raw).path == path
            )

    def count_sent(self, size: int) -> None:
        with self._lock:
            self.bytes_sent += size

    def next_route(
        self, method: str, raw_path: str, headers: dict[str, str] | None = None
    ) -> Route | None:
        path = urllib.parse.urlsplit(raw_path).path
        with self._lock:
            self.requests.append((method, raw_path))
            self.arrivals.append(time.monotonic())
            self.request_headers.append(headers or {})
            responses = self._routes.get(path)
            if responses is None:
                if self.echo_unknown:
                    return Route(body=f"echo:{raw_path}".encode())
                return None
            return responses.pop(0) if len(responses) > 1 else responses[0]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, send_body: bool) -> None:
        site = self.server.site
        route = site.next_route(self.command, self.path, dict(self.headers.items()))
        if route is None:
            route = Route(body=b"not found", status=404)
        time.sleep(route.delay)
        if route.etag is not None and self.headers.get("If-None-Match") == route.etag:
            self.send_response(304)
            self.send_header("ETag", route.etag)
            self.end_headers()
            return
        status, headers, body = self._ranged(route)
        self.send_response(status)
        length = len(body) if route.content_length is None else route.content_length
        self.send_header("Content-Length", str(length))
        self.send_header("Content-Type", "application/octet-stream")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not send_body:
            return
        if route.cut_after is not None:
            body = body[: route.cut_after]
        if route.stall_after is not None:
            body = body[: route.stall_after]
        try:
            for start in range(0, len(body), route.block_size):
                block = body[start : start + route.block_size]
                self.wfile.write(block)
                self.wfile.flush()
                site.count_sent(len(block))
                time.sleep(route.block_delay)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up: fine for a test server
        if route.stall_after is not None:
            site.release.wait(60)
        if route.cut_after is not None:
            self._drop_connection()

    def _ranged(self, route: Route) -> tuple[int, dict[str, str], bytes]:
        """Return the status, extra headers and body, honouring Range when the route does."""
        headers = dict(route.headers)
        if route.etag is not None:
            headers["ETag"] = route.etag
        asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range", route.etag)
        if_range_holds = route.ignores_if_range or if_range == route.etag
        if not (route.ranges and asked and if_range_holds):
            return route.status, headers, route.body
        start = int(asked.group(1))
        if start >= len(route.body):
            return 416, {"Content-Range": f"bytes */{len(route.body)}"}, b""
        headers["Content-Range"] = f"bytes {start}-{len(route.body) - 1}/{len(route.body)}"
        return 206, headers, route.body[start:]

    def _drop_connection(self) -> None:
        self.close_connection = True
        # RST instead of FIN, so the client sees a broken connection at once.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Site) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.site = site


def _start_server(site: Site, tls: ssl.SSLContext | None = None) -> _Server:
    server = _Server(site)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    site.port = server.server_address[1]
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


@pytest.fixture
def http_site() -> Iterator[Site]:
    """An HTTP server on 127.0.0.1 at a free port."""
    site = Site("http")
    server = _start_server(site)
    yield site
    site.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def test_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A trustme CA that requests trusts, through REQUESTS_CA_BUNDLE."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    return ca


@pytest.fixture
def https_site(test_ca: Any) -> Iterator[Site]:
    """An HTTPS server on 127.0.0.1 whose certificate ``test_ca`` signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    site = Site("https")
    server = _start_server(site, tls=context)
    yield site
    site.release.set()
    server.shutdown()
    server.server_close()


@dataclasses.dataclass
class FtpSite:
    """A running FTP server: files under ``root`` are served at ``url(name)``."""

    root: Path
    port: int
    handler: type

    def url(self, name: str, credentials: str = "") -> str:
        return f"ftp://{credentials}127.0.0.1:{self.port}/{name}"

    @property
    def retrievals(self) -> int:
        return int(self.handler.retrievals)  # type: ignore[attr-defined]


@pytest.fixture
def ftp_site(tmp_path: Path) -> Iterator[FtpSite]:
    """An FTP server (pyftpdlib) on 127.0.0.1: anonymous, and user alice / s3cret.

    Set ``ftp_site.handler.lying_size`` to make SIZE announce that many bytes.
    """
    pytest.importorskip("pyftpdlib")
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    root = tmp_path / "ftp-root"
    root.mkdir()
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(str(root))
    authorizer.add_user("alice", "s3cret", str(root), perm="elr")

    class Handler(FTPHandler):
        lying_size: int | None = None
        retrievals = 0

        def ftp_SIZE(self, path: str) -> None:
            if Handler.lying_size is None:
                super().ftp_SIZE(path)
            else:
                self.respond(f"213 {Handler.lying_size}")

        def ftp_RETR(self, file: str) -> None:
            Handler.retrievals += 1
            super().ftp_RETR(file)

    Handler.authorizer = authorizer
    Handler.auth_failed_timeout = 0.05  # seconds; pyftpdlib's default 3 s slows the tests
    server = FTPServer(("127.0.0.1", 0), Handler)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield FtpSite(root, server.address[1], Handler)
    stop.set()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give each test its own EASYCORE_CACHE."""
    path = tmp_path / "cache"
    monkeypatch.setenv("EASYCORE_CACHE", str(path))
    return path


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the retry backoff short so that failure tests take milliseconds."""
    monkeypatch.setattr(easycore_path, "_BACKOFF", 0.01)


@pytest.fixture(autouse=True)
def _restore_handlers() -> Iterator[None]:
    """Undo the PathManager registrations a test makes."""
    saved = (PathManager._handlers, PathManager._ordered, PathManager._fallback)
    yield
    PathManager._handlers, PathManager._ordered, PathManager._fallback = saved


@pytest.fixture
def run_python(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a Python snippet in a fresh process (environment inherited) and return the result."""

    def run(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=tmp_path,
            env=dict(os.environ),
        )

    return run
