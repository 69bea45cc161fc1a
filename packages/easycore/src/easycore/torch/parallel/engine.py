"""``easycore.torch.parallel.engine``: where the reference's "Bases:" lines point."""

from easycore.torch.parallel import BaseRunner, OrderedRunner, UnorderedRunner

__all__ = ["BaseRunner", "OrderedRunner", "UnorderedRunner"]
