"""``easycore.common.registry``: the documented names of ``easycore_registry``, re-exported."""

from easycore_registry import *
from easycore_registry import __all__ as __all__
