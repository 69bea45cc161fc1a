"""Hostile inputs found in review: explicit None, unhashable names, copies and pickles."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import easycore_registry
from easycore_registry import AlreadyRegisteredError, NotRegisteredError, Registry

SRC = str(Path(easycore_registry.__file__).resolve().parents[1])


class ResNet:
    """Module level, so that it pickles by reference."""


@pytest.fixture
def registry() -> Registry:
    registry = Registry("MODEL")
    registry.register(obj=ResNet)
    return registry


def test_register_with_explicit_none_registers_none(registry: Registry) -> None:
    assert registry.register("no_norm", None) is None
    assert registry.is_registered("no_norm")
    assert registry.get("no_norm") is None


def test_register_none_by_keyword_under_a_name_registers_none(registry: Registry) -> None:
    registry.register("no_norm", obj=None)
    assert "no_norm" in registry


def test_register_none_without_name_raises_type_error(registry: Registry) -> None:
    with pytest.raises(TypeError, match="no __name__"):
        registry.register(obj=None)


def test_register_none_twice_raises_already_registered(registry: Registry) -> None:
    registry.register("no_norm", None)
    with pytest.raises(AlreadyRegisteredError, match="'no_norm' is already registered"):
        registry.register("no_norm", None)


def test_register_with_name_only_still_returns_a_decorator(registry: Registry) -> None:
    decorator = registry.register("resnet")
    assert callable(decorator)
    assert "resnet" not in registry


@pytest.mark.parametrize("name", [[1], {"a": 1}, {1}], ids=["list", "dict", "set"])
def test_get_unhashable_name_raises_not_registered(registry: Registry, name: object) -> None:
    with pytest.raises(NotRegisteredError, match=r"is not registered in registry 'MODEL'") as info:
        registry.get(name)  # type: ignore[arg-type]
    assert info.value.name == name


@pytest.mark.parametrize("name", [[1], {"a": 1}, {1}], ids=["list", "dict", "set"])
def test_unhashable_name_is_not_in_the_registry(registry: Registry, name: object) -> None:
    assert name not in registry
    assert not registry.is_registered(name)  # type: ignore[arg-type]


def test_unregister_unhashable_name_raises_not_registered(registry: Registry) -> None:
    with pytest.raises(NotRegisteredError, match=r"\[1\] is not registered"):
        registry.unregister([1])  # type: ignore[arg-type]


def test_pickle_round_trip_keeps_name_and_entries(registry: Registry) -> None:
    registry.register("lr", 0.1)
    restored = pickle.loads(pickle.dumps(registry))
    assert restored is not registry
    assert restored.name == "MODEL"
    assert restored.registered_names() == ["ResNet", "lr"]
    assert restored.get("ResNet") is ResNet


def test_pickled_copy_is_independent_and_thread_safe(registry: Registry) -> None:
    restored = pickle.loads(pickle.dumps(registry))
    restored.register("only_in_copy", 1)
    registry.register("only_in_original", 2)
    assert "only_in_copy" not in registry
    assert "only_in_original" not in restored
    threads = [threading.Thread(target=restored.register, args=(f"t{i}", i)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert restored.names("t?") == [f"t{i}" for i in range(8)]


def test_deepcopy_copies_entries_by_value(registry: Registry) -> None:
    sizes = [224, 224]
    registry.register("sizes", sizes)
    copied = copy.deepcopy(registry)
    assert copied.get("ResNet") is ResNet  # classes copy as themselves
    assert copied.get("sizes") == sizes
    assert copied.get("sizes") is not sizes
    copied.register("new", 1)
    assert "new" not in registry


def test_shallow_copy_shares_entries_but_not_names(registry: Registry) -> None:
    sizes = [224, 224]
    registry.register("sizes", sizes)
    copied = copy.copy(registry)
    assert copied.get("sizes") is sizes
    copied.unregister("sizes")
    assert registry.get("sizes") is sizes


def test_deepcopy_inside_a_config_keeps_one_copy_per_registry(registry: Registry) -> None:
    cfg = {"models": registry, "again": registry}
    copied = copy.deepcopy(cfg)
    assert copied["models"] is copied["again"]
    assert copied["models"] is not registry


@pytest.mark.timeout(60)
def test_pickled_registry_is_usable_in_another_process(tmp_path: Path) -> None:
    (tmp_path / "zoo.py").write_text(
        textwrap.dedent(
            """
            from easycore_registry import Registry

            MODELS = Registry("MODEL")

            @MODELS.register()
            class ResNet:
                pass
            """
        )
    )
    code = textwrap.dedent(
        """
        import pickle, sys
        if sys.argv[1] == "dump":
            import zoo
            sys.stdout.buffer.write(pickle.dumps(zoo.MODELS))
        else:
            models = pickle.loads(sys.stdin.buffer.read())
            import zoo
            assert models.get("ResNet") is zoo.ResNet
            assert models is not zoo.MODELS
            print(models)
        """
    )
    env = {"PYTHONPATH": os.pathsep.join([SRC, str(tmp_path)])}
    dumped = subprocess.run(
        [sys.executable, "-c", code, "dump"], env=env, capture_output=True, check=True
    ).stdout
    loaded = subprocess.run(
        [sys.executable, "-c", code, "load"],
        env=env,
        input=dumped,
        capture_output=True,
        check=True,
    )
    assert loaded.stdout.decode().strip() == "Registry(name='MODEL', names=[ResNet])"
