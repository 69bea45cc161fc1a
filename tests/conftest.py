"""Shared by every test folder: ``tests/_helpers`` on sys.path, for the helpers kept there.

Only that folder goes on sys.path, never ``tests/`` itself: its subfolders would import
as namespace packages, and ``tests/torch`` would then pass for torch where torch is not
installed (the alone matrix).
"""

from __future__ import annotations

import sys
from pathlib import Path

HELPERS = str(Path(__file__).resolve().parent / "_helpers")
if HELPERS not in sys.path:
    sys.path.insert(0, HELPERS)
