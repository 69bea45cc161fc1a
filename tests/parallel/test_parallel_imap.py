"""imap(fn, items) and runner.imap(items): results as an iterator, on the same engine."""

from __future__ import annotations

import gc
import inspect
import itertools
import os
import signal
import subprocess
import sys
import threading
import weakref

import pytest
from _parallel_functions import (
    FAILING_ITEM,
    add_offset,
    exit_at_5,
    fail_at_37,
    init_fails,
    jittered_square,
    nap,
    pid_of,
    square,
    where,
)
from _parallel_runners import Collect, SumOfSquares
from _parallel_support import pid_is_running, wait_until_gone, write_script

import easycore_parallel as ep
from easycore_parallel import (
    NotPicklableError,
    OrderedRunner,
    ProducerDiedError,
    RunnerClosedError,
    RunnerError,
    imap,
)

# -- imap(fn, items) against map(fn, items) ---------------------------------------------------


@pytest.mark.timeout(60)
def test_imap_yields_what_map_yields_in_order(start_method, leftovers):
    items = range(3000)
    results = list(imap(jittered_square, items, start_method=start_method))
    assert results == list(map(jittered_square, items))
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_unordered_imap_yields_every_result_once(leftovers):
    items = range(3000)
    results = list(imap(jittered_square, items, ordered=False, start_method="fork"))
    assert sorted(results) == sorted(map(jittered_square, items))
    leftovers.assert_none()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
def test_imap_of_empty_input_is_empty(ordered, leftovers):
    assert list(imap(square, [], ordered=ordered, start_method="fork")) == []
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_imap_returns_an_iterator_that_starts_the_producers_at_once(leftovers):
    results = imap(pid_of, range(4), devices=2, start_method="fork")
    assert iter(results) is results
    producers = {child.pid for child in leftovers.running()}
    assert len(producers) == 2, "producers start when imap() is called"
    assert set(results) <= producers
    assert wait_until_gone(producers) == set(), "the producers stop when the iterator ends"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
def test_break_out_of_endless_imap_stops_its_producers(ordered, leftovers):
    results = imap(square, itertools.count(), ordered=ordered, start_method="fork")
    producers = {child.pid for child in leftovers.running()}
    for seen, result in enumerate(results):
        if seen == 50_000:
            assert result == 50_000**2 or not ordered
            break
    del results  # CPython closes the dropped generator now
    assert wait_until_gone(producers) == set()


@pytest.mark.timeout(60)
def test_dropping_an_imap_iterator_unread_stops_its_producers(leftovers):
    results = imap(square, range(10), start_method="fork")
    producers = {child.pid for child in leftovers.running()}
    assert producers
    ref = weakref.ref(results)
    del results
    gc.collect()
    assert ref() is None
    assert wait_until_gone(producers) == set()


@pytest.mark.timeout(60)
def test_leaving_imap_does_not_wait_for_a_slow_item(leftovers):
    results = imap(nap, [0.0, 30.0, 30.0], devices=2, start_method="fork")
    assert next(results) == 0.0
    results.close()  # two producers are asleep in a 30 s item: killed after a moment
    leftovers.assert_none(wait=10)


@pytest.mark.timeout(60)
def test_imap_reads_endless_input_only_a_few_batches_ahead():
    pulled = 0

    def megabytes():
        nonlocal pulled
        for _ in itertools.count():
            pulled += 1
            yield bytes(1 << 20)  # 1 MiB: the 4 MiB batch cap allows 4 per batch

    for seen, item in enumerate(imap(len, megabytes(), devices=2, start_method="fork"), 1):
        assert item == 1 << 20
        # 6 batches in flight (queue_scale 3 x 2 devices), one being read, 4 items each
        assert pulled - seen <= 7 * 4
        if seen == 300:
            break


# -- init: state per producer -----------------------------------------------------------------


@pytest.mark.timeout(60)
def test_init_runs_once_per_producer_and_its_result_reaches_fn(tmp_path, start_method):
    cfg = {"log_dir": str(tmp_path), "offset": 1000}
    results = list(imap(add_offset, range(500), ["cpu", "cpu"], init=where, cfg=cfg,
                        start_method=start_method))  # fmt: skip
    assert [value for value, _, _ in results] == [x + 1000 for x in range(500)]
    assert {device for _, device, _ in results} == {"cpu"}
    logs = {int(path.stem): path.read_text() for path in tmp_path.glob("*.log")}
    assert sorted(logs.values()) == ["init cpu\n", "init cpu\n"]
    assert {pid for _, _, pid in results} <= set(logs)


@pytest.mark.timeout(60)
def test_imap_gives_each_producer_its_own_copy_of_cfg(tmp_path):
    cfg = {"log_dir": str(tmp_path), "offset": 1}
    [(value, _, _)] = imap(add_offset, [1], 1, init=where, cfg=cfg, start_method="fork")
    assert value == 2
    assert cfg == {"log_dir": str(tmp_path), "offset": 1}


