"""The torch runners, defined in ``__main__``, work by default outside script files too.

``python -c``, ``python - < file`` and a script, each with and without numpy and torch
imported (and a torch op run) first; the runner class, a model class and a lambda in cfg
all live in ``__main__``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

IMPORTS = {
    "plain": "",
    "numpy_torch_op": "import numpy, torch\ntorch.ones(400, 400) @ torch.ones(400, 400)\n",
}

PROGRAM = """
import torch
from easycore_torch import OrderedRunner

class Net(torch.nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale

class Predictor(OrderedRunner):
    @staticmethod
    def producer_init(device, cfg):
        cfg.model = cfg.make_model(cfg.scale)

    @staticmethod
    def producer_work(device, cfg, data):
        with torch.no_grad():
            return cfg.post(cfg.model(torch.full((2,), float(data))))

    @staticmethod
    def consumer_init(cfg):
        cfg.out = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.out.append(data)

    @staticmethod
    def consumer_end(cfg):
        return torch.stack(cfg.out)

def main():
    cfg = {"scale": 3.0, "make_model": Net, "post": lambda t: t + 1}
    with Predictor(["cpu", "cpu"], cfg=cfg) as runner:
        out = runner(range(5))
    expected = torch.arange(5.0).repeat(2, 1).T * 3 + 1
    print(runner.start_method, bool(torch.equal(out, expected)))

if __name__ == "__main__":
    main()
"""


def run_program(how: str, source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as ``python -c``, from stdin, or as a script file."""
    stdin = source if how == "stdin" else None
    if how == "c":
        command = [sys.executable, "-c", source]
    elif how == "stdin":
        command = [sys.executable, "-"]
    else:
        script = tmp_path / "program.py"
        script.write_text(source)
        command = [sys.executable, str(script)]
    return subprocess.run(
        command, input=stdin, cwd=tmp_path, capture_output=True, text=True, timeout=150, check=False
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("imports", list(IMPORTS))
@pytest.mark.parametrize("how", ["c", "stdin", "script"])
def test_torch_runner_defined_in_main_works_by_default(how, imports, tmp_path):
    result = run_program(how, IMPORTS[imports] + PROGRAM, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["forkserver", "True"]
