"""FsspecPathHandler: fsspec's memory filesystem, and s3 against a local moto server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from easycore_path import FsspecPathHandler, PathManager, TruncatedDownloadError

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh folder in fsspec's (process-wide) memory filesystem, served by PathManager."""
    PathManager.register(FsspecPathHandler("memory"))
    root = f"memory://test-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("memory")
    fs.makedirs(root, exist_ok=True)
    yield root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_memory_open_write_then_read(memory_root: str) -> None:
    with PathManager.open(f"{memory_root}/a.txt", "w", encoding="utf-8") as f:
        f.write("in memory")
    with PathManager.open(f"{memory_root}/a.txt", encoding="utf-8") as f:
        assert f.read() == "in memory"
    with PathManager.open(f"{memory_root}/a.txt", "rb") as f:
        assert f.read() == b"in memory"


def test_memory_exists_isfile_isdir_listdir(memory_root: str) -> None:
    PathManager.makedirs(f"{memory_root}/sub/deeper")
    with PathManager.open(f"{memory_root}/sub/b.txt", "wb") as f:
        f.write(b"b")
    assert PathManager.exists(f"{memory_root}/sub/b.txt")
    assert PathManager.isfile(f"{memory_root}/sub/b.txt")
    assert not PathManager.isdir(f"{memory_root}/sub/b.txt")
    assert PathManager.isdir(f"{memory_root}/sub")
    assert not PathManager.exists(f"{memory_root}/missing")
    assert PathManager.listdir(f"{memory_root}/sub") == ["b.txt", "deeper"]


def test_memory_remove(memory_root: str) -> None:
    with PathManager.open(f"{memory_root}/c.txt", "w") as f:
        f.write("c")
    PathManager.remove(f"{memory_root}/c.txt")
    assert not PathManager.exists(f"{memory_root}/c.txt")
    with pytest.raises(FileNotFoundError):
        PathManager.remove(f"{memory_root}/c.txt")


def test_memory_remove_of_a_directory_raises_is_a_directory(memory_root: str) -> None:
    PathManager.makedirs(f"{memory_root}/d")
    with pytest.raises(IsADirectoryError, match="removedirs"):
        PathManager.remove(f"{memory_root}/d")


def test_memory_removedirs_removes_empty_chain_only(memory_root: str) -> None:
    with PathManager.open(f"{memory_root}/keep.txt", "w") as f:
        f.write("k")
    PathManager.makedirs(f"{memory_root}/x/y/z")
    PathManager.removedirs(f"{memory_root}/x/y/z")
    assert not PathManager.exists(f"{memory_root}/x")
    assert PathManager.exists(f"{memory_root}/keep.txt")


def test_memory_removedirs_stops_at_the_top_folder(memory_root: str) -> None:
    sibling = f"{memory_root}-sibling"
    PathManager.makedirs(sibling)
    PathManager.makedirs(f"{memory_root}/only/child")
    PathManager.removedirs(f"{memory_root}/only/child")
    assert not PathManager.exists(memory_root)  # it was left empty, so it went too
    assert PathManager.isdir(sibling)
    PathManager.removedirs(sibling)


def test_memory_removedirs_of_a_non_empty_directory_raises(memory_root: str) -> None:
    with PathManager.open(f"{memory_root}/full/f.txt", "w") as f:
        f.write("f")
    with pytest.raises(OSError):  # noqa: PT011 - fsspec words the message its own way
        PathManager.removedirs(f"{memory_root}/full")
    assert PathManager.exists(f"{memory_root}/full/f.txt")


def test_memory_get_local_path_caches_once(memory_root: str, cache_dir: Path) -> None:
    with PathManager.open(f"{memory_root}/model.bin", "wb") as f:
        f.write(b"v1")
    local = PathManager.get_local_path(f"{memory_root}/model.bin")
    assert local.startswith(str(cache_dir / "memory") + os.sep)
    assert Path(local).read_bytes() == b"v1"
    with PathManager.open(f"{memory_root}/model.bin", "wb") as f:
        f.write(b"v2")
    assert PathManager.get_local_path(f"{memory_root}/model.bin") == local
    assert Path(local).read_bytes() == b"v1"  # the cached copy is kept until deleted


