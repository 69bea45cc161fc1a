"""PathHandler, HTTPURLHandler's documented methods, and RedirectPathHandler."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from easycore_path import (
    DownloadError,
    HTTPURLHandler,
    NativePathHandler,
    PathHandler,
    PathManager,
    RedirectLoopError,
    RedirectPathHandler,
    RemoteFileNotFoundError,
    UnknownProtocolError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    from conftest import Site

# -- PathHandler ---------------------------------------------------------------


def test_get_cache_dir_uses_easycore_cache(cache_dir: Path) -> None:
    handler = NativePathHandler()
    assert handler.get_cache_dir() == str(cache_dir)
    assert handler.get_cache_dir("http") == os.path.join(str(cache_dir), "http")


def test_get_cache_dir_defaults_to_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EASYCORE_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = os.path.join(str(tmp_path), ".easycore", "cache", "https")
    assert PathHandler().get_cache_dir("https") == expected


def test_base_handler_operations_raise_unsupported_operation() -> None:
    handler = PathHandler()
    with pytest.raises(UnsupportedOperationError, match=r"PathHandler cannot listdir\(\) 'x'"):
        handler.listdir("x")
    with pytest.raises(UnsupportedOperationError, match="must override get_supported_prefixes"):
        handler.get_supported_prefixes()


def test_unsupported_operation_error_is_not_implemented_error_with_facts() -> None:
    with pytest.raises(NotImplementedError) as info:
        PathHandler().open("some://path", "rb")
    assert isinstance(info.value, UnsupportedOperationError)
    assert (info.value.path, info.value.operation) == ("some://path", "open")


def test_old_get_support_prefixes_spelling_works_with_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="rename it get_supported_prefixes"):

        class OldStyle(PathHandler):
            def get_support_prefixes(self) -> list[str]:
                return ["old://"]

            def exists(self, path: str) -> bool:
                return path == "old://there"

    handler = OldStyle()
    assert handler.get_supported_prefixes() == ["old://"]
    PathManager.register(handler)
    assert PathManager.exists("old://there")
    assert not PathManager.exists("old://elsewhere")


def test_new_spelling_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class NewStyle(PathHandler):
            def get_supported_prefixes(self) -> list[str]:
                return ["new://"]

    assert NewStyle().get_supported_prefixes() == ["new://"]


def test_tutorial_custom_http_handler_with_required_protocol_argument(
    http_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    """The original's section 1.5.4 example, verbatim apart from the server."""
    with pytest.warns(DeprecationWarning, match="NewHTTPURLHandler defines get_support_prefixes"):

        class NewHTTPURLHandler(HTTPURLHandler):
            def get_cache_dir(self, protocol):  # type: ignore[no-untyped-def, override]
                cache_dir = os.path.expanduser(os.getenv("NEW_CACHE", "~/.easycore/cache"))
                if protocol is not None:
                    cache_dir = os.path.join(cache_dir, protocol)
                return cache_dir

            def get_support_prefixes(self):  # type: ignore[no-untyped-def]
                return ["http://", "https://"]

    monkeypatch.setenv("NEW_CACHE", str(tmp_path / "new-cache"))
    PathManager.register(NewHTTPURLHandler(), override=True)
    url = http_site.serve("/yyy.txt", b"cached elsewhere")
    local = PathManager.get_local_path(url)
    assert local.startswith(str(tmp_path / "new-cache" / "http") + os.sep)
    assert Path(local).read_bytes() == b"cached elsewhere"
    assert not cache_dir.exists()
    assert isinstance(PathManager._handlers["ftp://"], HTTPURLHandler)  # ftp stays as it was
    assert not isinstance(PathManager._handlers["ftp://"], NewHTTPURLHandler)


# -- HTTPURLHandler: every documented method -----------------------------------


def test_http_handler_supports_http_https_ftp() -> None:
    assert HTTPURLHandler().get_supported_prefixes() == ["http://", "https://", "ftp://"]


