"""Cache keys: distinct URLs never share a file, and no URL writes outside the cache."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import easycore_path
from easycore_path import PathManager

if TYPE_CHECKING:
    from conftest import Site

_cache_key = easycore_path._cache_key

# URL paths (with queries) that try to climb out of the cache, or to confuse it.
HOSTILE_PATHS = [
    ("/../../../../etc/passwd", "dotdot"),
    ("/%2e%2e/%2e%2e/%2e%2e/escape.txt", "encoded-dotdot"),
    ("/%2E%2E%2F%2E%2E%2Fescape.txt", "encoded-slash-dotdot"),
    ("/..%5c..%5c..%5cescape.txt", "backslash-dotdot"),
    ("/%252e%252e/%252e%252e/escape.txt", "double-encoded"),
    ("/.%2e/.%2e/escape.txt", "mixed-dotdot"),
    ("/%2Fetc%2Fpasswd", "encoded-absolute"),
    ("//etc/passwd", "double-slash"),
    ("/C:%5CWindows%5Cwin.ini", "windows-drive"),
    ("/a/%00/b%00.txt", "nul"),
    ("/con.txt", "windows-device"),
    ("/dir/", "trailing-slash"),
    ("/", "root"),
    ("/%7E/.ssh/id_rsa", "tilde"),
    ("/%24HOME/x", "dollar"),
    ("/%E5%90%8D%E5%89%8D.bin", "unicode"),
    ("/" + "a" * 300 + ".bin", "long-name"),
    ("/" + "d/" * 60 + "deep.bin", "deep"),
    ("/file?x=../../../../escape", "query-dotdot"),
    ("/file?%00=%2F", "query-odd"),
    ("/.", "dot"),
    ("/...", "three-dots"),
    ("/%20/%09/x", "blanks"),
]


def _files_outside(root: Path, inside: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if inside not in p.parents and p != inside}


@pytest.mark.parametrize(("url_path", "what"), HOSTILE_PATHS, ids=[i for _, i in HOSTILE_PATHS])
def test_hostile_url_is_cached_inside_the_cache_dir(
    http_site: Site, tmp_path: Path, cache_dir: Path, url_path: str, what: str
) -> None:
    http_site.echo_unknown = True
    before = _files_outside(tmp_path, cache_dir)
    local = PathManager.get_local_path(http_site.url(url_path))
    real_cache = os.path.realpath(cache_dir / "http")
    assert os.path.commonpath([os.path.realpath(local), real_cache]) == real_cache
    assert Path(local).read_bytes().startswith(b"echo:/")
    assert _files_outside(tmp_path, cache_dir) == before
    assert "\0" not in local


@pytest.mark.parametrize(
    "url",
    [
        "http://../x",
        "http://%2e%2e/x",
        "http://./../../x",
        "http://a\\..\\..\\b/x",
        "http://host:99999/x",
        "http://ho\0st/x",
        "http:///no-host",
        "http://[::1]:8080/x",
        "http://user:p%40ss@host/x",
        "http://host/a\0b/c",
        "http://host/a/b\\..\\..\\..\\x",
        "http://COM1/x",
        "http:" + "/" * 10 + "x",
    ],
    ids=[
        "dotdot-host",
        "encoded-host",
        "dot-host",
        "backslash-host",
        "bad-port",
        "nul-host",
        "no-host",
        "ipv6",
        "credentials",
        "nul-path",
        "backslash-path",
        "device-host",
        "many-slashes",
    ],
)
def test_hostile_host_or_raw_characters_stay_inside(url: str) -> None:
    root = os.path.realpath("/cache/http")
    key = _cache_key(url)
    full = os.path.normpath(os.path.join(root, key))
    assert os.path.commonpath([full, root]) == root
    assert full != root
    assert all(part not in ("", ".", "..") for part in key.split(os.sep))
    assert "\0" not in key


def test_credentials_never_reach_the_key() -> None:
    key = _cache_key("http://alice:s3cret@host/x")
    assert "s3cret" not in key
    assert "alice" not in key


def test_two_hosts_with_the_same_path_do_not_collide() -> None:
    a = _cache_key("http://mirror-a.org/models/model.pth")
    b = _cache_key("http://mirror-b.org/models/model.pth")
    assert a != b
    assert a.split(os.sep)[0] == "mirror-a.org"
    assert a.endswith(os.sep + "model.pth")
    assert b.endswith(os.sep + "model.pth")


def test_ports_are_part_of_the_host() -> None:
    assert _cache_key("http://h:8000/x") != _cache_key("http://h:8001/x")


def test_queries_get_distinct_keys_with_the_same_file_name() -> None:
    v1 = _cache_key("http://h/model.pth?version=1")
    v2 = _cache_key("http://h/model.pth?version=2")
    assert v1 != v2
    assert os.path.basename(v1) == os.path.basename(v2) == "model.pth"


def test_a_file_and_a_directory_of_the_same_name_do_not_collide(http_site: Site) -> None:
    file_url = http_site.serve("/a", b"file a")
    nested_url = http_site.serve("/a/b", b"file a/b")
    assert Path(PathManager.get_local_path(file_url)).read_bytes() == b"file a"
    assert Path(PathManager.get_local_path(nested_url)).read_bytes() == b"file a/b"


def test_lock_and_temp_names_cannot_be_another_urls_file() -> None:
    assert os.path.dirname(_cache_key("http://h/x")) != os.path.dirname(
        _cache_key("http://h/x.lock")
    )


def test_invalid_url_raises_value_error() -> None:
    with pytest.raises(ValueError, match="is not a valid URL"):
        PathManager.get_local_path("http://[::1/x")


def test_keys_are_stable() -> None:
    assert _cache_key("http://h/a/b.txt?q=1") == _cache_key("http://h/a/b.txt?q=1")
    assert _cache_key("http://H/a/b.txt") == _cache_key("http://h/a/b.txt")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["http://", "https://", "ftp://"]))
def test_any_url_stays_inside_the_cache(rest: str, scheme: str) -> None:
    root = os.path.realpath("/cache/proto")
    try:
        key = _cache_key(scheme + rest)
    except ValueError as err:
        refusal = str(err)
    else:
        refusal = ""
    if refusal:  # a few strings are no URL at all (an unclosed "["): refused clearly
        assert "is not a valid URL" in refusal
        return
    full = os.path.normpath(os.path.join(root, key))
    assert os.path.commonpath([full, root]) == root
    assert all(part not in ("", ".", "..") for part in key.split(os.sep))
    assert all(len(part) <= 100 for part in key.split(os.sep))
