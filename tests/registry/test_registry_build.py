"""Registry.build: specs with a ``type`` key, overrides, nested specs, and what errors say."""

from __future__ import annotations

import pickle
import sys
from typing import Any

import pytest

from easycore_registry import BuildError, NotRegisteredError, Registry


class Norm:
    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        self.channels = channels
        self.eps = eps


class Backbone:
    def __init__(self, depth: int, norm: Any = None, stages: Any = ()) -> None:
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        self.depth = depth
        self.norm = norm
        self.stages = stages


class Model:
    def __init__(self, backbone: Any, heads: Any = None, **extra: Any) -> None:
        self.backbone = backbone
        self.heads = heads
        self.extra = extra


@pytest.fixture
def models() -> Registry:
    registry = Registry("MODEL")
    for obj in (Norm, Backbone, Model):
        registry.register(obj=obj)
    registry.register("lr", 0.1)
    return registry


def test_build_calls_the_named_object_with_the_other_keys(models: Registry) -> None:
    backbone = models.build({"type": "Backbone", "depth": 50})
    assert type(backbone) is Backbone
    assert backbone.depth == 50


def test_build_accepts_the_callable_itself_as_type(models: Registry) -> None:
    def make_pair(a: int, b: int) -> tuple[int, int]:
        return (a, b)

    assert models.build({"type": make_pair, "a": 1, "b": 2}) == (1, 2)


def test_overrides_replace_keys_of_the_spec(models: Registry) -> None:
    norm = models.build({"type": "Norm", "channels": 8, "eps": 0.1}, eps=0.5)
    assert (norm.channels, norm.eps) == (8, 0.5)


def test_overrides_may_add_keys_and_replace_the_type(models: Registry) -> None:
    norm = models.build({"type": "Backbone"}, type="Norm", channels=3)
    assert type(norm) is Norm
    assert norm.channels == 3


def test_override_named_spec_is_a_keyword_argument(models: Registry) -> None:
    model = models.build({"type": "Model", "backbone": None}, spec="kept")
    assert model.extra == {"spec": "kept"}


def test_build_never_modifies_the_spec(models: Registry) -> None:
    spec = {"type": "Model", "backbone": {"type": "Backbone", "depth": 1}}
    before = pickle.dumps(spec)
    models.build(spec, recursive=True, heads=[])
    assert pickle.dumps(spec) == before


def test_nested_specs_stay_mappings_without_recursive(models: Registry) -> None:
    model = models.build({"type": "Model", "backbone": {"type": "Backbone", "depth": 1}})
    assert model.backbone == {"type": "Backbone", "depth": 1}


def test_recursive_builds_nested_specs_in_mappings_lists_and_tuples(models: Registry) -> None:
    spec = {
        "type": "Model",
        "backbone": {
            "type": "Backbone",
            "depth": 18,
            "norm": {"type": "Norm", "channels": 64},
            "stages": ({"type": "Norm", "channels": 1}, 7),
        },
        "heads": {"cls": [{"type": "Norm", "channels": 10}], "plain": {"size": 3}},
    }
    model = models.build(spec, recursive=True)
    assert type(model.backbone) is Backbone
    assert type(model.backbone.norm) is Norm
    assert model.backbone.norm.channels == 64
    stages = model.backbone.stages
    assert type(stages) is tuple
    assert (type(stages[0]), stages[1]) == (Norm, 7)
    assert type(model.heads) is dict
    assert model.heads["cls"][0].channels == 10


def test_recursive_keeps_containers_without_specs_as_they_are(models: Registry) -> None:
    plain = {"size": 3}
    sizes = [1, 2]
    model = models.build({"type": "Model", "backbone": plain, "heads": sizes}, recursive=True)
    assert model.backbone is plain
    assert model.heads is sizes


def test_recursive_also_builds_specs_given_as_overrides(models: Registry) -> None:
    model = models.build(
        {"type": "Model", "backbone": None},
        recursive=True,
        backbone={"type": "Backbone", "depth": 2},
    )
    assert model.backbone.depth == 2


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("Backbone", r"cannot build from 'Backbone': a spec is a mapping .* got str"),
        (["Backbone"], r"a spec is a mapping with a 'type' key, got list"),
        (None, r"got NoneType"),
    ],
    ids=["str", "list", "none"],
)
def test_build_of_a_non_mapping_raises_build_error(models: Registry, spec: Any, match: str) -> None:
    with pytest.raises(BuildError, match=match) as info:
        models.build(spec)
    assert (info.value.registry, info.value.path) == ("MODEL", "")
    assert isinstance(info.value, TypeError)


@pytest.mark.timeout(30)
def test_a_spec_that_contains_itself_is_refused(models: Registry) -> None:
    heads: list[Any] = [{"type": "Norm", "channels": 1}]
    heads.append(heads)
    with pytest.raises(BuildError, match=r"the spec at 'heads\[1\]': it contains itself") as info:
        models.build({"type": "Model", "backbone": None, "heads": heads}, recursive=True)
    assert info.value.path == "heads[1]"