def test_http_open_reads_text_and_binary(http_site: Site) -> None:
    url = http_site.serve("/yyy.txt", "héllo\n".encode())
    with PathManager.open(url, "r", encoding="utf-8") as f:
        assert f.read() == "héllo\n"
    with PathManager.open(url, "rb") as f:
        assert f.read() == "héllo\n".encode()
    assert http_site.hits("/yyy.txt") == 1  # the second open used the cache


@pytest.mark.parametrize("mode", ["w", "a", "r+", "xb", "wb"])
def test_http_open_for_writing_raises_unsupported(http_site: Site, mode: str) -> None:
    url = http_site.serve("/f", b"x")
    with pytest.raises(UnsupportedOperationError, match="read-only"):
        PathManager.open(url, mode)
    assert http_site.requests == []


def test_http_get_local_path_downloads_once_then_serves_cache(
    http_site: Site, cache_dir: Path
) -> None:
    url = http_site.serve("/models/model.pth", b"weights")
    first = PathManager.get_local_path(url)
    second = PathManager.get_local_path(url)
    assert first == second
    assert first.startswith(str(cache_dir / "http") + os.sep)
    assert first.endswith(os.sep + "model.pth")
    assert Path(first).read_bytes() == b"weights"
    assert http_site.hits("/models/model.pth") == 1


def test_http_exists_and_isfile_ask_the_server(http_site: Site) -> None:
    url = http_site.serve("/here", b"x")
    assert PathManager.exists(url)
    assert PathManager.isfile(url)
    assert not PathManager.exists(http_site.url("/gone"))
    assert http_site.hits("/here", "HEAD") == 2
    assert http_site.hits("/here", "GET") == 0


def test_http_exists_is_true_for_a_cached_url_without_asking(http_site: Site) -> None:
    url = http_site.serve("/cached", b"x")
    PathManager.get_local_path(url)
    assert PathManager.exists(url)
    assert http_site.hits("/cached", "HEAD") == 0


def test_http_exists_raises_when_the_server_cannot_tell(http_site: Site) -> None:
    url = http_site.add("/secret", http_site.Route(status=403))
    with pytest.raises(DownloadError, match="403") as info:
        PathManager.exists(url)
    assert info.value.status == 403


def test_http_isdir_is_false(http_site: Site) -> None:
    assert PathManager.isdir(http_site.url("/a/")) is False
    assert http_site.requests == []


@pytest.mark.parametrize(
    ("operation", "reason"),
    [
        ("listdir", "no directory listing"),
        ("makedirs", "read-only"),
        ("remove", "drop the cached copy"),
        ("removedirs", "read-only"),
    ],
)
def test_http_write_operations_raise_unsupported(
    http_site: Site, operation: str, reason: str
) -> None:
    url = http_site.url("/x")
    with pytest.raises(UnsupportedOperationError, match=reason) as info:
        getattr(PathManager, operation)(url)
    assert info.value.operation == operation
    assert info.value.path == url


