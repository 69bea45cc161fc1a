"""What yacs, OmegaConf and Hydra users bring: dotlists, renamed and deprecated keys, yacs names."""

from __future__ import annotations

import argparse
import copy
import io
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from easycore_config import (
    CfgNode,
    ConfigAttributeError,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
)

Write = Callable[[str, str], Path]


@pytest.fixture
def cfg() -> CfgNode:
    return CfgNode(
        {"SOLVER": {"BASE_LR": 0.1, "STEPS": (1, 2)}, "MODEL": {"NAME": "resnet"}, "SEED": 1}
    )


# -- KEY=VALUE items ------------------------------------------------------------------


def test_merge_from_list_takes_key_equals_value_items(cfg: CfgNode) -> None:
    cfg.merge_from_list(["SOLVER.BASE_LR=0.5", "SOLVER.STEPS=(3, 4)", "MODEL.NAME=vit"])
    assert cfg.SOLVER == {"BASE_LR": 0.5, "STEPS": (3, 4)}
    assert cfg.MODEL.NAME == "vit"


def test_pairs_and_key_equals_value_items_mix(cfg: CfgNode) -> None:
    cfg.merge_from_list(["SEED=7", "MODEL.NAME", "a=b", "SOLVER.BASE_LR", "0.5"])
    assert (cfg.SEED, cfg.MODEL.NAME, cfg.SOLVER.BASE_LR) == (7, "a=b", 0.5)


def test_a_value_may_hold_equals_signs(cfg: CfgNode) -> None:
    cfg.merge_from_list(["MODEL.NAME=a=b"])
    assert cfg.MODEL.NAME == "a=b"


def test_an_empty_value_after_equals_is_read_as_yaml(cfg: CfgNode) -> None:
    cfg.merge_from_list(["SEED="])  # YAML reads "" as None, which may replace anything
    assert cfg.SEED is None


def test_a_key_without_a_value_names_it(cfg: CfgNode) -> None:
    with pytest.raises(ConfigError, match=r"'SEED' \(item 1\) has no value"):
        cfg.merge_from_list(["MODEL.NAME=vit", "SEED"])
    assert cfg.MODEL.NAME == "resnet"


def test_a_dotlist_key_is_checked_like_a_pair_key(cfg: CfgNode) -> None:
    with pytest.raises(ConfigKeyError, match=r"unknown key 'SOLVER.LR'.*'SOLVER.BASE_LR'"):
        cfg.merge_from_list(["SOLVER.LR=0.5"])


def test_the_argparse_recipe_of_the_docs(cfg: CfgNode, write: Write) -> None:
    config = write("exp.yaml", "SOLVER:\n  BASE_LR: 0.2\n")
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE items")
    args = parser.parse_args(["--config", str(config), "SOLVER.STEPS=(5, 6)", "SEED=3"])
    cfg.merge_from_file(args.config)
    cfg.merge_from_list(args.overrides)
    assert cfg.SOLVER == {"BASE_LR": 0.2, "STEPS": (5, 6)}
    assert cfg.SEED == 3


# -- renamed and deprecated keys ----------------------------------------------------------


def test_a_renamed_key_in_a_file_fails_naming_the_new_key_file_and_line(
    cfg: CfgNode, write: Write
) -> None:
    cfg.register_renamed_key("SOLVER.LR", "SOLVER.BASE_LR", "LR became BASE_LR in 2.0")
    path = write("old.yaml", "SEED: 2\nSOLVER:\n  LR: 0.3\n")
    with pytest.raises(
        ConfigKeyError,
        match=r"'SOLVER.LR' in .*old\.yaml, line 3 was renamed to 'SOLVER.BASE_LR'.*in 2\.0",
    ) as info:
        cfg.merge_from_file(path)
    assert (info.value.key, info.value.line) == ("SOLVER.LR", 3)
    assert cfg.SEED == 1  # nothing merged