@pytest.mark.timeout(30)
def test_a_nested_spec_that_contains_itself_is_refused(models: Registry) -> None:
    backbone: dict[str, Any] = {"type": "Backbone", "depth": 1}
    backbone["norm"] = backbone
    with pytest.raises(BuildError, match=r"the spec at 'backbone.norm': it contains itself"):
        models.build({"type": "Model", "backbone": backbone}, recursive=True)


def test_one_spec_used_twice_is_built_twice(models: Registry) -> None:
    norm = {"type": "Norm", "channels": 2}
    model = models.build({"type": "Model", "backbone": norm, "heads": [norm]}, recursive=True)
    assert model.backbone is not model.heads[0]
    assert model.heads[0].channels == 2


def test_spec_without_type_names_its_keys(models: Registry) -> None:
    with pytest.raises(BuildError, match=r"has no 'type' key \(its keys: 'depth'\)"):
        models.build({"depth": 50})


def test_nested_type_of_the_wrong_kind_names_the_path(
    models: Registry,
) -> None:
    with pytest.raises(BuildError, match=r"the spec at 'backbone.norm': 'type' must be"):
        models.build(
            {"type": "Model", "backbone": {"type": "Backbone", "depth": 1, "norm": {"type": 3}}},
            recursive=True,
        )


def test_unregistered_type_names_the_path_and_close_matches(models: Registry) -> None:
    spec = {"type": "Model", "backbone": {"type": "Backbone", "depth": 1, "norm": {"type": "Nrom"}}}
    with pytest.raises(NotRegisteredError) as info:
        models.build(spec, recursive=True)
    message = str(info.value)
    assert "the spec at 'backbone.norm' names type 'Nrom'" in message
    assert "not registered in registry 'MODEL'" in message
    assert "Did you mean 'Norm'?" in message
    assert (info.value.path, info.value.name, info.value.registry) == (
        "backbone.norm",
        "Nrom",
        "MODEL",
    )


def test_unregistered_type_in_a_list_names_the_index(models: Registry) -> None:
    spec = {
        "type": "Model",
        "backbone": None,
        "heads": [{"type": "Norm", "channels": 1}, {"type": "X"}],
    }
    with pytest.raises(NotRegisteredError, match=r"the spec at 'heads\[1\]' names type 'X'"):
        models.build(spec, recursive=True)


def test_unknown_keyword_names_the_path_and_the_close_parameter(models: Registry) -> None:
    spec = {"type": "Model", "backbone": {"type": "Backbone", "dpth": 50}}
    with pytest.raises(BuildError) as info:
        models.build(spec, recursive=True)
    message = str(info.value)
    assert "the spec at 'backbone'" in message
    assert "Backbone(depth: 'int', norm: 'Any' = None" in message
    assert "it does not take 'dpth' (did you mean 'depth'?)" in message
    assert info.value.path == "backbone"
    assert isinstance(info.value.__cause__, TypeError)


def test_missing_required_keyword_says_which(models: Registry) -> None:
    with pytest.raises(BuildError, match=r"missing a required argument: 'channels'"):
        models.build({"type": "Norm"})


def test_non_str_keys_are_refused(models: Registry) -> None:
    with pytest.raises(BuildError, match=r"must be str, got 1"):
        models.build({"type": "Norm", 1: "x"})  # type: ignore[dict-item]


def test_registered_non_callable_is_refused(models: Registry) -> None:
    with pytest.raises(BuildError, match=r"'lr' is registered as 0.1, which cannot be called"):
        models.build({"type": "lr"})


def test_type_of_the_wrong_kind_is_refused(models: Registry) -> None:
    with pytest.raises(BuildError, match=r"'type' must be a registered name or a callable, got 5"):
        models.build({"type": 5})


def test_error_raised_by_the_callable_keeps_its_type(models: Registry) -> None:
    spec = {"type": "Model", "backbone": {"type": "Backbone", "depth": -1}}
    with pytest.raises(ValueError, match="depth must be >= 0, got -1") as info:
        models.build(spec, recursive=True)
    assert not isinstance(info.value, BuildError)
    if sys.version_info >= (3, 11):
        assert info.value.__notes__ == [
            "raised while building the spec at 'backbone' (type 'Backbone')"
        ]


def test_type_error_raised_inside_the_callable_is_not_blamed_on_the_spec(
    models: Registry,
) -> None:
    def broken(size: int) -> None:
        raise TypeError("inner failure")

    with pytest.raises(TypeError, match="inner failure") as info:
        models.build({"type": broken, "size": 1})
    assert not isinstance(info.value, BuildError)


def test_build_error_pickles_with_its_attributes(models: Registry) -> None:
    with pytest.raises(BuildError) as info:
        models.build({"type": "Model", "backbone": {"type": 3}}, recursive=True)
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is BuildError
    assert str(copy) == str(info.value)
    assert (copy.registry, copy.path) == ("MODEL", "backbone")
