"""The six packages build, install alone, and the metapackage installs from our wheels.

These tests build real wheels and sdists with ``hatch build`` and install them into
fresh virtual environments, so they take tens of seconds and need pip to reach the
package index for the third-party dependencies (PyYAML, requests, ...).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {
    "easycore-config": "easycore_config",
    "easycore-registry": "easycore_registry",
    "easycore-path": "easycore_path",
    "easycore-parallel": "easycore_parallel",
    "easycore-torch": "easycore_torch",
    "easycore": "easycore",
}
COMMON = ["easycore-config", "easycore-registry", "easycore-path", "easycore-parallel"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _version_of(package: str) -> str:
    # The module's literal __version__ is the package version (pyproject reads it).
    init = REPO / "packages" / package / "src" / PACKAGES[package] / "__init__.py"
    match = re.search(r'^__version__ = "([^"]+)"', init.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"no __version__ in {init}"
    return match.group(1)


VERSION = _version_of("easycore")


def _clean_env() -> dict[str, str]:
    # Run hatch and pip as a user would, not as the hatch environment running pytest.
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HATCH_ENV", "VIRTUAL_ENV", "PYTHONPATH", "PIP_"))
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    hatch = shutil.which("hatch")
    if hatch is None:
        pytest.fail("these tests need `hatch` on PATH: python -m pip install hatch")
    out = tmp_path_factory.mktemp("dist")
    for package in PACKAGES:
        subprocess.run(
            [hatch, "build", "-t", "wheel", "-t", "sdist", str(out)],
            cwd=REPO / "packages" / package,
            env=_clean_env(),
            check=True,
            capture_output=True,
            timeout=300,
        )
    return out


def _wheel(dist: Path, package: str) -> Path:
    return dist / f"{package.replace('-', '_')}-{VERSION}-py3-none-any.whl"


def _make_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / ("Scripts" if os.name == "nt" else "bin") / "python"


def _pip_install(python: Path, *requirements: str) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", *requirements],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _installed(python: Path) -> set[str]:
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return {entry["name"].lower().replace("_", "-") for entry in json.loads(listing.stdout)}


def _run(python: Path, code: str) -> str:
    result = subprocess.run(
        [str(python), "-c", textwrap.dedent(code)],
        env=_clean_env(),
        cwd=python.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_wheel_and_sdist_are_built_with_license_readme_and_types(dist: Path, package: str) -> None:
    import_name = PACKAGES[package]
    wheel = _wheel(dist, package)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"{import_name}-{VERSION}.dist-info/METADATA").decode()
    assert f"{import_name}/__init__.py" in names
    assert f"{import_name}/py.typed" in names
    assert any(name.endswith("licenses/LICENSE") for name in names)
    assert "Requires-Python: >=3.10" in metadata
    assert "Programming Language :: Python :: 3.14" in metadata
    assert "License-Expression: MIT" in metadata
    sdist = dist / f"{import_name}-{VERSION}.tar.gz"
    with tarfile.open(sdist) as archive:
        members = {Path(m).name for m in archive.getnames()}
    assert {"pyproject.toml", "README.md", "LICENSE", "py.typed"} <= members


def test_every_package_has_the_same_version() -> None:
    assert {_version_of(package) for package in PACKAGES} == {VERSION}


def test_component_installs_alone(dist: Path, tmp_path: Path) -> None:
    python = _make_venv(tmp_path / "venv")
    _pip_install(python, str(_wheel(dist, "easycore-registry")))
    easycore_dists = {name for name in _installed(python) if name.startswith("easycore")}
    assert easycore_dists == {"easycore-registry"}
    out = _run(
        python,
        """
        from easycore_registry import Registry
        r = Registry("MODEL")
        r.register("x", 1)
        print(r.get("x"))
        """,
    )
    assert out.strip() == "1"


def test_metapackage_installs_from_our_wheels_and_serves_every_namespace(
    dist: Path, tmp_path: Path
) -> None:
    python = _make_venv(tmp_path / "venv")
    # Naming every wheel file pins each easycore requirement to the wheel we built:
    # `easycore` on the public index is another project.
    _pip_install(python, *(str(_wheel(dist, p)) for p in ["easycore", *COMMON]))
    easycore_dists = {name for name in _installed(python) if name.startswith("easycore")}
    assert easycore_dists == {"easycore", *COMMON}
    out = _run(
        python,
        """
        import sys
        from easycore.common.config import CfgNode, HierarchicalCfgNode
        from easycore.common.registry import Registry
        from easycore.common.path import PathManager, PathHandler, HTTPURLHandler, file_lock
        from easycore.common.path.path_handler import NativePathHandler, RedirectPathHandler
        from easycore.common.network import download_file
        from easycore.common.parallel import BaseRunner, UnorderedRunner, OrderedRunner
        from easycore.common.parallel.engine import BaseRunner as EngineBase
        assert EngineBase is BaseRunner
        assert "torch" not in sys.modules
        try:
            import easycore.torch.parallel
        except ImportError as err:
            print(err)
        """,
    )
    assert 'pip install "easycore[torch]"' in out
