"""easycore_torch.imap and runner.imap: tensors in and out, models per producer."""

from __future__ import annotations

import itertools

import pytest
import torch
from _torch_functions import FAILING_ITEM, double, double_or_fail, load_net, predict
from _torch_runners import Collect, expected_predictions

from easycore_torch import imap

# One size per way a tensor travels: by value, through a ring, in a segment of its own.
SIZES = {"8 B": 2, "256 KiB": 64 << 10, "2 MiB": 512 << 10}


def tensors(count: int, elements: int) -> list[torch.Tensor]:
    return [torch.full((elements,), float(i)) + torch.arange(elements) for i in range(count)]


@pytest.mark.timeout(120)
def test_init_loads_a_model_per_producer_and_fn_predicts_with_it(leftovers):
    numbers = list(range(40))
    outputs = imap(predict, numbers, ["cpu", "cpu"], init=load_net, cfg={"seed": 0})
    assert torch.allclose(torch.cat(list(outputs)), expected_predictions(numbers))
    leftovers.assert_none()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
@pytest.mark.parametrize("elements", SIZES.values(), ids=SIZES.keys())
def test_tensors_of_every_size_come_back_as_map_gives_them(elements, ordered):
    inputs = tensors(12, elements)
    results = list(imap(double, inputs, 2, ordered=ordered))
    expected = list(map(double, inputs))
    if not ordered:
        results.sort(key=lambda tensor: float(tensor[0]))
    assert len(results) == len(expected)
    assert all(torch.equal(got, want) for got, want in zip(results, expected, strict=True))


@pytest.mark.timeout(120)
def test_break_out_of_endless_tensor_imap_stops_its_producers(leftovers):
    endless = (torch.full((64 << 10,), float(i)) for i in itertools.count())
    for seen, result in enumerate(imap(double, endless, 2), 1):
        assert float(result[0]) == 2.0 * (seen - 1)
        if seen == 200:
            break
    leftovers.assert_none()


@pytest.mark.timeout(120)
def test_failing_tensor_raises_at_its_position():
    seen: list[torch.Tensor] = []
    inputs = [torch.full((4,), float(i)) for i in range(40)]
    with pytest.raises(ValueError, match=f"tensor {FAILING_ITEM} is bad"):
        seen.extend(imap(double_or_fail, inputs, 2))
    assert [float(t[0]) for t in seen] == [2.0 * i for i in range(FAILING_ITEM)]


@pytest.mark.timeout(120)
def test_another_runner_called_inside_an_imap_loop_keeps_both_rings_apart():
    inputs = tensors(30, 64 << 10)  # 256 KiB: both runners send through their rings
    with Collect(1) as inner:
        for outer, tensor in zip(imap(double, inputs, 1), inputs, strict=True):
            [echoed] = inner([tensor])
            assert torch.equal(outer, tensor * 2)
            assert torch.equal(echoed, tensor)


@pytest.mark.timeout(120)
def test_runner_imap_streams_tensors_from_a_long_lived_runner():
    inputs = tensors(20, 64 << 10)
    with Collect(2) as runner:
        for _ in range(2):
            assert all(map(torch.equal, runner.imap(inputs), inputs))


@pytest.mark.timeout(120)
def test_thread_backend_imap_with_tensors():
    inputs = tensors(20, 1000)
    results = imap(double, inputs, 2, backend="thread")
    assert all(map(torch.equal, results, map(double, inputs)))


@pytest.mark.timeout(120)
def test_lambdas_and_closures_run_under_the_default_start_method():
    scale = torch.tensor(3.0)
    results = imap(lambda t: t * scale, tensors(10, 5), 2)  # forkserver: sent by value
    assert all(map(torch.equal, results, (t * 3 for t in tensors(10, 5))))


@pytest.mark.timeout(120)
def test_lambdas_run_under_fork_with_one_thread_per_producer():
    scale = torch.tensor(3.0)
    results = imap(lambda t: t * scale, tensors(10, 5), 2, start_method="fork",
                   threads_per_producer=1)  # fmt: skip
    assert all(map(torch.equal, results, (t * 3 for t in tensors(10, 5))))
