"""unpack=True: archives extracted once and atomically; entries that escape are refused."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import easycore_path
from easycore_path import DownloadError, UnsafeArchiveError, download_file

if TYPE_CHECKING:
    from conftest import Site

FILES = {"data/train.csv": b"a,b\n1,2\n", "README": b"read me"}


def _tar(mode: str, members: Callable[[tarfile.TarFile], None] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if members is not None:
            members(tar)
    return buffer.getvalue()


def _zip(extra: dict[str, bytes] | None = None, link: tuple[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in {**FILES, **(extra or {})}.items():
            archive.writestr(name, data)
        if link is not None:  # a symlink entry, as Info-ZIP stores one
            info = zipfile.ZipInfo(link[0])
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, link[1])
    return buffer.getvalue()


def _zip_links(links: list[tuple[str, str]], files: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


ARCHIVES = {
    "w.zip": _zip,
    "w.tar": lambda: _tar("w"),
    "w.tar.gz": lambda: _tar("w:gz"),
    "w.tgz": lambda: _tar("w:gz"),
    "w.tar.bz2": lambda: _tar("w:bz2"),
    "w.tar.xz": lambda: _tar("w:xz"),
}


@pytest.mark.parametrize("name", list(ARCHIVES), ids=list(ARCHIVES))
def test_archive_is_extracted_next_to_it(http_site: Site, tmp_path: Path, name: str) -> None:
    url = http_site.serve(f"/{name}", ARCHIVES[name]())
    folder = download_file(url, str(tmp_path), progress=False, unpack=True)
    assert folder == str(tmp_path / f"{name}.unpacked")
    assert (tmp_path / name).is_file()  # the archive is kept
    for member, data in FILES.items():
        assert (Path(folder) / member).read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == [".easycore-locks", name, f"{name}.unpacked"]


def test_archive_is_extracted_once(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/w.zip", _zip())
    folder = Path(download_file(url, str(tmp_path), progress=False, unpack=True))
    (folder / "README").write_bytes(b"edited by the user")
    assert download_file(url, str(tmp_path), progress=False, unpack=True) == str(folder)
    assert (folder / "README").read_bytes() == b"edited by the user"
    assert http_site.hits("/w.zip") == 1


def test_extracting_leaves_nothing_among_the_users_files_meanwhile(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    extract = easycore_path._extract_zip

    def extract_and_look(archive: str, folder: str) -> None:
        extract(archive, folder)
        seen.append(sorted(os.listdir(tmp_path)))  # as a kill at this moment would leave it

    monkeypatch.setattr(easycore_path, "_extract_zip", extract_and_look)
    url = http_site.serve("/w.zip", _zip())
    download_file(url, str(tmp_path), progress=False, unpack=True)
    assert seen == [[".easycore-locks", "w.zip"]]


def test_an_archive_that_changed_is_extracted_again(http_site: Site, tmp_path: Path) -> None:
    url = http_site.add(
        "/w.zip",
        http_site.Route(body=_zip(), etag='"v1"'),
        http_site.Route(body=_zip({"README": b"version 2"}), etag='"v2"'),
    )
    folder = Path(download_file(url, str(tmp_path), progress=False, unpack=True))
    assert (folder / "README").read_bytes() == FILES["README"]
    again = download_file(url, str(tmp_path), progress=False, unpack=True, refresh="if-changed")
    assert again == str(folder)
    assert (folder / "README").read_bytes() == b"version 2"
    assert (folder / "data" / "train.csv").read_bytes() == FILES["data/train.csv"]
    assert sorted(os.listdir(tmp_path)) == [".easycore-locks", "w.zip", "w.zip.unpacked"]
    (folder / "README").write_bytes(b"edited by the user")  # unchanged: not extracted again
    download_file(url, str(tmp_path), progress=False, unpack=True, refresh="if-changed")
    assert (folder / "README").read_bytes() == b"edited by the user"


def test_a_file_of_the_users_is_not_replaced_by_unpacking(http_site: Site, tmp_path: Path) -> None:
    (tmp_path / "table.csv").write_bytes(b"mine")
    url = http_site.serve("/table.csv.gz", gzip.compress(b"theirs"))
    assert download_file(url, str(tmp_path), progress=False, unpack=True) == str(
        tmp_path / "table.csv"
    )
    assert (tmp_path / "table.csv").read_bytes() == b"mine"


def _damaged_zip() -> bytes:
    data = bytearray(_zip({"big.bin": b"z" * 1000}))
    start = data.index(b"z" * 1000)
    data[start : start + 10] = b"y" * 10  # the CRC no longer matches
    return bytes(data)


DAMAGED = {
    "bad-crc.zip": _damaged_zip,
    "cut.tar.gz": lambda: _tar("w:gz")[:60],
    "cut.tar.xz": lambda: _tar("w:xz")[:100],
    "garbage.csv.gz": lambda: gzip.compress(b"x,y\n" * 100)[:30] + b"\xff" * 30,
}


@pytest.mark.parametrize("name", list(DAMAGED), ids=list(DAMAGED))
def test_a_damaged_archive_is_a_download_error(http_site: Site, tmp_path: Path, name: str) -> None:
    url = http_site.serve(f"/{name}", DAMAGED[name]())
    with pytest.raises(DownloadError, match="cannot be unpacked") as info:
        download_file(url, str(tmp_path), progress=False, unpack=True)
    assert info.value.url == url
    assert sorted(os.listdir(tmp_path)) == [".easycore-locks", name]
    assert not list((tmp_path / ".easycore-locks").glob("*.tmp"))


COMPRESSORS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


@pytest.mark.parametrize("suffix", list(COMPRESSORS), ids=list(COMPRESSORS))
def test_single_compressed_file_is_decompressed(
    http_site: Site, tmp_path: Path, suffix: str
) -> None:
    url = http_site.serve(f"/table.csv{suffix}", COMPRESSORS[suffix](b"x,y\n" * 1000))
    path = download_file(url, str(tmp_path), progress=False, unpack=True)
    assert path == str(tmp_path / "table.csv")
    assert Path(path).read_bytes() == b"x,y\n" * 1000


def test_a_file_that_is_no_archive_is_refused(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/plain.bin", b"not an archive")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        download_file(url, str(tmp_path), progress=False, unpack=True)
    assert (tmp_path / "plain.bin").read_bytes() == b"not an archive"


def _add_link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Callable[..., None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = target
        tar.addfile(info)

    return add


def _add_file(name: str) -> Callable[..., None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))

    return add


def _chain(*adders: Callable[[tarfile.TarFile], None]) -> Callable[..., None]:
    def add(tar: tarfile.TarFile) -> None:
        for adder in adders:
            adder(tar)

    return add


def _add_device(name: str) -> Callable[..., None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.CHRTYPE
        info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
        tar.addfile(info)

    return add


MALICIOUS = {
    "tar-dotdot": ("evil.tar", lambda: _tar("w", _add_file("../evil.txt")), "../evil.txt"),
    "tar-absolute": ("evil.tar", lambda: _tar("w", _add_file("/tmp/evil.txt")), "/tmp/evil.txt"),
    "tar-symlink-out": ("evil.tar", lambda: _tar("w", _add_link("out", "/etc")), "out"),
    "tar-symlink-up": ("evil.tar", lambda: _tar("w", _add_link("up", "../../x")), "up"),
    "tar-hardlink-out": (
        "evil.tar",
        lambda: _tar("w", _add_link("hard", "../x", tarfile.LNKTYPE)),
        "hard",
    ),
    "tar-device": ("evil.tar", lambda: _tar("w", _add_device("null")), "null"),
    "zip-dotdot": ("evil.zip", lambda: _zip({"../evil.txt": b"evil"}), "../evil.txt"),
    "zip-absolute": ("evil.zip", lambda: _zip({"/tmp/evil.txt": b"evil"}), "/tmp/evil.txt"),
    "zip-symlink-out": ("evil.zip", lambda: _zip(link=("out", "/etc")), "out"),
    # Each link points inside on its own; together they lead out.
    "tar-link-through-link": (
        "evil.tar",
        lambda: _tar("w", _chain(_add_link("a", "."), _add_link("a/b", ".."), _add_file("a/b/x"))),
        "a/b",
    ),
    "tar-link-via-link-target": (
        "evil.tar",
        lambda: _tar("w", _chain(_add_link("x", "y/../z"), _add_link("y", "."))),
        "x",
    ),
    "tar-file-replacing-link": (
        "evil.tar",
        lambda: _tar("w", _chain(_add_link("l", "README"), _add_file("l"))),
        "l",
    ),
    "tar-hardlink-to-link": (
        "evil.tar",
        lambda: _tar("w", _chain(_add_link("l", "README"), _add_link("h", "l", tarfile.LNKTYPE))),
        "h",
    ),
    "zip-link-through-link": (
        "evil.zip",
        lambda: _zip_links([("a", "."), ("a/b", "..")], {"a/b/evil.txt": b"evil"}),
        "a/b",
    ),
    "zip-link-via-link-target": (
        "evil.zip",
        lambda: _zip_links([("x", "y/../z"), ("y", ".")]),
        "x",
    ),
    "zip-file-replacing-link": (
        "evil.zip",
        lambda: _zip_links([("l", "README")], {"l": b"evil"}),
        "l",
    ),
}


def test_zip_symlink_inside_the_folder_is_kept(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/w.zip", _zip(link=("latest", "data/train.csv")))
    folder = Path(download_file(url, str(tmp_path), progress=False, unpack=True))
    assert (folder / "latest").is_symlink()
    assert (folder / "latest").read_bytes() == FILES["data/train.csv"]


@pytest.mark.parametrize("case", list(MALICIOUS), ids=list(MALICIOUS))
@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
def test_entries_that_escape_are_refused(http_site: Site, tmp_path: Path, case: str) -> None:
    name, build, member = MALICIOUS[case]
    out = tmp_path / "deep" / "out"
    url = http_site.serve(f"/{name}", build())
    with pytest.raises(UnsafeArchiveError, match="would land outside") as info:
        download_file(url, str(out), progress=False, unpack=True)
    assert info.value.member == member
    assert info.value.path == str(out / name)
    assert sorted(os.listdir(out)) == [".easycore-locks", name]  # nothing extracted
    assert sorted(os.listdir(tmp_path / "deep")) == ["out"]
    assert not list((out / ".easycore-locks").glob("*.tmp"))
