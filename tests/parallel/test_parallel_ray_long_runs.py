"""backend="ray" on long runs: item timeouts, skipped items, replaced actors."""

from __future__ import annotations

import time
import warnings

import pytest

ray = pytest.importorskip("ray")

from _parallel_long_runners import Faulty  # noqa: E402
from _parallel_ray_support import assert_no_producers  # noqa: E402

import easycore_parallel  # noqa: E402
from easycore_parallel import ItemTimeoutError, ProducerDiedError  # noqa: E402

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture
def late_replies(monkeypatch):
    """Make Ray hand over an actor's replies as late as it may: in reverse order.

    A finished call's reply is held while its actor has a later call pending, so when the
    actor dies (an item's ``os._exit``) the replies of the calls it finished before go
    with it. Under CPU load Ray does this by itself: the reply is sent by another thread
    of the actor, which ``os._exit`` can beat.
    """
    reply = easycore_parallel._RayBackend._reply

    def reply_late(backend, ref):
        if ref in backend._batches:  # not an actor's watch
            index, call_id, batch_id = backend._batches[ref]
            if (call_id, batch_id) in list(backend._pending[index])[:-1]:
                time.sleep(0.005)  # the caller would spin on ray.wait: let the actors run
                return []  # ray.wait offers the reply again next time
        return reply(backend, ref)

    monkeypatch.setattr(easycore_parallel._RayBackend, "_reply", reply_late)


@pytest.mark.timeout(240)
def test_ray_poison_item_is_found_when_its_actor_loses_finished_replies(late_replies):
    # The replaced actor runs the lost batch's items one at a time to find the one that
    # kills; finished items whose replies die with it must not take the blame (nor cost
    # a third restart, which max_restarts=2 does not allow).
    with Faulty(1, {"exit_at": (120,)}, backend="ray", on_error="skip", max_restarts=2) as runner:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = runner(range(240))
        failures = runner.failures
        assert runner.is_activate
    assert [item for item, _ in results] == [x for x in range(240) if x != 120]
    assert [(failure.index, type(failure.error)) for failure in failures] == [
        (120, ProducerDiedError)
    ]
    assert "running item 120 of the input alone" in str(failures[0].error)
    assert any("1 of 240 items failed" in str(w.message) for w in caught)
    assert_no_producers()


@pytest.mark.timeout(240)
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
