"""The module works when copied into a project under another name, beside easycore_parallel."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import easycore_parallel
import easycore_torch

SCRIPT = """
import sys
sys.path.insert(0, {folder!r})
import torch
import vendored_torch
assert vendored_torch.__file__.startswith({folder!r}), vendored_torch.__file__
assert sys.modules["easycore_parallel"].__file__.startswith({folder!r})
assert "easycore_torch" not in sys.modules

class Doubler(vendored_torch.OrderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        return torch.full((2,), float(data)) * 2
    @staticmethod
    def consumer_init(cfg):
        cfg.out = []
    @staticmethod
    def consumer_work(cfg, data):
        cfg.out.append(data)
    @staticmethod
    def consumer_end(cfg):
        return torch.stack(cfg.out)

if __name__ == "__main__":
    for method in (None, "spawn"):
        with Doubler(["cpu", "cpu"], start_method=method) as runner:
            result = runner(range(20))
        assert result[:, 0].tolist() == [2.0 * i for i in range(20)], method
    print("ok")
"""


@pytest.mark.timeout(120)
def test_module_copied_alone_runs_under_forkserver_and_spawn(tmp_path):
    shutil.copy(easycore_torch.__file__, tmp_path / "vendored_torch.py")
    shutil.copy(easycore_parallel.__file__, tmp_path / "easycore_parallel.py")
    script = tmp_path / "use_it.py"
    script.write_text(SCRIPT.format(folder=str(tmp_path)), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-I", str(script)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
