"""The documented API: names, signatures, defaults, arguments and states."""

from __future__ import annotations

import collections.abc
import copy
import gc
import inspect
import json
import math
import pickle
import sys
import traceback
import weakref

import pytest
from _parallel_runners import AttrCfg, CfgTypes, Collect, SumOfPowers, SumOfSquares

import easycore_parallel as ep
from easycore_parallel import (
    BaseRunner,
    OrderedRunner,
    RunnerClosedError,
    RunnerError,
    UnorderedRunner,
)


def test_all_is_sorted_and_complete():
    assert ep.__all__ == sorted(ep.__all__)
    assert set(ep.__all__) == {
        "BaseRunner",
        "ItemFailure",
        "ItemTimeoutError",
        "NotPicklableError",
        "OrderedRunner",
        "ProducerDiedError",
        "RunnerClosedError",
        "RunnerError",
        "UnorderedRunner",
        "imap",
    }
    assert ep.__version__ == "0.1.0"


@pytest.mark.parametrize(
    "cls", [BaseRunner, UnorderedRunner, OrderedRunner], ids=lambda c: c.__name__
)
def test_constructor_signature_matches_the_reference(cls):
    params = inspect.signature(cls).parameters
    assert list(params)[:3] == ["devices", "cfg", "queue_scale"]
    assert dict(params["cfg"].default) == {}
    assert params["queue_scale"].default == 3.0
    for name in ("start_method", "backend", "progress", "address", "ray_init_kwargs"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert (
        params["start_method"].default,
        params["backend"].default,
        params["progress"].default,
        params["address"].default,
        params["ray_init_kwargs"].default,
    ) == (
        None,
        "process",
        False,
        None,
        None,
    )


def test_runners_share_the_base():
    assert issubclass(UnorderedRunner, BaseRunner)
    assert issubclass(OrderedRunner, BaseRunner)


HOOKS = [
    "producer_init",
    "producer_work",
    "producer_end",
    "consumer_init",
    "consumer_work",
    "consumer_end",
]


@pytest.mark.parametrize("hook", HOOKS)
def test_hooks_are_static_with_documented_defaults(hook):
    assert isinstance(inspect.getattr_static(BaseRunner, hook), staticmethod)
    cfg = ep._AttrDict()
    calls = {
        "producer_init": lambda: BaseRunner.producer_init("cpu", cfg),
        "producer_work": lambda: BaseRunner.producer_work("cpu", cfg, 42),
        "producer_end": lambda: BaseRunner.producer_end("cpu", cfg),
        "consumer_init": lambda: BaseRunner.consumer_init(cfg),
        "consumer_work": lambda: BaseRunner.consumer_work(cfg, 42),
        "consumer_end": lambda: BaseRunner.consumer_end(cfg),
    }
    assert calls[hook]() == (42 if hook == "producer_work" else None)
    assert cfg == {}


@pytest.mark.timeout(60)
def test_base_runner_is_usable_and_unordered_by_default():
    with BaseRunner(2, start_method="fork") as runner:
        assert runner(range(10)) is None  # default consumer_end


@pytest.mark.timeout(60)
def test_int_devices_mean_that_many_cpu_producers():
    from _parallel_runners import Devices

    with Devices(3, start_method="fork") as runner:
        assert set(runner(range(300))) == {"cpu"}
        assert "devices=['cpu', 'cpu', 'cpu']" in repr(runner)


@pytest.mark.timeout(60)
def test_devices_may_be_any_iterable_of_strings():
    from _parallel_runners import Devices

    with Devices(iter(["cpu", "mps"]), start_method="fork") as runner:
        assert set(runner(range(300))) <= {"cpu", "mps"}


BAD_DEVICES = [
    (0, ValueError, "at least one producer"),
    (-2, ValueError, "at least one producer"),
    ([], ValueError, "devices is empty"),
    (True, TypeError, "devices must be an int"),
    ("cpu", TypeError, r"single string: pass a list such as \['cpu'\]"),
    (["cpu", 0], TypeError, "devices must hold strings"),
]


@pytest.mark.parametrize(
    ("devices", "error", "message"), BAD_DEVICES, ids=[repr(d[0]) for d in BAD_DEVICES]
)
def test_bad_devices_are_refused(devices, error, message):
    with pytest.raises(error, match=message):
        SumOfSquares(devices)


BAD_SCALES = [
    (0, ValueError, "positive finite"),
    (-1.0, ValueError, "positive finite"),
    (math.inf, ValueError, "positive finite"),
    (math.nan, ValueError, "positive finite"),
    ("3", TypeError, "must be a number"),
    (True, TypeError, "must be a number"),
]


@pytest.mark.parametrize(
    ("scale", "error", "message"), BAD_SCALES, ids=[repr(s[0]) for s in BAD_SCALES]
)
def test_bad_queue_scale_is_refused(scale, error, message):
    with pytest.raises(error, match=message):
        SumOfSquares(1, queue_scale=scale)


@pytest.mark.parametrize(
    ("scale", "devices", "window"), [(3.0, 2, 6), (0.1, 2, 1), (1.5, 3, 5), (2, 1, 2)]
)
def test_queue_scale_sets_a_window_of_batches(scale, devices, window):
    assert ep._parse_window(scale, devices) == window


def test_unknown_backend_gets_a_suggestion():
    with pytest.raises(ValueError, match=r"backend='threads' is unknown.*did you mean 'thread'"):
        SumOfSquares(1, backend="threads")


def test_unknown_start_method_gets_a_suggestion():
    with pytest.raises(
        ValueError, match=r"start_method='forks' is not available.*did you mean 'fork'"
    ):
        SumOfSquares(1, start_method="forks")


def test_start_method_with_thread_backend_is_refused():
    with pytest.raises(ValueError, match="only applies to backend='process'"):
        SumOfSquares(1, backend="thread", start_method="fork")


def test_non_mapping_cfg_is_refused():
    with pytest.raises(TypeError, match="cfg must be a mapping"):
        SumOfSquares(1, cfg=[("a", 1)])


@pytest.mark.timeout(60)
def test_plain_dict_cfg_gives_hooks_attribute_access(start_method):
    with SumOfPowers(devices=3, cfg={"exponent": 3}, start_method=start_method) as runner:
        assert runner(list(range(100))) == sum(x**3 for x in range(100))


@pytest.mark.timeout(60)
def test_cfg_none_means_empty():
    with SumOfSquares(1, cfg=None, start_method="fork") as runner:
        assert runner(range(3)) == 5


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("cfg", "type_name"),
    [({"nested": {"x": 1}}, "_AttrDict"), (AttrCfg(nested={"x": 1}), "AttrCfg")],
    ids=["dict", "dict-subclass"],
)
def test_hooks_see_the_cfg_type_given(cfg, type_name, start_method):
    with CfgTypes(2, cfg, start_method=start_method) as runner:
        first = runner(range(4))
        second = runner(range(4))  # consumer_init asserts it gets a fresh copy each call
    assert first[0] == second[0] == type_name
    for seen, ready, nested, _pid in first[1:]:
        assert (seen, ready, nested) == (type_name, "cpu", 1)


