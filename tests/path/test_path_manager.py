"""PathManager on local paths, and how it picks a handler."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO, Any

import pytest

from easycore_path import (
    HTTPURLHandler,
    NativePathHandler,
    PathHandler,
    PathManager,
    PrefixConflictError,
    RedirectPathHandler,
    UnknownProtocolError,
)


class _MemoryHandler(PathHandler):
    """A custom handler using only the documented PathHandler methods."""

    def __init__(self, prefix: str = "mem://") -> None:
        self.prefix = prefix
        self.files: dict[str, bytes] = {}

    def get_supported_prefixes(self) -> list[str]:
        return [self.prefix]

    def get_local_path(self, path: str) -> str:
        local = os.path.join(self.get_cache_dir("mem"), path[len(self.prefix) :])
        os.makedirs(os.path.dirname(local), exist_ok=True)
        Path(local).write_bytes(self.files[path])
        return local

    def exists(self, path: str) -> bool:
        return path in self.files

    def isdir(self, path: str) -> bool:
        return False

    def copy_from_local(self, local_path: str, dst_path: str, overwrite: bool = False) -> bool:
        if dst_path in self.files and not overwrite:
            return False
        self.files[dst_path] = Path(local_path).read_bytes()
        return True


# -- local paths ---------------------------------------------------------------


def test_open_reads_and_writes_local_files_with_open_kwargs(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    with PathManager.open(str(path), "w", encoding="utf-8") as f:
        f.write("grüße")
    with PathManager.open(str(path), encoding="utf-8") as f:
        assert f.read() == "grüße"
    with PathManager.open(path, "rb") as f:  # os.PathLike works too
        assert f.read() == "grüße".encode()


def test_exists_isfile_isdir_follow_os_path(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert PathManager.exists(str(tmp_path / "f"))
    assert PathManager.isfile(str(tmp_path / "f"))
    assert not PathManager.isdir(str(tmp_path / "f"))
    assert PathManager.isdir(str(tmp_path))
    assert not PathManager.isfile(str(tmp_path))
    assert not PathManager.exists(str(tmp_path / "missing"))


def test_makedirs_creates_parents_and_accepts_existing(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    PathManager.makedirs(str(target))
    PathManager.makedirs(str(target))
    assert target.is_dir()


def test_listdir_returns_sorted_names(tmp_path: Path) -> None:
    for name in ["b.txt", "a.txt", "c"]:
        (tmp_path / name).write_text(name)
    assert PathManager.listdir(str(tmp_path)) == ["a.txt", "b.txt", "c"]


def test_listdir_of_missing_directory_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PathManager.listdir(str(tmp_path / "missing"))


def test_remove_deletes_a_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    PathManager.remove(str(path))
    assert not path.exists()


def test_remove_of_a_directory_raises_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="removedirs") as info:
        PathManager.remove(str(tmp_path / "d"))
    assert info.value.filename == str(tmp_path / "d")
    assert (tmp_path / "d").is_dir()


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symlinks")
def test_remove_deletes_a_symlink_to_a_directory_like_os_remove(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "d")
    PathManager.remove(str(tmp_path / "link"))
    assert not (tmp_path / "link").is_symlink()
    assert (tmp_path / "d" / "keep").is_file()


def test_remove_of_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PathManager.remove(str(tmp_path / "missing"))


def test_removedirs_removes_empty_leaf_and_empty_parents(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    leaf = tmp_path / "a" / "b" / "c"
    leaf.mkdir(parents=True)
    PathManager.removedirs(str(leaf))
    assert not (tmp_path / "a").exists()
    assert (tmp_path / "keep.txt").exists()


def test_removedirs_never_deletes_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "data.bin").write_bytes(b"precious")
    with pytest.raises(OSError, match="not empty"):
        PathManager.removedirs(str(tmp_path / "d"))
    assert (tmp_path / "d" / "data.bin").read_bytes() == b"precious"


def test_get_local_path_of_local_path_is_the_path(tmp_path: Path) -> None:
    assert PathManager.get_local_path(str(tmp_path / "x")) == str(tmp_path / "x")


# -- copy ----------------------------------------------------------------------


def test_copy_copies_a_local_file_and_creates_parents(tmp_path: Path) -> None:
    (tmp_path / "src.txt").write_text("payload")
    dst = tmp_path / "out" / "deeper" / "dst.txt"
    assert PathManager.copy(str(tmp_path / "src.txt"), str(dst)) is True
    assert dst.read_text() == "payload"
    assert sorted(p.name for p in dst.parent.iterdir()) == ["dst.txt"]  # no temp files left


def test_copy_to_existing_destination_returns_false_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "src").write_text("new")
    (tmp_path / "dst").write_text("old")
    with caplog.at_level(logging.WARNING, logger="easycore_path"):
        assert PathManager.copy(str(tmp_path / "src"), str(tmp_path / "dst")) is False
    assert (tmp_path / "dst").read_text() == "old"
    assert "overwrite=True" in caplog.text


def test_copy_with_overwrite_replaces_destination(tmp_path: Path) -> None:
    (tmp_path / "src").write_text("new")
    (tmp_path / "dst").write_text("old")
    assert PathManager.copy(str(tmp_path / "src"), str(tmp_path / "dst"), overwrite=True)
    assert (tmp_path / "dst").read_text() == "new"


def test_copy_from_local_returns_false_for_existing_destination(tmp_path: Path) -> None:
    (tmp_path / "src").write_text("new")
    (tmp_path / "dst").write_text("old")
    assert PathManager.copy_from_local(str(tmp_path / "src"), str(tmp_path / "dst")) is False
    assert PathManager.copy_from_local(str(tmp_path / "src"), str(tmp_path / "dst"), True)
    assert (tmp_path / "dst").read_text() == "new"


def test_copy_into_a_directory_raises_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "src").write_text("x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError, match="full path"):
        PathManager.copy(str(tmp_path / "src"), str(tmp_path / "dir"), overwrite=True)


def test_copy_of_a_directory_raises_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError, match="files only"):
        PathManager.copy(str(tmp_path / "dir"), str(tmp_path / "dst"))


def test_copy_of_a_missing_file_raises_and_leaves_no_destination(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PathManager.copy(str(tmp_path / "missing"), str(tmp_path / "dst"))
    assert list(tmp_path.iterdir()) == []


def test_copy_goes_across_handlers_through_public_methods(tmp_path: Path) -> None:
    memory = _MemoryHandler()
    PathManager.register(memory)
    (tmp_path / "local.txt").write_text("to memory")
    assert PathManager.copy(str(tmp_path / "local.txt"), "mem://a.txt")
    assert memory.files["mem://a.txt"] == b"to memory"
    assert PathManager.copy("mem://a.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "to memory"
    assert PathManager.copy(str(tmp_path / "local.txt"), "mem://a.txt") is False


def test_copy_counts_a_handler_returning_none_as_success(tmp_path: Path) -> None:
    class NoneReturning(_MemoryHandler):
        def copy_from_local(  # type: ignore[override]
            self, local_path: str, dst_path: str, overwrite: bool = False
        ) -> None:
            super().copy_from_local(local_path, dst_path, overwrite)

    PathManager.register(NoneReturning("none://"))
    (tmp_path / "f").write_text("x")
    assert PathManager.copy(str(tmp_path / "f"), "none://f") is True


def test_copy_works_with_a_handler_that_only_implements_copy_from_local(tmp_path: Path) -> None:
    received: dict[str, bytes] = {}

    class UploadOnly(PathHandler):
        def get_supported_prefixes(self) -> list[str]:
            return ["upload://"]

        def copy_from_local(self, local_path: str, dst_path: str, overwrite: bool = False) -> bool:
            received[dst_path] = Path(local_path).read_bytes()
            return True

    PathManager.register(UploadOnly())
    (tmp_path / "f").write_bytes(b"payload")
    assert PathManager.copy(str(tmp_path / "f"), "upload://f")
    assert received == {"upload://f": b"payload"}


# -- choosing a handler --------------------------------------------------------


def test_longest_matching_prefix_wins(tmp_path: Path) -> None:
    (tmp_path / "short").mkdir()
    (tmp_path / "long").mkdir()
    (tmp_path / "short" / "MNIST").mkdir()
    (tmp_path / "short" / "MNIST" / "f").write_text("short")
    (tmp_path / "long" / "f").write_text("long")
    PathManager.register(RedirectPathHandler("dataset://", f"{tmp_path}/short/"))
    PathManager.register(RedirectPathHandler("dataset://MNIST/", f"{tmp_path}/long/"))
    with PathManager.open("dataset://MNIST/f") as f:
        assert f.read() == "long"


def test_register_of_a_taken_prefix_raises_prefix_conflict() -> None:
    with pytest.raises(
        PrefixConflictError, match=r"'http://' is already handled by HTTPURLHandler"
    ):
        PathManager.register(HTTPURLHandler())


def test_prefix_conflict_error_carries_the_prefix() -> None:
    PathManager.register(RedirectPathHandler("x://", "/tmp/"))
    with pytest.raises(PrefixConflictError) as info:
        PathManager.register(RedirectPathHandler("x://", "/var/"))
    assert info.value.prefix == "x://"
    assert isinstance(info.value, ValueError)
    assert "override=True" in str(info.value)


def test_register_with_override_replaces_the_handler(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f").write_text("b")
    PathManager.register(RedirectPathHandler("x://", f"{tmp_path}/a/"))
    PathManager.register(RedirectPathHandler("x://", f"{tmp_path}/b/"), override=True)
    assert PathManager.open("x://f").read() == "b"


def test_register_rejects_what_is_not_a_handler() -> None:
    with pytest.raises(TypeError, match="PathHandler instance"):
        PathManager.register("http://")  # type: ignore[arg-type]


def test_register_rejects_empty_prefix_strings() -> None:
    class Bad(PathHandler):
        def get_supported_prefixes(self) -> list[str]:
            return ["ok://", ""]

    with pytest.raises(ValueError, match="non-empty strings"):
        PathManager.register(Bad())


def test_register_rejects_prefixes_given_as_one_string(tmp_path: Path) -> None:
    # "s3://" as a sequence is "s", "3", ":", "/": "/" would take over every absolute path.
    class OneString(PathHandler):
        def get_supported_prefixes(self) -> list[str]:
            return "s3://"  # type: ignore[return-value]

    with pytest.raises(TypeError, match=r"returned the str 's3://'; return a list: \['s3://'\]"):
        PathManager.register(OneString())
    assert PathManager._handler_for(str(tmp_path)) is PathManager._fallback


def test_a_handler_without_prefixes_takes_over_plain_paths_only_with_override(
    tmp_path: Path,
) -> None:
    opened: list[str] = []

    class Recording(NativePathHandler):
        def open(self, path: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
            opened.append(path)
            return super().open(path, mode, **kwargs)

    with pytest.raises(PrefixConflictError, match="paths without a registered prefix"):
        PathManager.register(Recording())
    PathManager.register(Recording(), override=True)
    (tmp_path / "f").write_text("x")
    PathManager.open(str(tmp_path / "f")).close()
    assert opened == [str(tmp_path / "f")]


@pytest.mark.parametrize(
    "path",
    [
        "relative/file.txt",
        "C:\\Dataset\\MNIST\\x.png",
        "c://data/x",
        "/abs/x",
        "",
        "name:with:colons",
    ],
    ids=["relative", "windows", "drive-letter-slashes", "absolute", "empty", "colons"],
)
def test_paths_without_a_protocol_go_to_the_native_handler(path: str) -> None:
    assert PathManager.exists(path) is os.path.exists(path)


def test_unknown_protocol_raises_with_suggestion() -> None:
    with pytest.raises(UnknownProtocolError, match=r"'htps://' is not a registered prefix") as info:
        PathManager.open("htps://example.org/x")
    assert "Did you mean 'https://'?" in str(info.value)
    assert info.value.path == "htps://example.org/x"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "operation",
    ["exists", "isfile", "isdir", "listdir", "makedirs", "remove", "removedirs", "get_local_path"],
)
def test_every_operation_rejects_an_unknown_protocol(operation: str) -> None:
    with pytest.raises(UnknownProtocolError, match=r"PathManager\.register"):
        getattr(PathManager, operation)("nosuch://x")
