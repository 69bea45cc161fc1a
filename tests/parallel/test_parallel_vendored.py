"""The module works when copied alone into a project under another name."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import easycore_parallel

SCRIPT = """
import sys
sys.path.insert(0, {folder!r})
sys.modules.pop("easycore_parallel", None)
import my_parallel
assert "easycore_parallel" not in sys.modules

class Squares(my_parallel.OrderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        return data * data
    @staticmethod
    def consumer_init(cfg):
        cfg.out = []
    @staticmethod
    def consumer_work(cfg, data):
        cfg.out.append(data)
    @staticmethod
    def consumer_end(cfg):
        return cfg.out

if __name__ == "__main__":
    for method in ("fork", "spawn"):
        with Squares(2, start_method=method) as runner:
            assert runner(range(50)) == [x * x for x in range(50)], method
    print("ok")
"""


@pytest.mark.timeout(120)
def test_module_copied_alone_runs_under_fork_and_spawn(tmp_path):
    shutil.copy(easycore_parallel.__file__, tmp_path / "my_parallel.py")
    script = tmp_path / "use_it.py"
    script.write_text(SCRIPT.format(folder=str(tmp_path)))
    result = subprocess.run(
        [sys.executable, "-I", str(script)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