def test_a_renamed_key_in_a_list_fails_naming_the_new_key(cfg: CfgNode) -> None:
    cfg.register_renamed_key("SOLVER.LR", "SOLVER.BASE_LR")
    with pytest.raises(ConfigKeyError, match=r"'SOLVER.LR' \(from merge_from_list\) was renamed"):
        cfg.merge_from_list(["SEED", "4", "SOLVER.LR", "0.3"])
    assert cfg.SEED == 1


def test_a_deprecated_key_in_a_file_warns_and_is_dropped(cfg: CfgNode, write: Write) -> None:
    cfg.register_deprecated_key("MODEL.USE_FP16")
    path = write("old.yaml", "MODEL:\n  NAME: vit\n  USE_FP16: true\n")
    with pytest.warns(UserWarning, match=r"deprecated key 'MODEL.USE_FP16' in .*old\.yaml, line 3"):
        cfg.merge_from_file(path)
    assert cfg.MODEL == {"NAME": "vit"}


def test_a_deprecated_key_in_a_list_warns_at_the_caller_and_is_dropped(cfg: CfgNode) -> None:
    cfg.register_deprecated_key("USE_FP16")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg.merge_from_list(["USE_FP16=true", "SEED=5"])
    assert [str(item.message) for item in caught] == [
        "ignored the deprecated key 'USE_FP16' (from merge_from_list); remove it."
    ]
    assert caught[0].filename == __file__
    assert "USE_FP16" not in cfg
    assert cfg.SEED == 5


def test_a_key_registers_once(cfg: CfgNode) -> None:
    cfg.register_deprecated_key("A")
    with pytest.raises(ConfigKeyError, match="'A' is already registered as deprecated"):
        cfg.register_renamed_key("A", "B")


def test_registered_keys_survive_copy_deepcopy_and_pickle(cfg: CfgNode) -> None:
    cfg.register_renamed_key("SOLVER.LR", "SOLVER.BASE_LR")
    for clone in (cfg.copy(), copy.copy(cfg), pickle.loads(pickle.dumps(cfg))):
        with pytest.raises(ConfigKeyError, match="was renamed"):
            clone.merge_from_list(["SOLVER.LR=1.0"])


def test_a_copy_registers_keys_of_its_own(cfg: CfgNode) -> None:
    clone = cfg.copy()
    clone.register_deprecated_key("OLD")
    assert cfg._key_rules is None


# -- yacs spellings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("clone", r"cfg\.copy\(\)"),
        ("defrost", r"cfg\.freeze\(False\)"),
        ("merge_from_other_cfg", r"cfg\.merge\(other\)"),
        ("load_cfg", r"CfgNode\.load\(text\) or CfgNode\.open\(file\)"),
        ("set_new_allowed", r"cfg\.merge\(other\), which adds keys"),
        ("key_is_deprecated", r"cfg\.register_deprecated_key\(key\)"),
    ],
    ids=lambda value: str(value).split("\\")[0],
)
def test_a_yacs_name_hints_at_ours(cfg: CfgNode, name: str, hint: str) -> None:
    with pytest.raises(ConfigAttributeError, match=rf"For yacs's {name}\(\), use {hint}"):
        getattr(cfg.SOLVER, name)


@pytest.mark.parametrize(
    "call",
    [
        lambda cfg: cfg.dump(),
        lambda cfg: cfg.dump(sort_keys=True),
        lambda cfg: cfg.dump(stream=io.StringIO()),
        lambda cfg: cfg.dump(io.StringIO()),
    ],
    ids=["no-argument", "yaml-option", "stream-keyword", "stream-first"],
)
def test_dump_called_the_yacs_way_says_how_to_call_it(
    cfg: CfgNode, call: Callable[[CfgNode], object]
) -> None:
    with pytest.raises(ConfigTypeError, match=r"yacs's cfg\.dump\(\) is CfgNode\.dump\(cfg\)"):
        call(cfg)
    assert CfgNode.load(str(cfg.dump(cfg))) == cfg  # an instance may still pass the config


def test_a_yacs_name_that_is_a_key_reads_the_key() -> None:
    assert CfgNode({"clone": 1}).clone == 1


def test_hasattr_stays_false_for_yacs_names(cfg: CfgNode) -> None:
    assert not hasattr(cfg, "clone")
