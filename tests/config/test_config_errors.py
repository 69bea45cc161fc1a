"""The error classes: what they subclass, how they print, and that they cross processes."""

from __future__ import annotations

import pickle

import pytest

import easycore_config
from easycore_config import (
    CfgNode,
    ConfigAttributeError,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    FrozenConfigError,
    MissingValueError,
    SchemaError,
    UnsafeYAMLError,
)

HIERARCHY = {
    "key": (ConfigKeyError, (ConfigError, KeyError)),
    "attribute": (ConfigAttributeError, (ConfigKeyError, ConfigError, KeyError, AttributeError)),
    "type": (ConfigTypeError, (ConfigError, TypeError)),
    "frozen": (FrozenConfigError, (ConfigError, AttributeError)),
    "unsafe": (UnsafeYAMLError, (ConfigError, ValueError)),
    "missing": (MissingValueError, (ConfigKeyError, ConfigError, KeyError, AttributeError)),
    "schema": (SchemaError, (ConfigError, TypeError)),
}


@pytest.mark.parametrize(("error_class", "bases"), HIERARCHY.values(), ids=HIERARCHY.keys())
def test_each_error_is_also_the_builtin_callers_catch(
    error_class: type[Exception], bases: tuple[type, ...]
) -> None:
    assert all(issubclass(error_class, base) for base in bases)


ERRORS = {
    "config": ConfigError("bad file", key="A", file="a.yaml", line=3),
    "key": ConfigKeyError("unknown key 'A'", key="A", file="a.yaml", line=1),
    "attribute": ConfigAttributeError("unknown key 'B.C'", key="B.C"),
    "type": ConfigTypeError(
        "wrong type", key="A", file="a.yaml", line=2, expected="float", actual="str"
    ),
    "frozen": FrozenConfigError("cannot set 'A'", key="A"),
    "unsafe": UnsafeYAMLError("refused", tag="!!python/name:os.system", file="a.yaml", line=4),
    "missing": MissingValueError("'A' is ???", key="A", file="a.yaml", line=5),
    "schema": SchemaError("does not match", problems=["'A' is missing"]),
}


@pytest.mark.parametrize("error", ERRORS.values(), ids=ERRORS.keys())
def test_each_error_survives_a_pickle_round_trip(error: ConfigError) -> None:
    error.added_later = 42  # type: ignore[attr-defined]
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert back.args == error.args
    assert back.__dict__ == error.__dict__
    assert back.added_later == 42  # type: ignore[attr-defined]


class _StageError(ConfigError):
    def __init__(self, message: str, *, stage: str) -> None:
        super().__init__(message, key="A")
        self.stage = stage


def test_a_subclass_whose_init_needs_more_than_the_message_pickles() -> None:
    error = _StageError("failed while merging", stage="merge")
    back = pickle.loads(pickle.dumps(error))
    assert (type(back), str(back), back.stage, back.key) == (
        _StageError,
        "failed while merging",
        "merge",
        "A",
    )


@pytest.mark.parametrize("error", ERRORS.values(), ids=ERRORS.keys())
def test_errors_pickle_one_way_the_base_class_s(error: ConfigError) -> None:
    overriding = [cls.__name__ for cls in type(error).__mro__ if "__reduce__" in vars(cls)]
    assert overriding[0] == "ConfigError", overriding


def test_raised_errors_survive_a_pickle_round_trip() -> None:
    with pytest.raises(ConfigKeyError) as info:
        CfgNode({"SOLVER": {"BASE_LR": 0.1}}).merge_from_list(["SOLVER.LR", "1"])
    back = pickle.loads(pickle.dumps(info.value))
    assert (back.key, str(back)) == ("SOLVER.LR", str(info.value))


@pytest.mark.parametrize(
    "error_class", [ConfigKeyError, ConfigAttributeError], ids=["key", "attribute"]
)
def test_key_errors_print_their_message_without_quotes(error_class: type[ConfigKeyError]) -> None:
    assert str(error_class("unknown key 'A'", key="A")) == "unknown key 'A'"


def test_a_missing_attribute_error_pickles_with_its_suggestion() -> None:
    cfg = CfgNode({"MODEL": {"NUM_CLASSES": 1}})
    with pytest.raises(ConfigAttributeError) as info:
        _ = cfg.MODEL.NUM_CLASES
    back = pickle.loads(pickle.dumps(info.value))
    assert str(back) == "unknown key 'MODEL.NUM_CLASES'. Did you mean 'MODEL.NUM_CLASSES'?"
    assert back.key == "MODEL.NUM_CLASES"


def test_repr_shows_the_whole_message() -> None:
    with pytest.raises(ConfigKeyError) as info:
        _ = CfgNode({"ABC": 1})["ABD"]
    assert repr(info.value) == "ConfigKeyError(\"unknown key 'ABD'. Did you mean 'ABC'?\")"


def test_suggestions_are_only_computed_when_the_message_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []

    def counting_suggestion(*args: object) -> str:
        calls.append(args)
        return " (suggestion)"

    monkeypatch.setattr(easycore_config, "_suggestion", counting_suggestion)
    cfg = CfgNode({f"KEY_{index}": index for index in range(200)})
    assert not hasattr(cfg, "OPTIONAL")
    assert getattr(cfg, "OPTIONAL", None) is None
    assert calls == []
    with pytest.raises(ConfigAttributeError, match=r"unknown key 'OPTIONAL'\. \(suggestion\)"):
        _ = cfg.OPTIONAL
    assert len(calls) == 1


def test_a_real_key_error_prints_without_quotes() -> None:
    with pytest.raises(KeyError) as info:
        _ = CfgNode({"ABC": 1})["ABD"]
    assert str(info.value) == "unknown key 'ABD'. Did you mean 'ABC'?"


def test_attributes_default_to_none() -> None:
    error = ConfigTypeError("message")
    assert (error.key, error.file, error.line, error.expected, error.actual) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert UnsafeYAMLError("message").tag is None


def test_errors_wrap_the_yaml_error_as_cause() -> None:
    with pytest.raises(ConfigError) as info:
        CfgNode.load("A: [\n")
    assert info.value.__cause__ is not None
