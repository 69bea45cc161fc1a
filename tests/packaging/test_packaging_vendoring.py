"""Each component works when its one module is copied alone into another project."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What each copied module must do on its own, run as a script next to the copy.
SMOKE = {
    "easycore_registry": """
        from easycore_registry import Registry
        models = Registry("MODEL")
        @models.register()
        class ResNet50:
            pass
        assert models.get("ResNet50") is ResNet50
    """,
    "easycore_config": """
        from easycore_config import CfgNode
        cfg = CfgNode.load("MODEL:\\n  INPUT_SIZE: (224, 224)\\n")
        assert cfg.MODEL.INPUT_SIZE == (224, 224)
        assert CfgNode.load(CfgNode.dump(cfg)) == cfg
    """,
    "easycore_path": """
        import os, tempfile
        from easycore_path import PathManager
        folder = tempfile.mkdtemp()
        PathManager.makedirs(os.path.join(folder, "sub"))
        with PathManager.open(os.path.join(folder, "sub", "a.txt"), "w") as f:
            f.write("hello")
        assert PathManager.listdir(os.path.join(folder, "sub")) == ["a.txt"]
    """,
    "easycore_parallel": """
        from easycore_parallel import UnorderedRunner

        class Squares(UnorderedRunner):
            @staticmethod
            def producer_work(device, cfg, data):
                return data * data

            @staticmethod
            def consumer_init(cfg):
                cfg.sum = 0

            @staticmethod
            def consumer_work(cfg, data):
                cfg.sum += data

            @staticmethod
            def consumer_end(cfg):
                return cfg.sum

        if __name__ == "__main__":
            with Squares(devices=2) as runner:
                assert runner(range(100)) == 328350
    """,
    "easycore_torch": """
        import torch
        from easycore_torch import OrderedRunner

        class Doubler(OrderedRunner):
            @staticmethod
            def producer_work(device, cfg, data):
                return torch.full((1,), float(data)) * 2

            @staticmethod
            def consumer_init(cfg):
                cfg.out = []

            @staticmethod
            def consumer_work(cfg, data):
                cfg.out.append(data)

            @staticmethod
            def consumer_end(cfg):
                return torch.cat(cfg.out)

        if __name__ == "__main__":
            with Doubler(devices=["cpu", "cpu"]) as runner:
                assert runner(range(10)).tolist() == [2.0 * i for i in range(10)]
    """,
}

# A vendored module may need the modules it declares as dependencies, copied beside it.
COPIED_WITH = {"easycore_torch": ["easycore_parallel"]}


def _source(import_name: str) -> Path:
    package = import_name.replace("_", "-")
    return REPO / "packages" / package / "src" / import_name / "__init__.py"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("import_name", sorted(SMOKE))
def test_component_module_copied_alone_works(import_name: str, tmp_path: Path) -> None:
    modules = [import_name, *COPIED_WITH.get(import_name, [])]
    for module in modules:
        shutil.copy(_source(module), tmp_path / f"{module}.py")
    script = tmp_path / "use_it.py"
    script.write_text(
        textwrap.dedent(SMOKE[import_name])
        + textwrap.dedent(
            f"""
            import sys
            if __name__ == "__main__":
                import {import_name}
                ours = {{n: m.__file__ for n, m in sys.modules.items() if "easycore" in n}}
                print(sorted(ours.items()))
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-B", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = sorted((m, str(tmp_path / f"{m}.py")) for m in modules)
    assert result.stdout.strip().splitlines()[-1] == str(expected)


@pytest.mark.parametrize("import_name", sorted(SMOKE))
def test_component_module_imports_nothing_from_the_repo(import_name: str) -> None:
    allowed = {import_name, *COPIED_WITH.get(import_name, [])}
    tree = ast.parse(_source(import_name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import in {import_name}, line {node.lineno}"
            targets = [node.module or ""]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            top = target.split(".")[0]
            if top.startswith("easycore"):
                assert top in allowed, f"{import_name} imports {target}, line {node.lineno}"
