"""The engine's transport: the system's errors as themselves, the input's at their position.

Found: easycore-torch's ``OSError`` for a process out of file descriptors reached the
caller inside a ``NotPicklableError`` whose text added "its type must be importable here
too", sending the user after the wrong cause. An ``OSError`` or ``MemoryError`` while a
message is pickled or unpickled is the system refusing a resource, not a value that
cannot be pickled: on each side of the pipe it now stays itself. The values below raise
such errors from their real pickling hooks, in real producer processes.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from easycore_parallel import NotPicklableError, OrderedRunner, imap

MESSAGE = "no descriptor left to receive this value (raise ulimit -n)"


def _refuse_descriptor() -> Any:
    raise OSError(errno.EMFILE, MESSAGE)


class UnloadableHere:
    """Pickles fine; rebuilding it, wherever that happens, finds no descriptor left."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_refuse_descriptor, ())


_CALLER_PID = os.getpid()  # producers are forked from this process: they have others


class UnsendableFromProducer:
    """Pickling it in a producer finds no descriptor left (in the caller it pickles)."""

    def __reduce__(self) -> tuple[Any, ...]:
        if os.getpid() != _CALLER_PID:
            raise OSError(errno.EMFILE, MESSAGE)
        return (UnsendableFromProducer, ())


def result_unloadable_in_caller(x: int) -> Any:
    return UnloadableHere() if x == 3 else x


def result_unsendable_from_producer(x: int) -> Any:
    return UnsendableFromProducer() if x == 3 else x


def identity(x: Any) -> Any:
    return x


def _assert_raises_own_error(results: Iterator[Any]) -> None:
    with pytest.raises(OSError, match="no descriptor left") as caught:
        list(results)
    _assert_own_error(caught.value)


def _assert_own_error(err: BaseException) -> None:
    assert type(err) is OSError, repr(err)
    assert not isinstance(err, NotPicklableError)
    assert err.errno == errno.EMFILE
    assert MESSAGE in str(err)
    assert "importable" not in str(err)


@pytest.mark.timeout(60)
def test_a_result_the_caller_cannot_receive_raises_the_system_error() -> None:
    results = imap(result_unloadable_in_caller, range(6), 1, start_method="fork")
    _assert_raises_own_error(results)


@pytest.mark.timeout(60)
def test_a_result_the_producer_cannot_send_raises_the_system_error() -> None:
    results = imap(result_unsendable_from_producer, range(6), 1, start_method="fork")
    _assert_raises_own_error(results)


@pytest.mark.timeout(60)
def test_an_item_the_caller_cannot_send_raises_the_system_error() -> None:
    class Unsendable:
        def __reduce__(self) -> tuple[Any, ...]:
            raise OSError(errno.EMFILE, MESSAGE)

    results = imap(identity, [1, Unsendable()], 1, start_method="fork")
    _assert_raises_own_error(results)


@pytest.mark.timeout(60)
def test_a_batch_the_producer_cannot_receive_raises_the_system_error() -> None:
    results = imap(identity, [1, UnloadableHere(), 2], 1, start_method="fork")
    _assert_raises_own_error(results)


# -- The input's own failures raise at their position --------------------------------------
#
# Found: an exception raised by the input iterable, or an item that cannot be pickled,
# raised the moment the engine read it, before the results of the items ahead of it that
# were still in flight. Now it raises at its position, as a failed item does.


def square(x: int) -> int:
    return x * x


def failing_at(position: int, total: int = 10) -> Iterator[Any]:
    for x in range(total):
        if x == position:
            raise ValueError(f"the input broke at {position}")
        yield x


#: What the consumer of ``Collect`` saw, in the caller (where the consumer runs).
SEEN: list[int] = []


class Collect(OrderedRunner):
    @staticmethod
    def producer_work(device: str, cfg: Any, data: int) -> int:
        return data * data

    @staticmethod
    def consumer_work(cfg: Any, data: int) -> None:
        SEEN.append(data)


@pytest.mark.timeout(60)
def test_ordered_imap_yields_every_result_before_the_input_raises() -> None:
    results: list[int] = []
    with pytest.raises(ValueError, match="the input broke at 3"):
        results.extend(imap(square, failing_at(3), 2, start_method="fork"))
    assert results == [0, 1, 4]


@pytest.mark.timeout(60)
def test_ordered_call_consumes_every_result_before_the_input_raises() -> None:
    SEEN.clear()
    with Collect(2, start_method="fork") as runner:
        with pytest.raises(ValueError, match="the input broke at 3"):
            runner(failing_at(3))
        assert SEEN == [0, 1, 4]
        assert runner(range(4)) is None  # usable after it
    assert SEEN[3:] == [0, 1, 4, 9]


@pytest.mark.timeout(60)
def test_the_input_raising_under_skip_still_raises_after_the_results_before_it() -> None:
    results: list[int] = []
    with pytest.raises(ValueError, match="the input broke at 3"):
        results.extend(imap(square, failing_at(3), 2, start_method="fork", on_error="skip"))
    assert results == [0, 1, 4]


@pytest.mark.timeout(60)
def test_an_unpicklable_item_raises_after_the_results_before_it() -> None:
    items = [0, 1, 2, threading.Lock(), 4, 5]
    results: list[Any] = []
    with pytest.raises(NotPicklableError, match="item 3 of the input cannot be pickled"):
        results.extend(imap(identity, items, 2, start_method="fork"))
    assert results == [0, 1, 2]


@pytest.mark.timeout(60)
def test_an_unpicklable_item_under_skip_fails_at_its_index() -> None:
    items = [0, 1, 2, threading.Lock(), 4, 5]
    with Collect(2, start_method="fork", on_error="skip") as runner:
        SEEN.clear()
        with pytest.warns(RuntimeWarning, match="1 of 6 items failed"):
            runner(items)
        assert SEEN == [0, 1, 4, 16, 25]
        assert [failure.index for failure in runner.failures] == [3]
        assert isinstance(runner.failures[0].error, NotPicklableError)
