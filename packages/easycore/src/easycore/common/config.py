"""``easycore.common.config``: the documented names of ``easycore_config``, re-exported."""

from easycore_config import *
from easycore_config import __all__ as __all__