def test_http_copy_from_local_raises_unsupported(http_site: Site, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(UnsupportedOperationError, match="uploading"):
        PathManager.copy_from_local(str(tmp_path / "f"), http_site.url("/upload"))


def test_copy_from_a_url_to_a_local_path(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/yyy.txt", b"remote bytes")
    assert PathManager.copy(url, str(tmp_path / "a" / "local.txt"))
    assert (tmp_path / "a" / "local.txt").read_bytes() == b"remote bytes"


def test_copy_to_an_existing_local_file_does_not_download(http_site: Site, tmp_path: Path) -> None:
    url = http_site.serve("/big", b"x" * 1000)
    (tmp_path / "dst").write_text("mine")
    assert PathManager.copy(url, str(tmp_path / "dst")) is False
    assert http_site.requests == []


# -- RedirectPathHandler -------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "old", "path", "expected"),
    [
        (
            "easycore://",
            "http://h/download/",
            "easycore://yyy/zzz.txt",
            "http://h/download/yyy/zzz.txt",
        ),
        ("file://", "/data/", "file://file://x", "/data/file://x"),
        (
            "dataset://MNIST/",
            "e:\\Dataset\\MNIST\\",
            "dataset://MNIST/a.png",
            "e:\\Dataset\\MNIST\\a.png",
        ),
        ("ab://", "/d/", "ab://ab://", "/d/ab://"),
        ("p://", "", "p://rest", "rest"),
    ],
    ids=["to-url", "prefix-repeated", "windows", "prefix-chars", "empty-old"],
)
def test_redirect_replaces_exactly_the_prefix(new: str, old: str, path: str, expected: str) -> None:
    assert RedirectPathHandler(new, old).redirect(path) == expected


def test_redirect_of_a_path_without_the_prefix_raises_value_error() -> None:
    with pytest.raises(ValueError, match="does not start with 'a://'"):
        RedirectPathHandler("a://", "/x/").redirect("b://y")


def test_redirect_to_a_local_directory(tmp_path: Path) -> None:
    PathManager.register(RedirectPathHandler("file://", f"{tmp_path}/"))
    PathManager.makedirs("file://sub")
    with PathManager.open("file://sub/a.txt", "w") as f:
        f.write("through a redirect")
    assert (tmp_path / "sub" / "a.txt").read_text() == "through a redirect"
    assert PathManager.exists("file://sub/a.txt")
    assert PathManager.isfile("file://sub/a.txt")
    assert PathManager.isdir("file://sub")
    assert PathManager.listdir("file://sub") == ["a.txt"]
    assert PathManager.get_local_path("file://sub/a.txt") == str(tmp_path / "sub" / "a.txt")
    assert PathManager.copy("file://sub/a.txt", "file://sub/b.txt")
    PathManager.remove("file://sub/a.txt")
    PathManager.remove("file://sub/b.txt")
    PathManager.removedirs("file://sub")
    assert not (tmp_path / "sub").exists()


def test_redirect_to_a_url(http_site: Site) -> None:
    http_site.serve("/download/yyy/zzz.txt", b"zzz")
    PathManager.register(RedirectPathHandler("easycore://", http_site.url("/download/")))
    with PathManager.open("easycore://yyy/zzz.txt", "rb") as f:
        assert f.read() == b"zzz"


def test_redirect_to_a_redirect(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("two hops")
    PathManager.register(RedirectPathHandler("a://", "b://"))
    PathManager.register(RedirectPathHandler("b://", f"{tmp_path}/"))
    assert PathManager.open("a://f").read() == "two hops"


def test_redirect_to_nowhere_raises_file_not_found(tmp_path: Path) -> None:
    PathManager.register(RedirectPathHandler("gone://", f"{tmp_path}/missing/"))
    with pytest.raises(FileNotFoundError):
        PathManager.open("gone://f")
    assert not PathManager.exists("gone://f")


def test_redirect_to_a_url_that_does_not_exist_raises_file_not_found(http_site: Site) -> None:
    PathManager.register(RedirectPathHandler("web://", http_site.url("/nothing/")))
    with pytest.raises(RemoteFileNotFoundError, match="404"):
        PathManager.get_local_path("web://f")


def test_redirect_to_an_unknown_protocol_names_the_redirect() -> None:
    PathManager.register(RedirectPathHandler("a://", "zzz://"))
    with pytest.raises(UnknownProtocolError, match=r"'a://f' was redirected to 'zzz://f'") as info:
        PathManager.exists("a://f")
    assert info.value.path == "a://f"


def test_redirect_loop_raises_redirect_loop_error() -> None:
    PathManager.register(RedirectPathHandler("a://", "b://"))
    PathManager.register(RedirectPathHandler("b://", "a://"))
    with pytest.raises(RedirectLoopError, match=r"'a://x' -> 'b://x' -> 'a://x'") as info:
        PathManager.open("a://x")
    assert info.value.path == "a://x"


def test_endless_growing_redirect_raises_redirect_loop_error() -> None:
    PathManager.register(RedirectPathHandler("a://", "a://more/"))
    with pytest.raises(RedirectLoopError, match="never reach"):
        PathManager.exists("a://x")
