"""CfgNode as a dict with attribute access: building, reading, changing, copying."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from easycore_config import CfgNode, ConfigAttributeError, ConfigKeyError, ConfigTypeError


@pytest.fixture
def cfg() -> CfgNode:
    return CfgNode(
        {
            "MODEL": {
                "IN_FEATURES": ["res3", "res4"],
                "INPUT_SIZE": (224, 224),
                "NUM_CLASSES": 100,
            },
            "NAME": "YuxinZhaozyx",
        }
    )


def test_empty_node_is_an_empty_dict() -> None:
    cfg = CfgNode()
    assert cfg == {}
    assert isinstance(cfg, dict)


def test_nested_dicts_become_nodes(cfg: CfgNode) -> None:
    assert type(cfg.MODEL) is CfgNode
    assert cfg.MODEL.NUM_CLASSES == 100
    assert cfg.MODEL.INPUT_SIZE == (224, 224)
    assert cfg.MODEL.IN_FEATURES == ["res3", "res4"]


def test_dicts_inside_lists_and_tuples_become_nodes() -> None:
    cfg = CfgNode({"DATASETS": [{"NAME": "coco"}, [{"NAME": "voc"}]], "PAIR": ({"A": 1}, 2)})
    assert type(cfg.DATASETS) is list
    assert cfg.DATASETS[0].NAME == "coco"
    assert cfg.DATASETS[1][0].NAME == "voc"
    assert type(cfg.PAIR) is tuple
    assert cfg.PAIR[0].A == 1


def test_init_copies_values_by_default() -> None:
    source = {"MODEL": {"LAYERS": [1, 2]}}
    cfg = CfgNode(source)
    source["MODEL"]["LAYERS"].append(3)
    source["MODEL"]["NEW"] = 1
    assert cfg.MODEL.LAYERS == [1, 2]
    assert "NEW" not in cfg.MODEL


def test_init_without_copy_shares_leaves_and_nodes() -> None:
    layers = [1, 2]
    child = CfgNode({"A": 1})
    cfg = CfgNode({"LAYERS": layers, "CHILD": child, "PLAIN": {"L": layers}}, copy=False)
    assert cfg.LAYERS is layers
    assert cfg.CHILD is child
    assert type(cfg.PLAIN) is CfgNode
    assert cfg.PLAIN.L is layers


def test_init_rejects_a_non_mapping() -> None:
    with pytest.raises(ConfigTypeError, match=r"CfgNode\(\) takes a mapping .* got a list") as info:
        CfgNode([("A", 1)])  # type: ignore[arg-type]
    assert (info.value.expected, info.value.actual) == ("Mapping", "list")


def test_attribute_and_item_access_reach_the_same_value(cfg: CfgNode) -> None:
    cfg.LICENSE = "MIT"
    assert cfg["LICENSE"] == "MIT"
    cfg["OTHER"] = 1
    assert cfg.OTHER == 1
    cfg.OTHER = 2
    assert cfg["OTHER"] == 2


def test_assigned_dict_becomes_a_node(cfg: CfgNode) -> None:
    cfg.SOLVER = {"BASE_LR": 0.1}
    assert type(cfg.SOLVER) is CfgNode
    assert cfg.SOLVER.BASE_LR == 0.1


def test_assigned_node_is_kept_not_copied(cfg: CfgNode) -> None:
    solver = CfgNode()
    cfg.SOLVER = solver
    cfg.SOLVER.LEARNING_RATE = 0.001
    assert cfg.SOLVER is solver
    assert solver.LEARNING_RATE == 0.001


def test_missing_attribute_raises_attribute_error_with_a_suggestion(cfg: CfgNode) -> None:
    with pytest.raises(
        AttributeError, match=r"unknown key 'MODEL.NUM_CLASES'\. Did you mean 'MODEL.NUM_CLASSES'\?"
    ) as info:
        _ = cfg.MODEL.NUM_CLASES
    assert type(info.value) is ConfigAttributeError
    assert info.value.key == "MODEL.NUM_CLASES"


def test_missing_attribute_without_close_match_lists_the_keys(cfg: CfgNode) -> None:
    with pytest.raises(
        ConfigAttributeError, match=r"Keys here: IN_FEATURES, INPUT_SIZE, NUM_CLASSES"
    ):
        _ = cfg.MODEL.XYZ


def test_hasattr_and_getattr_default_work_for_missing_keys(cfg: CfgNode) -> None:
    assert hasattr(cfg, "NAME")
    assert not hasattr(cfg, "MISSING")
    assert getattr(cfg, "MISSING", 5) == 5
    assert not hasattr(cfg, "__array__")


def test_missing_item_raises_key_error_with_a_suggestion(cfg: CfgNode) -> None:
    with pytest.raises(KeyError, match=r"unknown key 'NAMES'\. Did you mean 'NAME'\?") as info:
        _ = cfg["NAMES"]
    assert type(info.value) is ConfigKeyError
    assert cfg.get("NAMES") is None


SHADOWING = ["items", "copy", "keys", "get", "freeze", "dict", "merge", "save", "update"]


@pytest.mark.parametrize("name", SHADOWING, ids=SHADOWING)
def test_key_shadowing_a_method_leaves_the_method_and_reads_with_brackets(name: str) -> None:
    cfg = CfgNode({name: 42})
    assert callable(getattr(cfg, name))
    assert cfg[name] == 42
    assert cfg.dict() == {name: 42}


def test_setting_a_method_name_as_attribute_is_refused() -> None:
    cfg = CfgNode({"SOLVER": {}})
    with pytest.raises(
        ConfigAttributeError, match=r"cannot set attribute 'SOLVER.items'.*cfg\['items'\] = value"
    ) as info:
        cfg.SOLVER.items = 3
    assert info.value.key == "SOLVER.items"
    assert "items" not in cfg.SOLVER


def test_deleting_a_method_name_as_attribute_is_refused() -> None:
    cfg = CfgNode({"copy": 1})
    with pytest.raises(
        ConfigAttributeError, match=r"cannot delete attribute 'copy'.*del cfg\['copy'\]"
    ):
        del cfg.copy
    assert cfg["copy"] == 1
    assert callable(cfg.copy)


def test_keys_that_are_not_identifiers_work_with_brackets() -> None:
    cfg = CfgNode({"a-b": 1, 2: "two", (1, 2): "pair", "with space": {"x": 1}})
    assert cfg["a-b"] == 1
    assert cfg[2] == "two"
    assert cfg[(1, 2)] == "pair"
    assert cfg["with space"].x == 1
    assert getattr(cfg, "a-b") == 1


REMOVALS: dict[str, Callable[[CfgNode], Any]] = {
    "del": lambda node: node.__delitem__("NAME"),
    "delattr": lambda node: delattr(node, "NAME"),
    "pop": lambda node: node.pop("NAME"),
    "popitem": lambda node: node.popitem(),
    "clear": lambda node: node.clear(),
}


@pytest.mark.parametrize("remove", REMOVALS.values(), ids=REMOVALS.keys())
def test_a_removed_key_is_no_longer_an_attribute(
    cfg: CfgNode, remove: Callable[[CfgNode], Any]
) -> None:
    remove(cfg)
    assert "NAME" not in cfg
    assert not hasattr(cfg, "NAME")


def test_pop_returns_the_value_or_the_default(cfg: CfgNode) -> None:
    assert cfg.pop("NAME") == "YuxinZhaozyx"
    assert cfg.pop("NAME", None) is None
    with pytest.raises(ConfigKeyError, match="unknown key 'NAME'"):
        cfg.pop("NAME")


def test_delattr_of_a_missing_key_raises_attribute_error(cfg: CfgNode) -> None:
    with pytest.raises(ConfigAttributeError, match="unknown key 'MISSING'"):
        del cfg.MISSING


def test_update_and_setdefault_turn_dicts_into_nodes() -> None:
    cfg = CfgNode()
    cfg.update({"A": {"X": 1}}, B={"Y": 2})
    cfg.update([("C", {"Z": 3})])
    assert cfg.setdefault("D", {"W": 4}).W == 4
    assert cfg.setdefault("D", {"W": 5}).W == 4
    assert (cfg.A.X, cfg.B.Y, cfg.C.Z, cfg.D.W) == (1, 2, 3, 4)


def test_or_operators_give_new_nodes(cfg: CfgNode) -> None:
    merged = cfg | {"NAME": "other", "EXTRA": {"A": 1}}
    assert type(merged) is CfgNode
    assert (merged.NAME, merged.EXTRA.A, cfg.NAME) == ("other", 1, "YuxinZhaozyx")
    left = {"NAME": "left", "ONLY_LEFT": 1} | cfg
    assert type(left) is CfgNode
    assert (left.NAME, left.ONLY_LEFT) == ("YuxinZhaozyx", 1)
    cfg |= {"NAME": "in place"}
    assert cfg.NAME == "in place"


def test_fromkeys_builds_a_node() -> None:
    cfg = CfgNode.fromkeys(["A", "B"], 0)
    assert type(cfg) is CfgNode
    assert (cfg.A, cfg.B) == (0, 0)


def test_dict_returns_plain_python_all_the_way_down() -> None:
    cfg = CfgNode({"A": {"B": [{"C": 1}], "T": ({"D": 2},)}})
    plain = cfg.dict()
    assert plain == {"A": {"B": [{"C": 1}], "T": ({"D": 2},)}}
    assert type(plain) is dict
    assert type(plain["A"]) is dict
    assert type(plain["A"]["B"][0]) is dict
    assert type(plain["A"]["T"][0]) is dict


def test_str_is_the_str_of_the_dict_form(cfg: CfgNode) -> None:
    assert str(cfg) == str(cfg.dict())
    assert str(cfg).startswith("{'MODEL': {'IN_FEATURES': ['res3', 'res4']")


def test_repr_names_the_class(cfg: CfgNode) -> None:
    assert repr(cfg) == f"CfgNode({cfg.dict()!r})"


def test_node_equals_the_plain_dict(cfg: CfgNode) -> None:
    assert cfg == cfg.dict()
    assert cfg.dict() == cfg


def test_copy_is_deep(cfg: CfgNode) -> None:
    other = cfg.copy()
    other.MODEL.IN_FEATURES.append("res5")
    other.MODEL.NUM_CLASSES = 10
    assert cfg.MODEL.IN_FEATURES == ["res3", "res4"]
    assert cfg.MODEL.NUM_CLASSES == 100
    assert type(other.MODEL) is CfgNode


def test_copy_module_shallow_copy_shares_children(cfg: CfgNode) -> None:
    other = copy.copy(cfg)
    assert other is not cfg
    assert other.MODEL is cfg.MODEL
    other.NAME = "changed"
    assert cfg.NAME == "YuxinZhaozyx"


def test_pickle_round_trip_keeps_values_and_attribute_access(cfg: CfgNode) -> None:
    cfg.DATASETS = [{"NAME": "coco"}]
    back = pickle.loads(pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == cfg
    assert type(back.MODEL) is CfgNode
    assert back.DATASETS[0].NAME == "coco"
    assert back.MODEL.INPUT_SIZE == (224, 224)


class _MyCfg(CfgNode):
    def describe(self) -> str:
        return "mine"


def test_subclass_children_are_of_the_subclass_and_its_methods_are_not_keys() -> None:
    cfg = _MyCfg({"A": {"B": 1}, "describe": "a key"})
    assert type(cfg.A) is _MyCfg
    assert cfg.describe() == "mine"
    assert cfg["describe"] == "a key"
    assert type(_MyCfg.load("A: {B: 1}\n").A) is _MyCfg
    assert type(cfg.copy()) is _MyCfg


def test_errors_name_the_path_of_a_node_inside_a_list() -> None:
    cfg = CfgNode({"DATASETS": [{"NAME": "coco"}]})
    with pytest.raises(ConfigAttributeError, match=r"unknown key 'DATASETS\[0\]\.NAM'"):
        _ = cfg.DATASETS[0].NAM


def test_a_node_taken_out_of_its_parent_reports_paths_from_itself() -> None:
    cfg = CfgNode({"MODEL": {"A": 1}})
    model = cfg.pop("MODEL")
    with pytest.raises(ConfigKeyError, match=r"unknown key 'B'\."):
        _ = model["B"]
