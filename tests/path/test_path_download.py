"""download_file: its documented contract, sha256, progress bars, and HTTPS."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from easycore_path import ChecksumMismatchError, DownloadError, PathManager, download_file

if TYPE_CHECKING:
    from conftest import Site

BODY = bytes(range(256)) * 4096  # 1 MiB, not all one byte


def test_download_file_creates_dir_and_returns_path(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/files/model.pth", BODY)
    target_dir = tmp_path / "new" / "dir"
    path = download_file(url, str(target_dir), progress=False)
    assert path == str(target_dir / "model.pth")
    assert Path(path).read_bytes() == BODY
    assert set(os.listdir(target_dir)) == {"model.pth", ".easycore-locks"}


def test_download_file_leaves_no_temporary_files(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/a.bin", BODY)
    download_file(url, str(tmp_path), progress=False)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".part")]


def test_download_file_uses_the_given_filename(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/a.bin", b"abc")
    assert download_file(url, str(tmp_path), "b.bin", False) == str(tmp_path / "b.bin")
    assert (tmp_path / "b.bin").read_bytes() == b"abc"


def test_download_file_takes_the_unquoted_name_from_the_url(
    http_site: Site, tmp_path: Path
) -> None:
    url = http_site.serve("/my%20model.pth", b"abc")
    path = download_file(url + "?version=2", str(tmp_path), progress=False)
    assert path == str(tmp_path / "my model.pth")


def test_download_file_never_overwrites_an_existing_file(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/a.bin", b"new content")
    (tmp_path / "a.bin").write_bytes(b"mine")
    assert download_file(url, str(tmp_path), progress=False) == str(tmp_path / "a.bin")
    assert (tmp_path / "a.bin").read_bytes() == b"mine"
    assert http_site.requests == []


def test_download_file_twice_downloads_once(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/a.bin", BODY)
    download_file(url, str(tmp_path), progress=False)
    download_file(url, str(tmp_path), progress=False)
    assert http_site.hits("/a.bin") == 1


@pytest.mark.parametrize(
    ("url_path", "filename"),
    [
        ("/dir/", None),
        ("/%2e%2e", None),
        ("/a%2Fb", None),
        ("/ok.bin", "../escape.bin"),
        ("/ok.bin", "sub/dir.bin"),
        ("/ok.bin", ".."),
        ("/ok.bin", ""),
        ("/ok.bin", "nul\0byte"),
    ],
    ids=["no-name", "dotdot", "encoded-slash", "parent", "subdir", "bare-dotdot", "empty", "nul"],
)
def test_download_file_rejects_names_that_are_not_bare_file_names(
    http_site: Site, tmp_path: Path, url_path: str, filename: str | None
) -> None:
    with pytest.raises(ValueError, match="bare name"):
        download_file(http_site.url(url_path), str(tmp_path / "d"), filename, progress=False)
    assert http_site.requests == []
    assert not (tmp_path / "escape.bin").exists()


def test_download_file_checks_sha256(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/a.bin", BODY)
    digest = hashlib.sha256(BODY).hexdigest()
    path = download_file(url, str(tmp_path), progress=False, sha256=digest.upper())
    assert Path(path).read_bytes() == BODY


def test_download_file_with_wrong_sha256_saves_nothing(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/a.bin", BODY)
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatchError, match=f"expected {wrong}") as info:
        download_file(url, str(tmp_path), progress=False, sha256=wrong)
    error = info.value
    assert error.url == url
    assert error.expected == wrong
    assert error.actual == hashlib.sha256(BODY).hexdigest()
    assert error.path == str(tmp_path / "a.bin")
    assert not (tmp_path / "a.bin").exists()
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".part")]
    assert http_site.hits("/a.bin") == 1  # a wrong hash is not worth a retry


def test_existing_file_with_wrong_sha256_raises_and_is_kept(
    http_site: Site, tmp_path: Path
) -> None:
    url = http_site.serve("/a.bin", BODY)
    (tmp_path / "a.bin").write_bytes(b"stale")
    with pytest.raises(ChecksumMismatchError, match="delete it to download") as info:
        download_file(url, str(tmp_path), progress=False, sha256=hashlib.sha256(BODY).hexdigest())
    assert info.value.path == str(tmp_path / "a.bin")
    assert (tmp_path / "a.bin").read_bytes() == b"stale"
    assert http_site.requests == []


def test_existing_file_with_right_sha256_is_returned(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/a.bin", b"other")
    (tmp_path / "a.bin").write_bytes(b"stale")
    digest = hashlib.sha256(b"stale").hexdigest()
    assert download_file(url, str(tmp_path), progress=False, sha256=digest)
    assert http_site.requests == []


@pytest.mark.parametrize("bad", ["abc", "g" * 64, "0" * 63], ids=["short", "not-hex", "63"])
def test_download_file_rejects_malformed_sha256(http_site: Site, tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256 hex digest"):
        download_file(http_site.url("/a"), str(tmp_path), sha256=bad)


def test_progress_bar_is_drawn_when_asked(
    http_site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = http_site.serve("/shown.bin", BODY)
    download_file(url, str(tmp_path), progress=True)
    err = capsys.readouterr().err
    assert "shown.bin" in err
    assert "100%" in err


def test_no_progress_bar_when_not_asked(
    http_site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = http_site.serve("/quiet.bin", BODY)
    download_file(url, str(tmp_path), progress=False)
    assert capsys.readouterr() == ("", "")


def test_empty_file_downloads(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/empty", b"")
    assert Path(download_file(url, str(tmp_path), progress=False)).read_bytes() == b""


def test_https_download_verifies_against_the_test_ca(https_site: Site, tmp_path: Path) -> None:
    url = https_site.serve("/secure.bin", BODY)
    assert Path(download_file(url, str(tmp_path), progress=False)).read_bytes() == BODY
    with PathManager.open(url, "rb") as f:
        assert f.read() == BODY
    assert PathManager.exists(url)


def test_https_with_an_untrusted_certificate_fails_clearly(
    https_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = https_site.serve("/secure.bin", BODY)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # back to the system CAs, which do not know ours
    with pytest.raises(DownloadError, match="REQUESTS_CA_BUNDLE") as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.url == url
    assert not (tmp_path / "secure.bin").exists()
    assert https_site.requests == []  # the handshake failed, and was not retried
