"""HierarchicalCfgNode: __BASE__ lookup, lists of bases, cycles, and saving over a base."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from easycore_config import CfgNode, ConfigError, ConfigKeyError, HierarchicalCfgNode

Write = Callable[[str, str], Path]


@pytest.fixture
def example(write: Write) -> Path:
    write("example-B.yaml", "A: in example-B.yaml\nB: in example-B.yaml\n")
    return write(
        "example-A.yaml", "__BASE__: ./example-B.yaml\nA: in example-A.yaml\nC: in example-A.yaml\n"
    )


def test_the_reference_example_merges_the_file_over_its_base(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = HierarchicalCfgNode.open(str(example))
    print(cfg)
    assert capsys.readouterr().out == (
        "{'A': 'in example-A.yaml', 'B': 'in example-B.yaml', 'C': 'in example-A.yaml'}\n"
    )
    assert type(cfg) is CfgNode
    assert "__BASE__" not in cfg
    assert not hasattr(cfg, "__BASE__")


def test_plain_open_keeps_base_as_an_ordinary_key(example: Path) -> None:
    assert CfgNode.open(example).__BASE__ == "./example-B.yaml"


def test_a_base_next_to_the_file_wins_over_one_in_the_working_directory(
    write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("configs/base.yaml", "WHERE: beside\n")
    write("base.yaml", "WHERE: cwd\n")
    child = write("configs/child.yaml", "__BASE__: base.yaml\n")
    monkeypatch.chdir(tmp_path)
    assert HierarchicalCfgNode.open(child).WHERE == "beside"


def test_a_base_is_then_looked_up_as_given(
    write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("shared/base.yaml", "WHERE: cwd\n")
    child = write("configs/child.yaml", "__BASE__: shared/base.yaml\n")
    monkeypatch.chdir(tmp_path)
    assert HierarchicalCfgNode.open(child).WHERE == "cwd"


def test_an_absolute_base_path_works(write: Write) -> None:
    base = write("elsewhere/base.yaml", "WHERE: absolute\n")
    child = write("configs/child.yaml", f"__BASE__: {base}\n")
    assert HierarchicalCfgNode.open(child).WHERE == "absolute"


def test_a_list_of_bases_merges_in_order(write: Write) -> None:
    write("one.yaml", "A: 1\nB: 1\nN: {X: 1, Y: 1}\n")
    write("two.yaml", "B: 2\nC: 2\nN: {Y: 2}\n")
    child = write("child.yaml", "__BASE__: [one.yaml, two.yaml]\nC: 3\n")
    assert HierarchicalCfgNode.open(child) == {"A": 1, "B": 2, "N": {"X": 1, "Y": 2}, "C": 3}


def test_bases_can_have_bases_relative_to_themselves(write: Write) -> None:
    write("a/root.yaml", "LEVEL: root\nROOT: true\n")
    write("a/b/middle.yaml", "__BASE__: ../root.yaml\nLEVEL: middle\n")
    child = write("a/b/c/leaf.yaml", "__BASE__: ../middle.yaml\nLEVEL: leaf\n")
    assert HierarchicalCfgNode.open(child) == {"LEVEL": "leaf", "ROOT": True}


def test_a_shared_base_reached_twice_is_not_a_cycle(write: Write) -> None:
    write("common.yaml", "COMMON: 1\n")
    write("left.yaml", "__BASE__: common.yaml\nLEFT: 1\n")
    write("right.yaml", "__BASE__: common.yaml\nRIGHT: 1\n")
    child = write("child.yaml", "__BASE__: [left.yaml, right.yaml]\n")
    assert HierarchicalCfgNode.open(child) == {"COMMON": 1, "LEFT": 1, "RIGHT": 1}


def test_a_cycle_is_reported_with_the_chain_of_files(write: Write) -> None:
    write("one.yaml", "__BASE__: two.yaml\n")
    write("two.yaml", "__BASE__: [three.yaml]\n")
    write("three.yaml", "__BASE__: one.yaml\n")
    with pytest.raises(
        ConfigError, match=r"cycle: .*one\.yaml -> .*two\.yaml -> .*three\.yaml -> .*one\.yaml$"
    ):
        HierarchicalCfgNode.open(write("start.yaml", "__BASE__: one.yaml\n"))


def test_a_file_that_is_its_own_base_is_a_cycle(write: Write) -> None:
    path = write("self.yaml", "__BASE__: self.yaml\nA: 1\n")
    with pytest.raises(ConfigError, match=r"cycle: .*self\.yaml -> .*self\.yaml"):
        HierarchicalCfgNode.open(path)


def test_a_missing_base_names_the_including_file_and_line(write: Write) -> None:
    path = write("child.yaml", "A: 1\n__BASE__: nowhere.yaml\n")
    with pytest.raises(
        FileNotFoundError,
        match=r"__BASE__ of .*child\.yaml \(line 2\) not found; looked for .*nowhere\.yaml",
    ) as info:
        HierarchicalCfgNode.open(path)
    assert info.value.filename == "nowhere.yaml"


def test_a_base_that_is_not_a_path_is_refused(write: Write) -> None:
    path = write("child.yaml", "__BASE__: {A: 1}\n")
    with pytest.raises(
        ConfigError, match=r"__BASE__ in .*child\.yaml, line 1 must be a path or a list of paths"
    ) as info:
        HierarchicalCfgNode.open(path)
    assert info.value.line == 1


def test_an_empty_base_is_no_base(write: Write) -> None:
    assert HierarchicalCfgNode.open(write("child.yaml", "__BASE__:\nA: 1\n")) == {"A": 1}


def test_a_missing_top_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No such config file"):
        HierarchicalCfgNode.open(tmp_path / "missing.yaml")


# -- save ---------------------------------------------------------------------


@pytest.fixture
def base(write: Write) -> Path:
    return write(
        "configs/base.yaml",
        "MODEL:\n  NAME: resnet\n  SIZE: (224, 224)\nSOLVER:\n  BASE_LR: 0.1\n  STEPS: [1, 2]\n",
    )


def test_save_writes_the_base_and_only_what_differs(base: Path, tmp_path: Path) -> None:
    cfg = HierarchicalCfgNode.open(base)
    cfg.SOLVER.BASE_LR = 0.5
    cfg.NEW = {"A": 1}
    path = tmp_path / "configs" / "exp.yaml"
    HierarchicalCfgNode.save(cfg, str(path), base_cfg_path=str(base))
    assert (
        path.read_text(encoding="utf-8")
        == "__BASE__: base.yaml\nSOLVER:\n  BASE_LR: 0.5\nNEW:\n  A: 1\n"
    )
    assert HierarchicalCfgNode.open(path) == cfg


def test_save_writes_values_whose_type_changed(base: Path, tmp_path: Path) -> None:
    cfg = HierarchicalCfgNode.open(base)
    cfg.SOLVER.STEPS = (1, 2)
    cfg.MODEL.NAME = {"KIND": "resnet"}
    path = tmp_path / "exp.yaml"
    HierarchicalCfgNode.save(cfg, path, base_cfg_path=base)
    back = HierarchicalCfgNode.open(path)
    assert back == cfg
    assert type(back.SOLVER.STEPS) is tuple


def test_save_with_an_absolute_base_path(base: Path, tmp_path: Path) -> None:
    path = tmp_path / "out" / "exp.yaml"
    path.parent.mkdir()
    HierarchicalCfgNode.save(
        HierarchicalCfgNode.open(base), path, base_cfg_path=base, base_path_relative=False
    )
    assert path.read_text(encoding="utf-8") == f"__BASE__: {base}\n"


def test_save_relative_path_climbs_directories(base: Path, tmp_path: Path) -> None:
    path = tmp_path / "runs" / "a" / "exp.yaml"
    path.parent.mkdir(parents=True)
    cfg = HierarchicalCfgNode.open(base)
    HierarchicalCfgNode.save(cfg, path, base_cfg_path=base)
    assert str(Path("..", "..", "configs", "base.yaml")) == CfgNode.open(path).__BASE__
    assert HierarchicalCfgNode.open(path) == cfg


def test_save_without_a_base_is_a_plain_save(tmp_path: Path) -> None:
    cfg = CfgNode({"A": {"B": (1, 2)}})
    HierarchicalCfgNode.save(cfg, tmp_path / "plain.yaml")
    assert (tmp_path / "plain.yaml").read_text(encoding="utf-8") == "A:\n  B: (1, 2)\n"


def test_save_without_a_base_leaves_key_paths_in_errors_alone(tmp_path: Path) -> None:
    cfg = CfgNode({"SOLVER": {"BASE_LR": 0.1}})
    HierarchicalCfgNode.save(cfg, tmp_path / "plain.yaml")
    with pytest.raises(AttributeError, match=r"unknown key 'SOLVER.LR'"):
        cfg.SOLVER.LR  # noqa: B018


def test_save_of_a_config_lacking_base_keys_saves_the_difference_and_warns(
    base: Path, tmp_path: Path
) -> None:
    cfg = CfgNode({"SOLVER": {"BASE_LR": 0.5}})  # built from scratch, as code for the original does
    path = tmp_path / "configs" / "exp.yaml"
    with pytest.warns(UserWarning, match=r"'MODEL', 'SOLVER.STEPS': cfg lacks them.*come back"):
        HierarchicalCfgNode.save(cfg, path, base_cfg_path=base)
    assert path.read_text(encoding="utf-8") == "__BASE__: base.yaml\nSOLVER:\n  BASE_LR: 0.5\n"
    back = HierarchicalCfgNode.open(path)
    assert back.SOLVER == {"BASE_LR": 0.5, "STEPS": [1, 2]}
    assert back.MODEL.NAME == "resnet"


def test_save_strict_refuses_a_config_that_lacks_keys_of_the_base(
    base: Path, tmp_path: Path
) -> None:
    cfg = HierarchicalCfgNode.open(base)
    del cfg.SOLVER.STEPS
    with pytest.raises(
        ConfigKeyError, match=r"it has 'SOLVER.STEPS', which cfg lacks.*cannot delete keys"
    ) as info:
        HierarchicalCfgNode.save(cfg, tmp_path / "exp.yaml", base_cfg_path=base, strict=True)
    assert info.value.key == "SOLVER.STEPS"
    assert not (tmp_path / "exp.yaml").exists()


def test_a_required_key_of_the_base_that_cfg_lacks_is_named_too(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("SOLVER:\n  BASE_LR: 0.1\n  MAX_ITER: ???\n", encoding="utf-8")
    cfg = CfgNode({"SOLVER": {"BASE_LR": 0.5}})
    with pytest.warns(UserWarning, match=r"'SOLVER.MAX_ITER': cfg lacks them"):
        HierarchicalCfgNode.save(cfg, tmp_path / "exp.yaml", base_cfg_path=base)
    assert HierarchicalCfgNode.open(tmp_path / "exp.yaml").missing_keys() == ["SOLVER.MAX_ITER"]
    with pytest.raises(ConfigKeyError, match=r"it has 'SOLVER.MAX_ITER', which cfg lacks"):
        HierarchicalCfgNode.save(cfg, tmp_path / "strict.yaml", base_cfg_path=base, strict=True)
    assert not (tmp_path / "strict.yaml").exists()


def test_the_base_tag_is_a_class_attribute_as_in_the_original(example: Path) -> None:
    assert HierarchicalCfgNode.__BASE__ == "__BASE__"
    assert HierarchicalCfgNode.__BASE__ in CfgNode.open(example)
    assert HierarchicalCfgNode.__BASE__ not in HierarchicalCfgNode.open(example)


def test_save_refuses_a_config_with_its_own_base_key(base: Path, tmp_path: Path) -> None:
    cfg = CfgNode.open(base)
    cfg["__BASE__"] = "other.yaml"
    with pytest.raises(ConfigKeyError, match="has its own '__BASE__' key"):
        HierarchicalCfgNode.save(cfg, tmp_path / "exp.yaml", base_cfg_path=base)


def test_save_uses_the_encoding(write: Write, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("NAME: caf\xe9\n", encoding="utf-16")
    cfg = HierarchicalCfgNode.open(base, encoding="utf-16")
    cfg.OTHER = "\xe9t\xe9"
    HierarchicalCfgNode.save(cfg, tmp_path / "exp.yaml", base_cfg_path=base, encoding="utf-16")
    assert HierarchicalCfgNode.open(tmp_path / "exp.yaml", encoding="utf-16") == cfg
