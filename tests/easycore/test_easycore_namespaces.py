"""The documented ``easycore.*`` namespaces re-export the components' very objects."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

# Every name the reference documents, by the module path it documents it under.
DOCUMENTED = {
    "easycore.common.config": ("easycore_config", ["CfgNode", "HierarchicalCfgNode"]),
    "easycore.common.registry": ("easycore_registry", ["Registry"]),
    "easycore.common.network": ("easycore_path", ["download_file"]),
    "easycore.common.path": (
        "easycore_path",
        [
            "HTTPURLHandler",
            "NativePathHandler",
            "PathHandler",
            "PathManager",
            "RedirectPathHandler",
            "file_lock",
        ],
    ),
    "easycore.common.path.path_handler": (
        "easycore_path",
        ["HTTPURLHandler", "NativePathHandler", "PathHandler", "RedirectPathHandler"],
    ),
    "easycore.common.parallel": (
        "easycore_parallel",
        ["BaseRunner", "OrderedRunner", "UnorderedRunner"],
    ),
    "easycore.common.parallel.engine": (
        "easycore_parallel",
        ["BaseRunner", "OrderedRunner", "UnorderedRunner"],
    ),
    "easycore.torch.parallel": (
        "easycore_torch",
        ["BaseRunner", "OrderedRunner", "UnorderedRunner"],
    ),
    "easycore.torch.parallel.engine": (
        "easycore_torch",
        ["BaseRunner", "OrderedRunner", "UnorderedRunner"],
    ),
}

PAIRS = [
    (namespace, component, name)
    for namespace, (component, names) in DOCUMENTED.items()
    for name in names
]


@pytest.mark.parametrize(
    ("namespace", "component", "name"), PAIRS, ids=[f"{n}.{x}" for n, _, x in PAIRS]
)
def test_documented_name_is_the_components_object(
    namespace: str, component: str, name: str
) -> None:
    shim = importlib.import_module(namespace)
    assert getattr(shim, name) is getattr(importlib.import_module(component), name)
    assert name in shim.__all__


@pytest.mark.parametrize(
    ("namespace", "component"),
    [
        ("easycore.common.config", "easycore_config"),
        ("easycore.common.registry", "easycore_registry"),
        ("easycore.common.path", "easycore_path"),
        ("easycore.common.parallel", "easycore_parallel"),
        ("easycore.torch.parallel", "easycore_torch"),
    ],
)
def test_namespace_exports_the_whole_component_api(namespace: str, component: str) -> None:
    shim = importlib.import_module(namespace)
    module = importlib.import_module(component)
    assert shim.__all__ == module.__all__
    for name in module.__all__:
        assert getattr(shim, name) is getattr(module, name)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_importing_common_namespaces_never_imports_torch_or_ray() -> None:
    result = _run(
        """
        import sys
        import easycore.common.config, easycore.common.registry, easycore.common.path
        import easycore.common.network, easycore.common.parallel
        import easycore.common.path.path_handler, easycore.common.parallel.engine
        heavy = sorted(m for m in ("torch", "ray") if m in sys.modules)
        print(heavy)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("namespace", "unwanted"),
    [
        ("easycore", ["easycore_config", "easycore_path", "easycore_parallel", "yaml"]),
        ("easycore.common.registry", ["requests", "yaml", "easycore_path"]),
        ("easycore.common.config", ["requests", "easycore_parallel"]),
        ("easycore.common.parallel", ["requests", "yaml"]),
    ],
)
def test_each_namespace_imports_only_what_it_needs(namespace: str, unwanted: list[str]) -> None:
    result = _run(
        f"""
        import sys
        import {namespace}
        print(sorted(m for m in {unwanted!r} if m in sys.modules))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_torch_namespace_without_easycore_torch_names_the_install_command() -> None:
    # Hide easycore_torch the way an install without the extra would.
    result = _run(
        """
        import sys
        sys.modules["easycore_torch"] = None  # makes the import raise ModuleNotFoundError
        try:
            import easycore.torch.parallel
        except ImportError as err:
            print(type(err).__name__, err)
        else:
            print("imported")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ImportError")
    assert "pip install packages/easycore-parallel packages/easycore-torch" in result.stdout


def test_torch_engine_shim_without_easycore_torch_names_the_install_command() -> None:
    result = _run(
        """
        import sys
        sys.modules["easycore_torch"] = None
        try:
            import easycore.torch.parallel.engine
        except ImportError as err:
            print(err)
        """
    )
    assert "pip install packages/easycore-parallel packages/easycore-torch" in result.stdout


def test_all_packages_share_one_version() -> None:
    import easycore

    versions = {
        name: importlib.import_module(name).__version__
        for name in (
            "easycore_config",
            "easycore_registry",
            "easycore_path",
            "easycore_parallel",
            "easycore_torch",
        )
    }
    assert set(versions.values()) == {easycore.__version__}, versions
