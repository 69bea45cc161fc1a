"""``easycore.common.parallel.engine``: where the reference's "Bases:" lines point."""

from easycore_parallel import BaseRunner, OrderedRunner, UnorderedRunner

__all__ = ["BaseRunner", "OrderedRunner", "UnorderedRunner"]