@pytest.mark.timeout(60)
def test_failing_init_raises_at_the_imap_call(leftovers):
    with pytest.raises(RuntimeError, match="no model for cpu") as info:
        imap(square, range(3), init=init_fails, start_method="fork")
    assert "init in producer for 'cpu'" in str(info.value.__cause__)
    leftovers.assert_none()


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_failing_item_raises_at_its_position(start_method, leftovers):
    seen = []
    with pytest.raises(ValueError, match=f"item {FAILING_ITEM} is bad") as info:
        seen.extend(imap(fail_at_37, range(1000), start_method=start_method))
    assert seen == [x * x for x in range(FAILING_ITEM)]  # exactly what map gives first
    remote = info.value.__cause__
    assert f"fn in producer for 'cpu' (pid {remote.pid}), item {FAILING_ITEM}" in str(remote)
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_ordered_runner_consumes_every_result_before_the_failing_item():
    class Prefix(OrderedRunner):
        @staticmethod
        def producer_work(device, cfg, data):
            return fail_at_37(data)

        @staticmethod
        def consumer_init(cfg):
            cfg.seen = SEEN

        @staticmethod
        def consumer_work(cfg, data):
            cfg.seen.append(data)

    SEEN: list[int] = []
    with Prefix(2, start_method="fork") as runner:
        with pytest.raises(ValueError, match="is bad"):
            runner(range(1000))
        assert [x * x for x in range(FAILING_ITEM)] == SEEN


@pytest.mark.timeout(60)
def test_dead_producer_raises_from_the_iterator(leftovers):
    seen = []
    with pytest.raises(ProducerDiedError, match="exited with code 3") as info:
        seen.extend(imap(exit_at_5, range(20), 1, start_method="fork"))
    assert info.value.exitcode == 3
    # the results before item 5 in its (lost) batch never left the producer
    assert seen == list(range(len(seen)))
    assert len(seen) < 5
    leftovers.assert_none()


def test_imap_refuses_what_is_not_callable():
    with pytest.raises(TypeError, match=r"imap\(\) needs a function as fn, got builtins.int 3"):
        imap(3, range(3))
    with pytest.raises(TypeError, match="as init"):
        imap(square, range(3), init="model.pt")


def test_imap_checks_the_runner_arguments_at_the_call():
    with pytest.raises(ValueError, match="backend='proces' is unknown"):
        imap(square, range(3), backend="proces")


def test_imap_takes_every_option_of_the_runners():
    runner = inspect.signature(ep.BaseRunner).parameters
    function = inspect.signature(imap).parameters
    assert set(runner) - {"cfg"} <= set(function)
    for name, parameter in runner.items():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            assert function[name].kind is inspect.Parameter.KEYWORD_ONLY, name
            assert function[name].default == parameter.default, name


