"""Dataclass schemas: CfgNode.from_dataclass gives the defaults, validate checks every key."""

from __future__ import annotations

import dataclasses
import enum
import pickle
from pathlib import Path
from typing import Any, Callable, Dict, List, Literal, Optional, Tuple, Union

import pytest

from easycore_config import (
    CfgNode,
    ConfigTypeError,
    HierarchicalCfgNode,
    MissingValueError,
    SchemaError,
)

Write = Callable[[str, str], Path]


class Mode(enum.Enum):
    TRAIN = 1
    EVAL = 2


@dataclasses.dataclass
class Solver:
    BASE_LR: float = 0.1
    STEPS: Tuple[int, ...] = (1000, 2000)
    MOMENTUM: Optional[float] = None


@dataclasses.dataclass
class Experiment:
    NAME: str
    SOLVER: Solver = dataclasses.field(default_factory=Solver)
    MODE: Mode = Mode.TRAIN
    SIZE: Tuple[int, int] = (224, 224)
    TAGS: List[str] = dataclasses.field(default_factory=lambda: ["baseline"])
    EXTRA: Dict[str, int] = dataclasses.field(default_factory=dict)
    KIND: Literal["a", "b"] = "a"
    SEED: Union[int, str] = 0
    NOTE: Any = None
    FLAG: bool = False
    RATIO: float = 1.0
    EMPTY: None = None
    NEW_STYLE: int | None = None


def test_from_dataclass_holds_the_defaults() -> None:
    cfg = CfgNode.from_dataclass(Experiment)
    assert cfg.SOLVER == {"BASE_LR": 0.1, "STEPS": (1000, 2000), "MOMENTUM": None}
    assert type(cfg.SOLVER) is CfgNode
    assert (cfg.MODE, cfg.SIZE, cfg.TAGS, cfg.KIND) == ("TRAIN", (224, 224), ["baseline"], "a")


@dataclasses.dataclass
class Paths:
    ROOT: Path = Path("/datasets/coco")
    CACHE: Optional[Path] = None


def test_a_path_default_is_held_as_text_that_dumps_and_validates(tmp_path: Path) -> None:
    cfg = CfgNode.from_dataclass(Paths)
    assert cfg["ROOT"] == str(Path("/datasets/coco"))
    cfg.save(tmp_path / "paths.yaml")
    back = CfgNode.open(tmp_path / "paths.yaml")
    assert back == cfg
    back.CACHE = tmp_path  # a Path object set by hand fits the schema too
    back.validate(Paths)


def test_a_field_without_default_is_unset() -> None:
    cfg = CfgNode.from_dataclass(Experiment)
    assert cfg.missing_keys() == ["NAME"]
    with pytest.raises(MissingValueError, match=r"'NAME' is \?\?\? in dataclass Experiment"):
        cfg.NAME  # noqa: B018
    assert "NAME: ???\n" in str(CfgNode.dump(cfg))


def test_the_defaults_validate_once_required_fields_are_set() -> None:
    cfg = CfgNode.from_dataclass(Experiment)
    cfg.NAME = "run"
    cfg.validate(Experiment)


def test_from_dataclass_of_a_subclass_gives_the_subclass() -> None:
    class MyNode(CfgNode):
        pass

    assert type(CfgNode.from_dataclass(Solver)) is CfgNode
    assert type(MyNode.from_dataclass(Experiment).SOLVER) is MyNode


def test_each_default_is_a_fresh_copy() -> None:
    first, second = CfgNode.from_dataclass(Experiment), CfgNode.from_dataclass(Experiment)
    first.TAGS.append("x")
    assert second.TAGS == ["baseline"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("NAME", "run"),
        ("SOLVER", {"BASE_LR": 1, "STEPS": [1, 2, 3], "MOMENTUM": 0.9}),
        ("MODE", "EVAL"),
        ("MODE", Mode.EVAL),
        ("SIZE", [320, 320]),
        ("TAGS", []),
        ("EXTRA", {"a": 1}),
        ("KIND", "b"),
        ("SEED", "auto"),
        ("NOTE", {"anything": [1]}),
        ("FLAG", True),
        ("RATIO", 2),
        ("NEW_STYLE", 3),
    ],
    ids=lambda value: str(value)[:20],
)
def test_values_of_each_type_pass(key: str, value: Any) -> None:
    cfg = CfgNode.from_dataclass(Experiment)
    cfg.NAME = "run"
    cfg[key] = value
    cfg.validate(Experiment)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("NAME", 1, r"'NAME' is an int \(1\), expected str"),
        ("SOLVER", {"BASE_LR": "fast"}, r"'SOLVER.BASE_LR' is a str \('fast'\), expected float"),
        ("SOLVER", {"STEPS": [1, "x"]}, r"'SOLVER.STEPS\[1\]' is a str \('x'\), expected int"),
        ("SOLVER", {"MOMENTUM": "high"}, r"'SOLVER.MOMENTUM' .*expected Optional\[float\]"),
        ("SOLVER", 3, r"'SOLVER' is an int \(3\), expected a mapping of Solver"),
        ("MODE", "TEST", r"'MODE' is a str \('TEST'\), expected Mode"),
        ("SIZE", (1, 2, 3), r"'SIZE' .*expected Tuple\[int, int\]"),
        ("TAGS", ["a", 2], r"'TAGS\[1\]' is an int \(2\), expected str"),
        ("TAGS", "a", r"'TAGS' is a str \('a'\), expected List\[str\]"),
        ("EXTRA", {"a": "b"}, r"'EXTRA.a' is a str \('b'\), expected int"),
        ("EXTRA", {1: 1}, r"'EXTRA.1' key 1 is not str"),
        ("KIND", "c", r"'KIND' is a str \('c'\), expected Literal\['a', 'b'\]"),
        ("SEED", 1.5, r"'SEED' is a float \(1.5\), expected Union\[int, str\]"),
        ("FLAG", 1, r"'FLAG' is an int \(1\), expected bool"),
        ("RATIO", True, r"'RATIO' is a bool \(True\), expected float"),
        ("EMPTY", 0, r"'EMPTY' is an int \(0\), expected None"),
        ("NEW_STYLE", "x", r"'NEW_STYLE' is a str \('x'\), expected int \| None"),
    ],
    ids=lambda value: str(value)[:20],
)
def test_a_value_of_the_wrong_type_is_named(key: str, value: Any, message: str) -> None:
    cfg = CfgNode.from_dataclass(Experiment)
    cfg.NAME = "run"
    if isinstance(value, dict) and key == "SOLVER":
        cfg.SOLVER.update(value)
    else:
        cfg[key] = value
    with pytest.raises(SchemaError, match=message) as info:
        cfg.validate(Experiment)
    assert len(info.value.problems) == 1


