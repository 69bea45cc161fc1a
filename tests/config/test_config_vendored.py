"""The module file works alone: copied into a project, it needs only the stdlib and PyYAML."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import easycore_config

SOURCE = Path(easycore_config.__file__)


def test_a_copy_of_the_file_imports_and_works_alone(tmp_path: Path) -> None:
    shutil.copy(SOURCE, tmp_path / "vendored_config.py")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import vendored_config as vc

        cfg = vc.CfgNode.load("MODEL:\\n  INPUT_SIZE: (224, 224)\\n")
        assert cfg.MODEL.INPUT_SIZE == (224, 224)
        assert vc.CfgNode.load(vc.CfgNode.dump(cfg)) == cfg
        try:
            vc.CfgNode.load("A: !!python/name:os.system\\n")
        except vc.UnsafeYAMLError:
            pass
        else:
            raise AssertionError("unsafe tag loaded")
        leaked = sorted(name for name in sys.modules if name.startswith("easycore"))
        assert not leaked, leaked
        print("ok", vc.__version__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok 0.1.0"


def _module_tree() -> ast.Module:
    return ast.parse(SOURCE.read_text(encoding="utf-8"))


def _assigned(tree: ast.Module, name: str) -> ast.expr:
    for statement in tree.body:
        if isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            if any(isinstance(target, ast.Name) and target.id == name for target in targets):
                assert statement.value is not None
                return statement.value
    raise AssertionError(f"{name} is not assigned at module level")


def test_the_version_is_a_literal() -> None:
    value = _assigned(_module_tree(), "__version__")
    assert isinstance(value, ast.Constant)
    assert value.value == easycore_config.__version__ == "0.1.0"


def test_all_is_a_sorted_literal_of_existing_names() -> None:
    names = ast.literal_eval(_assigned(_module_tree(), "__all__"))
    assert names == sorted(names)
    assert all(hasattr(easycore_config, name) for name in names)


def test_the_module_imports_only_the_stdlib_and_yaml() -> None:
    stdlib = getattr(sys, "stdlib_module_names", None)
    if stdlib is None:
        pytest.skip("sys.stdlib_module_names needs Python 3.10")
    imported = set()
    for node in ast.walk(_module_tree()):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported - set(stdlib) - {"__future__"} == {"yaml"}
