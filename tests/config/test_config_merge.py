"""merge(), merge_from_list() and merge_from_file(): what wins, what is checked, what errors say."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from easycore_config import CfgNode, ConfigError, ConfigKeyError, ConfigTypeError


@pytest.fixture
def cfg() -> CfgNode:
    return CfgNode(
        {
            "MODEL": {
                "INPUT_SIZE": (224, 224),
                "NUM_CLASSES": 100,
                "NAME": "resnet",
                "HEAD": {"DROPOUT": 0.5},
            },
            "SOLVER": {"BASE_LR": 0.01, "STEPS": [1000, 2000], "NESTEROV": False, "CLIP": None},
        }
    )


# -- merge ----------------------------------------------------------------------


def test_merge_lets_the_other_config_win_and_adds_new_keys() -> None:
    cfg_a = CfgNode({"key1": 1, "key2": 2})
    cfg_b = CfgNode({"key2": 3, "key3": 4})
    cfg_a.merge(cfg_b)
    assert cfg_a == {"key1": 1, "key2": 3, "key3": 4}
    assert cfg_a.key3 == 4


def test_merge_merges_nested_nodes_key_by_key(cfg: CfgNode) -> None:
    cfg.merge({"MODEL": {"HEAD": {"DROPOUT": 0.1, "NEW": True}}, "SOLVER": {"BASE_LR": 0.1}})
    assert cfg.MODEL.HEAD == {"DROPOUT": 0.1, "NEW": True}
    assert cfg.MODEL.NUM_CLASSES == 100
    assert cfg.SOLVER.BASE_LR == 0.1
    assert cfg.SOLVER.STEPS == [1000, 2000]


def test_merge_replaces_lists_and_non_mapping_values(cfg: CfgNode) -> None:
    cfg.merge({"SOLVER": {"STEPS": [5]}, "MODEL": {"INPUT_SIZE": {"H": 1, "W": 2}}})
    assert cfg.SOLVER.STEPS == [5]
    assert type(cfg.MODEL.INPUT_SIZE) is CfgNode
    cfg.merge({"MODEL": {"INPUT_SIZE": 7}})
    assert cfg.MODEL.INPUT_SIZE == 7


def test_merge_copies_the_values_it_takes(cfg: CfgNode) -> None:
    other = CfgNode({"SOLVER": {"STEPS": [5]}, "EXTRA": {"A": [1]}})
    cfg.merge(other)
    other.SOLVER.STEPS.append(6)
    other.EXTRA.A.append(2)
    assert cfg.SOLVER.STEPS == [5]
    assert cfg.EXTRA.A == [1]
    assert cfg.EXTRA is not other.EXTRA


def test_merge_refuses_a_non_mapping(cfg: CfgNode) -> None:
    with pytest.raises(ConfigTypeError, match=r"merge\(\) takes a mapping .* got a list"):
        cfg.merge([("A", 1)])  # type: ignore[arg-type]


# -- merge_from_list --------------------------------------------------------------

OVERRIDES: dict[str, tuple[str, str, Any]] = {
    "float": ("SOLVER.BASE_LR", "0.1", 0.1),
    "exponent-float": ("SOLVER.BASE_LR", "1e-3", 0.001),
    "int-for-float": ("SOLVER.BASE_LR", "1", 1.0),
    "int": ("MODEL.NUM_CLASSES", "10", 10),
    "bool": ("SOLVER.NESTEROV", "true", True),
    "tuple": ("MODEL.INPUT_SIZE", "(320, 320)", (320, 320)),
    "list-for-tuple": ("MODEL.INPUT_SIZE", "[320, 320]", (320, 320)),
    "list": ("SOLVER.STEPS", "[1, 2, 3]", [1, 2, 3]),
    "tuple-for-list": ("SOLVER.STEPS", "(1, 2)", [1, 2]),
    "str-taken-as-given": ("MODEL.NAME", "0.5", "0.5"),
    "str-with-yaml-syntax": ("MODEL.NAME", "a: b", "a: b"),
    "anything-for-none": ("SOLVER.CLIP", "[1.0]", [1.0]),
    "none-for-anything": ("MODEL.NUM_CLASSES", "null", None),
}


@pytest.mark.parametrize(("key", "raw", "expected"), OVERRIDES.values(), ids=OVERRIDES.keys())
def test_merge_from_list_reads_values_as_the_current_type(
    cfg: CfgNode, key: str, raw: str, expected: Any
) -> None:
    cfg.merge_from_list([key, raw])
    node_name, name = key.split(".")
    value = cfg[node_name][name]
    assert value == expected
    assert type(value) is type(expected)


def test_merge_from_list_takes_non_string_values_as_they_are(cfg: CfgNode) -> None:
    cfg.merge_from_list(["MODEL.NUM_CLASSES", 3, "SOLVER.STEPS", (7,)])
    assert cfg.MODEL.NUM_CLASSES == 3
    assert cfg.SOLVER.STEPS == [7]


def test_merge_from_list_merges_a_mapping_into_a_node(cfg: CfgNode) -> None:
    cfg.merge_from_list(["MODEL.HEAD", "{DROPOUT: 0.2}"])
    assert cfg.MODEL.HEAD.DROPOUT == 0.2


def test_merge_from_list_later_pairs_win(cfg: CfgNode) -> None:
    cfg.merge_from_list(["SOLVER.BASE_LR", "0.1", "SOLVER.BASE_LR", "0.2"])
    assert cfg.SOLVER.BASE_LR == 0.2


def test_merge_from_list_takes_a_leaf_under_a_node_set_before(cfg: CfgNode) -> None:
    cfg.merge_from_list(["MODEL.HEAD", "{DROPOUT: 0.2}", "MODEL.HEAD.DROPOUT", "0.3"])
    assert cfg.MODEL.HEAD.DROPOUT == 0.3
    cfg.merge_from_list(["MODEL.HEAD", "7", "MODEL.HEAD.DROPOUT", "0.4"])
    assert cfg.MODEL.HEAD.DROPOUT == 0.4


def test_merge_from_list_suggests_a_close_key(cfg: CfgNode) -> None:
    message = (
        r"unknown key 'SOLVER.LR' \(from merge_from_list\)\. Did you mean 'SOLVER.BASE_LR'\?"
        r" New keys must first exist"
    )
    with pytest.raises(ConfigKeyError, match=message) as info:
        cfg.merge_from_list(["SOLVER.LR", "0.1"])
    assert info.value.key == "SOLVER.LR"
    assert info.value.file is None


def test_merge_from_list_reports_an_unknown_parent(cfg: CfgNode) -> None:
    with pytest.raises(ConfigKeyError, match=r"unknown key 'SOLVR'.*Did you mean 'SOLVER'\?"):
        cfg.merge_from_list(["SOLVR.BASE_LR", "0.1"])


def test_merge_from_list_reports_a_path_through_a_leaf(cfg: CfgNode) -> None:
    with pytest.raises(
        ConfigKeyError, match=r"'SOLVER.BASE_LR' is a float \(0\.01\), not a node with keys"
    ):
        cfg.merge_from_list(["SOLVER.BASE_LR.X", "1"])


TYPE_ERRORS: dict[str, tuple[str, str, str, str]] = {
    "str-for-float": ("SOLVER.BASE_LR", "fast", "float", "str"),
    "float-for-int": ("MODEL.NUM_CLASSES", "0.5", "int", "float"),
    "bool-for-int": ("MODEL.NUM_CLASSES", "true", "int", "bool"),
    "int-for-bool": ("SOLVER.NESTEROV", "1", "bool", "int"),
    "scalar-for-node": ("MODEL.HEAD", "3", "CfgNode", "int"),
    "list-for-float": ("SOLVER.BASE_LR", "[1]", "float", "list"),
}


@pytest.mark.parametrize(
    ("key", "raw", "expected", "actual"), TYPE_ERRORS.values(), ids=TYPE_ERRORS.keys()
)
def test_merge_from_list_refuses_a_value_of_another_type(
    cfg: CfgNode, key: str, raw: str, expected: str, actual: str
) -> None:
    with pytest.raises(
        ConfigTypeError,
        match=rf"'{key}' \(from merge_from_list\) is an? {actual} .* has an? {expected} ",
    ) as info:
        cfg.merge_from_list([key, raw])
    assert (info.value.key, info.value.expected, info.value.actual) == (key, expected, actual)


def test_type_error_hint_names_the_type_with_its_article(cfg: CfgNode) -> None:
    with pytest.raises(ConfigTypeError, match=r"Give an int, or change the type"):
        cfg.merge_from_list(["MODEL.NUM_CLASSES", "many"])


def test_merge_from_list_changes_nothing_when_a_later_pair_fails(cfg: CfgNode) -> None:
    before = cfg.copy()
    with pytest.raises(ConfigTypeError):
        cfg.merge_from_list(["SOLVER.BASE_LR", "0.5", "MODEL.NUM_CLASSES", "many"])
    assert cfg == before


def test_merge_from_list_refuses_an_odd_list(cfg: CfgNode) -> None:
    with pytest.raises(ConfigError, match=r"'MODEL.NAME' \(item 2\) has no value"):
        cfg.merge_from_list(["SOLVER.BASE_LR", "0.5", "MODEL.NAME"])


def test_merge_from_list_refuses_a_key_that_is_not_a_string(cfg: CfgNode) -> None:
    with pytest.raises(ConfigKeyError, match="keys are dotted strings"):
        cfg.merge_from_list([1, "2"])


def test_merge_from_list_refuses_unsafe_yaml_values(cfg: CfgNode) -> None:
    with pytest.raises(ConfigError, match="refused the YAML tag"):
        cfg.merge_from_list(["SOLVER.CLIP", "!!python/object/apply:os.getcwd []"])


def test_merge_from_list_on_a_child_names_full_paths(cfg: CfgNode) -> None:
    with pytest.raises(ConfigKeyError, match=r"unknown key 'SOLVER.LR'"):
        cfg.SOLVER.merge_from_list(["LR", "0.1"])


# -- merge_from_file --------------------------------------------------------------


def test_merge_from_file_merges_known_keys(cfg: CfgNode, write: Callable[[str, str], Path]) -> None:
    path = write(
        "override.yaml", "SOLVER:\n  BASE_LR: 1\n  STEPS: (1, 2)\nMODEL:\n  HEAD: {DROPOUT: 0.0}\n"
    )
    cfg.merge_from_file(path)
    assert cfg.SOLVER.BASE_LR == 1.0
    assert type(cfg.SOLVER.BASE_LR) is float
    assert cfg.SOLVER.STEPS == [1, 2]
    assert cfg.MODEL.HEAD.DROPOUT == 0.0


def test_merge_from_file_names_file_and_line_of_an_unknown_key(
    cfg: CfgNode, write: Callable[[str, str], Path]
) -> None:
    path = write("exp/a.yaml", "SOLVER:\n  BASE_LR: 0.5\n\n  LR: 0.1\n")
    message = (
        r"unknown key 'SOLVER.LR' in .*exp[/\\]a\.yaml, line 4\. Did you mean 'SOLVER.BASE_LR'\?"
    )
    with pytest.raises(ConfigKeyError, match=message) as info:
        cfg.merge_from_file(path)
    assert (info.value.key, info.value.file, info.value.line) == ("SOLVER.LR", str(path), 4)
    assert cfg.SOLVER.BASE_LR == 0.01


def test_merge_from_file_names_file_and_line_of_a_wrong_type(
    cfg: CfgNode, write: Callable[[str, str], Path]
) -> None:
    path = write("a.yaml", "MODEL:\n  NUM_CLASSES: many\n")
    with pytest.raises(
        ConfigTypeError, match=r"'MODEL.NUM_CLASSES' in .*a\.yaml, line 2 is a str \('many'\)"
    ) as info:
        cfg.merge_from_file(path)
    assert (info.value.file, info.value.line) == (str(path), 2)


def test_merge_from_file_resolves_bases_and_names_the_file_of_each_key(
    cfg: CfgNode, write: Callable[[str, str], Path]
) -> None:
    write("base.yaml", "SOLVER:\n  BASE_LR: 0.2\n  MOMENTUM: 0.9\n")
    path = write("child.yaml", "__BASE__: base.yaml\nSOLVER:\n  BASE_LR: 0.3\n")
    with pytest.raises(ConfigKeyError, match=r"'SOLVER.MOMENTUM' in .*base\.yaml, line 3") as info:
        cfg.merge_from_file(path)
    assert info.value.file is not None
    assert info.value.file.endswith("base.yaml")
    write("base.yaml", "SOLVER:\n  BASE_LR: 0.2\n  NESTEROV: true\n")
    cfg.merge_from_file(path)
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.NESTEROV) == (0.3, True)


def test_merge_from_file_of_an_empty_file_changes_nothing(
    cfg: CfgNode, write: Callable[[str, str], Path]
) -> None:
    before = cfg.copy()
    cfg.merge_from_file(write("empty.yaml", ""))
    assert cfg == before
