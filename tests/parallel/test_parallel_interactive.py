"""Runners defined in ``__main__`` work by default: ``python -c``, ``python - < file``, a script.

Each program defines its runner class, a class, a closure and a lambda in ``__main__``
(the cfg values), with and without numpy and torch imported first and a torch op run in
the parent (their native threads make the engine avoid fork). A copied module without
cloudpickle keeps today's behaviour and says what fixes it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import easycore_parallel

IMPORTS = {
    "plain": "",
    "numpy_torch": "import numpy, torch\ntorch.ones(400, 400) @ torch.ones(400, 400)\n",
}

PROGRAM = """
from easycore_parallel import OrderedRunner

class Scale:
    def __init__(self, k):
        self.k = k

    def __call__(self, x):
        return self.k * x

def make_offset(n):
    def offset(x):
        return x + n
    return offset

class Pipeline(OrderedRunner):
    @staticmethod
    def producer_init(device, cfg):
        cfg.model = cfg.make_model(cfg.k)

    @staticmethod
    def producer_work(device, cfg, data):
        return cfg.offset(cfg.square(cfg.model(data)))

    @staticmethod
    def consumer_init(cfg):
        cfg.out = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.out.append(data)

    @staticmethod
    def consumer_end(cfg):
        return cfg.out

def main():
    cfg = {"k": 2, "make_model": Scale, "square": lambda x: x * x, "offset": make_offset(1)}
    with Pipeline(2, cfg=cfg) as runner:
        print(runner.start_method, runner(range(5)))

if __name__ == "__main__":
    main()
"""
EXPECTED = "[1, 5, 17, 37, 65]"


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
        command, input=stdin, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.timeout(150)
@pytest.mark.parametrize("imports", list(IMPORTS))
@pytest.mark.parametrize("how", ["c", "stdin", "script"])
def test_runner_defined_in_main_works_by_default(how, imports, tmp_path):
    if imports != "plain":
        pytest.importorskip("numpy")
        pytest.importorskip("torch")
    result = run_program(how, IMPORTS[imports] + PROGRAM, tmp_path)
    assert result.returncode == 0, result.stderr
    method, output = result.stdout.strip().split(" ", 1)
    assert output == EXPECTED
    if imports != "plain" and sys.platform.startswith("linux"):
        assert method == "forkserver"  # native threads: the case that used to fail


WITHOUT_CLOUDPICKLE = """
import sys
sys.modules["cloudpickle"] = None  # an environment without it: the import fails
sys.path.insert(0, {vendored!r})
import easycore_parallel
assert easycore_parallel.__file__.startswith({vendored!r}), easycore_parallel.__file__
"""


@pytest.fixture
def vendored(tmp_path: Path) -> Path:
    """easycore_parallel.py copied alone into a folder, as a user vendors it."""
    folder = tmp_path / "vendor"
    folder.mkdir()
    shutil.copy(easycore_parallel.__file__, folder / "easycore_parallel.py")
    return folder


@pytest.mark.timeout(150)
@pytest.mark.parametrize("how", ["c", "stdin"])
def test_copied_module_without_cloudpickle_forks_as_before(how, vendored, tmp_path):
    program = WITHOUT_CLOUDPICKLE.format(vendored=str(vendored)) + PROGRAM
    program = program.replace(
        "with Pipeline(2, cfg=cfg)", "with Pipeline(2, cfg=cfg, start_method='fork')"
    )
    result = run_program(how, program, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"fork {EXPECTED}"


@pytest.mark.timeout(150)
@pytest.mark.parametrize(("how", "named"), [("c", "a `python -c` command"), ("stdin", "stdin")])
def test_copied_module_without_cloudpickle_names_the_fix(how, named, vendored, tmp_path):
    program = WITHOUT_CLOUDPICKLE.format(vendored=str(vendored)) + PROGRAM
    program = program.replace(
        "with Pipeline(2, cfg=cfg)", "with Pipeline(2, cfg=cfg, start_method='forkserver')"
    )
    result = run_program(how, program, tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("easycore_parallel.NotPicklableError: "), last
    assert named in last
    assert "pip install cloudpickle" in last


UNGUARDED = """
from easycore_parallel import UnorderedRunner

class Square(UnorderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        return data * data

runner = Square(1, start_method="spawn")  # no __main__ guard: spawn re-runs this file
"""


@pytest.mark.timeout(150)
def test_producer_dying_before_engine_code_runs_is_not_blamed_on_a_hook(tmp_path):
    result = run_program("script", UNGUARDED, tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("easycore_parallel.ProducerDiedError"), last
    assert "before the runner's code ran in it" in last
    assert "if __name__ == '__main__':" in last
    assert "os._exit" not in last
