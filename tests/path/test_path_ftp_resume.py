"""ftp:// downloads resume a cut transfer with REST, never mixing two versions of a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import FtpSite

from easycore_path import download_file

SIZE = 4_000_000
BODY = os.urandom(SIZE)
HALF = SIZE // 2


class _Transfers:
    """What the FTP server's data connections do: cut or stall at a byte, and a count."""

    def __init__(self) -> None:
        self.sent = 0  # file bytes sent, all transfers together
        self.plans: list[tuple[str, int]] = []  # ("cut" | "stall", after bytes), in turn
        self.on_cut: Callable[[], None] = lambda: None  # runs as a transfer is cut


@pytest.fixture
def transfers(ftp_site: FtpSite, monkeypatch: pytest.MonkeyPatch) -> _Transfers:
    """Count (and cut or stall, as planned) what ``ftp_site`` sends, REST commands too."""
    from pyftpdlib.handlers import DTPHandler

    seen = _Transfers()

    class Planned(DTPHandler):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.plan = seen.plans.pop(0) if seen.plans else ("", 0)
            self.own_sent = 0

        def send(self, data: Any) -> int:
            action, after = self.plan
            if action and self.own_sent >= after:
                if action == "cut":
                    seen.on_cut()
                    self.handle_close()  # 426 Transfer aborted: not all was sent
                else:
                    self.del_channel()  # silent from now on, the connection left open
                return 0
            if action:
                data = data[: after - self.own_sent]
            sent = int(super().send(data))
            self.own_sent += sent
            seen.sent += sent
            return sent

    monkeypatch.setattr(ftp_site.handler, "dtp_handler", Planned)
    monkeypatch.setattr(ftp_site.handler, "use_sendfile", False)  # so send() sees every byte
    return seen


@pytest.fixture
def rest_commands(ftp_site: FtpSite, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The arguments of the REST commands ``ftp_site`` receives, in order."""
    seen: list[str] = []
    original = ftp_site.handler.ftp_REST  # type: ignore[attr-defined]

    def ftp_rest(self: Any, line: str) -> None:
        seen.append(line)
        original(self, line)

    monkeypatch.setattr(ftp_site.handler, "ftp_REST", ftp_rest)
    return seen


def _partial_files(folder: Path) -> list[str]:
    return [p.name for p in folder.glob(".easycore-locks/*.part")]


@pytest.mark.timeout(60)
def test_cut_ftp_transfer_resumes_with_rest(
    ftp_site: FtpSite, transfers: _Transfers, rest_commands: list[str], tmp_path: Path
) -> None:
    (ftp_site.root / "big.bin").write_bytes(BODY)
    transfers.plans = [("cut", HALF)]
    path = download_file(ftp_site.url("big.bin"), str(tmp_path / "out"), progress=False)
    assert Path(path).read_bytes() == BODY
    assert rest_commands == [str(HALF), str(HALF)]  # asked whether it may, then RETR's own
    assert transfers.sent - HALF <= 0.55 * SIZE  # the second transfer sent the rest only
    assert ftp_site.retrievals == 2
    assert _partial_files(tmp_path / "out") == []


@pytest.mark.timeout(60)
def test_ftp_file_changed_between_attempts_is_fetched_again_whole(
    ftp_site: FtpSite, transfers: _Transfers, rest_commands: list[str], tmp_path: Path
) -> None:
    remote = ftp_site.root / "big.bin"
    remote.write_bytes(BODY)
    new_body = os.urandom(SIZE)  # the same size: only MDTM tells the versions apart

    def publish_new_version() -> None:
        remote.write_bytes(new_body)
        later = remote.stat().st_mtime + 60
        os.utime(remote, (later, later))

    transfers.plans = [("cut", HALF)]
    transfers.on_cut = publish_new_version
    path = download_file(ftp_site.url("big.bin"), str(tmp_path), progress=False)
    assert Path(path).read_bytes() == new_body
    assert rest_commands == []
    assert transfers.sent == HALF + SIZE


@pytest.mark.timeout(60)
def test_ftp_server_without_rest_sends_everything_again(
    ftp_site: FtpSite, transfers: _Transfers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rest(self: Any, line: str) -> None:
        self.respond("502 Command not implemented.")

    monkeypatch.setattr(ftp_site.handler, "ftp_REST", no_rest)
    (ftp_site.root / "big.bin").write_bytes(BODY)
    transfers.plans = [("cut", HALF)]
    path = download_file(ftp_site.url("big.bin"), str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY
    assert transfers.sent == HALF + SIZE


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
        while sum(p.stat().st_size for p in folder.glob(".easycore-locks/*.part")) < HALF:
            assert child.poll() is None, "the child ended before it was killed"
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


@pytest.mark.timeout(60)
def test_ftp_download_resumes_after_a_crash_when_the_file_is_unchanged(
    ftp_site: FtpSite, transfers: _Transfers, rest_commands: list[str], tmp_path: Path
) -> None:
    (ftp_site.root / "big.bin").write_bytes(BODY)
    transfers.plans = [("stall", HALF)]
    url = ftp_site.url("big.bin")
    _crash_midway(url, tmp_path)
    assert not (tmp_path / "big.bin").exists()
    sent_before = transfers.sent
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == BODY
    assert rest_commands[0] == str(HALF)
    assert transfers.sent - sent_before <= 0.55 * SIZE
    assert _partial_files(tmp_path) == []


@pytest.mark.timeout(60)
def test_ftp_download_starts_afresh_after_a_crash_when_the_file_changed(
    ftp_site: FtpSite, transfers: _Transfers, rest_commands: list[str], tmp_path: Path
) -> None:
    remote = ftp_site.root / "big.bin"
    remote.write_bytes(BODY)
    transfers.plans = [("stall", HALF)]
    url = ftp_site.url("big.bin")
    _crash_midway(url, tmp_path)
    new_body = os.urandom(SIZE)
    remote.write_bytes(new_body)
    later = remote.stat().st_mtime + 60
    os.utime(remote, (later, later))
    path = download_file(url, str(tmp_path), progress=False)
    assert Path(path).read_bytes() == new_body
    assert rest_commands == []
