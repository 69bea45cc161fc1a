"""Tensors cross processes through shared memory when large, by value when small.

The proofs are behaviours, not timings: a large tensor the consumer receives is the very
memory the producer holds (a write on one side shows on the other), and its message in
the pipe is a few hundred bytes where pickling would carry all its data. Small tensors
arrive as private copies and hold no file descriptor open.
"""

from __future__ import annotations

import pickle

import pytest
import torch
from _torch_runners import Describe, Echo, Faulty, KeepsBuffer, Layout, MakeTensor
from _torch_support import FORK, open_fds

import easycore_torch
from easycore_torch import NotPicklableError

LARGE = 4 << 20  # 4 Mi float32 = 16 MiB, well above the 1 MiB threshold
SMALL = 1000  # 4 KB


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("numel", "shared"), [(LARGE, True), (SMALL, False)], ids=["large-shared", "small-copied"]
)
def test_result_shares_memory_with_the_producer_only_when_large(numel, shared, leftovers):
    with KeepsBuffer(["cpu"], {"numel": numel}, **FORK) as runner:
        [sent] = runner(["send"])  # the consumer fills what it got with 7
        [seen_by_producer] = runner(["peek"])
    assert sent.is_shared() is shared
    assert float(sent[0]) == 7.0
    assert seen_by_producer == (7.0 if shared else 0.0)
    leftovers.assert_none()


def test_large_tensor_travels_as_a_handle_where_pickle_carries_its_bytes() -> None:
    tensor = torch.randn(LARGE)
    pickled = pickle.dumps(tensor, protocol=pickle.HIGHEST_PROTOCOL)
    ours = easycore_torch._TensorPickler.dumps(tensor, pickle.HIGHEST_PROTOCOL)
    assert len(pickled) > tensor.nbytes
    assert len(ours) < 2048
    assert tensor.is_shared()  # as with torch.multiprocessing, its storage moved to shm


def test_small_tensor_travels_by_value_without_touching_the_original() -> None:
    tensor = torch.randn(SMALL)
    data = easycore_torch._TensorPickler.dumps(tensor, pickle.HIGHEST_PROTOCOL)
    assert tensor.nbytes < len(data) < tensor.nbytes + 512
    assert not tensor.is_shared()
    copy = pickle.loads(data)
    assert torch.equal(copy, tensor)
    assert copy.data_ptr() != tensor.data_ptr()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("numel", "shared"), [(LARGE, True), (SMALL, False)], ids=["large-shared", "small-copied"]
)
def test_input_tensor_reaches_producer_the_same_way(numel, shared, leftovers):
    tensor = torch.arange(numel, dtype=torch.float32)
    with Describe(["cpu", "cpu"], **FORK) as runner:
        [info] = runner([tensor])
    assert info == {"shared": shared, "sum": float(numel * (numel - 1) / 2)}
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_thousands_of_small_tensors_hold_no_descriptors_either_way(leftovers):
    inputs = [torch.full((3,), float(i)) for i in range(3000)]
    with Echo(["cpu", "cpu"], **FORK) as runner:
        runner(inputs[:10])
        before = open_fds()
        outputs = runner(inputs)
        assert open_fds() - before < 50, "a descriptor per tensor runs out at ulimit -n 1024"
    assert torch.equal(torch.stack(outputs), torch.stack(inputs))
    assert not any(t.is_shared() for t in inputs)
    leftovers.assert_none()


VALUES = {
    "float32-matrix": lambda: torch.randn(5, 7),
    "transposed": lambda: torch.randn(7, 5).t(),
    "strided-slice": lambda: torch.arange(40.0)[::3],
    "conjugate-view": lambda: torch.randn(6, dtype=torch.complex64).conj(),
    "negative-view": lambda: torch._neg_view(torch.randn(4)),
    "large-conjugate-view": lambda: torch.randn(LARGE, dtype=torch.complex64).conj(),
    "large-negative-view": lambda: torch._neg_view(torch.randn(LARGE)),
    "scalar": lambda: torch.tensor(2.5),
    "empty": lambda: torch.empty(0, 3),
    "bool": lambda: torch.tensor([True, False, True]),
    "int64": lambda: torch.arange(10),
    "uint8": lambda: torch.arange(256, dtype=torch.uint8),
    "bfloat16": lambda: torch.randn(8).to(torch.bfloat16),
    "float16": lambda: torch.randn(8).half(),
    "complex128": lambda: torch.randn(3, dtype=torch.complex128),
    "leaf-requiring-grad": lambda: torch.ones(3, requires_grad=True),
    "view-of-large": lambda: torch.randn(LARGE)[:10],
    "large-slice-of-larger": lambda: torch.randn(2 * LARGE)[LARGE:],
    "parameter": lambda: torch.nn.Parameter(torch.randn(3)),
    "nested-in-dict": lambda: {"a": [torch.randn(2), (torch.ones(1), torch.zeros(LARGE))]},
}


