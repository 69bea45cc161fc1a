"""Runners for the easycore-parallel tests, at module level so spawned producers import them.

conftest.py puts this folder on sys.path, and spawn/forkserver children inherit sys.path,
so ``import _parallel_runners`` works in every producer.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from _runner_hooks import CollectResults, misbehave

from easycore_parallel import OrderedRunner, UnorderedRunner


class SumOfSquares(UnorderedRunner):
    """The reference's example 1."""

    @staticmethod
    def producer_work(device, cfg, data):
        return data * data

    @staticmethod
    def consumer_init(cfg):
        cfg.sum = 0

    @staticmethod
    def consumer_work(cfg, data):
        cfg.sum += data

    @staticmethod
    def consumer_end(cfg):
        return cfg.sum


class SumOfPowers(SumOfSquares):
    """The reference's example 4: the exponent comes from the user's cfg."""

    @staticmethod
    def producer_work(device, cfg, data):
        return data**cfg.exponent


class Collect(CollectResults, OrderedRunner):
    """Return the results as a list, in input order."""


class CollectUnordered(CollectResults, UnorderedRunner):
    """Return the results as a list, in the order they arrive."""


class JitteredSquares(Collect):
    """Items take random-ish time, so batches finish out of order."""

    @staticmethod
    def producer_work(device, cfg, data):
        time.sleep((hash((data, os.getpid())) % 7) * 0.0003)
        return data * data


class Pids(UnorderedRunner):
    """Return the set of producer pids that handled the items."""

    @staticmethod
    def producer_work(device, cfg, data):
        return os.getpid()

    @staticmethod
    def consumer_init(cfg):
        cfg.pids = set()

    @staticmethod
    def consumer_work(cfg, data):
        cfg.pids.add(data)

    @staticmethod
    def consumer_end(cfg):
        return cfg.pids


def all_pids(runner: Any, devices: int) -> set[int]:
    """Call a Pids runner until every producer answered once."""
    pids: set[int] = set()
    for _ in range(200):
        pids |= runner([0] * 4 * devices)
        if len(pids) == devices:
            return pids
        time.sleep(0.01)
    raise AssertionError(f"only {len(pids)} of {devices} producers answered")


class Faulty(Collect):
    """Misbehave where cfg says: cfg.hook is the hook name, cfg.how what to do, cfg.at the item."""

    @staticmethod
    def producer_init(device, cfg):
        misbehave(cfg, "producer_init")

    @staticmethod
    def producer_work(device, cfg, data):
        bad = misbehave(cfg, "producer_work", data)
        return data if bad is None else bad

    @staticmethod
    def producer_end(device, cfg):
        misbehave(cfg, "producer_end")

    @staticmethod
    def consumer_init(cfg):
        misbehave(cfg, "consumer_init")
        cfg.out = []

    @staticmethod
    def consumer_work(cfg, data):
        misbehave(cfg, "consumer_work", data)
        cfg.out.append(data)

    @staticmethod
    def consumer_end(cfg):
        misbehave(cfg, "consumer_end")
        return cfg.out


class EnoughError(Exception):
    """Raised by a consumer to stop an endless input."""


class StopAfter(UnorderedRunner):
    """Consume cfg.limit results, then raise EnoughError."""

    @staticmethod
    def consumer_init(cfg):
        cfg.seen = 0

    @staticmethod
    def consumer_work(cfg, data):
        cfg.seen += 1
        if cfg.seen >= cfg.limit:
            raise EnoughError(f"stopped after {cfg.seen} results")


class SlowConsumer(SumOfSquares):
    @staticmethod
    def consumer_work(cfg, data):
        time.sleep(0.002)
        cfg.sum += data


class SlowProducer(UnorderedRunner):
    """Each item sleeps cfg.seconds (default 60 s): a producer that is busy for good."""

    @staticmethod
    def producer_work(device, cfg, data):
        time.sleep(cfg.get("seconds", 60.0))
        return data


class Logged(SumOfSquares):
    """Append 'init <pid>' / 'end <pid>' to a file per producer in cfg.log_dir."""

    @staticmethod
    def producer_init(device, cfg):
        with open(os.path.join(cfg.log_dir, f"{os.getpid()}.log"), "a") as log:
            log.write(f"init {device}\n")

    @staticmethod
    def producer_end(device, cfg):
        with open(os.path.join(cfg.log_dir, f"{os.getpid()}.log"), "a") as log:
            log.write(f"end {device}\n")


class AttrCfg(dict):
    """A stand-in for CfgNode: a dict subclass with attribute access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


class CfgTypes(CollectResults, OrderedRunner):
    """Report the type of cfg that each hook sees, and what producer_init stored."""

    @staticmethod
    def producer_init(device, cfg):
        cfg.ready = device

    @staticmethod
    def producer_work(device, cfg, data):
        return (type(cfg).__name__, cfg.ready, cfg.get("nested", {}).get("x"), os.getpid())

    @staticmethod
    def consumer_init(cfg):
        assert "calls" not in cfg, "the consumer must get a fresh cfg each call"
        cfg.calls = 1
        cfg.out = [type(cfg).__name__]


class Devices(Collect):
    @staticmethod
    def producer_work(device, cfg, data):
        return device


class BoomError(Exception):
    """An exception that pickles but cannot be rebuilt (its __init__ needs two arguments)."""

    def __init__(self, lock, message):
        super().__init__(message)
        self.lock = lock


class UnpicklableError(UnorderedRunner):
    @staticmethod
    def producer_work(device, cfg, data):
        raise BoomError(threading.Lock(), "with a lock")


class Reentrant(UnorderedRunner):
    """A consumer that calls its own runner (not allowed)."""

    target: Any = None

    @staticmethod
    def consumer_work(cfg, data):
        Reentrant.target([data])
