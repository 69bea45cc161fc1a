"""Failed downloads leave nothing under the final name, say why, and retry what may pass."""

from __future__ import annotations

import logging
import os
import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import easycore_path
from easycore_path import (
    DownloadError,
    PathManager,
    RemoteFileNotFoundError,
    TruncatedDownloadError,
    download_file,
)

if TYPE_CHECKING:
    from conftest import Site

BODY = os.urandom(300_000)
ATTEMPTS = easycore_path._ATTEMPTS


def _leftovers(folder: Path) -> list[str]:
    """Files under ``folder`` other than lock files."""
    if not folder.exists():
        return []
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not p.name.endswith(".lock")
    )


def test_connection_cut_mid_body_saves_nothing_and_names_the_url(
    http_site: Site, tmp_path: Path
) -> None:
    url = http_site.add("/cut.bin", http_site.Route(body=BODY, cut_after=100_000))
    with pytest.raises(TruncatedDownloadError, match=re.escape(url)) as info:
        download_file(url, str(tmp_path), progress=False)
    error = info.value
    assert error.expected == len(BODY)
    assert error.received < len(BODY)
    assert f"of {len(BODY)} bytes" in str(error)
    assert f"gave up after {ATTEMPTS} attempts" in str(error)
    assert _leftovers(tmp_path) == []
    assert http_site.hits("/cut.bin") == ATTEMPTS


def test_short_body_with_lying_content_length_saves_nothing(
    http_site: Site, tmp_path: Path
) -> None:
    url = http_site.add("/lie.bin", http_site.Route(body=BODY, content_length=len(BODY) + 5000))
    with pytest.raises(TruncatedDownloadError, match="Nothing was saved") as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.received == len(BODY)
    assert info.value.expected == len(BODY) + 5000
    assert _leftovers(tmp_path) == []


def test_failed_download_is_downloaded_again_by_the_next_call(
    http_site: Site, tmp_path: Path
) -> None:
    url = http_site.add("/flaky.bin", http_site.Route(body=BODY, cut_after=10))
    with pytest.raises(TruncatedDownloadError):
        download_file(url, str(tmp_path), progress=False)
    http_site.serve("/flaky.bin", BODY)
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY


def test_cached_url_is_not_poisoned_by_a_cut_download(http_site: Site, cache_dir: Path) -> None:
    url = http_site.add("/model.pth", http_site.Route(body=BODY, cut_after=1000))
    with pytest.raises(TruncatedDownloadError):
        PathManager.get_local_path(url)
    assert _leftovers(cache_dir) == []
    assert not PathManager.exists(url.replace("/model.pth", "/absent"))
    http_site.serve("/model.pth", BODY)
    assert Path(PathManager.get_local_path(url)).read_bytes() == BODY


def test_one_cut_then_success_is_retried(
    http_site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = http_site.add(
        "/once.bin",
        http_site.Route(body=BODY, cut_after=50_000),
        http_site.Route(body=BODY),
    )
    with caplog.at_level(logging.WARNING, logger="easycore_path"):
        path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY
    assert http_site.hits("/once.bin") == 2
    assert "Retrying" in caplog.text


def test_server_error_then_success_is_retried(http_site: Site, tmp_path: Path) -> None:
    url = http_site.add("/busy.bin", http_site.Route(status=503), http_site.Route(body=BODY))
    assert Path(download_file(url, str(tmp_path), progress=False)).read_bytes() == BODY
    assert http_site.hits("/busy.bin") == 2


def test_persistent_server_error_gives_up_with_the_status(http_site: Site, tmp_path: Path) -> None:
    url = http_site.add("/broken", http_site.Route(status=500, body=b"oops"))
    with pytest.raises(DownloadError, match=r"answered 500 Internal Server Error") as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.status == 500
    assert info.value.url == url
    assert not isinstance(info.value, FileNotFoundError)
    assert http_site.hits("/broken") == ATTEMPTS
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("status", [404, 410])
def test_missing_url_raises_file_not_found_without_retry(
    http_site: Site, tmp_path: Path, status: int
) -> None:
    url = http_site.add("/missing.bin", http_site.Route(status=status, body=b"no"))
    with pytest.raises(
        RemoteFileNotFoundError, match=f"does not exist: the server answered {status}"
    ):
        download_file(url, str(tmp_path), progress=False)
    with pytest.raises(FileNotFoundError):
        PathManager.open(url)
    assert http_site.hits("/missing.bin") == 2
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "credentials"), (403, "private"), (400, "Nothing was saved")],
)
def test_client_errors_fail_at_once_with_a_hint(
    http_site: Site, tmp_path: Path, status: int, hint: str
) -> None:
    url = http_site.add("/denied", http_site.Route(status=status))
    with pytest.raises(DownloadError, match=hint) as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.status == status
    assert http_site.hits("/denied") == 1


def test_unreachable_server_raises_download_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.bin"
    with pytest.raises(DownloadError, match=rf"could not reach {re.escape(url)}") as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.status is None
    assert isinstance(info.value, OSError)
    assert _leftovers(tmp_path) == []


@pytest.mark.timeout(60)
def test_server_that_never_answers_times_out(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_READ_TIMEOUT", 0.3)
    monkeypatch.setattr(easycore_path, "_ATTEMPTS", 2)
    url = http_site.add("/silent", http_site.Route(body=b"late", delay=3))
    with pytest.raises(DownloadError, match="timed out"):
        download_file(url, str(tmp_path), progress=False)
    assert http_site.hits("/silent") == 2
    assert _leftovers(tmp_path) == []


@pytest.mark.timeout(60)
def test_server_that_stalls_mid_body_times_out_as_truncated(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_READ_TIMEOUT", 0.3)
    monkeypatch.setattr(easycore_path, "_ATTEMPTS", 1)
    url = http_site.add("/stall", http_site.Route(body=BODY, block_delay=3))
    with pytest.raises(TruncatedDownloadError, match="went silent: read timed out") as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.received < info.value.expected == len(BODY)
    assert _leftovers(tmp_path) == []


@pytest.mark.timeout(60)
def test_slow_but_steady_server_completes(http_site: Site, tmp_path: Path) -> None:
    url = http_site.add("/slow", http_site.Route(body=BODY, block_delay=0.02))
    assert Path(download_file(url, str(tmp_path), progress=False)).read_bytes() == BODY
