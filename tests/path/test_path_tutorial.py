"""The original's section 1.5 examples, with a local server standing in for xxx.com.

Section 1.5.4 (the custom NewHTTPURLHandler) is in test_path_handlers.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from easycore_path import PathManager, RedirectPathHandler, file_lock

if TYPE_CHECKING:
    from conftest import Site


def test_section_1_5_1_manage_local_path(tmp_path: Path) -> None:
    file = str(tmp_path / "path" / "to" / "file")
    directory = str(tmp_path / "path" / "to" / "dir")
    os.makedirs(os.path.dirname(file))
    Path(file).write_text("local text", encoding="utf-8")

    with PathManager.open(file, "r", encoding="utf-8") as f:
        assert f.read() == "local text"
    assert PathManager.exists(file)
    assert PathManager.isfile(file)
    PathManager.makedirs(directory)
    assert PathManager.isdir(directory)
    assert PathManager.listdir(os.path.dirname(directory)) == ["dir", "file"]
    PathManager.copy(file, str(tmp_path / "destination" / "path"))
    assert (tmp_path / "destination" / "path").read_text(encoding="utf-8") == "local text"
    PathManager.remove(file)
    assert not PathManager.exists(file)
    PathManager.removedirs(directory)
    assert not (tmp_path / "path").exists()  # every parent left empty went too


def test_section_1_5_2_manage_remote_url(http_site: Site, tmp_path: Path, cache_dir: Path) -> None:
    url = http_site.serve("/yyy.txt", b"remote text")
    with PathManager.open(url, "r", encoding="utf-8") as f:
        assert f.read() == "remote text"
    local_path = PathManager.get_local_path(url)
    assert local_path.startswith(str(cache_dir / "http"))
    assert PathManager.copy(url, str(tmp_path / "a" / "local" / "path"))
    assert (tmp_path / "a" / "local" / "path").read_text() == "remote text"
    assert http_site.hits("/yyy.txt") == 1


def test_section_1_5_3_redirect_to_remote(http_site: Site) -> None:
    http_site.serve("/download/yyy/zzz.txt", b"zzz content")
    PathManager.register(RedirectPathHandler("easycore://", http_site.url("/download/")))
    with PathManager.open("easycore://yyy/zzz.txt", "rb") as f:
        assert f.read() == b"zzz content"


def test_section_1_5_3_redirect_to_local(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "a.txt").write_text("a")
    PathManager.register(RedirectPathHandler("file://", f"{tmp_path / 'dir'}/"))
    assert PathManager.open("file://a.txt").read() == "a"


def test_section_1_5_3_dataset_redirects(tmp_path: Path) -> None:
    for folder in ["Dataset/MNIST", "Dataset/CIFAR100", "ImageNet"]:
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "train.txt").write_text(folder)
    PathManager.register(RedirectPathHandler("dataset://MNIST/", f"{tmp_path}/Dataset/MNIST/"))
    PathManager.register(
        RedirectPathHandler("dataset://CIFAR100/", f"{tmp_path}/Dataset/CIFAR100/")
    )
    PathManager.register(RedirectPathHandler("dataset://ImageNet/", f"{tmp_path}/ImageNet/"))
    assert PathManager.open("dataset://MNIST/train.txt").read() == "Dataset/MNIST"
    assert PathManager.open("dataset://CIFAR100/train.txt").read() == "Dataset/CIFAR100"
    assert PathManager.listdir("dataset://ImageNet/") == ["train.txt"]


def test_file_lock_docstring_example(tmp_path: Path) -> None:
    filename = str(tmp_path / "path" / "to" / "file")
    created = []
    for _ in range(2):
        with file_lock(filename):
            if not os.path.isfile(filename):
                Path(filename).write_text("made once")
                created.append(filename)
    assert created == [filename]
