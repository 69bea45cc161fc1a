"""Entry points (``entry_point_group=``), from real installed distributions.

The first test installs a tiny plugin wheel into a fresh virtual environment with pip,
as a user would; the others put a distribution's metadata folder on ``sys.path``, which
is what an installed package is to ``importlib.metadata``, to cover each case quickly.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import pickle
import subprocess
import sys
import textwrap
import venv
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import easycore_registry
from easycore_registry import (
    AlreadyRegisteredError,
    NotRegisteredError,
    Registry,
    RegistryImportError,
)

SRC = Path(easycore_registry.__file__).resolve().parents[1]
_COUNTER = itertools.count()

PLUGIN_FILES = {
    "tiny_plugin/__init__.py": "",
    "tiny_plugin/models.py": textwrap.dedent(
        """
        class TinyNet:
            def __init__(self, width=1):
                self.width = width
        """
    ),
    "tiny_plugin/more.py": textwrap.dedent(
        """
        from host_app import MODELS

        @MODELS.register()
        class MoreNet:
            pass
        """
    ),
}
PLUGIN_ENTRY_POINTS = textwrap.dedent(
    """
    [easycore_tests.models]
    tiny = tiny_plugin.models:TinyNet
    more = tiny_plugin.more
    """
)


def _wheel(folder: Path, name: str, files: dict[str, str], entry_points: str) -> Path:
    """Write a minimal valid wheel of ``files`` declaring ``entry_points``."""
    info = f"{name}-1.0.dist-info"
    contents = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{info}/entry_points.txt": entry_points,
    }
    records = []
    for path, text in contents.items():
        digest = hashlib.sha256(text.encode()).digest()
        encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        records.append(f"{path},sha256={encoded},{len(text.encode())}")
    records.append(f"{info}/RECORD,,")
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
        archive.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return wheel


@pytest.mark.timeout(300)
def test_entry_points_of_a_package_installed_in_a_venv(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, "tiny_plugin", PLUGIN_FILES, PLUGIN_ENTRY_POINTS)
    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    python = tmp_path / "venv" / ("Scripts" if os.name == "nt" else "bin") / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)],
        env=env,
        check=True,
        capture_output=True,
        timeout=240,
    )
    app = tmp_path / "app"
    app.mkdir()
    (app / "host_app.py").write_text(
        "from easycore_registry import Registry\n"
        "MODELS = Registry('MODEL', entry_point_group='easycore_tests.models')\n"
    )
    script = textwrap.dedent(
        """
        import sys
        from host_app import MODELS

        assert "tiny_plugin.models" not in sys.modules
        # Listing imports module entry points, and lists object ones without loading them.
        assert MODELS.names() == ["MoreNet", "tiny"], MODELS.names()
        assert "tiny_plugin.more" in sys.modules
        assert "tiny_plugin.models" not in sys.modules
        import tiny_plugin.models
        assert MODELS.get("tiny") is tiny_plugin.models.TinyNet
        assert MODELS.build({"type": "tiny", "width": 3}).width == 3
        print("ok")
        """
    )
    result = subprocess.run(
        [str(python), "-c", script],
        env={**env, "PYTHONPATH": os.pathsep.join([str(SRC), str(app)])},
        cwd=app,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# -- Distributions on sys.path -----------------------------------------------------

Install = Callable[[dict[str, str], str], str]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Return ``install(files, entry_points) -> group``: a distribution on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules: list[str] = []

    def install(files: dict[str, str], entry_points: str) -> str:
        number = next(_COUNTER)
        group = f"easycore_tests.group{number}"
        name = f"plugin{number}"
        info = tmp_path / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(
            textwrap.dedent(entry_points).format(group=group, plugin=name)
        )
        for path, text in files.items():
            (tmp_path / path.format(plugin=name)).write_text(textwrap.dedent(text))
            modules.append(path.format(plugin=name).removesuffix(".py"))
        return group

    yield install
    for module in modules:
        sys.modules.pop(module, None)


def test_an_object_entry_point_loads_only_when_needed(install: Install) -> None:
    group = install(
        {"{plugin}.py": "class Net:\n    pass\n"},
        "[{group}]\nnet = {plugin}:Net\n",
    )
    plugin = group.replace("easycore_tests.group", "plugin")
    models = Registry("MODEL", entry_point_group=group)
    assert models.registered_names() == ["net"]
    assert plugin not in sys.modules
    assert "net" in models
    assert models.get("net") is sys.modules[plugin].Net


def test_an_unregistered_entry_point_stays_unregistered(install: Install) -> None:
    group = install({"{plugin}.py": "class Net:\n    pass\n"}, "[{group}]\nnet = {plugin}:Net\n")
    models = Registry("MODEL", entry_point_group=group)
    models.unregister("net")
    assert "net" not in models
    assert models.registered_names() == []


def test_a_registration_shadows_an_entry_point_of_the_same_name(install: Install) -> None:
    group = install({"{plugin}.py": "class Net:\n    pass\n"}, "[{group}]\nNet = {plugin}:Net\n")
    plugin = group.replace("easycore_tests.group", "plugin")
    models = Registry("MODEL", entry_point_group=group)
    local = object()
    models.register("Net", local)
    assert models.names() == ["Net"]
    assert models.get("Net") is local
    assert plugin not in sys.modules


def test_one_name_declared_twice_raises_naming_both(install: Install) -> None:
    group = install(
        {"{plugin}.py": "class A:\n    pass\nclass B:\n    pass\n"},
        "[{group}]\nnet = {plugin}:A\n",
    )
    install({}, f"[{group}]\nnet = elsewhere:B\n")
    models = Registry("MODEL", entry_point_group=group)
    with pytest.raises(AlreadyRegisteredError, match=r"declares 'net' more than once: ") as info:
        models.get("net")
    assert "elsewhere:B" in str(info.value)


def test_an_entry_point_whose_object_is_missing_raises_registry_import_error(
    install: Install,
) -> None:
    group = install({"{plugin}.py": "x = 1\n"}, "[{group}]\nnet = {plugin}:Net\n")
    models = Registry("MODEL", entry_point_group=group)
    with pytest.raises(RegistryImportError) as info:
        models.get("net")
    assert info.value.source.startswith("entry point net = ")
    assert "could not import its entry point net" in str(info.value)
    assert isinstance(info.value.__cause__, AttributeError)


def test_a_failed_entry_point_fails_again_on_the_next_lookup(install: Install) -> None:
    group = install({"{plugin}.py": "x = 1\n"}, "[{group}]\nnet = {plugin}:Net\n")
    models = Registry("MODEL", entry_point_group=group)
    for _ in range(2):
        with pytest.raises(RegistryImportError, match="could not import its entry point net"):
            models.get("net")
    assert models.names() == ["net"]


def test_a_miss_names_the_entry_point_group(install: Install) -> None:
    group = install({"{plugin}.py": "class Net:\n    pass\n"}, "[{group}]\nnet = {plugin}:Net\n")
    models = Registry("MODEL", entry_point_group=group)
    with pytest.raises(NotRegisteredError, match=rf"Looked in entry point group '{group}' too"):
        models.get("nett")


def test_pickling_loads_every_entry_point_first(install: Install) -> None:
    group = install({"{plugin}.py": "class Net:\n    pass\n"}, "[{group}]\nnet = {plugin}:Net\n")
    plugin = group.replace("easycore_tests.group", "plugin")
    models = Registry("MODEL", entry_point_group=group)
    restored = pickle.loads(pickle.dumps(models))
    assert restored.get("net") is sys.modules[plugin].Net