def _assert_same(got, expected) -> None:
    if isinstance(expected, torch.Tensor):
        assert type(got) is type(expected)
        assert got.dtype == expected.dtype
        assert got.shape == expected.shape
        assert got.requires_grad == expected.requires_grad
        assert torch.equal(got.detach(), expected.detach().resolve_conj().resolve_neg())
    elif isinstance(expected, dict):
        assert got.keys() == expected.keys()
        for key in expected:
            _assert_same(got[key], expected[key])
    else:
        assert type(got) is type(expected)
        for a, b in zip(got, expected, strict=True):
            _assert_same(a, b)


@pytest.mark.timeout(60)
def test_every_kind_of_tensor_arrives_equal_both_ways(leftovers) -> None:
    values = {name: make() for name, make in VALUES.items()}
    with Echo(["cpu", "cpu"], **FORK) as runner:
        results = runner(list(values.values()))
    for (name, expected), got in zip(values.items(), results, strict=True):
        try:
            _assert_same(got, expected)
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from err
    leftovers.assert_none()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((1000, 300), "float32"), ((10,), "float64"), ((600, 600), "int16")],
    ids=["large-float32", "small-float64", "large-int16"],
)
def test_results_of_any_size_are_exact_and_private(shape, dtype, leftovers) -> None:
    with MakeTensor(2, {"shape": list(shape), "dtype": dtype}, **FORK) as runner:
        results = runner(range(6))
    for value, result in enumerate(results):
        assert result.shape == shape
        assert result.dtype == getattr(torch, dtype)
        assert bool((result == value).all())
    # Each result owns its memory: writing one leaves the others alone.
    results[0].fill_(42)
    assert bool((results[1] == 1).all())
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_result_that_torch_refuses_to_share_is_a_clear_error(leftovers) -> None:
    with Faulty(2, {"hook": "producer_work", "how": "grad", "at": 3}, **FORK) as runner:
        with pytest.raises(NotPicklableError, match="cannot be pickled") as info:
            runner(range(10))
        assert "requires_grad" in str(info.value)
        assert runner.is_activate
        assert runner(range(2)).shape == (2, 2)
    leftovers.assert_none()


SIZES = pytest.mark.parametrize(
    "numel", [SMALL, 32 * 1024], ids=["small-by-value", "medium-through-a-ring"]
)


@pytest.mark.timeout(60)
@SIZES
def test_memory_format_survives_both_ways(numel, leftovers) -> None:
    images = torch.randn(2, numel // 32, 4, 4).contiguous(memory_format=torch.channels_last)
    with Layout(["cpu"], **FORK) as runner:
        [seen] = runner([(images, images)])
    assert seen["channels_last"]
    assert seen["stride"] == images.stride()
    with Echo(["cpu"], **FORK) as runner:
        [back] = runner([images])
    assert back.stride() == images.stride()
    assert torch.equal(back, images)
    leftovers.assert_none()


@pytest.mark.timeout(60)
@SIZES
def test_views_of_one_storage_share_it_on_arrival(numel, leftovers) -> None:
    whole = torch.arange(numel, dtype=torch.float32)
    halves = (whole[: numel // 2], whole[numel // 2 :])
    with Layout(["cpu"], **FORK) as runner:
        [seen] = runner([halves])
    assert seen["shared_storage"]
    with Echo(["cpu"], **FORK) as runner:
        [(first, second)] = runner([halves])
    assert torch.equal(first, halves[0])
    assert torch.equal(second, halves[1])
    assert first.untyped_storage().data_ptr() == second.untyped_storage().data_ptr()
    torch.empty(0).set_(first.untyped_storage())[-1] = -1.0  # through the first view's storage
    assert float(second[-1]) == -1.0
    leftovers.assert_none()


def test_small_view_of_a_large_storage_travels_alone_with_its_layout() -> None:
    storage = torch.randn(64, 64, 64)  # 1 MiB
    view = storage[3, 2:6].t()  # 256 bytes, transposed
    message = easycore_torch._TensorPickler.dumps([view], pickle.HIGHEST_PROTOCOL)
    assert len(message) < 2048, "only the view's elements travel, not its whole storage"
    [copy] = pickle.loads(message)
    assert torch.equal(copy, view)
    assert copy.stride() == view.stride()
    assert copy.untyped_storage().nbytes() == view.numel() * 4


def test_expanded_tensor_travels_as_its_one_element() -> None:
    expanded = torch.tensor([2.5]).expand(100_000)  # 400 KB to read, 4 bytes of storage
    message = easycore_torch._TensorPickler.dumps([expanded], pickle.HIGHEST_PROTOCOL)
    assert len(message) < 1024
    [copy] = pickle.loads(message)
    assert copy.stride() == (0,)
    assert torch.equal(copy, expanded)
