"""easycore_torch's runners take backend="ray" too: torch set up in each actor, tensors by value."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("ray")
torch = pytest.importorskip("torch")
pytest.importorskip("easycore_torch")

from _parallel_ray_support import assert_no_producers  # noqa: E402
from _parallel_ray_torch_runners import TorchScale  # noqa: E402

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.mark.timeout(120)
def test_torch_runner_runs_on_ray_actors_with_its_producer_setup():
    small = [torch.full((4,), float(i)) for i in range(6)]
    large = torch.arange(600_000, dtype=torch.float32)  # 2.4 MB: shared memory elsewhere
    with TorchScale(2, backend="ray", threads_per_producer=1) as runner:
        assert runner.start_method is None
        out = runner([*small, large])
    for (result, _, _, _), item in zip(out, [*small, large], strict=True):
        assert torch.equal(result, item * 2)
    assert {threads for _, threads, _, _ in out} == {1}  # _setup_producer ran in the actors
    assert os.getpid() not in {pid for _, _, pid, _ in out}
    assert {device for _, _, _, device in out} == {"cpu"}
    assert_no_producers()
