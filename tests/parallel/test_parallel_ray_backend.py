"""backend="ray": the tutorial, ordering, many calls and devices, on Ray started in-process.

Every test shares one Ray session (conftest.py: 2 CPUs, 1 counted GPU). Each runner
holds at most those two CPUs, and each test checks that its actors are gone afterwards.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import pytest

ray = pytest.importorskip("ray")

from _parallel_ray_runners import Where, all_producers  # noqa: E402  (after the skip)
from _parallel_ray_support import assert_no_producers  # noqa: E402
from _parallel_runners import (  # noqa: E402
    CfgTypes,
    Collect,
    EnoughError,
    JitteredSquares,
    StopAfter,
    SumOfPowers,
    SumOfSquares,
)

import easycore_parallel as ep  # noqa: E402
from easycore_parallel import RunnerClosedError  # noqa: E402

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.mark.timeout(60)
def test_tutorial_example_1_sum_of_squares():
    with SumOfSquares(devices=2, backend="ray") as runner:
        assert runner.start_method is None
        assert "backend='ray'" in repr(runner)
        assert runner(list(range(100))) == 328350
    assert not runner.is_activate
    assert_no_producers()


@pytest.mark.timeout(60)
def test_tutorial_example_4_cfg_reaches_the_actors():
    cfg = ep._AttrDict(exponent=3)
    with SumOfPowers(devices=2, cfg=cfg, backend="ray") as runner:
        assert runner(list(range(100))) == 24502500
    assert_no_producers()


@pytest.mark.timeout(60)
def test_each_producer_is_an_actor_process_of_its_own():
    with Where(2, backend="ray") as runner:
        rows = all_producers(runner, 2)
        node = ray.get_runtime_context().get_node_id()
        assert {(row[0], row[2]) for row in rows} == {(node, "cpu")}
        pids = {row[1] for row in rows}
        assert len(pids) == 2
        assert os.getpid() not in pids
    assert_no_producers()


@pytest.mark.timeout(60)
def test_ordered_runner_keeps_input_order_across_actors():
    with JitteredSquares(2, backend="ray") as runner:
        assert runner(range(1000)) == [x * x for x in range(1000)]
    assert_no_producers()


@pytest.mark.timeout(120)
def test_many_calls_on_one_runner():
    with Collect(2, backend="ray") as runner:
        for size in itertools.islice(itertools.cycle([0, 1, 7, 500]), 60):
            assert runner(range(size)) == list(range(size))
    assert_no_producers()


@pytest.mark.timeout(60)
def test_producers_keep_their_own_cfg_and_the_consumer_a_fresh_one():
    with CfgTypes(2, {"nested": {"x": 1}}, backend="ray") as runner:
        first, second = runner(range(10)), runner(range(10))
    assert first[0] == second[0] == "_AttrDict"
    assert {row[:3] for row in first[1:] + second[1:]} == {("_AttrDict", "cpu", 1)}
    assert_no_producers()


@pytest.mark.timeout(60)
def test_consumer_stops_endless_generator_and_the_runner_goes_on():
    with StopAfter(2, {"limit": 3000}, backend="ray") as runner:
        with pytest.raises(EnoughError, match="stopped after 3000 results"):
            runner(itertools.count())
        with pytest.raises(EnoughError):  # late replies of the first call are dropped
            runner(itertools.count())
        assert runner(range(5)) is None
    assert_no_producers()


@pytest.mark.timeout(60)
def test_empty_input_runs_consumer_init_and_end():
    with Collect(2, backend="ray") as runner:
        assert runner([]) == []
        assert runner(iter(())) == []


@pytest.mark.timeout(60)
def test_close_is_idempotent_and_activate_starts_new_actors():
    runner = Where(2, backend="ray")
    before = {row[1] for row in all_producers(runner, 2)}
    runner.close()
    runner.close()
    assert_no_producers()
    with pytest.raises(RunnerClosedError, match="closed by close"):
        runner([1])
    runner.activate()
    after = {row[1] for row in all_producers(runner, 2)}
    assert before.isdisjoint(after)
    runner.close()
    assert_no_producers()


@pytest.mark.timeout(60)
def test_cuda_device_is_an_actor_with_one_gpu_that_hooks_see_as_cuda_0():
    with Where(["cpu", "cuda:3"], backend="ray") as runner:
        rows = all_producers(runner, 2)
    assert {row[2:] for row in rows} == {("cpu", None), ("cuda:0", "0")}
    assert_no_producers()


@pytest.mark.timeout(60)
def test_more_devices_than_the_cluster_holds_fail_at_once():
    with pytest.raises(ValueError, match=r"need Ray actors with 3 CPU\(s\).*has 2 CPU\(s\)"):
        Where(3, backend="ray")
    with pytest.raises(ValueError, match=r"0 CPU\(s\) and 2 GPU\(s\).*1 GPU\(s\) in all"):
        Where(["cuda:0", "cuda:1"], backend="ray")
    assert_no_producers()


@pytest.mark.timeout(60)
def test_unclosed_runner_is_stopped_when_collected():
    with pytest.warns(ResourceWarning, match="unclosed runner"):
        use_and_drop_a_runner()
    assert_no_producers()


def use_and_drop_a_runner():
    runner = SumOfSquares(2, backend="ray")
    assert runner(range(10)) == 285


# -- Options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"address": "auto"}, ValueError, "address only apply to backend='ray'"),
        ({"ray_init_kwargs": {}}, ValueError, "ray_init_kwargs only apply to backend='ray'"),
        ({"backend": "ray", "start_method": "fork"}, ValueError, "only applies to backend="),
        ({"backend": "ray", "address": 6379}, TypeError, "address must be a str"),
        ({"backend": "ray", "ray_init_kwargs": ["num_cpus"]}, TypeError, "must be a mapping"),
        (
            {"backend": "ray", "address": "auto", "ray_init_kwargs": {"address": "auto"}},
            ValueError,
            "address is given twice",
        ),
        ({"backend": "rya"}, ValueError, "did you mean 'ray'"),
    ],
    ids=["address", "kwargs", "start_method", "address-type", "kwargs-type", "twice", "typo"],
)
def test_ray_options_are_checked(kwargs, error, message):
    with pytest.raises(error, match=message):
        SumOfSquares(2, **kwargs)


@pytest.mark.timeout(60)
def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(ImportError, match=r'pip install "easycore-parallel\[ray\]"'):
        SumOfSquares(2, backend="ray")


@pytest.mark.timeout(60)
def test_importing_easycore_parallel_does_not_import_ray():
    code = textwrap.dedent(
        """
        import sys
        import easycore_parallel
        assert "ray" not in sys.modules, "importing easycore_parallel imported ray"
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=50, check=False
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr
