"""OrderedRunner hands results to consumer_work in input order; the others may not."""

from __future__ import annotations

import pytest
from _parallel_runners import Collect, CollectUnordered, JitteredSquares
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def ordered_runner():
    with JitteredSquares(3, queue_scale=1.5, start_method="fork") as runner:
        yield runner


@pytest.mark.timeout(120)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=st.lists(st.integers(min_value=-(10**6), max_value=10**6), max_size=300))
def test_ordered_runner_keeps_input_order(ordered_runner, items):
    assert ordered_runner(items) == [x * x for x in items]


@pytest.mark.timeout(60)
def test_ordered_runner_keeps_order_across_many_batches(start_method):
    with JitteredSquares(2, start_method=start_method) as runner:
        assert runner(range(3000)) == [x * x for x in range(3000)]


@pytest.mark.timeout(60)
def test_ordered_runner_keeps_order_with_a_window_of_one():
    with Collect(2, queue_scale=0.1, start_method="fork") as runner:
        assert runner(range(500)) == list(range(500))


@pytest.mark.timeout(60)
def test_unordered_runner_delivers_every_result_once():
    with CollectUnordered(3, start_method="fork") as runner:
        assert sorted(runner(range(5000))) == list(range(5000))
