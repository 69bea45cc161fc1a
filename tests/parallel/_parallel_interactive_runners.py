"""Runners for the issue-13 tests (hooks that misbehave, stuck producers, reused buffers).

At module level, so producers started by spawn or forkserver import them by name.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from _runner_hooks import CollectResults

from easycore_parallel import OrderedRunner, UnorderedRunner


class UnprintableError(Exception):
    """An exception whose ``str()`` raises, as some library errors do."""

    def __str__(self) -> str:
        raise RuntimeError("this exception cannot be printed")


def misbehave(cfg: Any, hook: str) -> None:
    """Do what ``cfg.how`` says when ``hook`` is ``cfg.hook``."""
    if cfg.get("hook") != hook:
        return
    how = cfg["how"]
    if how == "unprintable":
        raise UnprintableError()
    if how == "sys.exit":
        sys.exit(3)
    if how == "interrupt":
        raise KeyboardInterrupt


class Misbehaving(CollectResults, UnorderedRunner):
    """Misbehaves in the producer hook named by ``cfg.hook``; otherwise squares."""

    @staticmethod
    def producer_init(device, cfg):
        misbehave(cfg, "producer_init")

    @staticmethod
    def producer_work(device, cfg, data):
        if data == 3:
            misbehave(cfg, "producer_work")
        return data * data

    @staticmethod
    def producer_end(device, cfg):
        misbehave(cfg, "producer_end")

    @staticmethod
    def consumer_end(cfg):
        return sorted(cfg.out)


class CallsItself(CollectResults, UnorderedRunner):
    """A producer hook (``cfg.hook``) that calls ``CallsItself.target``, its own runner."""

    target: Any = None

    @staticmethod
    def producer_init(device, cfg):
        if cfg.hook == "producer_init" and CallsItself.target is not None:
            CallsItself.target([1])

    @staticmethod
    def producer_work(device, cfg, data):
        if cfg.hook == "producer_work" and CallsItself.target is not None:
            return CallsItself.target([data])
        return data

    @staticmethod
    def consumer_end(cfg):
        return sorted(cfg.out)


class Stuck(UnorderedRunner):
    """Items from 1 on sleep far longer than any test: only close() can end them."""

    started: Any = None  # a threading.Event the test sets here; the consumer sets it

    @staticmethod
    def producer_work(device, cfg, data):
        if data >= 1:
            time.sleep(600)
        return data

    @staticmethod
    def consumer_work(cfg, data):
        if Stuck.started is not None:
            Stuck.started.set()


class ReusedBuffer(CollectResults, OrderedRunner):
    """producer_work returns the same list each time, changed in place."""

    @staticmethod
    def producer_init(device, cfg):
        cfg.buffer = [0, 0]

    @staticmethod
    def producer_work(device, cfg, data):
        cfg.buffer[0] = data
        cfg.buffer[1] = data * data
        return cfg.buffer

    @staticmethod
    def consumer_work(cfg, data):
        cfg.out.append(list(data))


class ReusedBufferInTuple(ReusedBuffer):
    """producer_work returns ``(data, buffer)``: an immutable tuple around a reused list."""

    @staticmethod
    def producer_work(device, cfg, data):
        cfg.buffer[0] = data
        cfg.buffer[1] = data * data
        return (data, cfg.buffer)

    @staticmethod
    def consumer_work(cfg, data):
        cfg.out.append((data[0], list(data[1])))


class StoresModelOnCfg(CollectResults, OrderedRunner):
    """The reference's predictor pattern: producer_init keeps its model on cfg."""

    @staticmethod
    def producer_init(device, cfg):
        cfg.model = {"scale": cfg.SCALE, "device": device}

    @staticmethod
    def producer_work(device, cfg, data):
        return data * cfg.model["scale"]
