"""The documented Registry API: every tutorial spelling, each on a fresh registry."""

from __future__ import annotations

import pickle
import threading

import pytest

from easycore_registry import (
    AlreadyRegisteredError,
    NotRegisteredError,
    Registry,
    RegistryError,
)


@pytest.fixture
def registry() -> Registry:
    return Registry("MODEL")


def test_decorator_without_name_registers_under_dunder_name(registry: Registry) -> None:
    @registry.register()
    class ResNet50:
        pass

    assert registry.get("ResNet50") is ResNet50


def test_call_with_obj_keyword_registers_under_dunder_name(registry: Registry) -> None:
    class ResNet50:
        pass

    assert registry.register(obj=ResNet50) is None
    assert registry.get("ResNet50") is ResNet50


def test_decorator_with_name_registers_under_that_name(registry: Registry) -> None:
    @registry.register("resnet")
    class ResNet50:
        pass

    assert registry.get("resnet") is ResNet50
    assert not registry.is_registered("ResNet50")


def test_call_with_name_and_obj_registers_under_that_name(registry: Registry) -> None:
    class ResNet50:
        pass

    registry.register("resnet", ResNet50)
    assert registry.get("resnet") is ResNet50


def test_bare_decorator_registers_under_dunder_name(registry: Registry) -> None:
    @registry.register
    def build_head() -> int:
        return 7

    assert registry.get("build_head") is build_head
    assert build_head() == 7


def test_decorators_return_the_object_unchanged(registry: Registry) -> None:
    def f() -> None:
        pass

    assert registry.register()(f) is f
    assert registry.register("g")(f) is f


def test_register_accepts_non_callable_objects_with_a_name(registry: Registry) -> None:
    registry.register("lr", 0.1)
    assert registry.get("lr") == 0.1


def test_register_without_name_of_nameless_object_raises_type_error(registry: Registry) -> None:
    with pytest.raises(TypeError, match="no __name__"):
        registry.register(obj=3)


def test_register_rejects_non_string_name(registry: Registry) -> None:
    with pytest.raises(TypeError, match="name must be a str"):
        registry.register(5, "value")  # type: ignore[call-overload]


def test_register_decorator_rejects_non_string_name(registry: Registry) -> None:
    # Only a callable can be the object of a bare @register; 5 is a wrong name.
    with pytest.raises(TypeError, match="name must be a str, got 5"):
        registry.register(5)


def test_is_registered_and_registered_names(registry: Registry) -> None:
    registry.register("b", 1)
    registry.register("a", 2)
    assert registry.is_registered("a")
    assert not registry.is_registered("c")
    assert registry.registered_names() == ["b", "a"]


def test_unregister_removes_the_name(registry: Registry) -> None:
    registry.register("a", 1)
    registry.unregister("a")
    assert not registry.is_registered("a")
    registry.register("a", 2)
    assert registry.get("a") == 2


def test_container_protocol(registry: Registry) -> None:
    registry.register("x", 1)
    registry.register("y", 2)
    assert "x" in registry
    assert "z" not in registry
    assert len(registry) == 2
    assert list(registry) == ["x", "y"]


def test_repr_names_the_registry_and_its_entries(registry: Registry) -> None:
    registry.register("x", 1)
    assert repr(registry) == "Registry(name='MODEL', names=[x])"
    assert registry.name == "MODEL"


def test_iteration_is_a_snapshot(registry: Registry) -> None:
    registry.register("x", 1)
    for name in registry:
        registry.unregister(name)
    assert len(registry) == 0


def test_concurrent_registration_keeps_every_name() -> None:
    registry = Registry("THREADS")
    errors: list[BaseException] = []

    def register_many(offset: int) -> None:
        try:
            for i in range(500):
                registry.register(f"obj{offset}_{i}", i)
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=register_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(registry) == 8 * 500


def test_concurrent_registration_of_one_name_lets_exactly_one_win() -> None:
    registry = Registry("RACE")
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def register_same(value: int) -> None:
        barrier.wait()
        try:
            registry.register("same", value)
            result = "won"
        except AlreadyRegisteredError:
            result = "lost"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=register_same, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]


def test_vendored_copy_has_no_dependencies() -> None:
    import easycore_registry

    with open(easycore_registry.__file__, encoding="utf-8") as f:
        source = f.read()
    assert "import easycore" not in source.replace("from easycore_registry", "")
    assert easycore_registry.__version__.count(".") == 2
    assert sorted(easycore_registry.__all__) == easycore_registry.__all__


def test_errors_are_registry_errors_and_key_errors() -> None:
    assert issubclass(NotRegisteredError, RegistryError)
    assert issubclass(NotRegisteredError, KeyError)
    assert issubclass(AlreadyRegisteredError, RegistryError)
    assert issubclass(AlreadyRegisteredError, KeyError)


def test_pickle_round_trip_keeps_message_and_attributes(registry: Registry) -> None:
    with pytest.raises(NotRegisteredError) as info:
        registry.get("missing")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is NotRegisteredError
    assert str(copy) == str(info.value)
    assert (copy.registry, copy.name) == ("MODEL", "missing")
