"""Runner hooks shared by the parallel and torch test runners.

At module level so producers import them by name: tests/conftest.py puts this folder on
sys.path, which producers started by spawn or forkserver inherit, and the Ray actors of
tests/parallel find it on the PYTHONPATH that tests/parallel/conftest.py gives them.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any


class CollectResults:
    """Consumer hooks that return the results as a list, in the order the consumer got them.

    Name it before the runner class, so that its hooks come first in the method order:

    Example:
        >>> from easycore_parallel import OrderedRunner
        >>> class Squares(CollectResults, OrderedRunner):
        ...     @staticmethod
        ...     def producer_work(device, cfg, data):
        ...         return data * data
    """

    @staticmethod
    def consumer_init(cfg: Any) -> None:
        """Start an empty list of results on ``cfg``."""
        cfg.out = []

    @staticmethod
    def consumer_work(cfg: Any, data: Any) -> None:
        """Append one result."""
        cfg.out.append(data)

    @staticmethod
    def consumer_end(cfg: Any) -> list[Any]:
        """Return the list of results."""
        out: list[Any] = cfg.out
        return out


def misbehave(cfg: Any, hook: str, item: Any = None, **results: Callable[[], Any]) -> Any:
    """Do what ``cfg`` asks of ``hook`` (at item ``cfg.at``, for the per-item hooks).

    ``cfg.how`` is ``"raise"`` (the default: a ValueError), ``"sigkill"``, ``"exit"``
    (``os._exit(3)``), or the name of a bad result to return: ``"unpicklable"`` (a lock)
    or one of ``results``' makers. Returns ``None`` where ``cfg`` asks nothing.

    Example:
        >>> misbehave({"hook": "producer_work", "at": 3}, "producer_work", 2) is None
        True
    """
    if cfg.get("hook") != hook or (item is not None and item != cfg.get("at")):
        return None
    how = cfg.get("how", "raise")
    if how == "raise":
        raise ValueError(f"{hook} failed on purpose")
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "exit":
        os._exit(3)
    return {"unpicklable": threading.Lock, **results}[how]()
