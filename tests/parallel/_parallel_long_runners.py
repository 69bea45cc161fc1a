"""Runners for the long-run tests, at module level so spawned producers import them.

Items are ints. ``cfg`` names the bad ones: ``raise_at`` raise ``ValueError``, ``exit_at``
call ``os._exit(3)``, ``hang_at`` sleep for an hour, ``unpicklable_at`` return a lambda,
``kill_at`` SIGKILL their own producer once a run (``cfg.marks`` holds a file per kill,
so that a replaced producer does not kill itself again). Every other item gives
``(item, pid)``. ``cfg.log`` is a folder where ``producer_init`` and ``producer_end``
leave a file per call.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path
from typing import Any

from _runner_hooks import CollectResults

from easycore_parallel import OrderedRunner, UnorderedRunner


def _work(cfg: Any, data: int) -> Any:
    if data in cfg.get("raise_at", ()):
        raise ValueError(f"bad item {data}")
    if data in cfg.get("exit_at", ()):
        os._exit(3)
    if data in cfg.get("hang_at", ()):
        time.sleep(3600)
    if data in cfg.get("unpicklable_at", ()):
        return lambda: data
    if data in cfg.get("kill_at", ()):
        mark = Path(cfg.marks) / str(data)
        if not mark.exists():
            mark.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    return (data, os.getpid())


def _log(cfg: Any, what: str) -> None:
    if cfg.get("log"):
        (Path(cfg.log) / f"{what}-{os.getpid()}-{time.monotonic_ns()}").touch()


class Faulty(CollectResults, OrderedRunner):
    """Collect ``(item, pid)`` in input order; the items named in ``cfg`` misbehave."""

    @staticmethod
    def producer_init(device, cfg):
        _log(cfg, "init")

    @staticmethod
    def producer_work(device, cfg, data):
        return _work(cfg, data)

    @staticmethod
    def producer_end(device, cfg):
        _log(cfg, "end")


class UnorderedFaulty(Faulty):
    """``Faulty`` whose consumer takes results as they come."""

    _ordered = False


class ReplyRefusedOnce(Faulty):
    """``Faulty`` whose first reply of several items cannot be sent, once per runner.

    ``producer_init`` makes the producer's pickling of a reply raise what a system out of
    file descriptors raises: the whole batch is lost in transit, not one item. The first
    producer to get there leaves a mark in ``cfg.marks``, so it happens once in all.
    """

    @staticmethod
    def producer_init(device, cfg):
        import easycore_parallel as ep

        real_dumps = ep._dumps

        def dumps(obj, *args):
            if type(obj) is ep._Done and len(obj.results) + len(obj.skipped) > 1:
                try:
                    os.close(os.open(Path(cfg.marks) / "refused", os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    pass
                else:
                    raise OSError(errno.EMFILE, "Too many open files")
            return real_dumps(obj, *args)

        ep._dumps = dumps


class Chaos(UnorderedRunner):
    """Count the items consumed, each once: ``consumer_end`` returns them as a sorted list."""

    @staticmethod
    def producer_work(device, cfg, data):
        if data % cfg.raise_every == 1:
            raise ValueError(f"bad item {data}")
        if data == cfg.exit_at:
            os._exit(3)
        if data == cfg.hang_at:
            time.sleep(3600)
        return data

    @staticmethod
    def consumer_init(cfg):
        cfg.seen = bytearray(cfg.items)
        cfg.twice = []

    @staticmethod
    def consumer_work(cfg, data):
        if cfg.seen[data]:
            cfg.twice.append(data)
        cfg.seen[data] = 1
        if cfg.get("on_item"):
            cfg.on_item(data)

    @staticmethod
    def consumer_end(cfg):
        return cfg.seen, cfg.twice
