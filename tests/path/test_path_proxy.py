"""Downloads through a forward proxy (HTTP_PROXY, HTTPS_PROXY) keep their attempt deadline."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _raw_servers import drip_headers, raw_server

import easycore_path
from easycore_path import DownloadError, PathManager, TruncatedDownloadError, download_file

if TYPE_CHECKING:
    from conftest import Site

BODY = os.urandom(200_000)


class _Proxy:
    """A forward proxy's relay: CONNECT tunnels (https) and absolute-URI GETs (http)."""

    def __init__(self) -> None:
        self.request_lines: list[str] = []  # the first line of each request it relayed

    def relay(self, client: socket.socket, stop: threading.Event) -> None:
        """Relay one client, as raw_server() calls it; ``stop`` goes unused: a relay ends when
        either side closes."""
        with client, contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head:
                data = client.recv(65536)
                if not data:
                    return
                head += data
            request_line, rest = head.split(b"\r\n", 1)
            method, target, version = request_line.decode("ascii").split(" ")
            self.request_lines.append(f"{method} {target}")
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:  # GET http://host:port/path: ask the server for /path
                parts = urllib.parse.urlsplit(target)
                upstream = socket.create_connection((parts.hostname, parts.port or 80))
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                upstream.sendall(f"{method} {path} {version}\r\n".encode("ascii") + rest)
            with upstream:
                back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                back.start()
                _pipe(client, upstream)
                back.join(timeout=5)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Proxy]:
    """A forward proxy that requests uses for http and https URLs, 127.0.0.1 included."""
    running = _Proxy()
    with raw_server(running.relay) as port:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
        yield running


@pytest.fixture(params=["http", "https"])
def header_drip(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server that sends its status line, then header bytes, one every 50 ms, forever."""
    tls: ssl.SSLContext | None = None
    if request.param == "https":
        test_ca: Any = request.getfixturevalue("test_ca")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        test_ca.issue_cert("127.0.0.1").configure_cert(tls)

    def serve(connection: socket.socket, stop: threading.Event) -> None:
        if tls is not None:
            try:
                connection.settimeout(10)
                connection = tls.wrap_socket(connection, server_side=True)
            except OSError:  # a client that gave up during the handshake
                connection.close()
                return
        drip_headers(connection, stop)

    with raw_server(serve) as port:
        yield f"{request.param}://127.0.0.1:{port}/drip.bin"


@pytest.mark.timeout(60)
def test_a_server_dripping_its_headers_through_a_proxy_is_cut_at_the_attempt_deadline(
    proxy: _Proxy, header_drip: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_ATTEMPTS", 2)
    out = tmp_path / "out"
    with pytest.raises(TruncatedDownloadError, match="attempt_timeout") as info:
        download_file(header_drip, str(out), progress=False, attempt_timeout=0.5)
    assert info.value.url == header_drip
    assert info.value.received == 0
    assert os.listdir(out) == [".easycore-locks"]
    parts = urllib.parse.urlsplit(header_drip)
    asked = f"GET {header_drip}" if parts.scheme == "http" else f"CONNECT {parts.netloc}"
    assert proxy.request_lines == [asked, asked]  # both attempts went through the proxy


@pytest.mark.timeout(60)
def test_a_download_through_a_proxy_saves_the_published_bytes(
    proxy: _Proxy, http_site: Site, tmp_path: Path
) -> None:
    url = http_site.serve("/data.bin", BODY)
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY
    assert proxy.request_lines == [f"GET {url}"]


@pytest.mark.timeout(60)
def test_an_https_download_through_a_proxy_tunnels_and_saves_the_published_bytes(
    proxy: _Proxy, https_site: Site, tmp_path: Path
) -> None:
    url = https_site.serve("/data.bin", BODY)
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY
    assert proxy.request_lines == [f"CONNECT 127.0.0.1:{https_site.port}"]


@pytest.mark.timeout(60)
def test_asking_a_dripping_server_whether_a_url_exists_is_cut_at_the_deadline(
    proxy: _Proxy, header_drip: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_ATTEMPT_TIMEOUT", 0.5)
    with pytest.raises(DownloadError, match=r"did not say whether it exists within 0\.5 s") as info:
        PathManager.exists(header_drip)
    assert info.value.url == header_drip
    assert len(proxy.request_lines) == 1
