"""A full disk is a DownloadError naming the URL; a finished download is on disk before its name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import easycore_path
from easycore_path import download_file

if TYPE_CHECKING:
    import subprocess

    from conftest import Site

    RunPython = Callable[..., subprocess.CompletedProcess[str]]

BODY = os.urandom(4_000_000)

# RLIMIT_FSIZE makes a write past 1 MB fail with EFBIG, as a full disk fails with ENOSPC.
_DOWNLOAD_WITH_A_SMALL_DISK = """
    import resource, signal, sys
    from easycore_path import DownloadError, download_file

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
    try:
        download_file({url!r}, {folder!r}, progress=False)
    except DownloadError as err:
        print("DownloadError", err.url, err, sep="\\n")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX rlimits")
@pytest.mark.timeout(60)
def test_disk_full_is_a_download_error_naming_the_url(
    http_site: Site, tmp_path: Path, run_python: RunPython
) -> None:
    url = http_site.serve("/big.bin", BODY)
    folder = tmp_path / "out"
    result = run_python(_DOWNLOAD_WITH_A_SMALL_DISK.format(url=url, folder=str(folder)))
    assert result.returncode == 0, result.stderr
    kind, reported_url, message = result.stdout.splitlines()[:3]
    assert kind == "DownloadError"
    assert reported_url == url
    assert "File too large" in message
    assert "Nothing was saved" in message
    assert os.listdir(folder) == [".easycore-locks"]
    assert [p.suffix for p in (folder / ".easycore-locks").iterdir()] == [".lock"]
    assert http_site.hits("/big.bin") == 1  # a full disk is not retried


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_file_and_directory_are_synced_before_the_download_counts(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, Any]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(("replace", os.path.realpath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(easycore_path.os, "fsync", fsync)
    monkeypatch.setattr(easycore_path.os, "replace", replace)
    url = http_site.serve("/w.bin", BODY)
    target = os.path.realpath(download_file(url, str(tmp_path), progress=False))
    renamed = events.index(("replace", target))
    synced_file = [
        i for i, (kind, path) in enumerate(events) if kind == "fsync" and path.endswith(".part")
    ]
    assert synced_file
    assert synced_file[-1] < renamed  # the bytes are on disk before the name
    assert ("fsync", os.path.realpath(tmp_path)) in events[renamed:]  # and the name too


@pytest.mark.skipif(not easycore_path._CAN_START_WRITEBACK, reason="needs posix_fadvise")
def test_early_writeback_keeps_every_byte(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_WRITEBACK_WINDOW", 100_000)  # 40 windows in BODY
    url = http_site.serve("/w.bin", BODY)
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY
