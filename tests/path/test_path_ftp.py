"""ftp:// URLs, served by a real pyftpdlib server: same cache, size checks and errors."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _raw_servers import raw_server

import easycore_path
from easycore_path import (
    DownloadError,
    PathManager,
    RemoteFileNotFoundError,
    TruncatedDownloadError,
    download_file,
)

if TYPE_CHECKING:
    from conftest import FtpSite

BODY = os.urandom(3 * 1024 * 1024 + 17)  # more than one 1 MiB block


@pytest.mark.timeout(60)
def test_ftp_download_file(ftp_site: FtpSite, tmp_path: Path) -> None:
    (ftp_site.root / "data.bin").write_bytes(BODY)
    path = download_file(ftp_site.url("data.bin"), str(tmp_path / "out"), progress=False)
    assert Path(path).read_bytes() == BODY
    assert path == str(tmp_path / "out" / "data.bin")


@pytest.mark.timeout(60)
def test_ftp_get_local_path_downloads_once(ftp_site: FtpSite, cache_dir: Path) -> None:
    (ftp_site.root / "sub").mkdir()
    (ftp_site.root / "sub" / "file.txt").write_text("over ftp")
    url = ftp_site.url("sub/file.txt")
    local = PathManager.get_local_path(url)
    assert local.startswith(str(cache_dir / "ftp") + os.sep)
    with PathManager.open(url, encoding="utf-8") as f:
        assert f.read() == "over ftp"
    assert ftp_site.retrievals == 1


@pytest.mark.timeout(60)
def test_ftp_with_credentials(ftp_site: FtpSite, tmp_path: Path) -> None:
    (ftp_site.root / "private.txt").write_text("for alice")
    url = ftp_site.url("private.txt", credentials="alice:s3cret@")
    assert Path(download_file(url, str(tmp_path), progress=False)).read_text() == "for alice"


@pytest.mark.timeout(60)
def test_ftp_wrong_password_fails_clearly(ftp_site: FtpSite, tmp_path: Path) -> None:
    (ftp_site.root / "private.txt").write_text("for alice")
    url = ftp_site.url("private.txt", credentials="alice:wrong@")
    with pytest.raises(DownloadError, match="530") as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.status == 530
    assert not isinstance(info.value, FileNotFoundError)
    assert not (tmp_path / "private.txt").exists()


@pytest.mark.timeout(60)
def test_ftp_missing_file_raises_file_not_found(ftp_site: FtpSite, tmp_path: Path) -> None:
    url = ftp_site.url("nothing.bin")
    with pytest.raises(RemoteFileNotFoundError, match="does not exist") as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.status == 550
    assert info.value.url == url
    assert isinstance(info.value, FileNotFoundError)
    assert not (tmp_path / "nothing.bin").exists()


@pytest.mark.timeout(60)
def test_ftp_short_transfer_raises_truncated_and_saves_nothing(
    ftp_site: FtpSite, tmp_path: Path
) -> None:
    (ftp_site.root / "short.bin").write_bytes(BODY)
    ftp_site.handler.lying_size = len(BODY) + 1000  # type: ignore[attr-defined]
    out = tmp_path / "out"
    with pytest.raises(TruncatedDownloadError, match=f"of {len(BODY) + 1000} bytes") as info:
        download_file(ftp_site.url("short.bin"), str(out), progress=False)
    assert info.value.received == len(BODY)
    assert [p.name for p in out.iterdir()] == [".easycore-locks"]
    assert [p.suffix for p in (out / ".easycore-locks").iterdir()] == [".lock"]
    assert ftp_site.retrievals > 1  # a short transfer is retried


@pytest.mark.timeout(60)
def test_ftp_exists(ftp_site: FtpSite) -> None:
    (ftp_site.root / "here.txt").write_text("x")
    assert PathManager.exists(ftp_site.url("here.txt"))
    assert PathManager.isfile(ftp_site.url("here.txt"))
    assert not PathManager.exists(ftp_site.url("gone.txt"))
    assert ftp_site.retrievals == 0


@pytest.mark.timeout(60)
def test_ftp_dripping_server_is_cut_at_the_attempt_deadline(
    ftp_site: FtpSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyftpdlib.handlers import ThrottledDTPHandler

    class Drip(ThrottledDTPHandler):
        write_limit = 2048  # bytes per second: the file would take 30 s

    monkeypatch.setattr(ftp_site.handler, "dtp_handler", Drip)
    monkeypatch.setattr(easycore_path, "_ATTEMPTS", 2)
    (ftp_site.root / "drip.bin").write_bytes(BODY[:60_000])
    out = tmp_path / "out"
    with pytest.raises(TruncatedDownloadError, match="attempt_timeout") as info:
        download_file(ftp_site.url("drip.bin"), str(out), progress=False, attempt_timeout=1)
    assert 0 < info.value.received < 60_000
    assert ftp_site.retrievals == 2
    assert os.listdir(out) == [".easycore-locks"]
    assert not list((out / ".easycore-locks").glob("*.part"))


@pytest.fixture
def banner_drip() -> Iterator[str]:
    """An FTP server that sends an endless multi-line welcome, a byte every 50 ms."""

    def serve(connection: socket.socket, stop: threading.Event) -> None:
        with connection, contextlib.suppress(OSError):
            while True:  # "220-" lines never end the reply; "220 " would
                for byte in b"220-welcome\r\n":
                    if stop.wait(0.05):
                        return
                    connection.sendall(bytes([byte]))

    with raw_server(serve) as port:
        yield f"ftp://127.0.0.1:{port}/drip.bin"


@pytest.mark.timeout(60)
def test_ftp_server_dripping_its_replies_is_cut_at_the_attempt_deadline(
    banner_drip: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_ATTEMPTS", 2)
    out = tmp_path / "out"
    with pytest.raises(TruncatedDownloadError, match="attempt_timeout") as info:
        download_file(banner_drip, str(out), progress=False, attempt_timeout=0.5)
    assert info.value.url == banner_drip
    assert info.value.received == 0
    assert os.listdir(out) == [".easycore-locks"]


@pytest.mark.timeout(60)
def test_ftp_refresh_if_changed_keeps_a_current_file(ftp_site: FtpSite, tmp_path: Path) -> None:
    (ftp_site.root / "w.bin").write_bytes(BODY)
    url = ftp_site.url("w.bin")
    path = download_file(url, str(tmp_path), progress=False)
    inode = os.stat(path).st_ino
    assert download_file(url, str(tmp_path), progress=False, refresh="if-changed") == path
    assert ftp_site.retrievals == 1  # SIZE and MDTM said it is current: no RETR
    assert os.stat(path).st_ino == inode


@pytest.mark.timeout(60)
def test_ftp_refresh_if_changed_replaces_a_changed_file(ftp_site: FtpSite, tmp_path: Path) -> None:
    remote = ftp_site.root / "w.bin"
    remote.write_bytes(BODY)
    url = ftp_site.url("w.bin")
    path = download_file(url, str(tmp_path), progress=False)
    new_body = os.urandom(len(BODY))  # the same size: only MDTM tells the versions apart
    remote.write_bytes(new_body)
    later = remote.stat().st_mtime + 60
    os.utime(remote, (later, later))
    assert download_file(url, str(tmp_path), progress=False, refresh="if-changed") == path
    assert Path(path).read_bytes() == new_body
    assert ftp_site.retrievals == 2


@pytest.mark.timeout(60)
def test_asking_a_dripping_ftp_server_whether_a_url_exists_is_cut_at_the_deadline(
    banner_drip: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(easycore_path, "_ATTEMPT_TIMEOUT", 0.5)
    with pytest.raises(DownloadError, match=r"did not say whether it exists within 0\.5 s") as info:
        PathManager.exists(banner_drip)
    assert info.value.url == banner_drip
