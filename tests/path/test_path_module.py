"""The module itself: its public names, an import without side effects, and a lone copy."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import easycore_path

if TYPE_CHECKING:
    from conftest import Site

REQUIRED = {
    "PathManager",
    "PathHandler",
    "NativePathHandler",
    "HTTPURLHandler",
    "RedirectPathHandler",
    "file_lock",
    "download_file",
    "PathError",
    "DownloadError",
    "TruncatedDownloadError",
    "ChecksumMismatchError",
    "LockTimeoutError",
}

RunPython = Callable[..., "subprocess.CompletedProcess[str]"]


def test_all_is_sorted_and_complete() -> None:
    assert easycore_path.__all__ == sorted(easycore_path.__all__)
    assert set(easycore_path.__all__) >= REQUIRED
    for name in easycore_path.__all__:
        assert getattr(easycore_path, name).__doc__, name


def test_version_is_a_literal() -> None:
    source = Path(easycore_path.__file__).read_text(encoding="utf-8")
    assert '__version__ = "0.1.0"' in source
    assert easycore_path.__version__ == "0.1.0"


def test_module_imports_only_the_stdlib_and_its_declared_deps() -> None:
    tree = ast.parse(Path(easycore_path.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    declared = {"requests", "urllib3", "tqdm", "filelock"}
    stdlib = getattr(sys, "stdlib_module_names", imported - declared)
    assert imported - set(stdlib) - {"__future__"} == declared


def test_import_has_no_side_effects(run_python: RunPython, tmp_path: Path) -> None:
    result = run_python(
        f"""
        import atexit, os, socket, sys, threading
        os.environ["EASYCORE_CACHE"] = {str(tmp_path / "never-created")!r}

        def no_network(*args, **kwargs):
            raise AssertionError("network used at import")

        socket.socket.connect = no_network
        socket.create_connection = no_network
        import filelock, logging, requests, tqdm  # their own import-time hooks are theirs

        threads = threading.active_count()
        callbacks = atexit._ncallbacks()
        import easycore_path

        assert threading.active_count() == threads, "a thread was started"
        assert atexit._ncallbacks() == callbacks, "an atexit hook was registered"
        assert not os.path.exists(os.environ["EASYCORE_CACHE"]), "the cache was created"
        assert os.listdir(".") == [], os.listdir(".")
        assert "fsspec" not in sys.modules, "fsspec is imported lazily"
        print("clean")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_module_file_copied_alone_works(run_python: RunPython, tmp_path: Path) -> None:
    vendored = tmp_path / "vendored"
    vendored.mkdir()
    shutil.copyfile(easycore_path.__file__, vendored / "easycore_path.py")
    result = run_python(
        f"""
        import os, sys, tempfile
        sys.path.insert(0, {str(vendored)!r})
        import easycore_path
        from easycore_path import PathManager, RedirectPathHandler

        assert easycore_path.__file__ == {str(vendored / "easycore_path.py")!r}
        folder = tempfile.mkdtemp()
        PathManager.register(RedirectPathHandler("work://", folder + "/"))
        with PathManager.open("work://a.txt", "w") as f:
            f.write("vendored")
        assert PathManager.listdir("work://") == ["a.txt"]
        print(easycore_path.__version__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0.1.0"


def test_fsspec_handler_without_fsspec_names_the_extra(run_python: RunPython) -> None:
    result = run_python(
        """
        import sys
        sys.modules["fsspec"] = None  # as if it were not installed
        from easycore_path import FsspecPathHandler, PathManager

        PathManager.register(FsspecPathHandler("memory"))
        try:
            PathManager.exists("memory://x")
        except ImportError as err:
            print(err)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'easycore-path[fsspec]'" in result.stdout


def _docstring_example() -> str:
    match = re.search(r"::\n\n((?:    .*\n|\n)+)", easycore_path.__doc__ or "")
    assert match is not None, "the module docstring has no '::' example"
    return textwrap.dedent(match.group(1))


@pytest.mark.timeout(60)
def test_module_docstring_example_runs_next_to_a_copy_of_the_module(
    https_site: Site, tmp_path: Path
) -> None:
    weights = bytes(range(256)) * 64
    https_site.serve("/models/resnet50.pth", weights)
    published = "https://example.org/models/"
    example = _docstring_example()
    assert published in example
    example = example.replace(published, https_site.url("/models/"))
    (tmp_path / "easycore_path.py").write_bytes(Path(easycore_path.__file__).read_bytes())
    runs = [
        subprocess.run(
            [sys.executable, "-c", f"{example}\nprint(header.hex())"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for _ in range(2)
    ]
    for result in runs:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == weights[:16].hex()
    assert https_site.hits("/models/resnet50.pth") == 1  # the second run read the cache


def test_module_carries_its_copyright_beside_the_spdx_line() -> None:
    lines = Path(easycore_path.__file__).read_text(encoding="utf-8").splitlines()
    spdx = lines.index("# SPDX-License-Identifier: MIT")
    assert re.fullmatch(r"# Copyright \(c\) \d{4} the easycore developers", lines[spdx + 1])
