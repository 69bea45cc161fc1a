"""The shared-memory rings that carry tensors of 64 KiB to 1 MiB between processes.

A ring never blocks: with no room, ``put`` says so and the tensor travels by value. Space
is reused once the reader freed the oldest records, in any order they are freed.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading

import pytest
import torch
from _torch_runners import Describe, Echo, RingHeads
from _torch_support import FORK, open_fds

import easycore_torch
from easycore_torch import NotPicklableError

pytestmark = pytest.mark.skipif(
    not easycore_torch._HAS_MEMFD, reason="rings need memfd_create (Linux)"
)

MEDIUM = 128 * 1024  # float32 elements: 512 KiB, between the ring's bounds
RECORD = 64 + 512 * 1024  # a 512 KiB record with its header
RECORDS_PER_RING = easycore_torch._RING_BYTES // RECORD


def new_ring() -> easycore_torch._SharedRing:
    ring = easycore_torch._SharedRing.create()
    assert ring is not None
    return ring


def put(ring, tensor: torch.Tensor) -> int | None:
    return ring.put(tensor.data_ptr(), tensor.numel() * tensor.element_size())


def take(ring, offset: int, nbytes: int) -> torch.Tensor:
    """Copy a record of float32 values out of ``ring``."""
    return torch.empty(0).set_(ring.take(offset, nbytes))


def test_ring_returns_what_was_put_in_and_frees_it() -> None:
    ring = new_ring()
    tensor = torch.randn(MEDIUM)
    offset = put(ring, tensor)
    assert offset == 0
    copy = take(ring, offset, tensor.nbytes)
    assert torch.equal(copy, tensor)
    assert copy.data_ptr() != tensor.data_ptr()
    assert put(ring, tensor) == 0  # freed and empty: the next record starts over


def test_full_ring_refuses_until_the_oldest_record_is_freed() -> None:
    ring = new_ring()
    tensor = torch.ones(MEDIUM)
    offsets = [put(ring, tensor) for _ in range(RECORDS_PER_RING)]
    assert None not in offsets
    assert put(ring, tensor) is None  # full: the caller sends by value instead
    ring.release(offsets[5])  # freed out of order: still no room before the oldest
    assert put(ring, tensor) is None
    ring.release(offsets[0])
    assert put(ring, tensor) is not None


def test_ring_wraps_around_and_never_overwrites_unread_records() -> None:
    ring = new_ring()
    live: dict[int, float] = {}
    written = 0
    for step in range(10 * RECORDS_PER_RING):
        value = float(step)
        offset = put(ring, torch.full((MEDIUM,), value))
        if offset is None:
            # Read the oldest two (in order) and go on: space comes back at the start.
            for oldest in sorted(live, key=live.get)[:2]:
                got = take(ring, oldest, MEDIUM * 4)
                assert bool((got == live.pop(oldest)).all())
            continue
        assert offset not in live
        live[offset] = value
        written += 1
    for offset, value in live.items():
        got = take(ring, offset, MEDIUM * 4)
        assert bool((got == value).all())
    assert written > 3 * RECORDS_PER_RING


def test_message_through_a_ring_carries_no_tensor_data() -> None:
    ring = new_ring()
    tensor = torch.randn(MEDIUM)
    # As an activation's transport pickles a batch in the caller: through its inputs ring.
    message = easycore_torch._TensorTransport(ring, os.getpid()).dumps([tensor])
    assert len(message) < 1024 < tensor.nbytes
    [copy] = pickle.loads(message)
    assert torch.equal(copy, tensor)
    assert not tensor.is_shared()


def test_failed_pickling_frees_the_records_it_took() -> None:
    ring = new_ring()
    transport = easycore_torch._TensorTransport(ring, os.getpid())
    for _ in range(3 * RECORDS_PER_RING):
        with pytest.raises(TypeError):
            transport.dumps([torch.randn(MEDIUM), threading.Lock()])
    assert put(ring, torch.randn(MEDIUM)) is not None, "failed messages leaked records"


def test_tensor_from_a_ring_this_process_lacks_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"shared ring 'gone-1'.*runner that is closed"):
        easycore_torch._rebuild_storage_from_ring("gone-1", 0, 4)


METHODS = [
    m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("start_method", METHODS)
def test_medium_tensors_cross_both_ways_through_rings_exactly(start_method, leftovers) -> None:
    # 60 x 512 KiB each way: several times round every ring.
    inputs = [torch.full((256, 512), float(i)) for i in range(60)]
    threads = 1 if start_method == "fork" else None
    with Echo(["cpu", "cpu"], start_method=start_method, threads_per_producer=threads) as runner:
        before = open_fds()
        outputs = runner(inputs)
        assert open_fds() - before < 10
    for i, output in enumerate(outputs):
        assert output.shape == (256, 512)
        assert bool((output == i).all())
        assert not output.is_shared()
    assert not any(t.is_shared() for t in inputs), "inputs are copied, never moved"
    leftovers.assert_none()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("start_method", ["fork", "forkserver"])
def test_runner_sends_medium_tensors_through_its_rings(start_method, leftovers) -> None:
    threads = 1 if start_method == "fork" else None
    with RingHeads(["cpu"], start_method=start_method, threads_per_producer=threads) as runner:
        assert runner(["where"]) == [0]
        runner(["tensor", torch.zeros(MEDIUM)])  # a result, then an input, of 512 KiB
        assert runner._rings.inputs._head == RECORD
        assert runner(["where"]) == [RECORD]
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_producer_receives_medium_inputs_as_private_copies(leftovers) -> None:
    tensor = torch.arange(MEDIUM, dtype=torch.float32)
    with Describe(["cpu"], **FORK) as runner:
        [info] = runner([tensor])
    assert info == {"shared": False, "sum": float(MEDIUM * (MEDIUM - 1) / 2)}
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_runner_goes_on_by_value_when_its_rings_are_full(leftovers) -> None:
    # One batch of 40 x 512 KiB does not fit an 8 MiB ring: the rest travels by value.
    inputs = [torch.full((MEDIUM,), float(i)) for i in range(40)]
    with Echo(["cpu"], queue_scale=1, **FORK) as runner:
        runner(inputs[:1])
        outputs = runner([inputs])  # one item holding all 40 tensors
    assert [float(t[0]) for t in outputs[0]] == [float(i) for i in range(40)]
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_item_that_cannot_be_pickled_leaves_the_rings_usable(leftovers) -> None:
    with Echo(["cpu"], **FORK) as runner:
        for _ in range(3 * RECORDS_PER_RING):
            with pytest.raises(NotPicklableError):
                runner([[torch.randn(MEDIUM), threading.Lock()]])
        assert torch.equal(runner([torch.ones(MEDIUM)])[0], torch.ones(MEDIUM))
    leftovers.assert_none()
