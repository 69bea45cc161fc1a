"""backend="thread": the same runner with producers as threads of the caller's process."""

from __future__ import annotations

import threading

import pytest
from _parallel_runners import CfgTypes, Faulty, JitteredSquares, SumOfSquares


@pytest.mark.timeout(60)
def test_tutorial_runs_on_threads():
    with SumOfSquares(3, backend="thread") as runner:
        assert runner.start_method is None
        assert runner(range(100)) == 328350
    assert not runner.is_activate


@pytest.mark.timeout(60)
def test_threads_keep_order_and_get_their_own_cfg():
    with JitteredSquares(3, backend="thread") as runner:
        assert runner(range(2000)) == [x * x for x in range(2000)]
    with CfgTypes(2, {"nested": {"x": 1}}, backend="thread") as runner:
        out = runner(range(10))
    assert out[0] == "_AttrDict"
    assert {row[:3] for row in out[1:]} == {("_AttrDict", "cpu", 1)}


@pytest.mark.timeout(60)
def test_threads_pass_unpicklable_items_as_they_are():
    lock = threading.Lock()
    with Faulty(2, backend="thread") as runner:
        assert runner([lock, 1]) == [lock, 1]


def run_and_close(runner):
    runner(range(10))
    runner.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "hook", ["producer_init", "producer_work", "producer_end", "consumer_work"]
)
def test_thread_hook_errors_come_back_with_their_type(hook):
    if hook == "producer_init":
        with pytest.raises(ValueError, match="producer_init failed on purpose") as info:
            Faulty(2, {"hook": hook}, backend="thread")
    else:
        runner = Faulty(2, {"hook": hook, "at": 3}, backend="thread")
        with pytest.raises(ValueError, match=f"{hook} failed on purpose") as info:
            run_and_close(runner)
        assert runner.is_activate == (hook != "producer_end")
        runner.close()
    if hook.startswith("producer"):
        assert info.value.__cause__.device == "cpu"
        assert "misbehave" in str(info.value.__cause__)


@pytest.mark.timeout(60)
def test_thread_producers_are_gone_after_close():
    before = set(threading.enumerate())
    runner = SumOfSquares(3, backend="thread")
    runner(range(10))
    runner.close()
    assert {t for t in threading.enumerate() if t not in before and t.is_alive()} == set()
