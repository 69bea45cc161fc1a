"""imap and runner.imap on backend="ray": the same iterator, producers as Ray actors.

Shares the Ray session of conftest.py (2 CPUs); each test checks its actors are gone.
"""

from __future__ import annotations

import itertools

import pytest

ray = pytest.importorskip("ray")

from _parallel_functions import FAILING_ITEM, add_offset, fail_at_37, jittered_square  # noqa: E402
from _parallel_ray_support import assert_no_producers  # noqa: E402
from _parallel_runners import SumOfSquares  # noqa: E402

from easycore_parallel import imap  # noqa: E402

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.mark.timeout(120)
def test_imap_on_ray_yields_what_map_yields():
    assert list(imap(jittered_square, range(1000), 2, backend="ray")) == [
        x * x for x in range(1000)
    ]
    assert_no_producers()


@pytest.mark.timeout(120)
def test_imap_on_ray_runs_closures_and_init_in_the_actors(tmp_path):
    offset = 5
    results = imap(lambda state, x: add_offset(state, x)[0] + offset, range(100), 2,
                   init=lambda device, cfg: {"device": device, "pid": 0, "offset": cfg.k},
                   cfg={"k": 10}, backend="ray")  # fmt: skip
    assert list(results) == [x + 15 for x in range(100)]
    assert_no_producers()


@pytest.mark.timeout(120)
def test_failing_item_on_ray_raises_at_its_position():
    seen: list[int] = []
    with pytest.raises(ValueError, match="is bad"):
        seen.extend(imap(fail_at_37, range(500), 2, backend="ray"))
    assert seen == [x * x for x in range(FAILING_ITEM)]
    assert_no_producers()


@pytest.mark.timeout(120)
def test_break_out_of_endless_imap_on_ray_stops_its_actors():
    for x in imap(jittered_square, itertools.count(), 2, backend="ray"):
        if x > 10_000:
            break
    assert_no_producers()


@pytest.mark.timeout(120)
def test_runner_imap_on_ray_leaves_the_runner_usable():
    with SumOfSquares(2, backend="ray") as runner:
        for x in runner.imap(itertools.count()):
            if x > 10_000:
                break
        assert runner(range(100)) == 328350
        assert sorted(runner.imap(range(10))) == [x * x for x in range(10)]
    assert_no_producers()
