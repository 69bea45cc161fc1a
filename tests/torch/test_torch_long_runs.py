"""Long runs on easycore-torch: the engine's options with tensors and torch's starts."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from _torch_long_runners import DiesBeforeItsReplyIsRead, FaultyTensors

from easycore_torch import ItemTimeoutError, ProducerDiedError, imap

ITEMS = 300


def items_of(results: list[torch.Tensor]) -> list[int]:
    return [int(tensor[0]) for tensor in results]


def pids_of(results: list[torch.Tensor]) -> set[int]:
    return {int(tensor[2]) for tensor in results}


@pytest.mark.timeout(180)
def test_skip_timeout_and_restarts_together_keep_the_accounting_exact(leftovers):
    cfg = {"raise_at": (5, 77), "exit_at": (150,), "hang_at": (220,)}
    with FaultyTensors(2, cfg, item_timeout=2.0, on_error="skip", max_restarts=2) as runner:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = runner(range(ITEMS))
        failures = runner.failures
    assert items_of(results) == [x for x in range(ITEMS) if x not in (5, 77, 150, 220)]
    for tensor in results:
        assert tensor[1] == tensor[0] * tensor[0]
    kinds = {failure.index: type(failure.error) for failure in failures}
    assert kinds == {
        5: ValueError,
        77: ValueError,
        150: ProducerDiedError,
        220: ItemTimeoutError,
    }
    assert any("4 of 300 items failed" in str(w.message) for w in caught)
    leftovers.assert_none()


@pytest.mark.timeout(180)
def test_max_items_per_producer_recycles_torch_producers(tmp_path: Path):
    with FaultyTensors(2, {"log": str(tmp_path)}, max_items_per_producer=40) as runner:
        results = runner(range(200))
        again = runner(range(10))
    assert items_of(results) == list(range(200))
    assert items_of(again) == list(range(10))
    assert len(pids_of(results)) >= 5
    inits = {path.name.split("-")[1] for path in tmp_path.glob("init-*")}
    assert {str(pid) for pid in pids_of(results)} <= inits
    assert len(list(tmp_path.glob("end-*"))) == len(list(tmp_path.glob("init-*")))


@pytest.mark.timeout(120)
def test_torch_imap_skips_failed_items():
    with pytest.warns(RuntimeWarning, match="1 of 20 items failed"):
        got = list(
            imap(
                _reciprocal,
                range(20),
                2,
                on_error="skip",
                start_method="fork",
                threads_per_producer=1,
            )
        )
    assert [float(value) for value in got] == pytest.approx([1.0 / x for x in range(1, 20)])


def _reciprocal(x: int) -> torch.Tensor:
    if x == 0:
        raise ZeroDivisionError("no reciprocal of 0")
    return torch.tensor(1.0 / x)


def test_thread_backend_refuses_item_timeout():
    with pytest.raises(ValueError, match="thread"):
        FaultyTensors(1, backend="thread", item_timeout=1.0)


TIMING = {"pause": 0.3, "nap": 1.5}
BIG = 1 << 20  # 4 MiB of float32: beside the pipe, in shared memory


@pytest.mark.timeout(120)
def test_a_reply_whose_producer_died_before_it_was_read_is_a_death(leftovers):
    # Found: the caller, fetching the tensor's memory from a producer already gone, raised
    # ConnectionResetError from inside the engine (the run ended; the runner did not say
    # a producer had died, nor could max_restarts replace it).
    with DiesBeforeItsReplyIsRead(["cpu"], TIMING) as runner:
        with pytest.raises(ProducerDiedError, match="exit"):
            runner(["first", BIG, "exit"])
        assert not runner.is_activate
    leftovers.assert_none()


@pytest.mark.timeout(120)
def test_a_reply_lost_with_its_producer_runs_again_under_max_restarts(leftovers):
    with DiesBeforeItsReplyIsRead(["cpu"], TIMING, on_error="skip", max_restarts=2) as runner:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            results = runner(["first", BIG, "exit"])
        failures = runner.failures
        assert runner.is_activate
    assert results[0] == "first"
    assert torch.equal(results[1], torch.ones(BIG))
    assert len(results) == 2
    assert [(failure.index, type(failure.error)) for failure in failures] == [
        (2, ProducerDiedError)
    ]
    leftovers.assert_none()
