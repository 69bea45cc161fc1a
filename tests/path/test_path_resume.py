"""Resuming cut downloads with Range (in one call and after a crash), and refresh="if-changed"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from easycore_path import download_file

if TYPE_CHECKING:
    from conftest import Site

SIZE = 4_000_000
BODY = os.urandom(SIZE)
HALF = SIZE // 2


def _work_files(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / ".easycore-locks").iterdir())


def test_cut_transfer_resumes_with_a_range_request(http_site: Site, tmp_path: Path) -> None:
    url = http_site.add(
        "/big.bin",
        http_site.Route(body=BODY, etag='"v1"', ranges=True, cut_after=HALF),
        http_site.Route(body=BODY, etag='"v1"', ranges=True),
    )
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY
    assert http_site.request_headers[1]["Range"] == f"bytes={HALF}-"
    assert http_site.bytes_sent - HALF <= 0.55 * SIZE  # the second request sent the rest only
    assert not [name for name in _work_files(tmp_path) if name.endswith(".part")]


def test_weak_etag_resumes_with_last_modified(http_site: Site, tmp_path: Path) -> None:
    modified = {"Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"}
    url = http_site.add(
        "/big.bin",
        http_site.Route(body=BODY, etag='W/"v1"', headers=modified, ranges=True, cut_after=HALF),
        http_site.Route(body=BODY, headers=modified),
    )
    assert Path(download_file(url, str(tmp_path), progress=False)).read_bytes() == BODY
    assert http_site.request_headers[1]["If-Range"] == modified["Last-Modified"]


def test_a_part_of_a_changed_file_is_not_appended(http_site: Site, tmp_path: Path) -> None:
    new_body = os.urandom(SIZE)
    changed = http_site.Route(body=new_body, etag='"v2"', ranges=True, ignores_if_range=True)
    url = http_site.add(
        "/big.bin",
        http_site.Route(body=BODY, etag='"v1"', ranges=True, cut_after=HALF),
        changed,
        changed,
    )
    assert Path(download_file(url, str(tmp_path), progress=False)).read_bytes() == new_body
    assert http_site.request_headers[1]["If-Range"] == '"v1"'
    assert "Range" not in http_site.request_headers[2]


def test_server_without_ranges_sends_everything_again(http_site: Site, tmp_path: Path) -> None:
    url = http_site.add(
        "/big.bin",
        http_site.Route(body=BODY, etag='"v1"', cut_after=HALF),
        http_site.Route(body=BODY, etag='"v1"'),
    )
    assert Path(download_file(url, str(tmp_path), progress=False)).read_bytes() == BODY
    assert http_site.bytes_sent == HALF + SIZE


_DOWNLOAD = textwrap.dedent(
    """
    import sys
    from easycore_path import download_file

    download_file(sys.argv[1], sys.argv[2], progress=False)
    """
)


def _crash_midway(url: str, folder: Path) -> None:
    """Start a download in a child process and SIGKILL it once it saved half the file."""
    child = subprocess.Popen([sys.executable, "-c", _DOWNLOAD, url, str(folder)])
    try:
        while _partial_size(folder) < HALF:
            assert child.poll() is None, "the child ended before it was killed"
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


def _partial_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob(".easycore-locks/*.part"))


@pytest.mark.timeout(60)
def test_download_resumes_after_a_crash_when_the_file_is_unchanged(
    http_site: Site, tmp_path: Path
) -> None:
    url = http_site.add(
        "/big.bin",
        http_site.Route(body=BODY, etag='"v1"', ranges=True, stall_after=HALF),
        http_site.Route(body=BODY, etag='"v1"', ranges=True),
    )
    _crash_midway(url, tmp_path)
    assert not (tmp_path / "big.bin").exists()
    sent_before = http_site.bytes_sent
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY
    assert http_site.request_headers[1]["Range"] == f"bytes={HALF}-"
    assert http_site.request_headers[1]["If-Range"] == '"v1"'
    assert http_site.bytes_sent - sent_before <= 0.55 * SIZE
    assert not [name for name in _work_files(tmp_path) if name.endswith(".part")]


@pytest.mark.timeout(60)
def test_download_starts_afresh_after_a_crash_when_the_file_changed(
    http_site: Site, tmp_path: Path
) -> None:
    new_body = os.urandom(SIZE)
    url = http_site.add(
        "/big.bin",
        http_site.Route(body=BODY, etag='"v1"', ranges=True, stall_after=HALF),
        http_site.Route(body=new_body, etag='"v2"', ranges=True),
    )
    _crash_midway(url, tmp_path)
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == new_body


def test_refresh_if_changed_keeps_a_current_file(http_site: Site, tmp_path: Path) -> None:
    url = http_site.add("/w.bin", http_site.Route(body=BODY, etag='"v1"'))
    path = download_file(url, str(tmp_path), progress=False)
    inode = os.stat(path).st_ino
    assert download_file(url, str(tmp_path), progress=False, refresh="if-changed") == path
    assert http_site.request_headers[1]["If-None-Match"] == '"v1"'
    assert http_site.bytes_sent == SIZE  # the 304 sent no body
    assert os.stat(path).st_ino == inode


def test_refresh_if_changed_replaces_a_changed_file(http_site: Site, tmp_path: Path) -> None:
    new_body = os.urandom(1000)
    url = http_site.add(
        "/w.bin",
        http_site.Route(body=BODY, etag='"v1"'),
        http_site.Route(body=new_body, etag='"v2"'),
    )
    path = download_file(url, str(tmp_path), progress=False)
    assert download_file(url, str(tmp_path), progress=False, refresh="if-changed") == path
    assert Path(path).read_bytes() == new_body


def test_refresh_never_asks_the_server(http_site: Site, tmp_path: Path) -> None:
    url = http_site.add("/w.bin", http_site.Route(body=BODY, etag='"v1"'))
    download_file(url, str(tmp_path), progress=False)
    download_file(url, str(tmp_path), progress=False)
    assert http_site.hits("/w.bin") == 1


def test_refresh_rejects_an_unknown_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected 'never' or 'if-changed'"):
        download_file("http://127.0.0.1:9/x", str(tmp_path), refresh="always")
