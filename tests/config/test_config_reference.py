"""The config tutorial of the reference documentation (section 1.2), step by step.

The reference imports ``easycore.common.config``; this runs the same steps on
``easycore_config``, with the reference's typos corrected (``IN_FEATRES`` in
the YAML example, ``cfg_c`` for ``cfg_b`` in the merge example).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from easycore_config import CfgNode as CN  # noqa: N817 (the reference's spelling)

EXAMPLE_YAML = """\
MODEL:
  IN_FEATURES: ["res3", "res4", "res5"]
  INPUT_SIZE: (224, 224)
  NUM_CLASSES: 100
NAME: YuxinZhaozyx
"""

INIT_DICT = {
    "MODEL": {
        "IN_FEATURES": ["res3", "res4", "res5"],
        "INPUT_SIZE": (224, 224),
        "NUM_CLASSES": 100,
    },
    "NAME": "YuxinZhaozyx",
}


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "example.yaml").write_text(EXAMPLE_YAML, encoding="utf-8")
    return tmp_path


def test_load_config_from_a_yaml_file_both_ways(in_tmp: Path) -> None:
    cfg = CN.open("example.yaml")
    with open("example.yaml", encoding="utf-8") as f:
        cfg_from_stream = CN.open(f)
    assert cfg == cfg_from_stream == CN(INIT_DICT)


def test_get_an_empty_config() -> None:
    assert CN() == {}


def test_use_config_values_have_python_types() -> None:
    cfg = CN(INIT_DICT)
    in_features = cfg.MODEL.IN_FEATURES
    input_size = cfg.MODEL.INPUT_SIZE
    num_classes = cfg.MODEL.NUM_CLASSES
    name = cfg.NAME
    assert (type(in_features), type(input_size), type(num_classes), type(name)) == (
        list,
        tuple,
        int,
        str,
    )


def test_add_values_and_nodes() -> None:
    cfg = CN(INIT_DICT)
    cfg.LICENSE = "MIT"
    cfg.SOLVER = CN()
    cfg.SOLVER.LEARNING_RATE = 0.001
    cfg.SOLVER.BATCH_SIZE = 128
    assert cfg.dict()["SOLVER"] == {"LEARNING_RATE": 0.001, "BATCH_SIZE": 128}
    assert cfg.LICENSE == "MIT"


def test_merge_two_configs() -> None:
    cfg_a = CN()
    cfg_a.key1 = 1
    cfg_a.key2 = 2
    cfg_b = CN()
    cfg_b.key2 = 3
    cfg_b.key3 = 4
    cfg_a.merge(cfg_b)
    assert cfg_a.key2 == 3
    assert cfg_a == {"key1": 1, "key2": 3, "key3": 4}


def test_copy_a_config() -> None:
    cfg = CN(INIT_DICT)
    cfg_copy = cfg.copy()
    cfg_copy.MODEL.IN_FEATURES.append("res6")
    assert cfg.MODEL.IN_FEATURES == ["res3", "res4", "res5"]


def test_save_config_to_a_yaml_file_both_ways(in_tmp: Path) -> None:
    cfg = CN(INIT_DICT)
    cfg.save("example-save.yaml")
    assert CN.open("example-save.yaml") == cfg
    with open("example-save.yaml", "w", encoding="utf-8") as f:
        cfg.save(f)
    assert CN.open("example-save.yaml") == cfg
    assert "INPUT_SIZE: (224, 224)" in Path("example-save.yaml").read_text(encoding="utf-8")
