"""Misconfigured and hostile servers: the bytes as published, no silent downgrade, no hang."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _raw_servers import drip_headers, raw_server

import easycore_path
from easycore_path import (
    DownloadError,
    HTTPURLHandler,
    PathManager,
    RedirectPathHandler,
    TruncatedDownloadError,
    download_file,
)

if TYPE_CHECKING:
    from conftest import Site

BODY = os.urandom(300_000)


def test_gzip_content_encoding_is_saved_as_published(http_site: Site, tmp_path: Path) -> None:
    published = gzip.compress(b"a tar archive, say " * 5000)
    url = http_site.add(
        "/data.tar.gz",
        http_site.Route(body=published, headers={"Content-Encoding": "gzip"}),
    )
    digest = hashlib.sha256(published).hexdigest()
    path = download_file(url, str(tmp_path), progress=False, checksum=f"sha256:{digest}")
    assert Path(path).read_bytes() == published


def test_https_redirect_to_http_is_refused(
    https_site: Site, http_site: Site, tmp_path: Path
) -> None:
    plain = http_site.serve("/model.pth", BODY)
    url = https_site.add("/model.pth", https_site.Route(status=302, headers={"Location": plain}))
    with pytest.raises(DownloadError, match="plain http") as info:
        download_file(url, str(tmp_path / "out"), progress=False)
    assert info.value.url == url
    assert info.value.status == 302
    assert "allow_insecure_redirects=True" in str(info.value)
    assert http_site.requests == []
    assert os.listdir(tmp_path / "out") == [".easycore-locks"]


def test_https_redirect_to_http_is_followed_when_allowed(
    https_site: Site, http_site: Site, tmp_path: Path
) -> None:
    plain = http_site.serve("/model.pth", BODY)
    url = https_site.add("/model.pth", https_site.Route(status=302, headers={"Location": plain}))
    path = download_file(url, str(tmp_path), progress=False, allow_insecure_redirects=True)
    assert Path(path).read_bytes() == BODY


def test_https_redirect_to_http_is_refused_for_the_cache(
    https_site: Site, http_site: Site, cache_dir: Path
) -> None:
    plain = http_site.serve("/w.bin", BODY)
    url = https_site.add("/w.bin", https_site.Route(status=301, headers={"Location": plain}))
    with pytest.raises(DownloadError, match="plain http"):
        PathManager.get_local_path(url)
    assert not list(cache_dir.rglob("w.bin"))


def test_https_redirect_to_http_is_followed_for_the_cache_when_allowed(
    https_site: Site, http_site: Site
) -> None:
    plain = http_site.serve("/w.bin", BODY)
    url = https_site.add("/w.bin", https_site.Route(status=301, headers={"Location": plain}))
    handler = HTTPURLHandler(progress=False, allow_insecure_redirects=True)
    PathManager.register(handler, override=True)
    assert Path(PathManager.get_local_path(url)).read_bytes() == BODY


def test_https_redirect_to_http_is_refused_when_asking_whether_it_exists(
    https_site: Site, http_site: Site
) -> None:
    plain = http_site.serve("/w.bin", BODY)
    url = https_site.add("/w.bin", https_site.Route(status=301, headers={"Location": plain}))
    with pytest.raises(DownloadError, match="plain http") as info:
        PathManager.exists(url)
    assert info.value.url == url
    assert http_site.requests == []
    PathManager.register(HTTPURLHandler(allow_insecure_redirects=True), override=True)
    assert PathManager.exists(url)


@pytest.mark.timeout(60)
def test_dripping_server_is_cut_at_the_attempt_deadline(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_ATTEMPTS", 2)
    drip = http_site.Route(body=b"x" * 10_000, block_size=1, block_delay=0.05)
    url = http_site.add("/drip.bin", drip)
    with pytest.raises(TruncatedDownloadError, match="attempt_timeout") as info:
        download_file(url, str(tmp_path), progress=False, attempt_timeout=0.5)
    assert 0 < info.value.received < 10_000
    assert http_site.hits("/drip.bin") == 2
    assert os.listdir(tmp_path) == [".easycore-locks"]
    assert not list((tmp_path / ".easycore-locks").glob("*.part"))


@pytest.fixture
def header_drip() -> Iterator[str]:
    """A server that sends its status line, then header bytes, one every 50 ms, forever."""
    with raw_server(drip_headers) as port:
        yield f"http://127.0.0.1:{port}/drip.bin"


@pytest.mark.timeout(60)
def test_a_server_dripping_its_headers_is_cut_at_the_attempt_deadline(
    header_drip: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_ATTEMPTS", 2)
    with pytest.raises(TruncatedDownloadError, match="attempt_timeout") as info:
        download_file(header_drip, str(tmp_path), progress=False, attempt_timeout=0.5)
    assert info.value.url == header_drip
    assert info.value.received == 0
    assert os.listdir(tmp_path) == [".easycore-locks"]


@pytest.mark.timeout(60)
def test_stall_reports_every_byte_that_arrived(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_READ_TIMEOUT", 0.3)
    monkeypatch.setattr(easycore_path, "_ATTEMPTS", 1)
    url = http_site.add("/stall.bin", http_site.Route(body=BODY, stall_after=100_000))
    with pytest.raises(TruncatedDownloadError, match="went silent") as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.received == 100_000
    assert info.value.expected == len(BODY)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("status", [429, 503], ids=["429", "503"])
def test_retry_after_is_honoured(http_site: Site, tmp_path: Path, status: int) -> None:
    url = http_site.add(
        "/busy.bin",
        http_site.Route(status=status, body=b"busy", headers={"Retry-After": "1"}),
        http_site.Route(body=BODY),
    )
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY
    assert http_site.arrivals[1] - http_site.arrivals[0] >= 1.0  # waited as asked, not 0.01 s


@pytest.mark.timeout(60)
def test_retry_after_is_capped(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_RETRY_AFTER_CAP", 0.2)
    url = http_site.add(
        "/busy.bin",
        http_site.Route(status=503, body=b"busy", headers={"Retry-After": "3600"}),
        http_site.Route(body=BODY),
    )
    assert Path(download_file(url, str(tmp_path), progress=False)).read_bytes() == BODY


def test_upper_case_scheme_is_downloaded(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/a.bin", BODY)
    shouting = "HTTP" + url[len("http") :]
    assert Path(download_file(shouting, str(tmp_path), progress=False)).read_bytes() == BODY
    local = PathManager.get_local_path(shouting)
    assert local == PathManager.get_local_path(url)
    assert http_site.hits("/a.bin") == 2  # download_file's folder, then the cache


def test_a_chain_of_seventeen_redirect_handlers_is_no_loop(http_site: Site, tmp_path: Path) -> None:
    (tmp_path / "end.txt").write_text("reached")
    for hop in range(17):
        PathManager.register(RedirectPathHandler(f"hop{hop}://", f"hop{hop + 1}://"))
    PathManager.register(RedirectPathHandler("hop17://", f"{tmp_path}{os.sep}"))
    with PathManager.open("hop0://end.txt") as file:
        assert file.read() == "reached"


def test_a_growing_redirect_is_still_a_loop() -> None:
    PathManager.register(RedirectPathHandler("grow://", "grow://more/"))
    with pytest.raises(easycore_path.RedirectLoopError, match=re.escape("grow://more/more/")):
        PathManager.exists("grow://x")


def test_a_part_of_the_file_sent_as_the_whole_is_refused(http_site: Site, tmp_path: Path) -> None:
    url = http_site.add("/part.bin", http_site.Route(status=206, body=BODY[:1000]))
    with pytest.raises(DownloadError, match="answered 206") as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.status == 206
    assert not (tmp_path / "part.bin").exists()
