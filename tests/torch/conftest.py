"""Fixtures of the easycore-torch tests: the runners' folder on sys.path, leftover checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Producers started by spawn or forkserver import the test runners by module name; they
# inherit sys.path from this process.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _process_checks import Leftovers  # noqa: E402  (tests/_helpers is on sys.path: tests/conftest.py)


@pytest.fixture
def leftovers() -> Leftovers:
    return Leftovers()
