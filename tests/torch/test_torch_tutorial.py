"""The reference's neural-network predictors (examples 2 and 3) run as written on CPUs.

Under the default start method (forkserver) and under spawn, as CUDA devices would use,
so the runner classes and hooks travel by pickle exactly as on a GPU machine.
"""

from __future__ import annotations

import pytest
import torch
from _torch_runners import BatchedPredictor, Predictor, batch_generator, expected_predictions

START_METHODS = [None, "spawn"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("start_method", START_METHODS, ids=["default", "spawn"])
def test_example_2_predicts_one_number_per_item(start_method, leftovers) -> None:
    predictor = Predictor(devices=["cpu", "cpu"], start_method=start_method)
    assert predictor.start_method == (start_method or "forkserver")

    data_list = list(range(100))
    result = predictor(data_list)

    assert result.shape == (100, 3)
    torch.testing.assert_close(result, expected_predictions(data_list))
    predictor.close()
    leftovers.assert_none()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("start_method", START_METHODS, ids=["default", "spawn"])
def test_example_3_predicts_batches_and_concatenates_them(start_method, leftovers) -> None:
    predictor = BatchedPredictor(devices=["cpu", "cpu"], start_method=start_method)

    data_list = list(range(100))
    result = predictor(batch_generator(data_list, batch_size=10))

    assert result.shape == (100, 3)
    torch.testing.assert_close(result, expected_predictions(data_list))
    # A runner serves many calls; the generator may be endless-style (no len()).
    again = predictor(batch_generator(list(range(7)), batch_size=3))
    torch.testing.assert_close(again, expected_predictions(list(range(7))))
    predictor.close()
    leftovers.assert_none()


@pytest.mark.timeout(120)
def test_example_2_at_scale_keeps_no_descriptor_per_result(leftovers) -> None:
    # The reference's per-item pattern, kept at scale: 5000 tiny tensors are held by the
    # consumer at once. Shared-memory tensors would each hold a file descriptor open in
    # this process (EMFILE under the common `ulimit -n` of 1024).
    from _torch_support import FORK, open_fds

    with Predictor(devices=["cpu", "cpu"], **FORK) as predictor:
        predictor(range(10))
        before = open_fds()
        result = predictor(range(5000))
        assert open_fds() - before < 50
    assert result.shape == (5000, 3)
    leftovers.assert_none()