# -- lambdas, closures, backends ------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_lambdas_and_closures_run_under_every_start_method(start_method):
    offset = 7
    results = imap(lambda state, x: state + x + offset, range(100), init=lambda d, c: 1,
                   start_method=start_method)  # fmt: skip
    assert list(results) == [x + 8 for x in range(100)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_closure_over_something_unpicklable_names_fn(method, leftovers):
    lock = threading.Lock()
    with pytest.raises(
        NotPicklableError, match=r"imap\(\)'s fn .*<lambda>.*_thread.lock.*capture only picklable"
    ):
        imap(lambda x: (x, lock), range(3), start_method=method)
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_thread_backend_runs_lambdas_with_nothing_pickled():
    lock = threading.Lock()  # cannot be pickled: proves nothing is
    assert list(imap(lambda x: (x, lock.locked()), range(50), 4, backend="thread")) == [
        (x, False) for x in range(50)
    ]


SCRIPT_WITH_LAMBDAS = """
import sys
if sys.argv[1] == "numpy":
    import numpy  # its BLAS threads make the default start method forkserver
from easycore_parallel import imap

if __name__ == "__main__":
    scale = 3
    def times_scale(x):
        return x * scale
    ordered = list(imap(lambda x: times_scale(x) + 1, range(1000)))
    assert ordered == [3 * x + 1 for x in range(1000)], ordered[:10]
    state = list(imap(lambda model, x: model[x % 2], range(4), init=lambda d, c: (d, c.k),
                      cfg={"k": 5}))
    assert state == ["cpu", 5, "cpu", 5], state
    print("ok")
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("imported", ["nothing", "numpy"])
def test_lambdas_and_closures_of_a_script_run_by_default(tmp_path, imported):
    if imported == "numpy":
        pytest.importorskip("numpy")  # absent where easycore-parallel is installed alone
    script = write_script(tmp_path, SCRIPT_WITH_LAMBDAS)
    result = subprocess.run([sys.executable, str(script), imported], capture_output=True,
                            text=True, timeout=50, check=False)  # fmt: skip
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


@pytest.mark.timeout(60)
def test_thread_backend_imap_matches_map():
    assert list(imap(jittered_square, range(500), 3, backend="thread")) == [
        x * x for x in range(500)
    ]


@pytest.mark.timeout(60)
def test_thread_backend_failing_item_raises_at_its_position():
    seen = []
    with pytest.raises(ValueError, match="is bad"):
        seen.extend(imap(fail_at_37, range(100), 2, backend="thread"))
    assert seen == [x * x for x in range(FAILING_ITEM)]


@pytest.mark.timeout(60)
def test_progress_bar_counts_imap_results(capsys):
    pytest.importorskip("tqdm")
    assert len(list(imap(square, range(300), start_method="fork", progress=True))) == 300
    err = capsys.readouterr().err
    assert "imap(square)" in err
    assert "300/300" in err


# -- runner.imap(items) ---------------------------------------------------------------------------


def raise_key_error(key: object) -> bool:
    raise KeyError(key)


class NoConsumer(Collect):
    """A runner whose consumer hooks fail: runner.imap must not use them."""

    @staticmethod
    def producer_work(device, cfg, data):
        return -data

    @staticmethod
    def consumer_init(cfg):
        raise AssertionError("runner.imap() used consumer_init")

    @staticmethod
    def consumer_work(cfg, data):
        raise AssertionError("runner.imap() used consumer_work")


@pytest.mark.timeout(60)
def test_runner_imap_streams_producer_results_without_the_consumer_hooks():
    with NoConsumer(2, start_method="fork") as runner:
        for _ in range(3):  # a long-lived runner serves many calls
            assert list(runner.imap(range(1000))) == [-x for x in range(1000)]


@pytest.mark.timeout(60)
def test_runner_is_usable_after_leaving_its_imap_early(start_method):
    with SumOfSquares(2, start_method=start_method) as runner:
        for result in runner.imap(itertools.count()):
            if result > 10_000:
                break
        assert runner(range(100)) == 328350
        with pytest.raises(KeyError):
            any(raise_key_error(result) for result in runner.imap(range(10)))
        assert runner(range(100)) == 328350
        assert sorted(runner.imap(range(10))) == [x * x for x in range(10)]


@pytest.mark.timeout(60)
def test_runner_is_usable_after_its_imap_iterator_is_collected():
    with SumOfSquares(2, start_method="fork") as runner:
        results = runner.imap(itertools.count())
        next(results)
        ref = weakref.ref(results)
        del results
        gc.collect()
        assert ref() is None
        assert runner(range(100)) == 328350


@pytest.mark.timeout(60)
def test_runner_refuses_a_call_while_its_imap_iterator_is_open():
    with SumOfSquares(2, start_method="fork") as runner:
        results = runner.imap(range(10))
        with pytest.raises(RunnerError, match="imap\\(\\) iterator of this SumOfSquares is open"):
            runner(range(3))
        with pytest.raises(RunnerError, match="open"):
            runner.imap(range(3))
        assert sorted(results) == [x * x for x in range(10)]  # still intact
        assert runner(range(3)) == 5


@pytest.mark.timeout(60)
def test_close_ends_an_open_runner_imap(leftovers):
    runner = SumOfSquares(2, start_method="fork")
    results = runner.imap(range(100_000))
    next(results)
    runner.close()
    with pytest.raises(RunnerClosedError, match="closed while its imap\\(\\) iterator was open"):
        next(results)
    runner.activate()
    assert runner(range(100)) == 328350
    runner.close()
    leftovers.assert_none()


class Sleepy(OrderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        return nap(data)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["process", "thread"])
def test_close_from_another_thread_stops_a_waiting_imap(backend, leftovers):
    runner = Sleepy(2, backend=backend)
    results = runner.imap([0.0, 0.0, 30.0, 30.0, 0.0])
    assert next(results) == 0.0
    close_errors: list[RunnerError] = []

    def close_from_a_watchdog() -> None:
        try:
            runner.close(timeout=1.0)
        except RunnerError as err:  # the producers busy in a 30 s item were stopped
            close_errors.append(err)

    watchdog = threading.Timer(0.5, close_from_a_watchdog)
    watchdog.start()
    with pytest.raises(RunnerClosedError):
        list(results)  # waits on the 30 s items until the watchdog closes the runner
    watchdog.join(10)
    assert not watchdog.is_alive()
    assert not runner.is_activate
    assert [str(err) for err in close_errors if "within 1.0 s" not in str(err)] == []
    if backend == "process":
        leftovers.assert_none()


def test_imap_of_a_closed_runner_raises_at_once():
    runner = SumOfSquares(1, start_method="fork")
    runner.close()
    with pytest.raises(RunnerClosedError, match="activate"):
        runner.imap(range(3))


@pytest.mark.timeout(60)
def test_runner_imap_after_a_producer_death_says_so(leftovers):
    runner = SumOfSquares(2, start_method="fork")
    victim = next(child.pid for child in leftovers.running())
    results = runner.imap(itertools.count())
    next(results)
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(ProducerDiedError, match="killed by SIGKILL"):
        for _ in results:
            pass
    assert not runner.is_activate
    assert not pid_is_running(victim)
    leftovers.assert_none()
