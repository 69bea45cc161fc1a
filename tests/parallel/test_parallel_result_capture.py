"""Each result is kept as producer_work returned it, on every backend.

A hook that returns one buffer, changed in place at each call, must reach the consumer as
that buffer's successive states ([0, 1, 2, ...]), not as its last state repeated: batches
hold thousands of such results here, so a batch pickled (or handed over) after it ran
would show the aliasing. Around that: batches that mix scalars and mutable results,
failures among them under on_error="skip", and a result that cannot be pickled half-way.
"""

from __future__ import annotations

import pickle
import sys
import threading
import warnings

import pytest
from _parallel_capture_hooks import (
    HalfPicklable,
    SwitchingResults,
    expected_mixed,
    expected_switching,
    fail_or_mixed,
    fill_buffer,
    immutable_result,
    mixed_result,
    new_buffer,
    same_value,
    switching_alone,
    switching_result,
)
from _parallel_interactive_runners import ReusedBuffer, ReusedBufferInTuple
from _parallel_support import START_METHODS

import easycore_parallel as ep
from easycore_parallel import NotPicklableError, imap

ITEMS = 3000  # enough for batches of hundreds of items once the sizer has measured

BACKENDS = [{"backend": "thread"}] + [{"start_method": method} for method in START_METHODS]
BACKEND_IDS = ["thread", *START_METHODS]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("options", BACKENDS, ids=BACKEND_IDS)
def test_reused_buffer_reaches_the_consumer_as_each_state(options, leftovers):
    with ReusedBuffer(2, **options) as runner:
        assert runner(range(ITEMS)) == [[x, x * x] for x in range(ITEMS)]
    leftovers.assert_none()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("options", BACKENDS, ids=BACKEND_IDS)
def test_reused_buffer_inside_a_tuple_reaches_the_consumer_as_each_state(options, leftovers):
    with ReusedBufferInTuple(2, **options) as runner:
        assert runner(range(ITEMS)) == [(x, [x, x * x]) for x in range(ITEMS)]
    leftovers.assert_none()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("options", BACKENDS, ids=BACKEND_IDS)
def test_imap_yields_each_state_of_a_reused_buffer(options, leftovers):
    results = imap(fill_buffer, range(ITEMS), 2, init=new_buffer, **options)
    assert [list(result) for result in results] == [[x] for x in range(ITEMS)]
    leftovers.assert_none()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("options", BACKENDS, ids=BACKEND_IDS)
def test_batches_mixing_scalars_and_mutable_results_keep_order_and_values(options):
    results = list(imap(mixed_result, range(ITEMS), 2, **options))
    assert results == [expected_mixed(x) for x in range(ITEMS)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("options", BACKENDS, ids=BACKEND_IDS)
@pytest.mark.parametrize("shape", ["runner", "fn(item)", "fn(init, item)"])
def test_each_call_shape_captures_a_buffer_between_scalars_of_changing_types(shape, options):
    # The producer's loop is written once per call shape, and expects the scalar type it
    # saw last: a buffer, a bool after an int, a str after a float must each be noticed.
    if shape == "runner":
        with SwitchingResults(2, **options) as runner:
            results = runner(range(ITEMS))
    elif shape == "fn(item)":
        results = list(imap(switching_alone, range(ITEMS), 2, **options))
    else:
        results = list(imap(switching_result, range(ITEMS), 2, init=new_buffer, **options))
    got = [list(r) if isinstance(r, list) else r for r in results]
    expected = [expected_switching(x) for x in range(ITEMS)]
    assert got == expected
    assert [type(r) for r in got] == [type(r) for r in expected]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("options", BACKENDS, ids=BACKEND_IDS)
def test_skipped_failures_among_scalars_and_mutable_results_leave_the_rest_exact(options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = list(imap(fail_or_mixed, range(ITEMS), 2, on_error="skip", **options))
    bad = {x for x in range(ITEMS) if x % 97 == 5}
    assert results == [expected_mixed(x) for x in range(ITEMS) if x not in bad]
    assert any(f"{len(bad)} of {ITEMS} items failed" in str(w.message) for w in caught)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method", START_METHODS)
def test_a_result_failing_to_pickle_half_way_is_named_and_spoils_no_other(method, leftovers):
    with HalfPicklable(1, start_method=method) as runner:
        with pytest.raises(NotPicklableError, match=r"_thread\.lock"):
            runner(range(100))
        assert runner(range(40)) == [[x] for x in range(40)]
    with HalfPicklable(1, start_method=method, on_error="skip") as runner:
        with pytest.warns(RuntimeWarning, match="1 of 100 items failed"):
            assert runner(range(100)) == [[x] for x in range(100) if x != 40]
        assert [failure.index for failure in runner.failures] == [40]
        assert isinstance(runner.failures[0].error, NotPicklableError)
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_a_result_that_cannot_be_copied_is_handed_over_on_threads():
    lock = threading.Lock()
    results = list(imap(lambda x: [x, lock], range(50), 2, backend="thread"))
    assert [result[0] for result in results] == list(range(50))
    assert all(result[1] is lock for result in results)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("options", BACKENDS, ids=BACKEND_IDS)
def test_results_needing_no_capture_arrive_as_the_same_values_and_types(options):
    # Such batches travel marshalled, not pickled: bool stays bool, -0.0 and nan stay
    # themselves, a lone surrogate survives, a shared tuple arrives equal.
    got = list(imap(immutable_result, range(ITEMS), 2, **options))
    expected = [immutable_result(x) for x in range(ITEMS)]
    assert len(got) == len(expected)
    assert all(map(same_value, got, expected))


def test_immutable_results_too_deep_for_marshal_are_pickled_instead():
    deep: tuple = ()
    for _ in range(2100):  # marshal stops at 2000 levels
        deep = (deep,)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        loaded = pickle.loads(pickle.dumps(ep._ImmutableResults([1, deep])))
    finally:
        sys.setrecursionlimit(limit)
    assert type(loaded) is list
    assert loaded[0] == 1
    depth, value = 0, loaded[1]
    while value:
        depth, value = depth + 1, value[0]
    assert depth == 2100
