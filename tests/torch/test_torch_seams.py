"""easycore_torch and the engine it subclasses: one exact version, checked at import.

easycore_torch reaches into easycore_parallel through the seams the engine lists; only the
release it was built with is sure to have them. The checks run in real subprocesses with a
copy of the engine of another version first on ``sys.path``, as a stale install or a
mismatched vendored pair would put it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import easycore_parallel
import easycore_torch

REPO = Path(__file__).resolve().parents[2]
TORCH_SRC = Path(easycore_torch.__file__).resolve().parents[1]
OTHER_VERSION = "9.8.7"


def _engine_copy(folder: Path, version: str) -> Path:
    """Write the real engine into ``folder`` as easycore_parallel.py, of ``version``."""
    source = Path(easycore_parallel.__file__).read_text(encoding="utf-8")
    source, count = re.subn(
        r'^__version__ = "[^"]+"$', f'__version__ = "{version}"', source, flags=re.MULTILINE
    )
    assert count == 1
    path = folder / "easycore_parallel.py"
    path.write_text(source, encoding="utf-8")
    return path


def _import_in_subprocess(paths: list[Path], module: str) -> subprocess.CompletedProcess[str]:
    script = (
        f"import sys\nsys.path[:0] = {[str(path) for path in paths]!r}\n"
        f"import {module}\nprint({module}.__version__)\n"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.timeout(150)
def test_import_refuses_an_installed_engine_of_another_version(tmp_path: Path) -> None:
    fake = _engine_copy(tmp_path, OTHER_VERSION)
    result = _import_in_subprocess([tmp_path, TORCH_SRC], "easycore_torch")
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("ImportError: easycore_torch "), result.stderr
    version = easycore_torch.__version__
    assert f"needs easycore_parallel {version}" in message
    assert f"imported easycore_parallel {OTHER_VERSION} from {fake}" in message
    assert f'pip install "easycore-parallel=={version}"' in message


@pytest.mark.timeout(150)
def test_import_refuses_a_vendored_pair_of_two_releases(tmp_path: Path) -> None:
    shutil.copy(easycore_torch.__file__, tmp_path / "vendored_torch.py")
    _engine_copy(tmp_path, OTHER_VERSION)
    result = _import_in_subprocess([tmp_path], "vendored_torch")
    assert result.returncode != 0
    assert "ImportError: easycore_torch" in result.stderr
    assert "a copied easycore_torch.py needs the easycore_parallel.py" in result.stderr


@pytest.mark.timeout(150)
def test_import_accepts_the_engine_of_its_own_version(tmp_path: Path) -> None:
    _engine_copy(tmp_path, easycore_torch.__version__)
    shutil.copy(easycore_torch.__file__, tmp_path / "vendored_torch.py")
    result = _import_in_subprocess([tmp_path], "vendored_torch")
    assert (result.returncode, result.stdout.strip()) == (0, easycore_torch.__version__), (
        result.stderr
    )


def test_the_package_pins_the_engine_version_the_module_checks() -> None:
    project = (REPO / "packages/easycore-torch/pyproject.toml").read_text(encoding="utf-8")
    pins = re.findall(r'^\s*"(easycore-[^"]+)"', project, flags=re.MULTILINE)
    assert pins == [f"easycore-parallel=={easycore_torch._ENGINE_VERSION}"]
    assert easycore_parallel.__version__ == easycore_torch._ENGINE_VERSION
