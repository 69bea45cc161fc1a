"""The tutorial scripts run, and a real CfgNode reaches the hooks as a CfgNode.

These run in subprocesses and are skipped where only easycore-parallel is installed.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from _parallel_support import write_script

REPO = Path(__file__).resolve().parents[2]
needs_easycore = pytest.mark.skipif(
    importlib.util.find_spec("easycore") is None
    or importlib.util.find_spec("easycore_config") is None,
    reason="needs the easycore metapackage and easycore-config",
)


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=100, check=False
    )


@needs_easycore
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("script", "printed"),
    [("parallel_example1_sum_of_squares.py", "328350"), ("parallel_example4_cfg.py", "24502500")],
)
def test_tutorial_script_prints_the_right_result(script, printed):
    result = run_python(str(REPO / "examples" / script))
    assert (result.returncode, result.stdout.strip()) == (0, printed), result.stderr


CFGNODE_TYPES = """
import sys
from easycore_config import CfgNode
from easycore_parallel import OrderedRunner

class Types(OrderedRunner):
    @staticmethod
    def producer_init(device, cfg):
        assert type(cfg) is CfgNode, type(cfg)

    @staticmethod
    def producer_work(device, cfg, data):
        return type(cfg).__name__, type(cfg.model).__name__, cfg.model.depth

    @staticmethod
    def consumer_init(cfg):
        cfg.seen = [type(cfg).__name__]

    @staticmethod
    def consumer_work(cfg, data):
        cfg.seen.append(data)

    @staticmethod
    def consumer_end(cfg):
        return cfg.seen

if __name__ == "__main__":
    cfg = CfgNode({"model": {"depth": 50}})
    with Types(2, cfg, start_method=sys.argv[1]) as runner:
        seen = runner(range(3))
    assert seen == ["CfgNode"] + [("CfgNode", "CfgNode", 50)] * 3, seen
    print("ok")
"""


@needs_easycore
@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_cfgnode_reaches_every_hook_as_a_cfgnode(tmp_path, method):
    result = run_python(str(write_script(tmp_path, CFGNODE_TYPES)), method)
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
