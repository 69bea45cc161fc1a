"""``easycore.common.path``: the documented names of ``easycore_path``, re-exported."""

from easycore_path import *
from easycore_path import __all__ as __all__
