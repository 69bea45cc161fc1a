"""Issue 13's hang rows: each ends within seconds with the right error, on every backend.

Every row runs under fork, forkserver, spawn and the thread backend (Ray where it applies):
a hook's exception whose ``str()`` raises, ``sys.exit``/``KeyboardInterrupt`` in a producer
hook, a thread producer calling its own runner, ``close(timeout=...)`` from a watchdog
thread, a frozen cfg used the reference's way, and a reused result buffer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from _parallel_interactive_runners import (
    CallsItself,
    Misbehaving,
    ReusedBuffer,
    ReusedBufferInTuple,
    StoresModelOnCfg,
    Stuck,
    UnprintableError,
)
from _parallel_support import START_METHODS, write_script

from easycore_parallel import RunnerClosedError, RunnerError

BACKENDS = [{"start_method": method} for method in START_METHODS] + [{"backend": "thread"}]
BACKEND_IDS = [*START_METHODS, "thread"]
PRODUCER_HOOKS = ["producer_init", "producer_work", "producer_end"]


@pytest.fixture(params=BACKENDS, ids=BACKEND_IDS)
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    return dict(request.param)


def run_misbehaving(backend: dict[str, str], hook: str, how: str) -> None:
    """Start, call and close a runner that misbehaves ``how`` in ``hook``."""
    runner = Misbehaving(2, cfg={"hook": hook, "how": how}, **backend)
    try:
        assert runner(range(6)) == [x * x for x in range(6)]
    finally:
        runner.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hook", PRODUCER_HOOKS)
def test_exception_whose_str_raises_reaches_the_caller(backend, hook, leftovers):
    with pytest.raises(UnprintableError) as info:
        run_misbehaving(backend, hook, "unprintable")
    cause = info.value.__cause__
    assert cause is not None
    assert "UnprintableError" in str(cause)
    assert "Traceback (most recent call last)" in str(cause)
    leftovers.assert_none()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["sys.exit", "interrupt"])
@pytest.mark.parametrize("hook", PRODUCER_HOOKS)
def test_exit_or_interrupt_in_a_producer_hook_becomes_runner_error(backend, hook, how, leftovers):
    raised = "SystemExit: 3" if how == "sys.exit" else "KeyboardInterrupt"
    with pytest.raises(RunnerError, match=f"{hook} in producer for 'cpu'.*raised {raised}") as info:
        run_misbehaving(backend, hook, how)
    assert "cannot end or interrupt the caller's program" in str(info.value)
    assert info.value.__cause__ is not None
    leftovers.assert_none()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["sys.exit", "interrupt"])
def test_runner_stays_usable_after_exit_in_producer_work(backend, how):
    with Misbehaving(2, cfg={"hook": "producer_work", "how": how}, **backend) as runner:
        with pytest.raises(RunnerError):
            runner(range(6))
        assert runner.is_activate
        assert runner([1, 2]) == [1, 4]


SYS_EXIT_IN_CALLER = """
from _parallel_interactive_runners import Misbehaving
from easycore_parallel import RunnerError

if __name__ == "__main__":
    with Misbehaving(1, cfg={"hook": "producer_work", "how": "sys.exit"}) as runner:
        try:
            runner(range(6))
        except RunnerError as err:
            print("caught", type(err).__name__)
    print("still running")
