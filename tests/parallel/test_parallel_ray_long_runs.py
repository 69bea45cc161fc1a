"""backend="ray" on long runs: item timeouts, skipped items, replaced actors."""

from __future__ import annotations

import warnings

import pytest

ray = pytest.importorskip("ray")

from _parallel_long_runners import Faulty  # noqa: E402
from _parallel_ray_support import assert_no_producers  # noqa: E402

from easycore_parallel import ItemTimeoutError, ProducerDiedError  # noqa: E402

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.mark.timeout(240)
@pytest.mark.xfail(
    strict=False,
    reason=(
        "known bug, Ray backend under CPU load: an actor's os._exit can lose the reply of a "
        "call it had finished, so isolating the poison item takes more than max_restarts=2, "
        "and with a larger budget an item next to it went missing from the results; passes "
        "on a quiet machine"
    ),
)
def test_ray_skip_timeout_and_restarts_keep_the_accounting_exact():
    cfg = {"raise_at": (5, 60), "exit_at": (120,), "hang_at": (170,)}
    with Faulty(2, cfg, backend="ray", on_error="skip", item_timeout=2.0, max_restarts=2) as runner:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = runner(range(240))
        kinds = {failure.index: type(failure.error) for failure in runner.failures}
        assert runner.is_activate
    assert [item for item, _ in results] == [x for x in range(240) if x not in (5, 60, 120, 170)]
    assert kinds == {
        5: ValueError,
        60: ValueError,
        120: ProducerDiedError,
        170: ItemTimeoutError,
    }
    assert any("4 of 240 items failed" in str(w.message) for w in caught)
    assert_no_producers()


@pytest.mark.timeout(240)
def test_ray_max_items_per_producer_replaces_actors():
    with Faulty(2, backend="ray", max_items_per_producer=30) as runner:
        results = runner(range(150))
    assert [item for item, _ in results] == list(range(150))
    assert len({pid for _, pid in results}) >= 5
    assert_no_producers()
