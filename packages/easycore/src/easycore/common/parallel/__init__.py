"""``easycore.common.parallel``: the documented names of ``easycore_parallel``, re-exported."""

from easycore_parallel import *
from easycore_parallel import __all__ as __all__