"""


@pytest.mark.timeout(60)
def test_sys_exit_in_a_producer_does_not_end_the_callers_program(tmp_path):
    result = subprocess.run(
        [sys.executable, str(write_script(tmp_path, SYS_EXIT_IN_CALLER))],
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["caught", "RunnerError", "still", "running"]


@pytest.mark.timeout(30)
def test_thread_producer_work_calling_its_own_runner_raises():
    with CallsItself(1, cfg={"hook": "producer_work"}, backend="thread") as runner:
        CallsItself.target = runner
        try:
            with pytest.raises(RunnerError, match="inside a hook of the same CallsItself call"):
                runner([1])
            assert runner.is_activate
        finally:
            CallsItself.target = None
        assert runner([1, 2]) == [1, 2]


@pytest.mark.timeout(30)
def test_thread_producer_init_calling_its_own_runner_raises():
    runner = CallsItself(1, cfg={"hook": "producer_init"}, backend="thread")  # no target yet
    runner.close()
    CallsItself.target = runner
    try:
        with pytest.raises(RunnerError, match="inside a hook of the same CallsItself call"):
            runner.activate()  # producer_init runs again, now with its runner to call
    finally:
        CallsItself.target = None
    assert not runner.is_activate


def close_from_watchdog(runner, started: threading.Event, timeout: float) -> dict[str, object]:
    """Close ``runner`` from another thread once its call has started; report how it went."""
    report: dict[str, object] = {}

    def watchdog() -> None:
        started.wait(30)
        begin = time.monotonic()
        try:
            runner.close(timeout=timeout)
        except RunnerError as err:  # producers still busy after timeout were killed
            report["close_error"] = str(err)
        report["close_seconds"] = time.monotonic() - begin

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    report["thread"] = thread
    return report


@pytest.mark.timeout(60)
def test_close_from_another_thread_stops_a_stuck_call(backend, leftovers):
    runner = Stuck(2, **backend)
    started = threading.Event()
    pids = {p.pid for p in getattr(runner._backend, "_processes", [])}
    report = close_from_watchdog(runner, started, timeout=1.0)
    # consumer_work sets `started` for item 0, while items 1.. keep both producers busy.
    with pytest.raises(RunnerClosedError, match="close\\(\\) was called from another thread"):
        runner_cfg_call(runner, started)
    report["thread"].join(30)
    assert not report["thread"].is_alive(), "close() from the watchdog did not return"
    assert report["close_seconds"] < 1.0 + 10  # timeout, then the kill and the reaping
    assert "did not finish" in str(report.get("close_error", ""))
    assert not runner.is_activate
    leftovers.assert_none()
    assert all(not os.path.exists(f"/proc/{pid}") or _is_zombie(pid) for pid in pids)


def runner_cfg_call(runner, started: threading.Event) -> None:
    """Call ``runner`` with an item that returns at once, then stuck ones."""
    Stuck.started = started
    try:
        runner(range(4))
    finally:
        Stuck.started = None


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] == "Z"
    except OSError:
        return True


@pytest.mark.timeout(60)
def test_runner_can_be_activated_again_after_a_watchdog_close(backend):
    runner = Stuck(1, **backend)
    started = threading.Event()
    report = close_from_watchdog(runner, started, timeout=0.5)
    with pytest.raises(RunnerClosedError):
        runner_cfg_call(runner, started)
    report["thread"].join(30)
    runner.activate()
    try:
        assert runner([0]) is None
    finally:
        runner.close()


@pytest.mark.timeout(60)
def test_frozen_cfg_reaches_each_hook_as_a_writable_copy(backend, leftovers):
    easycore_config = pytest.importorskip("easycore_config")
    cfg = easycore_config.CfgNode()
    cfg.SCALE = 3
    cfg.freeze()
    with StoresModelOnCfg(2, cfg=cfg, **backend) as runner:
        assert runner(range(5)) == [0, 3, 6, 9, 12]
        assert runner(range(2)) == [0, 3]
    assert cfg.is_frozen()
    assert dict(cfg) == {"SCALE": 3}
    leftovers.assert_none()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", START_METHODS)
def test_reused_result_buffer_is_captured_when_returned(method, leftovers):
    with ReusedBuffer(2, start_method=method) as runner:
        assert runner(range(8)) == [[x, x * x] for x in range(8)]
    leftovers.assert_none()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", START_METHODS)
def test_reused_buffer_inside_a_tuple_is_captured_when_returned(method, leftovers):
    with ReusedBufferInTuple(2, start_method=method) as runner:
        assert runner(range(8)) == [(x, [x, x * x]) for x in range(8)]
    leftovers.assert_none()


@pytest.mark.timeout(120)
def test_close_from_another_thread_stops_a_stuck_call_on_ray(ray_session):
    runner = Stuck(1, backend="ray")
    started = threading.Event()
    report = close_from_watchdog(runner, started, timeout=1.0)
    with pytest.raises(RunnerClosedError, match="close\\(\\) was called from another thread"):
        runner_cfg_call(runner, started)
    report["thread"].join(60)
    assert not report["thread"].is_alive(), "close() from the watchdog did not return"
    assert "did not finish" in str(report.get("close_error", ""))
    assert not runner.is_activate


FORK_AFTER_TORCH = """
import torch
from easycore_parallel import OrderedRunner

class MatMul(OrderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        x = torch.full((256, 256), float(data))
        return float((x @ x).sum()), torch.get_num_threads()

if __name__ == "__main__":
    x = torch.randn(1000, 1000)
    x @ x  # torch's intra-op (OpenMP) pool runs in the parent now
    results = []
    MatMul.consumer_work = staticmethod(lambda cfg, data: results.append(data))
    with MatMul(2, start_method="fork") as runner:
        print(runner.start_method, flush=True)
        runner(range(4))
    print(sorted(results))
"""


@pytest.mark.timeout(90)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc: Linux")
def test_fork_after_a_torch_op_in_the_parent_works_instead_of_hanging(tmp_path):
    pytest.importorskip("torch")
    result = subprocess.run(
        [sys.executable, str(write_script(tmp_path, FORK_AFTER_TORCH))],
        capture_output=True,
        text=True,
        timeout=60,  # the hang this guards against was forever
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "fork"
    # Each producer runs torch with one thread: its inherited OpenMP pool is never used.
    assert lines[1] == str([(256.0**3 * d * d, 1) for d in range(4)])
