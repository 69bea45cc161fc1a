"""backend="ray" in a script of its own: the runner starts Ray, and survives ray.shutdown().

These start their own Ray (a few seconds), apart from the tests' shared session.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("ray")

from _parallel_support import write_script

SCRIPT = """
import ray
from easycore_parallel import ProducerDiedError, UnorderedRunner


class SumOfSquares(UnorderedRunner):  # defined in the script: it reaches the actors by value
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
    assert not ray.is_initialized()
    options = {"num_cpus": 2, "include_dashboard": False, "log_to_driver": False}
    runner = SumOfSquares(2, backend="ray", ray_init_kwargs=options)
    assert ray.is_initialized(), "the runner starts Ray when this process has not"
    assert runner(range(10)) == 285
    ray.shutdown()
    try:
        runner(range(10))
    except ProducerDiedError as err:
        assert "Ray was shut down in this process" in str(err), err
    else:
        raise AssertionError("a call after ray.shutdown() must fail")
    assert not ray.is_initialized(), "the runner must not start a second Ray"
    assert not runner.is_activate
    runner.close()

    left_open = SumOfSquares(2, backend="ray", ray_init_kwargs=options)
    assert left_open(range(4)) == 14
    print("ok")  # then exit with the runner open: it must not hang or fail
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_runner_starts_ray_and_fails_clearly_after_ray_shutdown(tmp_path):
    result = subprocess.run(
        [sys.executable, str(write_script(tmp_path, SCRIPT))],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr[-5000:]
