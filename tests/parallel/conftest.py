"""Fixtures of the easycore-parallel tests: start methods, leftover-process checks, scripts."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent

# Producers started by spawn or forkserver import the test runners by module name; they
# inherit sys.path from this process.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _parallel_support import HELPERS, START_METHODS  # noqa: E402  (needs sys.path above)
from _process_checks import Leftovers  # noqa: E402  (tests/_helpers is on sys.path: tests/conftest.py)


@pytest.fixture(params=START_METHODS)
def start_method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def leftovers() -> Leftovers:
    return Leftovers()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """Ray started in this process once, for every test of the Ray backend.

    Two CPUs, and one GPU that Ray only counts (no test touches CUDA): it lets the tests
    check how ``cuda:N`` devices map to actors. The actors import the test runners from
    this folder, and the hooks they share from tests/_helpers, through ``PYTHONPATH``.
    """
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.fail("Ray is already initialized in this process; the tests start their own")
    ray.init(
        num_cpus=2,
        num_gpus=1,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 << 20,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(HERE), str(HELPERS)])}},
    )
    yield ray
    ray.shutdown()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Ray's processes live until the end of the session (starting Ray takes seconds), and
    # every later test's leftover-process check would see them: run the Ray tests last.
    items.sort(key=lambda item: "ray_session" in getattr(item, "fixturenames", ()))
