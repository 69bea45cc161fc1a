"""Runner hooks shared by the parallel and torch test runners.

At module level so producers import them by name: tests/conftest.py puts this folder on
sys.path, which producers started by spawn or forkserver inherit, and the Ray actors of
tests/parallel find it on the PYTHONPATH that tests/parallel/conftest.py gives them.
"""

from __future__ import annotations

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
