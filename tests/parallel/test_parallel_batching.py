"""Batches grow from measured cost, in-flight work is bounded, and memory stays flat."""

from __future__ import annotations

import itertools

import psutil
import pytest
from _parallel_functions import square
from _parallel_runners import Collect, CollectUnordered, EnoughError

import easycore_parallel as ep
from easycore_parallel import UnorderedRunner, imap

MiB = 1 << 20


def test_first_batch_has_one_item():
    assert ep._BatchSizer().next_size() == 1


def test_batch_grows_at_most_by_the_growth_factor():
    sizer = ep._BatchSizer()
    sizer.observe(items=1, seconds=1e-7, nbytes=10)
    assert sizer.next_size() == ep._BATCH_GROWTH
    sizer.observe(items=4, seconds=4e-7, nbytes=40)
    assert sizer.next_size() == 4 * ep._BATCH_GROWTH


def test_batch_targets_a_few_milliseconds_of_work():
    sizer = ep._BatchSizer()
    for size in (1, 4, 16, 64, 256, 1024):
        sizer.observe(items=size, seconds=size * 1e-3, nbytes=size)  # 1 ms per item
    assert sizer.next_size() == round(ep._TARGET_BATCH_SECONDS / 1e-3)


def test_slow_items_travel_alone():
    sizer = ep._BatchSizer()
    sizer.observe(items=1, seconds=0.5, nbytes=10)
    assert sizer.next_size() == 1


def test_large_items_are_capped_by_bytes():
    sizer = ep._BatchSizer()
    for size in (1, 4, 16):
        sizer.observe(items=size, seconds=size * 1e-7, nbytes=size * 2 * MiB)
    assert sizer.next_size() == ep._MAX_BATCH_BYTES // (2 * MiB)


def test_free_items_are_capped_by_count():
    sizer = ep._BatchSizer()
    size = 1
    for _ in range(20):
        sizer.observe(items=size, seconds=0.0, nbytes=0)
        size = sizer.next_size()
    assert size == ep._MAX_BATCH_ITEMS


def test_a_range_is_read_in_slices_that_are_ranges():
    reader = ep._reader(range(10, 40, 3))
    taken = [ep._take(reader, size) for size in (1, 4, 16, 16)]
    batches = [batch for batch, _ in taken]
    assert batches == [range(10, 13, 3), range(13, 25, 3), range(25, 40, 3), range(40, 40, 3)]
    assert all(type(batch) is range and error is None for batch, error in taken)


def test_other_inputs_are_read_into_lists_keeping_what_came_before_an_error():
    def three_then_fail():
        yield from (1, 2, 3)
        raise KeyError("input broke")

    batch, error = ep._take(ep._reader(three_then_fail()), 16)
    assert batch == [1, 2, 3]
    assert isinstance(error, KeyError)
    assert ep._take(ep._reader([5, 6, 7]), 2) == ([5, 6], None)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "items",
    [range(0), range(7), range(5, 3000, 7), range(2999, -1, -3), range(2**70, 2**70 + 900)],
    ids=["empty", "short", "stepped", "backwards", "big-ints"],
)
@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
def test_range_input_gives_what_map_gives(items, ordered, leftovers):
    # A range travels as ranges (no item made in the caller); producers see the same items.
    runner_cls = Collect if ordered else CollectUnordered
    with runner_cls(2, start_method="fork") as runner:
        results = runner(items)
        streamed = list(runner.imap(items))
    for got in (results, streamed):
        assert (got if ordered else sorted(got, reverse=items.step < 0)) == list(items)
        assert all(type(x) is int for x in got)
    squares, expected = list(imap(square, items, ordered=ordered)), [x * x for x in items]
    assert squares == expected if ordered else sorted(squares) == sorted(expected)
    leftovers.assert_none()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("progress", [False, True], ids=["plain", "progress"])
def test_a_range_too_long_for_len_runs_as_an_endless_input(progress, leftovers):
    if progress:
        pytest.importorskip("tqdm")  # the progress extra; the component alone has none
    items = range(2**70)  # len() raises OverflowError: the progress bar gets no total
    with pytest.raises(OverflowError):
        len(items)
    squares = imap(square, items, progress=progress)
    assert list(itertools.islice(squares, 5)) == [0, 1, 4, 9, 16]
    squares.close()
    with Collect(2, start_method="fork", progress=progress) as runner:
        streamed = runner.imap(range(2**64, 2**65))
        assert next(streamed) == 2**64
        streamed.close()
    leftovers.assert_none()


PULLED = [0]  # items the input has yielded (the consumer's cfg is a copy, so not in cfg)


class Ahead(UnorderedRunner):
    """Track how far the input runs ahead of the consumer."""

    @staticmethod
    def consumer_init(cfg):
        cfg.consumed = 0
        cfg.most_ahead = 0

    @staticmethod
    def consumer_work(cfg, data):
        cfg.consumed += 1
        cfg.most_ahead = max(cfg.most_ahead, PULLED[0] - cfg.consumed)
        if cfg.consumed >= 200:
            raise EnoughError(cfg.most_ahead)


def megabyte_items():
    for _ in itertools.count():
        PULLED[0] += 1
        yield bytes(MiB)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ordered", [False, True], ids=["unordered", "ordered"])
def test_items_in_flight_stay_within_the_window(ordered, leftovers):
    # 1 MiB items: at most 4 per batch (4 MiB), and queue_scale=1.0 with 2 producers
    # allows 2 batches in flight, plus the batch being filled.
    class Runner(Ahead, ep.OrderedRunner if ordered else UnorderedRunner):
        pass

    PULLED[0] = 0
    runner = Runner(2, queue_scale=1.0, start_method="fork")
    with runner, pytest.raises(EnoughError) as info:
        runner(megabyte_items())
    window, per_batch = 2, ep._MAX_BATCH_BYTES // MiB
    assert 0 < info.value.args[0] <= (window + 1) * per_batch
    leftovers.assert_none()


class MeasureRss(UnorderedRunner):
    """Sample the RSS of the caller and its producers while an endless input streams."""

    @staticmethod
    def consumer_init(cfg):
        cfg.seen = 0
        cfg.rss = []

    @staticmethod
    def consumer_work(cfg, data):
        cfg.seen += 1
        if cfg.seen % 25 == 0:
            me = psutil.Process()
            processes = [me, *me.children(recursive=True)]
            cfg.rss.append(sum(p.memory_info().rss for p in processes if p.is_running()))
        if cfg.seen >= cfg.limit:
            raise EnoughError(cfg.rss)


def endless_megabytes():
    while True:
        yield bytes(MiB)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("runner_cls", [MeasureRss], ids=["process"])
def test_endless_input_of_megabyte_items_runs_in_flat_memory(runner_cls, leftovers):
    limit = 400  # 400 MiB pass through; a leak of one item per item would show it
    runner = runner_cls(2, {"limit": limit}, start_method="fork")
    with runner, pytest.raises(EnoughError) as info:
        runner(endless_megabytes())
    rss = info.value.args[0]
    warm, peak = rss[1], max(rss[2:])
    assert peak - warm < 96 * MiB, [round(r / MiB) for r in rss]
    leftovers.assert_none()
