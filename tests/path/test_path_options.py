"""download_file options that pooch and huggingface_hub users rely on."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from easycore_path import (
    ChecksumMismatchError,
    DownloadError,
    HTTPURLHandler,
    PathManager,
    RemoteFileNotFoundError,
    download_file,
)

if TYPE_CHECKING:
    from conftest import Site

BODY = os.urandom(200_000)
ALGORITHMS = ["md5", "sha1", "sha256", "sha512"]


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=ALGORITHMS)
def test_checksum_of_each_algorithm_is_checked(
    http_site: Site, tmp_path: Path, algorithm: str
) -> None:
    url = http_site.serve("/a.bin", BODY)
    digest = hashlib.new(algorithm, BODY).hexdigest()
    path = download_file(url, str(tmp_path), progress=False, checksum=f"{algorithm}:{digest}")
    assert Path(path).read_bytes() == BODY
    download_file(url, str(tmp_path), progress=False, checksum=f"{algorithm.upper()}:{digest}")


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=ALGORITHMS)
def test_wrong_checksum_of_each_algorithm_saves_nothing(
    http_site: Site, tmp_path: Path, algorithm: str
) -> None:
    url = http_site.serve("/a.bin", BODY)
    wrong = "0" * len(hashlib.new(algorithm).hexdigest())
    with pytest.raises(ChecksumMismatchError, match=f"{algorithm} .* expected {wrong}") as info:
        download_file(url, str(tmp_path), progress=False, checksum=f"{algorithm}:{wrong}")
    assert info.value.actual == hashlib.new(algorithm, BODY).hexdigest()
    assert not (tmp_path / "a.bin").exists()


def test_checksum_is_checked_on_a_file_already_there(http_site: Site, tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"mine")
    md5 = hashlib.md5(BODY).hexdigest()
    with pytest.raises(ChecksumMismatchError, match="It was left alone"):
        download_file(http_site.serve("/a.bin", BODY), str(tmp_path), checksum=f"md5:{md5}")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"checksum": "crc32:abcd"}, "is not '<algorithm>:<hex>'"),
        ({"checksum": "md5:abc"}, "not a MD5 hex digest"),
        ({"checksum": "sha1"}, "is not '<algorithm>:<hex>'"),
        ({"sha256": "0" * 64, "checksum": "md5:" + "0" * 32}, "were both given"),
    ],
    ids=["unknown", "short", "no-colon", "both"],
)
def test_malformed_checksum_is_refused_before_any_request(
    http_site: Site, tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        download_file(http_site.serve("/a.bin", BODY), str(tmp_path), **kwargs)  # type: ignore[arg-type]
    assert http_site.requests == []


def test_headers_are_sent(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/private.bin", BODY)
    download_file(url, str(tmp_path), progress=False, headers={"Authorization": "Bearer t0k"})
    assert http_site.request_headers[0]["Authorization"] == "Bearer t0k"


def test_handler_headers_are_sent_for_the_cache(http_site: Site) -> None:
    url = http_site.serve("/private.bin", BODY)
    PathManager.register(HTTPURLHandler(progress=False, headers={"X-Token": "abc"}), override=True)
    assert Path(PathManager.get_local_path(url)).read_bytes() == BODY
    assert http_site.request_headers[0]["X-Token"] == "abc"


def test_headers_are_not_sent_to_another_host_after_a_redirect(
    http_site: Site, tmp_path: Path
) -> None:
    elsewhere = http_site.serve("/moved.bin", BODY).replace("127.0.0.1", "localhost")
    url = http_site.url("/private.bin")
    http_site.add("/private.bin", http_site.Route(status=302, headers={"Location": elsewhere}))
    token = {"PRIVATE-TOKEN": "s3cret", "Authorization": "Bearer t0k"}
    path = download_file(url, str(tmp_path), progress=False, headers=token)
    assert Path(path).read_bytes() == BODY
    first, second = http_site.request_headers
    assert first["PRIVATE-TOKEN"] == "s3cret"
    assert first["Authorization"] == "Bearer t0k"
    assert "PRIVATE-TOKEN" not in second
    assert "Authorization" not in second


def test_headers_follow_a_redirect_on_the_same_host(http_site: Site, tmp_path: Path) -> None:
    moved = http_site.serve("/moved.bin", BODY)
    url = http_site.url("/private.bin")
    http_site.add("/private.bin", http_site.Route(status=302, headers={"Location": moved}))
    download_file(url, str(tmp_path), progress=False, headers={"PRIVATE-TOKEN": "s3cret"})
    assert [headers["PRIVATE-TOKEN"] for headers in http_site.request_headers] == ["s3cret"] * 2


def test_handler_headers_are_sent_when_asking_whether_it_exists(http_site: Site) -> None:
    url = http_site.serve("/private.bin", BODY)
    PathManager.register(HTTPURLHandler(progress=False, headers={"X-Token": "abc"}), override=True)
    assert PathManager.exists(url)
    assert http_site.requests == [("HEAD", "/private.bin")]
    assert http_site.request_headers[0]["X-Token"] == "abc"


@pytest.fixture
def netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "netrc"
    path.write_text("machine 127.0.0.1 login alice password s3cret\n")
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    return path


def test_netrc_credentials_are_sent(http_site: Site, tmp_path: Path, netrc: Path) -> None:
    download_file(http_site.serve("/n.bin", BODY), str(tmp_path / "out"), progress=False)
    basic = base64.b64encode(b"alice:s3cret").decode()
    assert http_site.request_headers[0]["Authorization"] == f"Basic {basic}"


def test_explicit_authorization_wins_over_netrc(
    http_site: Site, tmp_path: Path, netrc: Path
) -> None:
    url = http_site.serve("/n.bin", BODY)
    download_file(url, str(tmp_path / "out"), progress=False, headers={"Authorization": "Bearer x"})
    assert http_site.request_headers[0]["Authorization"] == "Bearer x"


def test_mirrors_are_tried_in_order(http_site: Site, tmp_path: Path) -> None:
    broken = http_site.add("/main/w.bin", http_site.Route(status=404, body=b"gone"))
    down = http_site.add("/m1/w.bin", http_site.Route(status=403, body=b"no"))
    good = http_site.serve("/m2/w.bin", BODY)
    path = download_file(broken, str(tmp_path), progress=False, mirrors=[down, good])
    assert path == str(tmp_path / "w.bin")
    assert Path(path).read_bytes() == BODY
    assert [raw for _, raw in http_site.requests] == ["/main/w.bin", "/m1/w.bin", "/m2/w.bin"]


def test_when_every_mirror_fails_the_error_names_each(http_site: Site, tmp_path: Path) -> None:
    main = http_site.url("/main/w.bin")
    mirror = http_site.url("/mirror/w.bin")
    with pytest.raises(RemoteFileNotFoundError, match="The URLs tried before failed too") as info:
        download_file(main, str(tmp_path), progress=False, mirrors=[mirror])
    assert main in str(info.value)
    assert mirror in str(info.value)
    assert not (tmp_path / "w.bin").exists()


def test_offline_returns_a_cached_file_without_a_request(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = http_site.serve("/w.bin", BODY)
    path = download_file(url, str(tmp_path), progress=False)
    cached = PathManager.get_local_path(url)
    http_site.requests.clear()
    monkeypatch.setenv("EASYCORE_OFFLINE", "1")
    assert download_file(url, str(tmp_path), progress=False) == path
    assert PathManager.get_local_path(url) == cached
    assert PathManager.exists(url)
    assert http_site.requests == []


def test_offline_fails_at_once_for_a_missing_file(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = http_site.serve("/w.bin", BODY)
    monkeypatch.setenv("EASYCORE_OFFLINE", "1")
    with pytest.raises(DownloadError, match="EASYCORE_OFFLINE") as info:
        download_file(url, str(tmp_path), progress=False)
    assert info.value.url == url
    assert str(tmp_path / "w.bin") in str(info.value)
    with pytest.raises(DownloadError, match="not cached at"):
        PathManager.get_local_path(url)
    assert http_site.requests == []
