"""Each producer runs with its share of the cores, so N producers do not oversubscribe them."""

from __future__ import annotations

import os

import pytest
import torch
from _torch_runners import Threads

from easycore_torch import UnorderedRunner


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def producer_threads(runner, producers: int) -> dict[int, int]:
    """Call until every producer answered; return {pid: its torch thread count}."""
    seen: dict[int, int] = {}
    for _ in range(100):
        seen.update((pid, threads) for threads, pid in runner(range(8 * producers)))
        if len(seen) == producers:
            return seen
    raise AssertionError(f"only {len(seen)} of {producers} producers answered")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("producers", [1, 2, 3], ids=["1-producer", "2-producers", "3-producers"])
def test_default_is_a_fair_share_of_the_cores(producers, leftovers) -> None:
    with Threads(["cpu"] * producers) as runner:
        threads = producer_threads(runner, producers)
    assert set(threads.values()) == {max(1, cores() // producers)}
    leftovers.assert_none()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("start_method", ["fork", "forkserver", "spawn"])
def test_keyword_overrides_the_thread_count_under_every_start_method(start_method, leftovers):
    # fork is allowed here only with one thread per producer (see the start-method tests).
    wanted = 1 if start_method == "fork" else 3
    with Threads(2, threads_per_producer=wanted, start_method=start_method) as runner:
        threads = producer_threads(runner, 2)
    assert set(threads.values()) == {wanted}
    leftovers.assert_none()


@pytest.mark.timeout(30)
def test_thread_backend_leaves_the_callers_thread_count_alone() -> None:
    before = torch.get_num_threads()
    with Threads(2, backend="thread", threads_per_producer=1) as runner:
        threads = runner(range(4))
    assert {count for count, _ in threads} == {before}
    assert {pid for _, pid in threads} == {os.getpid()}
    assert torch.get_num_threads() == before


@pytest.mark.timeout(30)
def test_caller_thread_count_is_unchanged_by_process_producers() -> None:
    before = torch.get_num_threads()
    with UnorderedRunner(2, threads_per_producer=1, start_method="fork") as runner:
        runner(range(3))
    assert torch.get_num_threads() == before