def test_every_problem_is_listed_once_with_file_and_line(write: Write) -> None:
    path = write(
        "exp.yaml",
        "NAME: 1\nSOLVER:\n  BASE_LR: fast\n  STEPS: [1, x]\n  MOMENTUMM: 0.9\nUNKNOWN: 3\n",
    )
    cfg = CfgNode.open(path)
    with pytest.raises(SchemaError) as info:
        cfg.validate(Experiment)
    problems = info.value.problems
    assert problems[:3] == [
        f"'NAME' ({path}, line 1) is an int (1), expected str",
        f"'SOLVER.BASE_LR' ({path}, line 3) is a str ('fast'), expected float",
        f"'SOLVER.STEPS[1]' ({path}, line 4) is a str ('x'), expected int",
    ]
    assert f"'SOLVER.MOMENTUMM' ({path}, line 5) is not a field of Solver; did you mean" in str(
        info.value
    )
    assert f"'UNKNOWN' ({path}, line 6) is not a field of Experiment" in str(info.value)
    assert "'MODE' is missing (Mode)" in str(info.value)
    assert str(info.value).startswith(f"the config does not match Experiment ({len(problems)} ")


def test_lines_come_from_the_file_that_set_the_key_last(write: Write) -> None:
    write("base.yaml", "NAME: base\nSOLVER:\n  BASE_LR: 0.1\n")
    child = write("child.yaml", "__BASE__: base.yaml\n\nSOLVER:\n  BASE_LR: fast\n")
    cfg = HierarchicalCfgNode.open(child)
    with pytest.raises(SchemaError, match=rf"'SOLVER.BASE_LR' \({child}, line 4\) is a str"):
        cfg.validate(Experiment)


def test_a_merged_file_gives_its_lines_too(write: Write) -> None:
    cfg = CfgNode.from_dataclass(Experiment)
    cfg.NAME = "run"
    path = write("exp.yaml", "TAGS: [a]\nFLAG: yes\nRATIO: 2.0\n")
    cfg.merge_from_file(path)
    cfg.FLAG = 1
    with pytest.raises(SchemaError, match=rf"'FLAG' \({path}, line 2\) is an int"):
        cfg.validate(Experiment)


def test_an_unset_required_field_is_a_problem() -> None:
    with pytest.raises(SchemaError, match=r"'NAME' has no value yet \(\?\?\?\)"):
        CfgNode.from_dataclass(Experiment).validate(Experiment)


def test_validate_refuses_a_schema_that_is_not_a_dataclass() -> None:
    with pytest.raises(ConfigTypeError, match=r"a schema is a dataclass.*got a dict"):
        CfgNode().validate({})  # type: ignore[arg-type]
    with pytest.raises(ConfigTypeError, match="the class itself"):
        CfgNode.from_dataclass(Solver())  # type: ignore[arg-type]


def test_schema_error_pickles_with_its_problems() -> None:
    with pytest.raises(SchemaError) as info:
        CfgNode({"BASE_LR": "x"}).validate(Solver)
    error = pickle.loads(pickle.dumps(info.value))
    assert type(error) is SchemaError
    assert error.problems == info.value.problems
    assert isinstance(error, TypeError)


@dataclasses.dataclass
class WithOptionalSolver:
    BACKUP: Optional[Solver] = None


@pytest.mark.parametrize("backup", [None, {"BASE_LR": 1, "STEPS": [1], "MOMENTUM": None}])
def test_an_optional_dataclass_takes_none_or_a_matching_mapping(backup: Any) -> None:
    CfgNode({"BACKUP": backup}).validate(WithOptionalSolver)


def test_an_optional_dataclass_lists_the_problems_inside_it() -> None:
    cfg = CfgNode({"BACKUP": {"BASE_LR": "fast", "STEPS": [1], "MOMENTUM": None, "LR": 1}})
    with pytest.raises(SchemaError) as info:
        cfg.validate(WithOptionalSolver)
    assert info.value.problems == [
        "'BACKUP.BASE_LR' is a str ('fast'), expected float",
        "'BACKUP.LR' is not a field of Solver; did you mean 'BASE_LR'?",
    ]