def test_memory_get_local_path_of_missing_file_raises(memory_root: str, cache_dir: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PathManager.get_local_path(f"{memory_root}/missing.bin")
    assert not [p for p in cache_dir.rglob("*") if p.is_file() and p.suffix != ".lock"]


def test_memory_get_local_path_checks_the_size(
    memory_root: str, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with PathManager.open(f"{memory_root}/short.bin", "wb") as f:
        f.write(b"12345")
    fs = fsspec.filesystem("memory")
    monkeypatch.setattr(type(fs), "size", lambda self, path: 10)
    with pytest.raises(TruncatedDownloadError, match="stopped at 5 of 10 bytes") as info:
        PathManager.get_local_path(f"{memory_root}/short.bin")
    assert (info.value.received, info.value.expected) == (5, 10)
    assert not [p for p in cache_dir.rglob("*") if p.is_file() and p.suffix != ".lock"]


def test_memory_copy_both_ways(memory_root: str, tmp_path: Path) -> None:
    (tmp_path / "local.txt").write_text("up and down")
    assert PathManager.copy(str(tmp_path / "local.txt"), f"{memory_root}/up.txt")
    assert PathManager.copy(f"{memory_root}/up.txt", str(tmp_path / "down.txt"))
    assert (tmp_path / "down.txt").read_text() == "up and down"
    assert PathManager.copy(str(tmp_path / "local.txt"), f"{memory_root}/up.txt") is False
    assert PathManager.copy_from_local(str(tmp_path / "local.txt"), f"{memory_root}/up.txt", True)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A local moto S3 server on 127.0.0.1 at a free port."""
    pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    options: dict[str, Any] = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": moto_endpoint, "region_name": "eu-west-1"},
        "skip_instance_cache": True,
    }
    PathManager.register(FsspecPathHandler("s3", **options))
    bucket = f"s3://bucket-{uuid.uuid4().hex[:8]}"
    PathManager.makedirs(bucket)
    return bucket


@pytest.mark.timeout(120)
def test_s3_through_path_manager(s3_bucket: str, tmp_path: Path, cache_dir: Path) -> None:
    with PathManager.open(f"{s3_bucket}/dir/hello.txt", "w", encoding="utf-8") as f:
        f.write("hello s3")
    assert PathManager.exists(f"{s3_bucket}/dir/hello.txt")
    assert PathManager.isfile(f"{s3_bucket}/dir/hello.txt")
    assert PathManager.isdir(f"{s3_bucket}/dir")
    assert PathManager.listdir(f"{s3_bucket}/dir") == ["hello.txt"]
    with PathManager.open(f"{s3_bucket}/dir/hello.txt", encoding="utf-8") as f:
        assert f.read() == "hello s3"
    local = PathManager.get_local_path(f"{s3_bucket}/dir/hello.txt")
    assert local.startswith(str(cache_dir / "s3") + os.sep)
    assert Path(local).read_text() == "hello s3"


@pytest.mark.timeout(120)
def test_s3_copy_and_remove(s3_bucket: str, tmp_path: Path) -> None:
    (tmp_path / "up.bin").write_bytes(b"\x00\x01" * 1000)
    assert PathManager.copy(str(tmp_path / "up.bin"), f"{s3_bucket}/up.bin")
    assert PathManager.copy(f"{s3_bucket}/up.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == b"\x00\x01" * 1000
    PathManager.remove(f"{s3_bucket}/up.bin")
    assert not PathManager.exists(f"{s3_bucket}/up.bin")
    with pytest.raises(FileNotFoundError):
        PathManager.get_local_path(f"{s3_bucket}/never-uploaded.bin")
