"""Hooks of the result-capture tests, at module level so spawned producers import them by
name (conftest.py puts this folder on sys.path; the test modules themselves are imported
under a package name that producers cannot import)."""

from __future__ import annotations

import threading

from _runner_hooks import CollectResults

from easycore_parallel import OrderedRunner


def new_buffer(device, cfg):
    return [0]


def fill_buffer(buffer, x):
    buffer[0] = x
    return buffer


def mixed_result(x):
    """Scalars, with a list every 7th item and a tuple holding a list every 11th."""
    if x % 11 == 0:
        return (x, [x])
    if x % 7 == 0:
        return [x, x]
    return x


def expected_mixed(x):
    return mixed_result(x)


def fail_or_mixed(x):
    if x % 97 == 5:
        raise ValueError(f"bad item {x}")
    return mixed_result(x)


def switching_result(buffer, x):
    """A scalar whose type changes from item to item, between states of one reused buffer."""
    kind = x % 5
    if kind == 0:
        buffer[0] = x
        return buffer
    return (x, float(x), str(x), x % 2 == 0)[kind - 1]


def expected_switching(x):
    return switching_result([0], x)


_BUFFERS = threading.local()  # one buffer per producer, process or thread


def switching_alone(x):
    if not hasattr(_BUFFERS, "buffer"):
        _BUFFERS.buffer = [0]
    return switching_result(_BUFFERS.buffer, x)


class SwitchingResults(CollectResults, OrderedRunner):
    """switching_result() as producer_work, with the buffer on the producer's cfg."""

    @staticmethod
    def producer_init(device, cfg):
        cfg.buffer = [0]

    @staticmethod
    def producer_work(device, cfg, data):
        return switching_result(cfg.buffer, data)


class HalfPicklable(CollectResults, OrderedRunner):
    """Lists; item 40 returns a large result that fails to pickle after its first part.

    Batches grow 1, 4, 16, 64 items: item 40 comes after other captured results of its batch.
    """

    @staticmethod
    def producer_work(device, cfg, data):
        if data == 40:
            return [b"x" * 200_000, threading.Lock()]
        return [data]


SHARED = ("one tuple object", 2**70, ("returned", "for many items"))


def immutable_result(x):
    """Every kind of result that needs no capture, in turn (a batch holds all of them)."""
    kinds = (
        x,
        2**40 + x,
        -(2**70) - x,
        x % 2 == 0,
        x / 3,
        -0.0,
        float("nan"),
        float("-inf"),
        complex(x, -x),
        f"item {x} \u00e9\u4e2d \ud800",  # a lone surrogate too
        bytes([x % 256]) * 3,
        None,
        (),
        (x, ("nested", (None, b"", 1.5)), True),
        frozenset({x, "a", (1, 2)}),
        SHARED,
    )
    return kinds[x % len(kinds)]


def same_value(got, expected):
    """Equal, of the same types all the way down (nan and -0.0 as themselves)."""
    if type(got) is not type(expected):
        return False
    if isinstance(expected, tuple):
        return len(got) == len(expected) and all(map(same_value, got, expected))
    if isinstance(expected, frozenset):
        return sorted(map(repr, got)) == sorted(map(repr, expected))
    return repr(got) == repr(expected)
