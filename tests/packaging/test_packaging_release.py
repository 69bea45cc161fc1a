"""One version for six packages: ``hatch run release:bump`` sets it everywhere it appears.

The bump runs as a real subprocess on a copy of the files it edits, so the checkout is
never touched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = {
    "easycore-config": "easycore_config",
    "easycore-registry": "easycore_registry",
    "easycore-path": "easycore_path",
    "easycore-parallel": "easycore_parallel",
    "easycore-torch": "easycore_torch",
    "easycore": "easycore",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the release script and every file it reads or writes."""
    shutil.copytree(REPO / "scripts", tmp_path / "scripts")
    shutil.copy(REPO / "CHANGELOG.md", tmp_path / "CHANGELOG.md")
    for package, module in MODULES.items():
        src = tmp_path / "packages" / package / "src" / module
        src.mkdir(parents=True)
        shutil.copy(REPO / "packages" / package / "src" / module / "__init__.py", src)
        shutil.copy(REPO / "packages" / package / "pyproject.toml", src.parents[1])
    return tmp_path


def _release(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(tree / "scripts" / "release.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _module_version(tree: Path, package: str) -> str:
    text = (tree / "packages" / package / "src" / MODULES[package] / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match is not None
    return match.group(1)


def test_bump_sets_every_module_pin_and_changelog(tree: Path) -> None:
    result = _release(tree, "bump", "1.2.3")
    assert result.returncode == 0, result.stderr
    assert {_module_version(tree, package) for package in MODULES} == {"1.2.3"}
    torch_project = (tree / "packages/easycore-torch/pyproject.toml").read_text()
    assert '"easycore-parallel==1.2.3"' in torch_project
    meta_project = (tree / "packages/easycore/pyproject.toml").read_text()
    assert '"easycore-config>=1.2.3,<2"' in meta_project
    assert '"easycore-parallel[progress,ray]>=1.2.3,<2"' in meta_project
    assert not re.search(r"easycore-[a-z\[\],]+(==|>=)0\.1\.0", meta_project + torch_project)
    changelog = (tree / "CHANGELOG.md").read_text()
    assert changelog.index("## Unreleased") < changelog.index("## 1.2.3 (")


def test_bump_refuses_a_version_that_is_not_x_y_z(tree: Path) -> None:
    result = _release(tree, "bump", "2.0")
    assert result.returncode != 0
    assert "'2.0' is not of the form X.Y.Z" in result.stderr
    assert _module_version(tree, "easycore") == _module_version(tree, "easycore-config")


def test_bump_refuses_modules_that_disagree(tree: Path) -> None:
    init = tree / "packages/easycore-path/src/easycore_path/__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', '__version__ = "9.9.9"', init.read_text()))
    result = _release(tree, "bump", "1.2.3")
    assert result.returncode != 0
    assert "disagree on their version" in result.stderr
    assert "'easycore-path': '9.9.9'" in result.stderr


def test_the_pins_between_packages_name_the_current_version() -> None:
    version = _module_version(REPO, "easycore")
    torch_project = (REPO / "packages/easycore-torch/pyproject.toml").read_text()
    assert f'"easycore-parallel=={version}"' in torch_project
    meta_project = (REPO / "packages/easycore/pyproject.toml").read_text()
    pins = re.findall(r'"easycore-[a-z\[\],]+>=([^,"]+),<', meta_project)
    assert len(pins) >= 4
    assert set(pins) == {version}
