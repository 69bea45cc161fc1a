"""The public surface of easycore_torch: names, errors, signatures, the engine it reuses."""

from __future__ import annotations

import inspect
import pickle

import pytest
import torch
from _torch_runners import Collect
from _torch_support import FORK

import easycore_parallel
import easycore_torch
from easycore_torch import (
    BaseRunner,
    NotPicklableError,
    OrderedRunner,
    ProducerDiedError,
    RunnerClosedError,
    RunnerError,
    UnorderedRunner,
)

ERRORS = [
    "ItemTimeoutError",
    "NotPicklableError",
    "ProducerDiedError",
    "RunnerClosedError",
    "RunnerError",
]


def test_all_is_sorted_and_names_the_runners_and_errors() -> None:
    assert easycore_torch.__all__ == sorted(easycore_torch.__all__)
    assert set(easycore_torch.__all__) == {
        "BaseRunner",
        "ItemFailure",
        "OrderedRunner",
        "UnorderedRunner",
        "imap",
        *ERRORS,
    }
    for name in easycore_torch.__all__:
        assert getattr(easycore_torch, name).__doc__, f"{name} has no docstring"


def test_version_is_a_literal_shared_with_easycore_parallel() -> None:
    assert easycore_torch.__version__ == "0.1.0"
    assert easycore_torch.__version__ == easycore_parallel.__version__


@pytest.mark.parametrize("name", ERRORS)
def test_error_classes_are_easycore_parallels_own(name: str) -> None:
    assert getattr(easycore_torch, name) is getattr(easycore_parallel, name)


def test_errors_pickle_round_trip_with_their_attributes() -> None:
    died = ProducerDiedError("gone", device="cuda:1", pid=42, exitcode=-9)
    copy = pickle.loads(pickle.dumps(died))
    assert (type(copy), str(copy), copy.device, copy.pid, copy.exitcode) == (
        ProducerDiedError,
        "gone",
        "cuda:1",
        42,
        -9,
    )
    bad = pickle.loads(pickle.dumps(NotPicklableError("no", device="cpu", pid=7)))
    assert (type(bad), bad.device, bad.pid) == (NotPicklableError, "cpu", 7)
    closed = pickle.loads(pickle.dumps(RunnerClosedError("closed", reason="close()")))
    assert closed.reason == "close()"
    assert issubclass(NotPicklableError, (RunnerError, TypeError))


@pytest.mark.parametrize(
    ("ours", "engine"),
    [
        (BaseRunner, easycore_parallel.BaseRunner),
        (UnorderedRunner, easycore_parallel.UnorderedRunner),
        (OrderedRunner, easycore_parallel.OrderedRunner),
    ],
    ids=["BaseRunner", "UnorderedRunner", "OrderedRunner"],
)
def test_runners_subclass_the_engine_instead_of_copying_it(ours: type, engine: type) -> None:
    assert issubclass(ours, engine)
    assert ours.__mro__[1] is (easycore_parallel.BaseRunner if ours is BaseRunner else BaseRunner)
    for method in ("close", "activate", "__enter__", "__exit__", "is_activate"):
        assert getattr(ours, method) is getattr(easycore_parallel.BaseRunner, method)


def test_constructor_keeps_the_reference_signature_and_adds_keywords() -> None:
    parameters = inspect.signature(BaseRunner.__init__).parameters
    assert list(parameters)[:4] == ["self", "devices", "cfg", "queue_scale"]
    assert dict(parameters["cfg"].default) == {}
    assert parameters["queue_scale"].default == 3.0
    keyword_only = {name: p.default for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert keyword_only == {
        "threads_per_producer": None,
        "start_method": None,
        "backend": "process",
        "progress": False,
        "address": None,
        "ray_init_kwargs": None,
        "item_timeout": None,
        "on_error": "raise",
        "max_restarts": 0,
        "max_items_per_producer": None,
    }
    engine = inspect.signature(easycore_parallel.BaseRunner.__init__).parameters
    assert set(engine) <= set(parameters), "every engine argument is accepted here too"


@pytest.mark.parametrize(
    ("hook", "args", "expected"),
    [
        ("producer_init", ("cpu", {}), None),
        ("producer_work", ("cpu", {}, 5), 5),
        ("producer_end", ("cpu", {}), None),
        ("consumer_init", ({},), None),
        ("consumer_work", ({}, 5), None),
        ("consumer_end", ({},), None),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_default_hooks_behave_as_documented(hook: str, args: tuple, expected: object) -> None:
    assert isinstance(inspect.getattr_static(BaseRunner, hook), staticmethod)
    assert getattr(BaseRunner, hook)(*args) == expected


@pytest.mark.timeout(60)
def test_ordered_runner_keeps_input_order_and_can_be_called_again(leftovers) -> None:
    with Collect(devices=2, **FORK) as runner:
        assert runner.is_activate
        assert [int(x) for x in runner(range(300))] == list(range(300))
        assert runner([]) == []
        assert runner(iter([3, 1, 2])) == [3, 1, 2]
    assert not runner.is_activate
    leftovers.assert_none()


@pytest.mark.timeout(60)
def test_close_then_activate_starts_new_producers(leftovers) -> None:
    runner = Collect(["cpu", "cpu"], **FORK)
    runner.close()
    runner.close()  # idempotent
    with pytest.raises(RunnerClosedError, match="call activate"):
        runner([1])
    runner.activate()
    assert runner([1, 2]) == [1, 2]
    runner.close()
    leftovers.assert_none()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"threads_per_producer": 0}, ValueError, "at least 1 thread"),
        ({"threads_per_producer": -2}, ValueError, "at least 1 thread"),
        ({"threads_per_producer": 1.5}, TypeError, "must be an int or None"),
        ({"threads_per_producer": True}, TypeError, "must be an int or None"),
        ({"devices": ["cpu", "gpu:0"]}, ValueError, "'gpu:0' is not a torch device string"),
        ({"devices": []}, ValueError, "needs at least one producer"),
        ({"devices": "cpu"}, TypeError, "single string"),
        ({"queue_scale": 0}, ValueError, "positive"),
        ({"start_method": "forkk"}, ValueError, "did you mean 'fork'"),
        ({"cfg": 3}, TypeError, "cfg must be a mapping"),
    ],
    ids=[
        "zero-threads",
        "negative-threads",
        "float-threads",
        "bool-threads",
        "unknown-device",
        "no-devices",
        "device-string",
        "queue-scale",
        "start-method",
        "cfg-type",
    ],
)
def test_bad_arguments_fail_before_any_process_starts(kwargs, error, message, leftovers) -> None:
    arguments = {"devices": 2, **kwargs}
    with pytest.raises(error, match=message):
        Collect(**arguments)
    assert not leftovers.running()


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has mps")
@pytest.mark.parametrize(
    ("device", "why"),
    [
        ("mps", r"torch\.mps\.is_available\(\) is False"),
        ("xpu:0", r"torch\.xpu\.is_available\(\) is False"),
        ("meta", "torch has no 'meta' backend that runs producers"),
    ],
    ids=["mps", "xpu", "meta"],
)
@pytest.mark.parametrize("backend", ["process", "thread"])
def test_device_type_torch_cannot_run_here_fails_fast_naming_it(device, why, backend, leftovers):
    if device.startswith("xpu") and torch.xpu.is_available():
        pytest.skip("this machine has an xpu")
    with pytest.raises(ValueError, match=rf"device '{device}' cannot run here: {why}"):
        Collect(["cpu", device], backend=backend)
    assert not leftovers.running()
