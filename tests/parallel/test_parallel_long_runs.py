"""Long runs: item timeouts, skipped items, replaced and recycled producers."""

from __future__ import annotations

import itertools
import os
import pickle
import random
import signal
import threading
import warnings
from typing import Any

import psutil
import pytest
from _parallel_long_runners import Chaos, Faulty, ReplyRefusedOnce, UnorderedFaulty
from _parallel_support import wait_until_gone

import easycore_parallel as ep
from easycore_parallel import (
    ItemFailure,
    ItemTimeoutError,
    NotPicklableError,
    ProducerDiedError,
    RunnerError,
    imap,
)

ITEMS = 600


def expected(*bad: int, items: int = ITEMS) -> list[int]:
    return [x for x in range(items) if x not in bad]


def consumed(results: list[tuple[int, int]]) -> list[int]:
    return [item for item, _ in results]


def generated(*bounds: int) -> Any:
    """The items of range(*bounds) from a generator: read one by one, not sliced as a range is."""
    yield from range(*bounds)


# A range travels as sub-ranges and any other input as lists of items: reruns, timeouts
# and skips must find the right items in both.
INPUTS = pytest.mark.parametrize("make_input", [range, generated], ids=["range", "generator"])


def run_skipping(runner: ep.BaseRunner, items: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner(items)
    return result, [w for w in caught if issubclass(w.category, RuntimeWarning)]


# -- on_error="skip": items that raise, that cannot be pickled ----------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("runner_cls", [Faulty, UnorderedFaulty], ids=["ordered", "unordered"])
@INPUTS
def test_skip_leaves_out_the_items_that_raise(start_method, runner_cls, make_input, leftovers):
    bad = (3, 250, ITEMS - 1)
    with runner_cls(2, {"raise_at": bad}, start_method=start_method, on_error="skip") as runner:
        results, caught = run_skipping(runner, make_input(ITEMS))
        failures = runner.failures
    got = consumed(results)
    assert (got if runner_cls is Faulty else sorted(got)) == expected(*bad)
    assert [failure.index for failure in failures] == list(bad)
    for failure in failures:
        assert isinstance(failure, ItemFailure)
        assert failure.device == "cpu"
        assert isinstance(failure.error, ValueError)
        assert str(failure.error) == f"bad item {failure.index}"
        assert "producer_work" in str(failure.error.__cause__)
        assert f"bad item {failure.index}" in failure.traceback
    assert len(caught) == 1
    assert f"3 of {ITEMS} items failed and were skipped" in str(caught[0].message)
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_skip_leaves_out_a_result_that_cannot_be_pickled():
    with Faulty(2, {"unpicklable_at": (5, 70)}, start_method="fork", on_error="skip") as runner:
        results, _ = run_skipping(runner, range(200))
        failures = runner.failures
    assert consumed(results) == expected(5, 70, items=200)
    assert [failure.index for failure in failures] == [5, 70]
    assert all(isinstance(failure.error, NotPicklableError) for failure in failures)


@pytest.mark.timeout(60)
def test_skip_leaves_out_an_input_item_that_cannot_be_pickled():
    items: list[Any] = list(range(50))
    items[20] = threading.Lock()
    with Faulty(2, start_method="fork", on_error="skip") as runner:
        results, _ = run_skipping(runner, items)
        failures = runner.failures
    assert consumed(results) == expected(20, items=50)
    assert [failure.index for failure in failures] == [20]
    assert isinstance(failures[0].error, NotPicklableError)
    assert "item 20 of the input cannot be pickled" in str(failures[0].error)


@pytest.mark.timeout(60)
def test_failures_are_those_of_the_latest_call():
    with Faulty(1, {"raise_at": (2,)}, start_method="fork", on_error="skip") as runner:
        run_skipping(runner, range(5))
        assert [failure.index for failure in runner.failures] == [2]
        run_skipping(runner, [10, 11])
        assert runner.failures == []


@pytest.mark.timeout(60)
def test_raise_is_still_the_default_and_the_runner_stays_usable():
    with Faulty(2, {"raise_at": (7,)}, start_method="fork") as runner:
        with pytest.raises(ValueError, match="bad item 7"):
            runner(range(100))
        assert runner.is_activate
        assert consumed(runner(range(20, 30))) == list(range(20, 30))
        assert runner.failures == []


@pytest.mark.timeout(60)
def test_runner_imap_under_skip_leaves_out_failed_items():
    with Faulty(2, {"raise_at": (4, 9)}, start_method="fork", on_error="skip") as runner:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            got = [item for item, _ in runner.imap(range(40))]
        assert got == expected(4, 9, items=40)
        assert [failure.index for failure in runner.failures] == [4, 9]


@pytest.mark.timeout(60)
def test_imap_function_under_skip_warns_with_the_count():
    with pytest.warns(RuntimeWarning, match="3 of 30 items failed and were skipped"):
        got = list(imap(_fail_on_multiples_of_ten, range(1, 31), on_error="skip"))
    assert got == [x for x in range(1, 31) if x % 10]


def _fail_on_multiples_of_ten(x: int) -> int:
    if x % 10 == 0:
        raise ValueError(x)
    return x


@pytest.mark.timeout(60)
def test_skip_accounts_for_every_item_of_a_reply_the_system_refused_to_send(tmp_path, leftovers):
    # The reply of a batch with skipped items in it cannot be pickled (EMFILE): the batch
    # runs again one by one, so each item is consumed once or listed once, at its index.
    # Every 4th item fails: a batch of several holds at least one.
    bad = tuple(range(3, ITEMS, 4))
    cfg = {"raise_at": bad, "marks": str(tmp_path)}
    with ReplyRefusedOnce(2, cfg, start_method="fork", on_error="skip") as runner:
        results, _ = run_skipping(runner, range(ITEMS))
        failures = runner.failures
    assert (tmp_path / "refused").exists()  # a reply was refused
    assert consumed(results) == expected(*bad)
    assert [failure.index for failure in failures] == list(bad)
    assert all(isinstance(failure.error, ValueError) for failure in failures)
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_a_reply_the_system_refused_to_send_raises_the_system_error(tmp_path):
    with ReplyRefusedOnce(2, {"marks": str(tmp_path)}, start_method="fork") as runner:
        with pytest.raises(OSError, match="Too many open files"):
            runner(range(ITEMS))
        assert consumed(runner(range(10))) == list(range(10))


# -- item_timeout ---------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_item_timeout_kills_the_producer_and_skips_the_item(start_method, leftovers):
    with Faulty(
        2, {"hang_at": (40,)}, start_method=start_method, item_timeout=1.0, on_error="skip"
    ) as runner:
        producers = {pid for _, pid in runner(range(1000, 1050))}
        results, _ = run_skipping(runner, range(300))
        failures = runner.failures
        assert consumed(results) == expected(40, items=300)
        assert [failure.index for failure in failures] == [40]
        error = failures[0].error
        assert isinstance(error, ItemTimeoutError)
        assert isinstance(error, TimeoutError)
        assert (error.index, error.device) == (40, "cpu")
        assert error.seconds is not None
        assert error.seconds >= 1.0
        assert "item 40 of the input ran past item_timeout=1 s" in str(error)
        alive = {child.pid for child in psutil.Process().children()}
        assert producers - alive  # the stuck one was killed, not left behind
        assert runner.is_activate
        assert consumed(runner(range(10))) == list(range(10))
    leftovers.assert_none()


@pytest.mark.timeout(120)
@INPUTS
def test_item_timeout_under_raise_raises_and_the_runner_goes_on(make_input):
    with Faulty(2, {"hang_at": (15,)}, start_method="fork", item_timeout=0.5) as runner:
        with pytest.raises(ItemTimeoutError, match="item 15 of the input") as caught:
            runner(make_input(100))
        assert caught.value.index == 15
        assert runner.is_activate
        assert consumed(runner(make_input(20, 60))) == list(range(20, 60))


@pytest.mark.timeout(60)
def test_item_timeout_spares_items_that_finish_in_time():
    with Faulty(2, start_method="fork", item_timeout=0.3, on_error="skip") as runner:
        results, caught = run_skipping(runner, range(5000))
    assert consumed(results) == list(range(5000))
    assert not caught


def test_thread_backend_refuses_item_timeout():
    with pytest.raises(ValueError, match=r"backend='thread'.*cannot be"):
        Faulty(1, backend="thread", item_timeout=1.0)


# -- max_restarts -------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_max_restarts_finds_the_item_that_kills_its_producer(start_method, leftovers):
    with Faulty(
        2, {"exit_at": (123,)}, start_method=start_method, max_restarts=2, on_error="skip"
    ) as runner:
        results, _ = run_skipping(runner, range(ITEMS))
        failures = runner.failures
        assert runner.is_activate
    assert consumed(results) == expected(123)
    assert [failure.index for failure in failures] == [123]
    error = failures[0].error
    assert isinstance(error, ProducerDiedError)
    assert error.exitcode == 3
    assert "running item 123 of the input alone" in str(error)
    leftovers.assert_none()


@pytest.mark.timeout(60)
@INPUTS
def test_max_restarts_under_raise_raises_for_the_item_and_keeps_the_runner(make_input):
    with Faulty(2, {"exit_at": (30,)}, start_method="fork", max_restarts=2) as runner:
        with pytest.raises(ProducerDiedError, match="running item 30 of the input alone"):
            runner(make_input(100))
        assert runner.is_activate
        assert consumed(runner(range(10))) == list(range(10))


@pytest.mark.timeout(60)
def test_max_restarts_are_counted_per_call():
    # Two poison items take at least three producers down, whatever the batches: one
    # death for a batch holding both (or two for two batches), then one each run alone.
    cfg = {"exit_at": (10, 60)}
    with Faulty(2, cfg, start_method="fork", max_restarts=2, on_error="skip") as runner:
        with pytest.raises(ProducerDiedError, match="max_restarts=2 being used up"):
            runner(range(100))
        assert not runner.is_activate


@pytest.mark.timeout(60)
def test_without_max_restarts_a_death_still_closes_the_runner():
    with Faulty(2, {"exit_at": (10,)}, start_method="fork", on_error="skip") as runner:
        with pytest.raises(ProducerDiedError, match="The runner is closed"):
            runner(range(100))
        assert not runner.is_activate


@pytest.mark.timeout(120)
@INPUTS
def test_a_producer_killed_from_outside_is_replaced_and_nothing_is_lost(tmp_path, make_input):
    # The item kills its producer once (a mark file remembers): like the OOM killer, it
    # takes down a batch of good items, which all run again and are consumed once.
    cfg = {"kill_at": (300,), "marks": str(tmp_path)}
    with Faulty(2, cfg, start_method="fork", max_restarts=1) as runner:
        results = runner(make_input(ITEMS))
        assert runner.failures == []
    assert consumed(results) == list(range(ITEMS))


@pytest.mark.timeout(60)
def test_a_producer_that_died_between_calls_is_replaced():
    with Faulty(2, start_method="fork", max_restarts=1) as runner:
        pids = {pid for _, pid in runner(range(50))}
        victim = next(iter(pids))
        os.kill(victim, signal.SIGKILL)
        assert not wait_until_gone({victim})
        assert consumed(runner(range(50))) == list(range(50))
        assert runner.is_activate


# -- max_items_per_producer -------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_max_items_per_producer_recycles_producers(start_method, tmp_path):
    cfg = {"log": str(tmp_path)}
    with Faulty(2, cfg, start_method=start_method, max_items_per_producer=25) as runner:
        results = runner(range(200))
    assert consumed(results) == list(range(200))
    per_pid: dict[int, int] = {}
    for _, pid in results:
        per_pid[pid] = per_pid.get(pid, 0) + 1
    assert max(per_pid.values()) <= 25
    assert len(per_pid) >= 8
    inits = {path.name.split("-")[1] for path in tmp_path.glob("init-*")}
    ends = {path.name.split("-")[1] for path in tmp_path.glob("end-*")}
    assert {str(pid) for pid in per_pid} <= inits
    assert inits == ends  # each producer ran producer_end, the recycled ones too


@pytest.mark.timeout(60)
def test_max_items_per_producer_on_threads_runs_end_and_a_fresh_init(tmp_path):
    cfg = {"log": str(tmp_path)}
    with Faulty(2, cfg, backend="thread", max_items_per_producer=10) as runner:
        results = runner(range(100))
    assert consumed(results) == list(range(100))
    inits = list(tmp_path.glob("init-*"))
    assert len(inits) >= 10
    assert len(inits) == len(list(tmp_path.glob("end-*")))


@pytest.mark.timeout(60)
def test_skip_on_the_thread_backend():
    with Faulty(2, {"raise_at": (1, 2)}, backend="thread", on_error="skip") as runner:
        results, caught = run_skipping(runner, range(30))
        assert consumed(results) == expected(1, 2, items=30)
        assert [failure.index for failure in runner.failures] == [1, 2]
        assert len(caught) == 1


# -- bad options and errors ---------------------------------------------------------------------

BAD_OPTIONS = [
    ({"on_error": "ignore"}, ValueError, "on_error='ignore' is unknown"),
    ({"on_error": "skp"}, ValueError, "did you mean 'skip'"),
    ({"item_timeout": 0}, ValueError, "item_timeout=0: it must be a positive"),
    ({"item_timeout": "1"}, TypeError, "item_timeout must be a number"),
    ({"max_restarts": -1}, ValueError, "max_restarts=-1: it must be at least 0"),
    ({"max_restarts": 1.5}, TypeError, "max_restarts must be an int"),
    ({"max_items_per_producer": 0}, ValueError, "max_items_per_producer=0: it must be at least 1"),
]


@pytest.mark.parametrize(
    ("options", "error", "message"), BAD_OPTIONS, ids=[m for _, _, m in BAD_OPTIONS]
)
def test_bad_long_run_options_are_refused(options, error, message):
    with pytest.raises(error, match=message):
        Faulty(1, start_method="fork", **options)


def test_item_timeout_error_pickles():
    error = ItemTimeoutError("slow", index=3, device="cuda:1", seconds=2.5)
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, ItemTimeoutError)
    assert isinstance(copy, RunnerError)
    assert (str(copy), copy.index, copy.device, copy.seconds) == ("slow", 3, "cuda:1", 2.5)


def test_item_failure_pickles():
    failure = ItemFailure(index=4, device="cpu", error=ValueError("x"), traceback="tb")
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.index, copy.device, str(copy.error), copy.traceback) == (4, "cpu", "x", "tb")


# -- chaos: everything at once, on a long run ----------------------------------------------------

CHAOS_ITEMS = 200_000


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_chaos_run_completes_with_exact_accounting(leftovers):
    """1 in 5000 items raise, one exits, one hangs, three producers are killed from outside."""
    rng = random.Random(14)
    kill_at = sorted(rng.sample(range(20_000, CHAOS_ITEMS - 20_000), 3))
    memory: list[int] = []
    killed: list[int] = []
    me = psutil.Process()

    def on_item(count: int) -> None:
        if count == CHAOS_ITEMS // 10 or count == CHAOS_ITEMS - 1000:
            memory.append(me.memory_info().rss)
        if len(killed) < len(kill_at) and count >= kill_at[len(killed)]:
            # None may be alive: the consumer takes in the results of a collect before the
            # producers that died meanwhile are replaced. Then the kill waits an item.
            alive = [child.pid for child in me.children() if _is_producer(child)]
            if alive:
                victim = rng.choice(alive)
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

    counter = itertools.count()
    cfg = {
        "items": CHAOS_ITEMS,
        "raise_every": 5000,
        "exit_at": 123_457,
        "hang_at": 77_777,
        "on_item": lambda _: on_item(next(counter)),
    }
    with Chaos(
        2,
        cfg,
        start_method="fork",
        on_error="skip",
        max_restarts=10,
        item_timeout=2,
    ) as runner:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            seen, twice = runner(range(CHAOS_ITEMS))
        failures = runner.failures
    assert len(killed) == 3
    assert twice == []
    failed = {failure.index for failure in failures}
    assert len(failed) == len(failures)
    assert sum(seen) + len(failed) == CHAOS_ITEMS
    assert all(not seen[index] for index in failed)
    raising = {x for x in range(CHAOS_ITEMS) if x % 5000 == 1}
    assert raising <= failed
    assert {77_777, 123_457} <= failed
    # Beyond the raising items, each failure is the hanging item's timeout, the exiting
    # item's own death, or an item that a kill from outside caught running alone (after
    # its batch had lost a producer): it is blamed as the OOM killer's victim would be.
    blamed_for_kills = 0
    for failure in failures:
        if failure.index in raising:
            assert isinstance(failure.error, ValueError)
        elif isinstance(failure.error, ItemTimeoutError):
            assert failure.index == 77_777
        elif getattr(failure.error, "exitcode", None) == 3:
            assert failure.index == 123_457
        else:
            assert isinstance(failure.error, ProducerDiedError)
            assert failure.error.exitcode == -signal.SIGKILL
            blamed_for_kills += 1
    assert blamed_for_kills <= len(killed)
    assert memory[-1] - memory[0] < 30 << 20  # flat: the window bounds what is held
    leftovers.assert_none()


def _is_producer(process: psutil.Process) -> bool:
    try:
        return "multiprocessing" not in " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return False
