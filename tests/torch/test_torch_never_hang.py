"""The never-hang guarantees of easycore-parallel hold for the torch runners too.

A hook that raises, a producer that is killed, and a spawn start (as CUDA devices use)
with hooks that cannot be pickled each end within seconds with a clear error, leave the
runner in a known state, and leave no process behind.
"""

from __future__ import annotations

import pytest
import torch
from _torch_runners import Faulty, SlowEnd
from _torch_support import FORK

from easycore_torch import (
    NotPicklableError,
    OrderedRunner,
    ProducerDiedError,
    RunnerClosedError,
    RunnerError,
)

# Default start method (forkserver) and spawn, as CUDA devices get; fork where allowed.
STARTS = {
    "default": {},
    "spawn": {"start_method": "spawn"},
    "fork-1-thread": FORK,
}


def assert_remote_cause(err: BaseException, hook: str) -> None:
    cause = err.__cause__
    assert cause is not None, "a producer's error carries the producer's traceback"
    assert cause.device == "cpu"
    assert cause.hook == hook
    text = str(cause)
    assert f"{hook} in producer for 'cpu' (pid {cause.pid})" in text
    assert "misbehave" in text  # the producer's frame that raised


HOOKS = [
    "producer_init",
    "producer_work",
    "producer_end",
    "consumer_init",
    "consumer_work",
    "consumer_end",
]


# Spawn is slow to start (each producer imports torch): two hooks cover it.
CASES = [
    (start, hook)
    for start in STARTS
    for hook in HOOKS
    if start != "spawn" or hook in ("producer_init", "producer_work")
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("start", "hook"), CASES, ids=[f"{s}-{h}" for s, h in CASES])
def test_exception_in_a_hook_reaches_the_caller_with_its_type(start, hook, leftovers):
    cfg = {"hook": hook, "at": 7}
    message = f"^{hook} failed on purpose$"
    if hook == "producer_init":
        with pytest.raises(ValueError, match=message) as info:
            Faulty(["cpu", "cpu"], cfg, **STARTS[start])
        assert_remote_cause(info.value, hook)
        leftovers.assert_none()
        return
    runner = Faulty(["cpu", "cpu"], cfg, **STARTS[start])
    if hook == "producer_end":
        assert runner(range(20)).shape == (20, 2)
        with pytest.raises(ValueError, match=message) as info:
            runner.close()
        assert_remote_cause(info.value, hook)
        assert not runner.is_activate
        leftovers.assert_none()
        return
    with pytest.raises(ValueError, match=message) as info:
        runner(range(20))
    if hook == "producer_work":
        assert_remote_cause(info.value, hook)
        assert "item 7 of the input raised" in str(info.value.__cause__)
    assert runner.is_activate, "a hook's exception leaves the runner usable"
    runner.close()
    leftovers.assert_none()


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("how", "exitcode", "message"),
    [
        ("sigkill", -9, r"was killed by SIGKILL while running producer_work"),
        ("exit", 3, r"exited with code 3 while running producer_work"),
    ],
    ids=["sigkill", "os-exit"],
)
@pytest.mark.parametrize("start", ["default", "spawn"])
def test_killed_producer_ends_the_call_and_closes_the_runner(
    how, exitcode, message, start, leftovers
):
    runner = Faulty(
        ["cpu", "cpu"], {"hook": "producer_work", "how": how, "at": 40}, **STARTS[start]
    )
    with pytest.raises(ProducerDiedError, match=message) as info:
        runner(torch.arange(200))
    error = info.value
    assert (error.device, error.exitcode) == ("cpu", exitcode)
    assert isinstance(error.pid, int)
    assert not runner.is_activate
    with pytest.raises(RunnerClosedError, match="died"):
        runner(range(3))
    runner.activate()  # new producers serve the next call
    assert runner(range(10)).shape == (10, 2)
    runner.close()
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_unpicklable_result_is_a_clear_error_and_the_runner_goes_on(leftovers) -> None:
    runner = Faulty(
        ["cpu", "cpu"], {"hook": "producer_work", "how": "unpicklable", "at": 5}, **FORK
    )
    with pytest.raises(NotPicklableError, match=r"cannot be pickled to reach the caller"):
        runner(range(20))
    assert runner(range(3)).shape == (3, 2)
    runner.close()
    leftovers.assert_none()


def _local_runner_class() -> type:
    """A runner class defined inside a function, whose hook holds a lock: not picklable.

    (easycore-parallel sends a local class by value where it can; a lock it cannot.)
    """
    import threading

    lock = threading.Lock()

    class Doubler(OrderedRunner):
        @staticmethod
        def producer_work(device, cfg, data):
            with lock:
                return data * 2

    return Doubler


@pytest.mark.timeout(60)
@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_spawn_with_unpicklable_hooks_is_a_clear_error(start_method, leftovers) -> None:
    with pytest.raises(NotPicklableError) as info:
        _local_runner_class()(["cpu", "cpu"], start_method=start_method)
    message = str(info.value)
    assert "the runner class" in message
    assert "_local_runner_class.<locals>.Doubler" in message
    assert f"start_method={start_method!r}" in message
    assert "module level" in message
    assert not leftovers.running()


@pytest.mark.timeout(60)
def test_spawn_with_unpicklable_cfg_names_the_key(leftovers) -> None:
    import threading

    class Unpicklable:
        def __reduce__(self):
            raise TypeError("no pickling of this one")

        def __deepcopy__(self, memo):
            return self

    with pytest.raises(NotPicklableError, match=r"cfg\['lock'\]"):
        Faulty(["cpu"], {"lock": Unpicklable(), "ok": threading.get_ident()}, start_method="spawn")
    assert not leftovers.running()


@pytest.mark.timeout(60)
def test_close_with_timeout_kills_a_producer_stuck_in_producer_end(leftovers) -> None:
    runner = SlowEnd(["cpu", "cpu"], {"seconds": 60.0}, **FORK)
    assert runner(range(4)) == [0, 1, 2, 3]
    with pytest.raises(RunnerError, match=r"did not finish .* within 1.0 s; it was killed"):
        runner.close(timeout=1.0)
    assert not runner.is_activate
    leftovers.assert_none()
