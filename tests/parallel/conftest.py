"""Fixtures of the easycore-parallel tests: start methods, leftover-process checks, scripts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Producers started by spawn or forkserver import the test runners by module name; they
# inherit sys.path from this process.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _parallel_support import START_METHODS, Leftovers  # noqa: E402  (needs sys.path above)


@pytest.fixture(params=START_METHODS)
def start_method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def leftovers() -> Leftovers:
    return Leftovers()
