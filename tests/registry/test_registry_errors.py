"""Every way a Registry call can fail, and what the error says."""

from __future__ import annotations

import pytest

from easycore_registry import AlreadyRegisteredError, NotRegisteredError, Registry


@pytest.fixture
def registry() -> Registry:
    registry = Registry("BACKBONE")
    registry.register("resnet50", object())
    registry.register("resnet101", object())
    registry.register("vit_base", object())
    return registry


def test_duplicate_name_raises_already_registered(registry: Registry) -> None:
    with pytest.raises(
        AlreadyRegisteredError, match="'resnet50' is already registered in registry 'BACKBONE'"
    ) as info:
        registry.register("resnet50", object())
    assert (info.value.registry, info.value.name) == ("BACKBONE", "resnet50")


def test_duplicate_via_decorator_raises_and_keeps_the_first(registry: Registry) -> None:
    first = registry.get("vit_base")
    with pytest.raises(KeyError, match="unregister 'vit_base' first"):

        @registry.register("vit_base")
        class Other:
            pass

    assert registry.get("vit_base") is first


def test_get_missing_suggests_close_matches(registry: Registry) -> None:
    with pytest.raises(NotRegisteredError, match=r"Did you mean 'resnet50'") as info:
        registry.get("resnet5O")
    assert info.value.name == "resnet5O"


def test_get_missing_without_close_match_lists_names(registry: Registry) -> None:
    with pytest.raises(KeyError, match=r"Registered names: 'resnet50', 'resnet101', 'vit_base'"):
        registry.get("mlp")


def test_get_from_empty_registry_says_it_is_empty() -> None:
    with pytest.raises(NotRegisteredError, match="The registry is empty"):
        Registry("EMPTY").get("anything")


def test_unregister_missing_raises_not_registered(registry: Registry) -> None:
    with pytest.raises(NotRegisteredError, match="'vit_large' is not registered"):
        registry.unregister("vit_large")


def test_key_error_message_has_no_quotes_around_it(registry: Registry) -> None:
    with pytest.raises(KeyError) as info:
        registry.get("mlp")
    assert str(info.value).startswith("'mlp' is not registered")
    assert not str(info.value).startswith('"')


@pytest.mark.parametrize("name", [None, 7, ("resnet50",)], ids=["none", "int", "tuple"])
def test_get_non_str_name_raises_not_registered(registry: Registry, name: object) -> None:
    # A config value such as `NAME: null` reaches get() as None: a KeyError, not a TypeError.
    with pytest.raises(NotRegisteredError, match="is not registered in registry 'BACKBONE'"):
        registry.get(name)  # type: ignore[arg-type]


def test_unregister_non_str_name_raises_not_registered(registry: Registry) -> None:
    with pytest.raises(NotRegisteredError, match="None is not registered"):
        registry.unregister(None)  # type: ignore[arg-type]
