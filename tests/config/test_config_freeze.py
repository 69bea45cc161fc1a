"""freeze(): deep, reported by is_frozen(), and enforced on every path that changes a node."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from easycore_config import CfgNode, FrozenConfigError


@pytest.fixture
def cfg() -> CfgNode:
    return CfgNode(
        {
            "SOLVER": {"BASE_LR": 0.1, "STEPS": (1000, 2000), "NAME": "sgd"},
            "DATASETS": [{"NAME": "coco"}],
            "PAIR": ({"A": 1},),
        }
    )


def test_freeze_reaches_nodes_in_nodes_lists_and_tuples(cfg: CfgNode) -> None:
    cfg.freeze()
    assert cfg.is_frozen()
    assert cfg.SOLVER.is_frozen()
    assert cfg.DATASETS[0].is_frozen()
    assert cfg.PAIR[0].is_frozen()


def test_a_new_node_is_not_frozen() -> None:
    assert not CfgNode({"A": {}}).A.is_frozen()


def test_unfreezing_allows_changes_again(cfg: CfgNode) -> None:
    cfg.freeze()
    cfg.freeze(False)
    assert not cfg.SOLVER.is_frozen()
    cfg.SOLVER.BASE_LR = 0.2
    assert cfg.SOLVER.BASE_LR == 0.2


def test_reads_work_on_a_frozen_config(cfg: CfgNode) -> None:
    cfg.freeze()
    assert cfg.SOLVER.BASE_LR == 0.1
    assert cfg["SOLVER"].get("NAME") == "sgd"
    assert cfg.dict()["SOLVER"]["STEPS"] == (1000, 2000)


def test_freezing_a_child_leaves_the_parent_free(cfg: CfgNode) -> None:
    cfg.SOLVER.freeze()
    cfg.NEW = 1
    with pytest.raises(FrozenConfigError):
        cfg.SOLVER.NEW = 1


MUTATIONS: dict[str, Callable[[CfgNode, Path], Any]] = {
    "setattr": lambda node, _: setattr(node, "BASE_LR", 0.5),
    "setattr-new": lambda node, _: setattr(node, "NEW", 1),
    "setitem": lambda node, _: node.__setitem__("BASE_LR", 0.5),
    "delitem": lambda node, _: node.__delitem__("BASE_LR"),
    "delattr": lambda node, _: delattr(node, "BASE_LR"),
    "update": lambda node, _: node.update({"BASE_LR": 0.5}),
    "update-kwargs": lambda node, _: node.update(BASE_LR=0.5),
    "update-nothing": lambda node, _: node.update(),
    "setdefault-new": lambda node, _: node.setdefault("NEW", 1),
    "setdefault-existing": lambda node, _: node.setdefault("BASE_LR", 1),
    "pop": lambda node, _: node.pop("BASE_LR"),
    "pop-default": lambda node, _: node.pop("MISSING", None),
    "popitem": lambda node, _: node.popitem(),
    "clear": lambda node, _: node.clear(),
    "ior": lambda node, _: node.__ior__({"BASE_LR": 0.5}),
    "merge": lambda node, _: node.merge({"BASE_LR": 0.5}),
    "merge_from_list": lambda node, _: node.merge_from_list(["BASE_LR", "0.5"]),
    "merge_from_file": lambda node, path: node.merge_from_file(path),
}


@pytest.mark.parametrize("mutate", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_every_mutation_of_a_frozen_node_is_refused_and_changes_nothing(
    cfg: CfgNode, tmp_path: Path, mutate: Callable[[CfgNode, Path], Any]
) -> None:
    override = tmp_path / "override.yaml"
    override.write_text("BASE_LR: 0.5\n", encoding="utf-8")
    before = copy.deepcopy(cfg.dict())
    cfg.freeze()
    with pytest.raises(
        FrozenConfigError, match=r"'SOLVER[.A-Z_]*': the config is frozen\. Call freeze\(False\)"
    ) as info:
        mutate(cfg.SOLVER, override)
    assert info.value.key is not None
    assert info.value.key.startswith("SOLVER")
    assert cfg.dict() == before


def test_frozen_error_names_the_full_key_path(cfg: CfgNode) -> None:
    cfg.freeze()
    with pytest.raises(FrozenConfigError, match=r"cannot set 'DATASETS\[0\]\.NAME'") as info:
        cfg.DATASETS[0].NAME = "voc"
    assert info.value.key == "DATASETS[0].NAME"


def test_frozen_error_on_the_root_says_root(cfg: CfgNode) -> None:
    cfg.freeze()
    with pytest.raises(FrozenConfigError, match="cannot clear the root node"):
        cfg.clear()


def test_merge_into_a_frozen_subtree_of_a_free_root_changes_nothing(cfg: CfgNode) -> None:
    cfg.SOLVER.freeze()
    with pytest.raises(FrozenConfigError, match="cannot merge into 'SOLVER'"):
        cfg.merge({"NEW": 1, "SOLVER": {"BASE_LR": 0.5}})
    assert "NEW" not in cfg
    assert cfg.SOLVER.BASE_LR == 0.1


def test_frozen_error_is_an_attribute_error(cfg: CfgNode) -> None:
    cfg.freeze()
    with pytest.raises(AttributeError):
        cfg.SOLVER.BASE_LR = 1.0


def test_copies_of_a_frozen_config_are_frozen(cfg: CfgNode) -> None:
    cfg.freeze()
    for other in (cfg.copy(), copy.deepcopy(cfg), copy.copy(cfg)):
        assert other.is_frozen()
    assert cfg.copy().SOLVER.is_frozen()


def test_or_of_a_frozen_config_gives_a_free_new_node(cfg: CfgNode) -> None:
    cfg.freeze()
    merged = cfg | {"NEW": 1}
    assert not merged.is_frozen()
    assert "NEW" not in cfg
