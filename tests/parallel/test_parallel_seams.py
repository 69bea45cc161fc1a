"""The engine's transport: the system's errors reach the caller as themselves.

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
from typing import Any

import pytest

from easycore_parallel import NotPicklableError, imap

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


def _assert_own_error(err: BaseException) -> None:
    assert type(err) is OSError, repr(err)
    assert not isinstance(err, NotPicklableError)
    assert err.errno == errno.EMFILE
    assert MESSAGE in str(err)
    assert "importable" not in str(err)


@pytest.mark.timeout(60)
def test_a_result_the_caller_cannot_receive_raises_the_system_error() -> None:
    results = imap(result_unloadable_in_caller, range(6), 1, start_method="fork")
    with pytest.raises(OSError, match="no descriptor left") as caught:
        list(results)
    _assert_own_error(caught.value)


@pytest.mark.timeout(60)
def test_a_result_the_producer_cannot_send_raises_the_system_error() -> None:
    results = imap(result_unsendable_from_producer, range(6), 1, start_method="fork")
    with pytest.raises(OSError, match="no descriptor left") as caught:
        list(results)
    _assert_own_error(caught.value)


@pytest.mark.timeout(60)
def test_an_item_the_caller_cannot_send_raises_the_system_error() -> None:
    class Unsendable:
        def __reduce__(self) -> tuple[Any, ...]:
            raise OSError(errno.EMFILE, MESSAGE)

    results = imap(identity, [1, Unsendable()], 1, start_method="fork")
    with pytest.raises(OSError, match="no descriptor left") as caught:
        list(results)
    _assert_own_error(caught.value)


@pytest.mark.timeout(60)
def test_a_batch_the_producer_cannot_receive_raises_the_system_error() -> None:
    results = imap(identity, [1, UnloadableHere(), 2], 1, start_method="fork")
    with pytest.raises(OSError, match="no descriptor left") as caught:
        list(results)
    _assert_own_error(caught.value)
