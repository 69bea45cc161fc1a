"""Every failure ends the call (or the constructor, or close) within seconds, with a clear error.

Each case asserts the error's type, message and attributes, the producer's traceback as
``__cause__``, the runner's state afterwards, and that no producer process is left.
"""

from __future__ import annotations

import itertools
import threading

import pytest
from _parallel_runners import EnoughError, Faulty, SlowConsumer, StopAfter

from easycore_parallel import NotPicklableError, ProducerDiedError, RunnerClosedError

HOOK_FAILURES = [
    # (hook, where the error surfaces)
    ("producer_init", "constructor"),
    ("producer_work", "call"),
    ("producer_end", "close"),
    ("consumer_init", "call"),
    ("consumer_work", "call"),
    ("consumer_end", "call"),
]


def assert_remote_cause(err: BaseException, hook: str) -> None:
    cause = err.__cause__
    assert cause is not None, "a producer's error must carry its traceback as __cause__"
    assert cause.device == "cpu"
    assert cause.hook == hook
    assert isinstance(cause.pid, int)
    text = str(cause)
    assert f"{hook} in producer for 'cpu' (pid {cause.pid})" in text
    assert "Traceback (most recent call last)" in text
    assert "misbehave" in text  # the frame that raised, in the producer


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("hook", "surfaces"), HOOK_FAILURES, ids=[h for h, _ in HOOK_FAILURES])
def test_exception_in_hook_reaches_caller_with_its_type(hook, surfaces, start_method, leftovers):
    cfg = {"hook": hook, "at": 7}
    if surfaces == "constructor":
        with pytest.raises(ValueError, match=f"^{hook} failed on purpose$") as info:
            Faulty(2, cfg, start_method=start_method)
        assert_remote_cause(info.value, hook)
        leftovers.assert_none()
        return
    runner = Faulty(2, cfg, start_method=start_method)
    if surfaces == "close":
        assert runner(range(20)) == list(range(20))
        with pytest.raises(ValueError, match=f"^{hook} failed on purpose$") as info:
            runner.close()
        assert_remote_cause(info.value, hook)
        assert not runner.is_activate
        leftovers.assert_none()
        return
    with pytest.raises(ValueError, match=f"^{hook} failed on purpose$") as info:
        runner(range(20))
    if hook.startswith("producer"):
        assert_remote_cause(info.value, hook)
        assert "item 7 of the input raised" in str(info.value.__cause__)
    else:
        assert info.value.__cause__ is None  # raised in this process: its own traceback
    assert runner.is_activate, "a hook's exception must leave the runner usable"
    runner.close()
    leftovers.assert_none()


DEATHS = [
    ("sigkill", -9, r"was killed by SIGKILL while running producer_work.*out of memory"),
    ("exit", 3, r"exited with code 3 while running producer_work.*os._exit"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("how", "exitcode", "message"), DEATHS, ids=[d[0] for d in DEATHS])
def test_dead_producer_ends_call_and_closes_runner(how, exitcode, message, start_method, leftovers):
    runner = Faulty(2, {"hook": "producer_work", "how": how, "at": 50}, start_method=start_method)
    with pytest.raises(ProducerDiedError, match=message) as info:
        runner(range(1000))
    err = info.value
    assert (err.device, err.exitcode) == ("cpu", exitcode)
    assert isinstance(err.pid, int)
    assert f"(pid {err.pid})" in str(err)
    assert "call activate()" in str(err)
    assert not runner.is_activate
    with pytest.raises(RunnerClosedError, match="closed after its producer for 'cpu'") as closed:
        runner(range(3))
    assert "died" in closed.value.reason
    leftovers.assert_none()
    runner.activate()  # what the message says to do
    assert runner(range(3)) == [0, 1, 2]
    runner.close()
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_producer_killed_between_calls_is_reported_at_next_call(start_method, leftovers):
    from _parallel_runners import Pids, all_pids

    runner = Pids(2, start_method=start_method)
    victim = min(all_pids(runner, 2))
    import os
    import signal

    os.kill(victim, signal.SIGKILL)
    with pytest.raises(ProducerDiedError, match="killed by SIGKILL") as info:
        call_until_it_fails(runner)
    assert info.value.pid == victim
    assert not runner.is_activate
    leftovers.assert_none()


def call_until_it_fails(runner):
    for _ in range(100):  # a death may take a moment to become visible
        runner(range(10))


def failing_input():
    yield from range(10)
    raise OSError("input source went away")


@pytest.mark.timeout(60)
def test_raising_input_iterator_ends_call(start_method, leftovers):
    runner = Faulty(2, start_method=start_method)
    with pytest.raises(OSError, match="input source went away"):
        runner(failing_input())
    assert runner.is_activate
    assert runner(range(5)) == list(range(5))
    runner.close()
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_unpicklable_item_names_its_position(start_method, leftovers):
    runner = Faulty(2, start_method=start_method)
    items = [0, 1, 2, threading.Lock(), 4]
    with pytest.raises(NotPicklableError, match=r"item 3 of the input cannot be pickled") as info:
        runner(items)
    assert isinstance(info.value, TypeError)
    assert info.value.device is None  # the caller's side failed
    assert "_thread.lock" in str(info.value)
    assert runner.is_activate
    assert runner(range(3)) == [0, 1, 2]
    runner.close()
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_unpicklable_result_names_device_and_item(start_method, leftovers):
    runner = Faulty(
        2, {"hook": "producer_work", "how": "unpicklable", "at": 5}, start_method=start_method
    )
    with pytest.raises(
        NotPicklableError, match=r"result of producer_work .* cannot be pickled"
    ) as info:
        runner(range(10))
    assert info.value.device == "cpu"
    assert isinstance(info.value.pid, int)
    assert "item 5 of the input" in str(info.value.__cause__)
    assert runner.is_activate
    assert runner(range(3)) == [0, 1, 2]
    runner.close()
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_unpicklable_exception_in_hook_becomes_not_picklable_error(leftovers):
    from _parallel_runners import UnpicklableError

    runner = UnpicklableError(1, start_method="fork")
    with pytest.raises(
        NotPicklableError, match=r"raised .*BoomError: with a lock.*cannot be pickled"
    ) as info:
        runner([1])
    assert "Traceback" in str(info.value.__cause__)
    assert runner.is_activate
    runner.close()
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_slow_consumer_finishes_correctly(start_method, leftovers):
    with SlowConsumer(2, queue_scale=1.0, start_method=start_method) as runner:
        assert runner(range(300)) == sum(x * x for x in range(300))
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_empty_input_runs_consumer_init_and_end(start_method, leftovers):
    with Faulty(2, start_method=start_method) as runner:
        assert runner([]) == []
        assert runner(iter(())) == []
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_consumer_stops_endless_generator(start_method, leftovers):
    with StopAfter(2, {"limit": 5000}, start_method=start_method) as runner:
        with pytest.raises(EnoughError, match="stopped after 5000 results"):
            runner(itertools.count())
        assert runner.is_activate
        with pytest.raises(EnoughError):  # and again: late replies of the first call are dropped
            runner(itertools.count())
    leftovers.assert_none()
