"""Producers live from construction to close(), and nothing outlives the runner or its caller."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import time

import pytest
from _parallel_runners import Logged, Pids, SumOfSquares, all_pids
from _parallel_support import start_script, wait_until_gone, write_script

from easycore_parallel import RunnerClosedError, RunnerError


@pytest.mark.timeout(60)
def test_close_ends_every_producer_and_is_idempotent(start_method, leftovers):
    runner = Pids(2, start_method=start_method)
    pids = all_pids(runner, 2)
    runner.close()
    assert not runner.is_activate
    assert wait_until_gone(pids, wait=0) == set()
    runner.close()  # idempotent
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_closed_runner_refuses_calls_until_activated(leftovers):
    runner = Pids(2, start_method="fork")
    first = all_pids(runner, 2)
    runner.close()
    with pytest.raises(
        RunnerClosedError, match=r"Pids is closed \(closed by close\(\)\).*activate\(\)"
    ):
        runner(range(3))
    runner.activate()
    runner.activate()  # idempotent: no second set of producers
    assert runner.is_activate
    second = all_pids(runner, 2)
    assert first.isdisjoint(second)
    runner.close()
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_with_block_closes_the_runner(start_method, leftovers):
    with SumOfSquares(2, start_method=start_method) as runner:
        assert runner.is_activate
        assert runner(range(100)) == 328350
    assert not runner.is_activate
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_with_block_closes_when_the_body_raises(leftovers):
    with pytest.raises(KeyError), SumOfSquares(2, start_method="fork") as runner:
        raise KeyError("body failed")
    assert not runner.is_activate
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_many_calls_reuse_the_same_producers(tmp_path, start_method, leftovers):
    runner = Logged(2, {"log_dir": str(tmp_path)}, start_method=start_method)
    for n in range(40):
        assert runner(range(n)) == sum(x * x for x in range(n))
    runner.close()
    logs = sorted(path.read_text() for path in tmp_path.glob("*.log"))
    # producer_init and producer_end ran exactly once in each of the two producers
    assert logs == ["init cpu\nend cpu\n", "init cpu\nend cpu\n"]
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_garbage_collected_runner_leaves_no_producer(start_method, leftovers):
    runner = Pids(2, start_method=start_method)
    pids = all_pids(runner, 2)
    holder = [runner]
    del runner
    with pytest.warns(ResourceWarning, match="unclosed runner <Pids"):
        holder.clear()  # the last reference: the runner is collected here
    gc.collect()
    assert wait_until_gone(pids) == set()
    leftovers.assert_none()


SLOW_CALL = """
import sys, time
from _parallel_runners import Pids, SlowProducer, all_pids

if __name__ == "__main__":
    method, busy = sys.argv[1], sys.argv[2] == "busy"
    pids = Pids(2, start_method=method)
    slow = SlowProducer(2, start_method=method)
    print(*sorted(all_pids(pids, 2)), flush=True)
    if busy:
        print("calling", flush=True)
        try:
            slow(range(4))
        except KeyboardInterrupt:
            print(f"interrupted active={slow.is_activate}", flush=True)
            raise SystemExit(0)
    else:
        print("idle", flush=True)
        time.sleep(120)
"""


def read_pids(process: subprocess.Popen[str]) -> set[int]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip(), process.stderr.read() if process.stderr else ""
    return {int(pid) for pid in line.split()}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("busy", ["busy", "idle"])
def test_parent_killed_by_sigkill_leaves_no_producer(tmp_path, start_method, busy):
    process = start_script(write_script(tmp_path, SLOW_CALL), start_method, busy)
    try:
        pids = read_pids(process)
        assert process.stdout is not None
        process.stdout.readline()  # "calling" or "idle"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        assert wait_until_gone(pids) == set(), "producers outlived their killed parent"
    finally:
        process.kill()
        process.wait()


@pytest.mark.timeout(60)
def test_ctrl_c_during_call_closes_runner_and_producers(tmp_path, start_method):
    process = start_script(write_script(tmp_path, SLOW_CALL), start_method, "busy")
    try:
        pids = read_pids(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "calling"
        time.sleep(0.3)  # let the slow call block in the caller
        # Ctrl-C in a terminal signals the whole process group, producers included.
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=20)
        assert out.strip() == "interrupted active=False", err
        assert process.returncode == 0, err
        assert wait_until_gone(pids) == set()
    finally:
        process.kill()
        process.wait()


EXIT_WITHOUT_CLOSE = """
import sys
from _parallel_runners import Logged

if __name__ == "__main__":
    runner = Logged(2, {"log_dir": sys.argv[2]}, start_method=sys.argv[1])
    assert runner(range(10)) == 285
    print("done", flush=True)
    # no close(): interpreter exit must stop the producers (and let producer_end run)
"""


@pytest.mark.timeout(60)
def test_interpreter_exit_without_close_stops_producers(tmp_path, start_method, leftovers):
    logs = tmp_path / "logs"
    logs.mkdir()
    process = start_script(write_script(tmp_path, EXIT_WITHOUT_CLOSE), start_method, str(logs))
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out.strip()) == (0, "done"), err
    pids = {int(path.stem) for path in logs.glob("*.log")}
    assert len(pids) == 2
    assert wait_until_gone(pids) == set()
    assert sorted(path.read_text() for path in logs.glob("*.log")) == ["init cpu\nend cpu\n"] * 2


@pytest.mark.timeout(60)
def test_close_timeout_kills_a_producer_stuck_in_an_item(leftovers):
    from _parallel_runners import SlowProducer

    runner = SlowProducer(1, start_method="fork")  # each item sleeps 60 s
    with pytest.raises(
        RunnerError, match=r"\(pid \d+\) did not finish .* within 0.5 s; it was killed"
    ):
        close_while_busy(runner)
    assert not runner.is_activate
    leftovers.assert_none()


def one_item_then_fail():
    yield 1
    time.sleep(0.3)  # the producer starts its item; a later cancel cannot skip it
    raise OSError("input failed after one item")


def close_while_busy(runner):
    # The input fails after its first item went out, so the call ends at once while the
    # producer sleeps in that item; close() must not wait the full 60 s.
    with pytest.raises(OSError, match="input failed"):
        runner(one_item_then_fail())
    runner.close(timeout=0.5)