@pytest.mark.timeout(60)
def test_user_cfg_is_copied_not_shared():
    cfg = {"exponent": 2}
    with SumOfPowers(1, cfg, start_method="fork") as runner:
        cfg["exponent"] = 3  # too late: the runner keeps its own copy
        assert runner(range(4)) == 14
    assert cfg == {"exponent": 3}


def test_attr_dict_is_a_full_mapping_whatever_the_keys():
    odd = "a key like any other"
    cfg = ep._AttrDict({"lr": 0.1, 3: "three", "__dict__": odd})
    cfg.update(epochs=2)
    cfg.setdefault("depth", 4)
    assert isinstance(cfg, collections.abc.MutableMapping)
    assert dict(cfg) == {"lr": 0.1, 3: "three", "__dict__": odd, "epochs": 2, "depth": 4}
    assert cfg == dict(cfg)
    assert len(cfg) == 5
    assert 3 in cfg
    assert "nope" not in cfg
    assert (cfg.lr, cfg.epochs, cfg[3], cfg["__dict__"]) == (0.1, 2, "three", odd)
    assert repr(cfg) == repr(dict(cfg))
    assert json.loads(json.dumps(dict(cfg), default=str))["lr"] == 0.1
    del cfg["lr"], cfg[3]
    assert cfg.pop("depth") == 4
    assert "lr" not in cfg
    assert not hasattr(cfg, "lr")
    with pytest.raises(KeyError):
        del cfg["lr"]
    assert dict(cfg) == {"__dict__": odd, "epochs": 2}


def test_attr_dict_is_freed_without_the_garbage_collector():
    # A dict serving as its own __dict__ was a reference cycle: each call's consumer cfg,
    # and whatever the hooks stored on it, waited for the collector.
    gc.disable()
    try:
        cfg = ep._to_cfg({"model": {"depth": 2}})
        cfg.big = bytearray(10**6)
        ref = weakref.ref(cfg)
        copied = weakref.ref(copy.deepcopy(cfg))
        del cfg
        assert ref() is None
        assert copied() is None
    finally:
        gc.enable()


def test_attr_dict_reads_writes_and_explains_missing_keys():
    cfg = ep._to_cfg({"lr": 0.1, "model": {"depth": 2}})
    cfg.epochs = 3
    assert (cfg.lr, cfg.model.depth, cfg["epochs"]) == (0.1, 2, 3)
    with pytest.raises(AttributeError, match="has no attribute 'lrr'") as caught:
        _ = cfg.lrr
    if sys.version_info >= (3, 12):  # Python's own suggestion (3.10+ only at top level)
        assert "Did you mean: 'lr'?" in "".join(traceback.format_exception(caught.value))
    with pytest.raises(KeyError, match="lrr"):
        _ = cfg["lrr"]

    for clone in (copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        clone.lr = 1.0
        assert clone["lr"] == 1.0
        assert cfg.lr == 0.1


@pytest.mark.timeout(60)
def test_calling_the_runner_from_its_own_hook_is_refused():
    from _parallel_runners import Reentrant

    with Reentrant(1, start_method="fork") as runner:
        Reentrant.target = runner
        with pytest.raises(RunnerError, match="inside a hook of the same Reentrant call"):
            runner([1])
        assert runner.is_activate
        Reentrant.target = None


@pytest.mark.timeout(60)
def test_repr_tells_devices_backend_and_state():
    runner = Collect(["cpu"], start_method="fork")
    assert (
        repr(runner) == "<Collect devices=['cpu'], backend='process', start_method='fork', active>"
    )
    runner.close()
    assert repr(runner).endswith("closed>")
    with pytest.raises(RunnerClosedError):
        runner([1])


@pytest.mark.timeout(60)
def test_per_call_startup_is_small_enough_to_call_often():
    with SumOfSquares(2, start_method="fork") as runner:
        for n in range(200):  # many short calls in a row work and stay correct
            assert runner(range(n % 7)) == sum(x * x for x in range(n % 7))


def test_cfg_that_cannot_be_copied_names_the_key():
    import threading

    from easycore_parallel import NotPicklableError

    with pytest.raises(NotPicklableError, match=r"cfg\['lock'\] \(_thread.lock .*cannot be copied"):
        SumOfSquares(1, {"lock": threading.Lock()}, start_method="fork")
