"""backend="ray": every failure ends the call (or the constructor, or close) within seconds.

The same table as the process backend: an exception in each hook (with the actor's
traceback), an actor killed by ``ray.kill``, by SIGKILL or by ``os._exit`` (the same
``ProducerDiedError`` as a dead process), unpicklable items and results, a raising
input. Each case asserts the error, the runner's state, and that no actor is left.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

ray = pytest.importorskip("ray")

from _parallel_ray_runners import RayFaulty, Where, all_producers  # noqa: E402
from _parallel_ray_support import assert_no_producers  # noqa: E402
from _parallel_runners import UnpicklableError  # noqa: E402

from easycore_parallel import NotPicklableError, ProducerDiedError, RunnerClosedError  # noqa: E402

pytestmark = pytest.mark.usefixtures("ray_session")

HOOK_FAILURES = [
    # (hook, where the error surfaces)
    ("producer_init", "constructor"),
    ("producer_work", "call"),
    ("producer_end", "close"),
    ("consumer_init", "call"),
    ("consumer_work", "call"),
    ("consumer_end", "call"),
]


def assert_actor_traceback(err: BaseException, hook: str, device: str = "cpu") -> None:
    cause = err.__cause__
    assert cause is not None, "a producer's error must carry its traceback as __cause__"
    assert (cause.device, cause.hook) == (device, hook)
    assert isinstance(cause.pid, int)
    assert cause.pid != os.getpid(), "the hook must have run in an actor process"
    text = str(cause)
    assert f"{hook} in producer for {device!r} (pid {cause.pid})" in text
    assert "Traceback (most recent call last)" in text
    assert "misbehave" in text  # the frame that raised, in the actor


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("hook", "surfaces"), HOOK_FAILURES, ids=[h for h, _ in HOOK_FAILURES])
def test_exception_in_hook_reaches_caller_with_its_type(hook, surfaces):
    cfg = {"hook": hook, "at": 7}
    if surfaces == "constructor":
        with pytest.raises(ValueError, match=f"^{hook} failed on purpose$") as info:
            RayFaulty(2, cfg, backend="ray")
        assert_actor_traceback(info.value, hook)
        assert_no_producers()
        return
    runner = RayFaulty(2, cfg, backend="ray")
    if surfaces == "close":
        assert runner(range(20)) == list(range(20))
        with pytest.raises(ValueError, match=f"^{hook} failed on purpose$") as info:
            runner.close()
        assert_actor_traceback(info.value, hook)
        assert not runner.is_activate
        assert_no_producers()
        return
    with pytest.raises(ValueError, match=f"^{hook} failed on purpose$") as info:
        runner(range(20))
    if hook.startswith("producer"):
        assert_actor_traceback(info.value, hook)
        assert "item 7 of the input raised" in str(info.value.__cause__)
    else:
        assert info.value.__cause__ is None  # raised in this process: its own traceback
    assert runner.is_activate, "a hook's exception must leave the runner usable"
    if hook.endswith("_work"):  # fails at item 7 only
        assert runner(range(5)) == list(range(5))
    runner.close()
    assert_no_producers()


@pytest.mark.timeout(60)
def test_error_names_the_device_asked_for_while_hooks_see_cuda_0():
    runner = RayFaulty(["cuda:3"], {"hook": "producer_work", "at": 3}, backend="ray")
    with runner, pytest.raises(ValueError, match="producer_work failed on purpose") as info:
        runner(range(10))
    assert_actor_traceback(info.value, "producer_work", device="cuda:3")
    assert_no_producers()


DEATHS = [
    # (how, what the message says)
    ("ray.kill", r"killed by `ray.kill`"),
    ("sigkill", r"its worker process has died"),
    ("exit", r"its worker process has died"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("how", "message"), DEATHS, ids=[d[0] for d in DEATHS])
def test_dead_actor_ends_call_and_closes_runner(how, message):
    runner = RayFaulty(2, {"hook": "producer_work", "how": how, "at": 50}, backend="ray")
    with pytest.raises(ProducerDiedError, match=message) as info:
        runner(range(100_000))
    err = info.value
    assert (err.device, err.exitcode) == ("cpu", None)  # Ray does not tell exit codes
    assert isinstance(err.pid, int)
    assert f"producer for 'cpu' (pid {err.pid})" in str(err)
    assert "while running producer_work (Ray actor on " in str(err)
    assert "call activate()" in str(err)
    assert not runner.is_activate
    with pytest.raises(RunnerClosedError, match="closed after its producer for 'cpu'"):
        runner(range(3))
    assert_no_producers()
    runner.activate()  # what the message says to do
    assert runner(range(3)) == [0, 1, 2]
    runner.close()
    assert_no_producers()


@pytest.mark.timeout(60)
def test_dead_actor_while_starting_fails_the_constructor():
    with pytest.raises(ProducerDiedError, match=r"while starting \(in producer_init\)") as info:
        RayFaulty(2, {"hook": "producer_init", "how": "exit"}, backend="ray")
    assert isinstance(info.value.pid, int)  # read from Ray's error: the actor never answered
    assert f"producer for 'cpu' (pid {info.value.pid})" in str(info.value)
    assert_no_producers()


@pytest.mark.timeout(60)
def test_actor_killed_between_calls_is_reported_at_next_call():
    runner = Where(2, backend="ray")
    victim = min(row[1] for row in all_producers(runner, 2))
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(ProducerDiedError, match="its worker process has died") as info:
        call_until_it_fails(runner)
    assert info.value.pid == victim
    assert not runner.is_activate
    assert_no_producers()


def call_until_it_fails(runner):
    for _ in range(200):  # Ray takes a moment to see the death
        runner(range(10))


def failing_input():
    yield from range(10)
    raise OSError("input source went away")


@pytest.mark.timeout(60)
def test_raising_input_iterator_ends_call():
    with RayFaulty(2, backend="ray") as runner:
        with pytest.raises(OSError, match="input source went away"):
            runner(failing_input())
        assert runner(range(5)) == list(range(5))
    assert_no_producers()


@pytest.mark.timeout(60)
def test_unpicklable_item_names_its_position():
    with RayFaulty(2, backend="ray") as runner:
        items = [0, 1, 2, threading.Lock(), 4]
        with pytest.raises(NotPicklableError, match=r"item 3 of the input cannot be") as info:
            runner(items)
        assert info.value.device is None  # the caller's side failed
        assert "_thread.lock" in str(info.value)
        assert runner(range(3)) == [0, 1, 2]
    assert_no_producers()


@pytest.mark.timeout(60)
def test_unpicklable_result_names_device_and_item():
    cfg = {"hook": "producer_work", "how": "unpicklable", "at": 5}
    with RayFaulty(2, cfg, backend="ray") as runner:
        with pytest.raises(NotPicklableError, match=r"result of producer_work .*cannot") as info:
            runner(range(10))
        assert info.value.device == "cpu"
        assert isinstance(info.value.pid, int)
        assert "item 5 of the input" in str(info.value.__cause__)
        assert runner.is_activate
        assert runner(range(3)) == [0, 1, 2]
    assert_no_producers()


@pytest.mark.timeout(60)
def test_unpicklable_exception_in_hook_becomes_not_picklable_error():
    with UnpicklableError(1, backend="ray") as runner:
        with pytest.raises(NotPicklableError, match=r"BoomError: with a lock.*cannot be") as info:
            runner([1])
        assert "Traceback" in str(info.value.__cause__)
        assert runner.is_activate
    assert_no_producers()


@pytest.mark.timeout(60)
def test_unpicklable_cfg_fails_before_any_actor_starts():
    with pytest.raises(NotPicklableError, match=r"cannot be .*copied|cannot be pickled"):
        RayFaulty(2, {"lock": threading.Lock()}, backend="ray")
    assert_no_producers()


@pytest.mark.timeout(60)
def test_runner_class_the_actors_cannot_import_says_how_to_ship_it(tmp_path, monkeypatch):
    (tmp_path / "only_on_the_driver.py").write_text(
        "from easycore_parallel import OrderedRunner\n\nclass LocalOnly(OrderedRunner):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from only_on_the_driver import LocalOnly

    with pytest.raises(NotPicklableError, match=r"could not load the runner class") as info:
        LocalOnly(1, backend="ray")
    assert "No module named 'only_on_the_driver'" in str(info.value)
    assert "runtime_env" in str(info.value)
    assert_no_producers()
