"""easycore_torch and the engine it subclasses: one exact version, checked at import.

easycore_torch reaches into easycore_parallel through the seams the engine lists; only the
release it was built with is sure to have them. The checks run in real subprocesses with a
copy of the engine of another version first on ``sys.path``, as a stale install or a
mismatched vendored pair would put it.
"""

from __future__ import annotations

import ast
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


# -- The seams: easycore_torch touches only the private engine names the engine lists --------
#
# An engine name is touched when easycore_torch reads ``easycore_parallel.<name>``, overrides
# a private method or class attribute of the engine's runners, or reads or writes a private
# attribute of an engine object (``self._devices`` in a runner subclass, ``super()._x()``,
# ``BaseRunner._x = ...``). Public members of the engine's private classes (a backend's
# ``replace()``) are reached only through a private name, which is caught first.


def _listed_seams() -> set[str]:
    """Read the seam list of the engine's module docstring."""
    doc = easycore_parallel.__doc__ or ""
    assert "\nSeams:" in doc, "the engine's docstring lost its list of seams"
    block = doc.split("\nSeams:", 1)[1].split("::\n\n", 1)[1].split("\n\n", 1)[0]
    seams = set(re.findall(r"^ {4}(?:BaseRunner\.)?(_\w+)", block, flags=re.MULTILINE))
    assert seams, block
    return seams


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _engine_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Return the engine's private module names and the private members of its classes."""
    module: set[str] = set()
    members: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            module.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            module.update(t.id for t in targets if isinstance(t, ast.Name))
        if isinstance(node, ast.ClassDef):
            members.update(_class_members(node))
    return {n for n in module if _is_private(n)}, {n for n in members if _is_private(n)}


def _class_members(cls: ast.ClassDef) -> set[str]:
    """Names a class defines: methods, class attributes, and ``self.<name> = ...``."""
    names: set[str] = set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            names.add(node.attr)
    return names


def _touched_engine_names(source: str, engine_source: str) -> dict[str, int]:
    """Return each private engine name ``source`` touches, with the first line it does."""
    engine_module, engine_members = _engine_names(ast.parse(engine_source))
    tree = ast.parse(source)
    subclasses: dict[str, ast.ClassDef] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            (isinstance(base, ast.Attribute) and ast.unparse(base.value) == "easycore_parallel")
            or (isinstance(base, ast.Name) and base.id in subclasses)
            for base in node.bases
        ):
            subclasses[node.name] = node
    own = {  # what the runner subclasses add of their own
        name for cls in subclasses.values() for name in _class_members(cls) - engine_members
    }
    own_elsewhere = {  # members of the module's other classes
        name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name not in subclasses
        for name in _class_members(node)
    }
    touched: dict[str, int] = {}

    def touch(name: str, line: int) -> None:
        if _is_private(name):
            touched.setdefault(name, line)

    for node in tree.body:  # overrides of the engine's private methods and class attributes
        if isinstance(node, ast.ClassDef) and node.name in subclasses:
            for name in _class_members(node) & engine_members:
                touch(name, node.lineno)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "easycore_parallel":
            for alias in node.names:
                touch(alias.name, node.lineno)
        if not isinstance(node, ast.Attribute):
            continue
        owner = ast.unparse(node.value)
        if owner in ("easycore_parallel", "super()") or (
            owner in subclasses and node.attr in engine_members
        ):
            touch(node.attr, node.lineno)
        elif owner == "self" and node.attr in engine_members and node.attr not in own:
            # In a runner subclass: the engine's attribute. In another class, only if that
            # class does not define it.
            in_runner = any(child is node for cls in subclasses.values() for child in ast.walk(cls))
            if in_runner or node.attr not in own_elsewhere:
                touch(node.attr, node.lineno)
        elif node.attr in engine_members and node.attr not in own | own_elsewhere:
            touch(node.attr, node.lineno)
    return {name: line for name, line in touched.items() if name in engine_module | engine_members}


def _source(module: object) -> str:
    return Path(module.__file__).read_text(encoding="utf-8")  # type: ignore[attr-defined]


def test_easycore_torch_touches_only_the_seams_the_engine_lists() -> None:
    touched = _touched_engine_names(_source(easycore_torch), _source(easycore_parallel))
    unlisted = {name: line for name, line in touched.items() if name not in _listed_seams()}
    assert not unlisted, (
        f"easycore_torch uses engine names that the engine's docstring does not list as "
        f"seams (name: line): {unlisted}. List them under 'Seams:' in easycore_parallel's "
        f"module docstring, or use a listed seam instead."
    )
    assert {"_prepare_transport", "_devices", "_run_imap", "_OUT_OF_BAND"} <= set(touched)


def test_every_listed_seam_exists_in_the_engine() -> None:
    for name in _listed_seams():
        assert (
            hasattr(easycore_parallel, name)
            or hasattr(easycore_parallel.BaseRunner, name)
            or (name in _engine_names(ast.parse(_source(easycore_parallel)))[1])
        ), name


def test_the_seam_check_catches_unlisted_engine_names() -> None:
    source = """
import easycore_parallel

class BaseRunner(easycore_parallel.BaseRunner):
    def __init__(self):
        self._rings = None
        super().__init__(2)

    def _create_backend(self):
        return super()._create_backend()

    def _choose_start_method(self, requested):
        return self._start_method, self._devices, self._rings

class OrderedRunner(BaseRunner, easycore_parallel.OrderedRunner):
    _min_batch_seconds = 1.0

def work():
    return easycore_parallel._Task, easycore_parallel.imap

BaseRunner._finalizer = None
"""
    touched = _touched_engine_names(source, _source(easycore_parallel))
    assert set(touched) == {
        "_create_backend",
        "_choose_start_method",
        "_start_method",
        "_devices",
        "_min_batch_seconds",
        "_Task",
        "_finalizer",
    }
    assert set(touched) - _listed_seams() == {
        "_create_backend",
        "_start_method",
        "_Task",
        "_finalizer",
    }
