"""Tutorial 1.2, "Light weight config tools", as one runnable script.

Every step of the reference's config tutorial, plus its HierarchicalCfgNode example, in a
temporary directory, printing what each step shows. The reference's typos are corrected
(``IN_FEATRES`` -> ``IN_FEATURES``, ``cfg_c`` -> ``cfg_b``, ``import ... import`` ->
``from ... import``). Exits non-zero if any step does not show what the tutorial says.

    python examples/config_tutorial.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from easycore.common.config import CfgNode as CN  # noqa: N817 (the reference's spelling)
from easycore.common.config import HierarchicalCfgNode

EXAMPLE_YAML = """\
MODEL:
  IN_FEATURES: ["res3", "res4", "res5"]
  INPUT_SIZE: (224, 224)
  NUM_CLASSES: 100
NAME: YuxinZhaozyx
"""


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def load_from_file() -> CN:
    print("== 1.2.1 Load config from local yaml file")
    Path("example.yaml").write_text(EXAMPLE_YAML, encoding="utf-8")
    cfg = CN.open("example.yaml")
    print("CN.open('example.yaml') ->", cfg)
    with open("example.yaml", encoding="utf-8") as f:
        cfg_from_stream = CN.open(f)
    print("CN.open(f) gives the same:", cfg_from_stream == cfg)
    check(cfg_from_stream == cfg, "both ways of loading agree")
    return cfg


def empty_and_from_dict() -> CN:
    print("== 1.2.2 Get an empty config")
    cfg = CN()
    print("CN() ->", cfg)
    check(cfg == {}, "an empty config is empty")

    print("== 1.2.3 Get a config from python dict")
    init_dict = {
        "MODEL": {
            "IN_FEATURES": ["res3", "res4", "res5"],
            "INPUT_SIZE": (224, 224),
            "NUM_CLASSES": 100,
        },
        "NAME": "YuxinZhaozyx",
    }
    cfg = CN(init_dict)
    print("CN(init_dict) ->", cfg)
    return cfg


def use(cfg: CN) -> None:
    print("== 1.2.4 Use config")
    in_features = cfg.MODEL.IN_FEATURES  # list
    input_size = cfg.MODEL.INPUT_SIZE  # tuple
    num_classes = cfg.MODEL.NUM_CLASSES  # int
    name = cfg.NAME  # str
    for label, value in [
        ("cfg.MODEL.IN_FEATURES", in_features),
        ("cfg.MODEL.INPUT_SIZE", input_size),
        ("cfg.MODEL.NUM_CLASSES", num_classes),
        ("cfg.NAME", name),
    ]:
        print(f"{label} = {value!r} ({type(value).__name__})")
    check(
        [type(in_features), type(input_size), type(num_classes), type(name)]
        == [list, tuple, int, str],
        "values have python types",
    )

    cfg.LICENSE = "MIT"
    cfg.SOLVER = CN()
    cfg.SOLVER.LEARNING_RATE = 0.001
    cfg.SOLVER.BATCH_SIZE = 128
    print("after adding LICENSE and SOLVER ->", cfg)
    check(cfg.SOLVER == {"LEARNING_RATE": 0.001, "BATCH_SIZE": 128}, "new node holds its keys")


def merge() -> None:
    print("== 1.2.5 Merge two config")
    cfg_a = CN()
    cfg_a.key1 = 1
    cfg_a.key2 = 2

    cfg_b = CN()
    cfg_b.key2 = 3
    cfg_b.key3 = 4

    cfg_a.merge(cfg_b)  # now cfg_a.key2 is 3
    print("cfg_a.merge(cfg_b) ->", cfg_a)
    check(cfg_a.key2 == 3 and cfg_a.key3 == 4, "the other config wins and adds keys")


def copy_and_save(cfg: CN) -> None:
    print("== 1.2.6 Copy a config")
    cfg_copy = cfg.copy()  # get a deepcopy of cfg
    cfg_copy.MODEL.IN_FEATURES.append("res6")
    print("copy changed:", cfg_copy.MODEL.IN_FEATURES, "original:", cfg.MODEL.IN_FEATURES)
    check(cfg.MODEL.IN_FEATURES == ["res3", "res4", "res5"], "the copy is deep")

    print("== 1.2.7 Save config to yaml file")
    cfg.save("example-save.yaml")
    with open("example-save.yaml", "w", encoding="utf-8") as f:
        cfg.save(f)
    text = Path("example-save.yaml").read_text(encoding="utf-8")
    print("example-save.yaml:\n" + text.rstrip())
    check(CN.open("example-save.yaml") == cfg, "the saved file opens to the same config")


def hierarchical() -> None:
    print("== HierarchicalCfgNode (2.1.1)")
    Path("example-A.yaml").write_text(
        "__BASE__: ./example-B.yaml\nA: in example-A.yaml\nC: in example-A.yaml\n",
        encoding="utf-8",
    )
    Path("example-B.yaml").write_text(
        "A: in example-B.yaml\nB: in example-B.yaml\n", encoding="utf-8"
    )
    cfg = HierarchicalCfgNode.open("./example-A.yaml")
    print(cfg)
    check(
        cfg == {"A": "in example-A.yaml", "B": "in example-B.yaml", "C": "in example-A.yaml"},
        "example-A.yaml is merged over example-B.yaml",
    )


def main() -> int:
    start = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            cfg = load_from_file()
            check(cfg == empty_and_from_dict(), "the file and the dict give the same config")
            use(cfg)
            merge()
            copy_and_save(cfg)
            hierarchical()
        except AssertionError as err:
            print(f"FAILED: {err}", file=sys.stderr)
            return 1
        finally:
            os.chdir(start)
    print("config tutorial: all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
