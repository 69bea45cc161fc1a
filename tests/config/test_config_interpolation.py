"""${...} interpolations and ??? required values: resolving, escaping, errors, dump and save."""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import easycore_config
from easycore_config import (
    CfgNode,
    ConfigError,
    ConfigKeyError,
    HierarchicalCfgNode,
    MissingValueError,
)

Write = Callable[[str, str], Path]

TEXT = """\
DATA:
  ROOT: /datasets
  TRAIN: ${DATA.ROOT}/train
SOLVER:
  BASE_LR: 0.1
  WARMUP_LR: ${SOLVER.BASE_LR}
  SIZE: (224, 224)
  SIZE_COPY: ${SOLVER.SIZE}
MODEL:
  HEAD: {DIM: 8}
  HEAD_COPY: ${MODEL.HEAD}
"""


# -- references to keys ---------------------------------------------------------------


def test_a_whole_value_reference_keeps_the_type(backend: str) -> None:
    cfg = CfgNode.load(TEXT)
    assert cfg.SOLVER.WARMUP_LR == 0.1
    assert cfg.SOLVER.SIZE_COPY == (224, 224)
    assert cfg.MODEL.HEAD_COPY == {"DIM": 8}
    assert type(cfg.MODEL.HEAD_COPY) is CfgNode


def test_a_reference_inside_text_is_formatted_into_it(backend: str) -> None:
    cfg = CfgNode.load(TEXT)
    assert cfg.DATA.TRAIN == "/datasets/train"
    assert cfg["DATA"]["TRAIN"] == "/datasets/train"  # items read the same as attributes


def test_a_copied_node_is_its_own_copy() -> None:
    cfg = CfgNode.load(TEXT)
    cfg.MODEL.HEAD_COPY.DIM = 16
    assert cfg.MODEL.HEAD.DIM == 8


@pytest.mark.parametrize(
    "change",
    [
        lambda cfg: setattr(cfg.DATA, "ROOT", "/mnt"),
        lambda cfg: cfg.merge_from_list(["DATA.ROOT=/mnt"]),
        lambda cfg: cfg.merge({"DATA": {"ROOT": "/mnt"}}),
        lambda cfg: cfg.DATA.update(ROOT="/mnt"),
    ],
    ids=["setattr", "merge_from_list", "merge", "update"],
)
def test_a_later_change_shows_through_the_reference(
    change: Callable[[CfgNode], None],
) -> None:
    cfg = CfgNode.load(TEXT)
    change(cfg)
    assert cfg.DATA.TRAIN == "/mnt/train"


def test_merge_from_file_changes_show_through_references(write: Write) -> None:
    cfg = CfgNode.load(TEXT)
    cfg.merge_from_file(write("exp.yaml", "SOLVER:\n  BASE_LR: 0.5\n"))
    assert cfg.SOLVER.WARMUP_LR == 0.5


def test_setting_an_interpolated_key_replaces_its_expression() -> None:
    cfg = CfgNode.load(TEXT)
    cfg.SOLVER.WARMUP_LR = 0.01
    cfg.SOLVER.BASE_LR = 0.2
    assert cfg.SOLVER.WARMUP_LR == 0.01
    assert "WARMUP_LR: 0.01\n" in str(CfgNode.dump(cfg))


def test_a_file_may_set_an_interpolation_over_a_plain_value(write: Write) -> None:
    cfg = CfgNode({"A": 1, "B": 2})
    cfg.merge_from_file(write("exp.yaml", "B: ${A}\n"))
    assert cfg.B == 1
    cfg.A = 3
    assert cfg.B == 3


def test_a_base_file_interpolation_sees_the_child_value(write: Write) -> None:
    write("base.yaml", "ROOT: /base\nTRAIN: ${ROOT}/train\n")
    child = write("child.yaml", "__BASE__: base.yaml\nROOT: /child\n")
    cfg = HierarchicalCfgNode.open(child)
    assert cfg.TRAIN == "/child/train"


# -- environment variables ------------------------------------------------------------


def test_env_reads_a_variable_as_yaml_when_it_is_the_whole_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EASYCORE_TEST_LR", "0.5")
    cfg = CfgNode.load("LR: ${env:EASYCORE_TEST_LR}\nTEXT: lr=${env:EASYCORE_TEST_LR}\n")
    assert cfg.LR == 0.5
    assert cfg.TEXT == "lr=0.5"


def test_env_takes_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EASYCORE_TEST_UNSET", raising=False)
    cfg = CfgNode.load("BATCH: ${env:EASYCORE_TEST_UNSET, 32}\nNAME: ${env:EASYCORE_TEST_UNSET,}\n")
    assert cfg.BATCH == 32


def test_an_empty_env_default_or_value_is_an_empty_string(monkeypatch: pytest.MonkeyPatch) -> None:
    # As OmegaConf does; YAML alone would read the empty text as null.
    monkeypatch.delenv("EASYCORE_TEST_UNSET", raising=False)
    monkeypatch.setenv("EASYCORE_TEST_EMPTY", "")
    cfg = CfgNode.load(
        "NAME: ${env:EASYCORE_TEST_UNSET,}\nBLANK: ${env:EASYCORE_TEST_UNSET, }\n"
        "EMPTY: ${env:EASYCORE_TEST_EMPTY}\n"
    )
    assert (cfg.NAME, cfg.BLANK, cfg.EMPTY) == ("", "", "")


def test_an_unset_variable_without_default_names_key_file_and_line(
    monkeypatch: pytest.MonkeyPatch, write: Write
) -> None:
    monkeypatch.delenv("EASYCORE_TEST_UNSET", raising=False)
    path = write("exp.yaml", "A: 1\nB: ${env:EASYCORE_TEST_UNSET}\n")
    with pytest.raises(
        ConfigKeyError, match=r"'B' in .*exp\.yaml, line 2 .*EASYCORE_TEST_UNSET is not set"
    ) as info:
        CfgNode.open(path)
    assert (info.value.key, info.value.file, info.value.line) == ("B", str(path), 2)


# -- errors -------------------------------------------------------------------------------


def test_a_reference_to_a_missing_key_names_key_file_and_line(write: Write) -> None:
    path = write("exp.yaml", "SOLVER:\n  BASE_LR: 0.1\n  WARMUP: ${SOLVER.LR}\n")
    with pytest.raises(
        ConfigKeyError,
        match=r"'SOLVER.WARMUP' in .*exp\.yaml, line 3 .*'SOLVER.LR' does not exist.*no key 'LR'",
    ) as info:
        CfgNode.open(path)
    assert (info.value.key, info.value.line) == ("SOLVER.WARMUP", 3)


def test_a_cycle_names_the_chain_file_and_line() -> None:
    with pytest.raises(ConfigKeyError, match=r"line 1: .*cycle: A -> B -> C -> A") as info:
        CfgNode.load("A: ${B}\nB: ${C}\nC: x${A}\n")
    assert (info.value.key, info.value.line) == ("A", 1)


def chain_of_references(length: int) -> str:
    """Return a config whose K0 reads K1, which reads K2, ... up to K<length>: 1."""
    return "".join(f"K{i}: ${{K{i + 1}}}\n" for i in range(length)) + f"K{length}: 1\n"


def test_a_chain_of_references_too_long_to_follow_names_its_start() -> None:
    with pytest.raises(ConfigKeyError, match=r"'K0' in <string>, line 1 refers .* 50 keys") as info:
        CfgNode.load(chain_of_references(3000))
    assert (info.value.key, info.value.line) == ("K0", 1)


def test_a_chain_of_fifty_references_resolves() -> None:
    assert CfgNode.load(chain_of_references(49)).K0 == 1


def test_a_reference_to_a_node_holding_it_is_a_cycle() -> None:
    with pytest.raises(ConfigKeyError, match="cycle"):
        CfgNode.load("A:\n  B: 1\n  ALL: ${A}\n")


def test_deleting_a_referenced_key_leaves_the_reference_unset_with_the_reason() -> None:
    cfg = CfgNode.load(TEXT)
    del cfg.DATA.ROOT
    assert cfg.missing_keys() == ["DATA.TRAIN"]
    with pytest.raises(ConfigKeyError, match=r"'DATA.ROOT' does not exist"):
        cfg.DATA.TRAIN  # noqa: B018


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${A", r"not closed"),
        ("${A.${B}}", r"not closed \(or is nested"),
        ("${oc.select:A}", r"cannot read \$\{oc.select:A\}"),
        ("${}", r"cannot read \$\{\}"),
        ("${A..B}", r"cannot read \$\{A..B\}"),
    ],
    ids=["unclosed", "nested", "unknown-resolver", "empty", "empty-name"],
)
def test_malformed_interpolations_name_the_line(backend: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"<string>, line 2: .*{message}") as info:
        CfgNode.load(f"A: 1\nB: '{value}'\n")
    assert info.value.line == 2


@pytest.mark.parametrize(
    "value",
    [" ['${A}']", " ('${A}', 2)", " ((1, '${A}'),)", " !!python/tuple ['${A}', 2]"],
    ids=["list", "tuple", "nested-tuple", "tagged-tuple"],
)
def test_an_interpolation_in_a_list_or_tuple_item_is_refused_naming_the_line(
    backend: str, value: str
) -> None:
    # A tuple item kept "${A}" as text (and dump wrote it back so): it follows list items.
    with pytest.raises(ConfigError, match=r"line 2: .*not in list or tuple items") as info:
        CfgNode.load(f"A: 1\nB:{value}\n")
    assert info.value.line == 2


def test_a_doubled_dollar_in_a_tuple_item_is_a_literal_that_round_trips(backend: str) -> None:
    cfg = CfgNode.load("A: ('$${x}', ['$${y}'], 2)\n")
    assert cfg.A == ("${x}", ["${y}"], 2)
    cfg.B = ("${z}", 1)  # set from Python: a literal ${
    back = CfgNode.load(str(CfgNode.dump(cfg)))
    assert back == cfg
    assert CfgNode.load(str(CfgNode.dump(back))) == cfg


# -- escaping, dump and save ----------------------------------------------------------------


def test_a_doubled_dollar_is_a_literal(backend: str) -> None:
    cfg = CfgNode.load("CMD: echo $${HOME} $$ $${\nKEYS:\n  $${K}: 1\n")
    assert cfg.CMD == "echo ${HOME} $$ ${"
    assert cfg.KEYS == {"${K}": 1}


def test_text_in_parentheses_interpolates_and_keeps_its_text(backend: str) -> None:
    text = "A: 1\nB: (run ${A})\nC: (a $${b})\nD: (${A}, 2)\n"
    cfg = CfgNode.load(text)
    assert (cfg.B, cfg.C, cfg.D) == ("(run 1)", "(a ${b})", "(1, 2)")
    dumped = CfgNode.dump(cfg)
    assert dumped is not None
    assert [line for line in dumped.splitlines() if "(" in line] == [
        "B: '(run ${A})'",
        "C: '(a $${b})'",
        "D: '(${A}, 2)'",
    ]
    cfg.A = 2
    assert (CfgNode.load(dumped).B, cfg.B) == ("(run 1)", "(run 2)")


def test_literal_dollar_braces_set_in_python_round_trip(backend: str) -> None:
    cfg = CfgNode({"CMD": "echo ${HOME}", "${K}": "$${", "LIST": ["${x}"]})
    text = CfgNode.dump(cfg)
    assert text is not None
    assert "echo $${HOME}" in text
    assert CfgNode.load(text) == cfg


def test_dump_and_save_keep_the_expressions(backend: str, tmp_path: Path) -> None:
    cfg = CfgNode.load(TEXT)
    assert CfgNode.dump(cfg) == TEXT.replace("HEAD: {DIM: 8}", "HEAD:\n    DIM: 8")
    cfg.save(tmp_path / "out.yaml")
    back = CfgNode.open(tmp_path / "out.yaml")
    back.DATA.ROOT = "/mnt"
    assert back.DATA.TRAIN == "/mnt/train"


SUBTREE_COPIES = {
    "copy": lambda node: node.copy(),
    "deepcopy": copy.deepcopy,
    "CfgNode": CfgNode,
    "pickle": lambda node: pickle.loads(pickle.dumps(node)),
}


@pytest.mark.parametrize("make_copy", SUBTREE_COPIES.values(), ids=SUBTREE_COPIES.keys())
def test_a_copy_of_a_subtree_keeps_the_values_its_references_had(
    make_copy: Callable[[CfgNode], CfgNode],
) -> None:
    cfg = CfgNode.load("BASE_LR: 5\nSOLVER:\n  BASE_LR: 0.1\n  WARMUP_LR: ${BASE_LR}\n")
    solver = make_copy(cfg.SOLVER)
    solver.BASE_LR = 0.2  # resolves the copy again: ${BASE_LR} counts from the top of cfg
    assert solver == {"BASE_LR": 0.2, "WARMUP_LR": 5}
    assert CfgNode.dump(solver) == "BASE_LR: 0.2\nWARMUP_LR: 5\n"
    cfg.BASE_LR = 6
    assert (cfg.SOLVER.WARMUP_LR, solver.WARMUP_LR) == (6, 5)


def test_a_pickled_config_follows_changes_to_keys_its_top_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = pickle.dumps(CfgNode.load("N:\n  E: 2\n  D: ${H}\nH: ${N.E}\n"))
    calls: list[CfgNode] = []
    resolve_tree = easycore_config._resolve_tree
    monkeypatch.setattr(
        easycore_config,
        "_resolve_tree",
        lambda root, strict: (calls.append(root), resolve_tree(root, strict)),
    )
    cfg = pickle.loads(data)
    assert calls == []  # values travel resolved: unpickling resolves nothing
    cfg.N.E = 3
    assert (cfg.H, cfg.N.D) == (3, 3)


def test_a_pickled_subtree_keeps_its_required_and_env_values() -> None:
    cfg = CfgNode.load("A: 1\nSUB:\n  SEED: ???\n  HOME: ${env:EASYCORE_TEST_UNSET,/home}\n")
    sub = pickle.loads(pickle.dumps(cfg.SUB))
    assert sub.missing_keys() == ["SEED"]
    assert CfgNode.dump(sub) == "SEED: ???\nHOME: ${env:EASYCORE_TEST_UNSET,/home}\n"


def test_a_copy_of_the_whole_config_keeps_its_references_live() -> None:
    cfg = CfgNode.load(TEXT)
    for copied in (cfg.copy(), copy.deepcopy(cfg), CfgNode(cfg)):
        copied.DATA.ROOT = "/mnt"
        assert copied.DATA.TRAIN == "/mnt/train"
    assert cfg.DATA.TRAIN == "/datasets/train"


@pytest.mark.parametrize(
    "share",
    [copy.copy, lambda cfg: CfgNode(cfg, copy=False)],
    ids=["copy.copy", "CfgNode-copy-False"],
)
def test_a_shallow_copy_leaves_the_shared_nodes_to_their_config(
    share: Callable[[CfgNode], CfgNode],
) -> None:
    cfg = CfgNode.load("SOLVER:\n  BASE_LR: 0.1\nWARMUP_LR: ${SOLVER.BASE_LR}\n")
    shallow = share(cfg)
    cfg.SOLVER.BASE_LR = 0.2
    assert cfg.WARMUP_LR == 0.2
    assert shallow.SOLVER is cfg.SOLVER
    with pytest.raises(AttributeError, match=r"unknown key 'SOLVER.LR'"):
        cfg.SOLVER.LR  # noqa: B018


def test_a_subtree_set_into_another_config_leaves_its_own_config_whole() -> None:
    cfg = CfgNode.load("SOLVER:\n  BASE_LR: 0.1\n  WARMUP_LR: ${SOLVER.BASE_LR}\n")
    other = CfgNode({"X": 1})
    other.S = cfg.SOLVER
    other.X = 2
    assert other.S == {"BASE_LR": 0.1, "WARMUP_LR": 0.1}
    cfg.SOLVER.BASE_LR = 0.3
    assert cfg.SOLVER.WARMUP_LR == 0.3
    assert other.S.WARMUP_LR == 0.1


def test_resolve_gives_plain_values_that_dump_as_values() -> None:
    cfg = CfgNode.load(TEXT)
    plain = cfg.resolve()
    assert plain == cfg
    assert "${" not in str(CfgNode.dump(plain))
    plain.DATA.ROOT = "/mnt"
    assert plain.DATA.TRAIN == "/datasets/train"
    assert cfg.DATA.TRAIN == "/datasets/train"


def test_copies_and_pickles_keep_the_expressions() -> None:
    cfg = CfgNode.load(TEXT)
    for clone in (cfg.copy(), copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        clone.DATA.ROOT = "/mnt"
        assert clone.DATA.TRAIN == "/mnt/train"
    assert cfg.DATA.TRAIN == "/datasets/train"


def test_changes_to_a_config_without_expressions_resolve_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    CfgNode.load(TEXT)  # expressions exist in this process
    plain = CfgNode({"A": {"B": 1}})
    calls: list[CfgNode] = []
    resolve_tree = easycore_config._resolve_tree
    monkeypatch.setattr(
        easycore_config,
        "_resolve_tree",
        lambda root, strict: (calls.append(root), resolve_tree(root, strict)),
    )
    plain.A.B = 2
    plain.merge_from_list(["A.B=3"])
    assert calls == []
    interpolated = CfgNode.load(TEXT)  # resolved by the load; the change resolves one key
    interpolated.DATA.ROOT = "/mnt"
    assert [id(root) for root in calls] == [id(interpolated)]
    assert interpolated.DATA.TRAIN == "/mnt/train"


def test_a_frozen_config_still_reads_its_interpolations() -> None:
    cfg = CfgNode.load(TEXT)
    cfg.freeze()
    assert cfg.DATA.TRAIN == "/datasets/train"


# -- ??? required values -----------------------------------------------------------------


REQUIRED = "DATA:\n  ROOT: ???\n  TRAIN: ${DATA.ROOT}/train\nSEED: ???\nNAME: '???'\n"


def test_reading_a_required_value_names_key_file_and_line(backend: str, write: Write) -> None:
    path = write("exp.yaml", REQUIRED)
    cfg = CfgNode.open(path)
    with pytest.raises(
        MissingValueError, match=r"'DATA.ROOT' is \?\?\? in .*exp\.yaml, line 2: it must be set"
    ) as info:
        cfg.DATA.ROOT  # noqa: B018
    assert (info.value.key, info.value.file, info.value.line) == ("DATA.ROOT", str(path), 2)
    with pytest.raises(MissingValueError, match=r"'SEED' is \?\?\?"):
        cfg["SEED"]


def test_a_reference_to_a_required_value_says_so() -> None:
    cfg = CfgNode.load(REQUIRED)
    with pytest.raises(MissingValueError, match=r"'DATA.TRAIN' .* refers to 'DATA.ROOT'") as info:
        cfg.DATA.TRAIN  # noqa: B018
    assert info.value.key == "DATA.TRAIN"


def test_missing_keys_lists_every_unset_key() -> None:
    cfg = CfgNode.load(REQUIRED)
    assert cfg.missing_keys() == ["SEED", "DATA.ROOT", "DATA.TRAIN"]
    assert cfg.DATA.missing_keys() == ["DATA.ROOT", "DATA.TRAIN"]
    assert "SEED" not in cfg
    assert not hasattr(cfg, "SEED")


def test_a_quoted_question_mark_string_is_a_plain_string(backend: str) -> None:
    assert CfgNode.load(REQUIRED).NAME == "???"
    assert CfgNode.load(str(CfgNode.dump(CfgNode({"A": "???"})))).A == "???"


def test_required_values_are_set_by_merges_and_by_hand(write: Write) -> None:
    cfg = CfgNode.load(REQUIRED)
    cfg.merge_from_list(["DATA.ROOT=/data"])
    cfg.merge_from_file(write("exp.yaml", "SEED: 3\n"))
    assert cfg.missing_keys() == []
    assert (cfg.DATA.TRAIN, cfg.SEED) == ("/data/train", 3)
    other = CfgNode.load(REQUIRED)
    other.SEED = 5
    assert other.missing_keys() == ["DATA.ROOT", "DATA.TRAIN"]


def test_merge_takes_expressions_as_written_like_merge_from_file(write: Write) -> None:
    text = "A: 1\nB: 2\nSUB:\n  C: 3\n"
    other = CfgNode.load("A: 1\nB: ${A}\nSUB:\n  C: ${A}\n")
    merged, from_file = CfgNode.load(text), CfgNode.load(text)
    merged.merge(other)
    from_file.merge_from_file(write("other.yaml", CfgNode.dump(other) or ""))
    for cfg in (merged, from_file):
        cfg.A = 5
        assert (cfg.B, cfg.SUB.C) == (5, 5)
    assert CfgNode.dump(merged) == CfgNode.dump(from_file)


def test_merge_of_a_subtree_takes_the_values_of_its_references() -> None:
    # Its ${A} counts from the top of the config it is in, as for a copy of it.
    other = CfgNode.load("A: 1\nSUB:\n  C: ${A}\n")
    cfg = CfgNode.load("A: 7\nC: 0\n")
    cfg.merge(other.SUB)
    cfg.A = 8
    assert cfg.C == 1


def test_merging_a_required_mark_keeps_the_value_there(write: Write) -> None:
    # As OmegaConf merges MISSING: ??? says "must be set", not "forget the value".
    cfg = CfgNode.load("A: 1\nB: ${A}\nC: ???\n")
    cfg.merge_from_file(write("exp.yaml", "A: ???\nB: ???\nC: ???\n"))
    cfg.merge_from_list(["A=???"])
    cfg.merge(CfgNode.load("A: ???\nD: ???\n"))
    cfg.A = 2
    assert (cfg.A, cfg.B) == (2, 2)  # B kept its expression
    assert cfg.missing_keys() == ["C", "D"]  # a new key is added unset


def test_a_child_file_marking_a_base_value_required_keeps_it(write: Write) -> None:
    write("base.yaml", "A: 1\nB: ???\n")
    path = write("child.yaml", "__BASE__: base.yaml\nA: ???\nB: ???\n")
    cfg = HierarchicalCfgNode.open(path)
    assert cfg.A == 1
    assert cfg.missing_keys() == ["B"]


def test_dump_writes_required_values_back(backend: str) -> None:
    cfg = CfgNode.load(REQUIRED)
    back = CfgNode.load(str(CfgNode.dump(cfg)))
    assert back.missing_keys() == cfg.missing_keys()
    assert back == cfg


def test_dump_writes_unset_keys_in_their_place(backend: str, write: Write) -> None:
    text = "A: ???\nB: 1\nC: ???\nD: ???\nE: ${C}\nF: 2\nG: ???\n"
    cfg = CfgNode.open(write("exp.yaml", text))
    assert CfgNode.dump(cfg) == text
    for copied in (cfg.copy(), copy.copy(cfg), CfgNode(cfg), pickle.loads(pickle.dumps(cfg))):
        assert CfgNode.dump(copied) == text
    cfg.F = 3  # resolving again keeps the places
    assert CfgNode.dump(cfg) == text.replace("F: 2", "F: 3")
    cfg.B = "???"  # a string, not a mark
    cfg.C = 4
    assert list(cfg) == ["B", "C", "E", "F"]
    del cfg["C"]  # the key D followed is gone: D goes to the end
    assert CfgNode.dump(cfg) == "A: ???\nB: '???'\nE: ${C}\nF: 3\nG: ???\nD: ???\n"


def test_a_key_that_becomes_unset_keeps_its_place_in_dump() -> None:
    cfg = CfgNode.load("X: 0\nA: 1\nB: ${A}\nC: 2\n")
    del cfg.A  # B's reference breaks: B reads as unset
    assert CfgNode.dump(cfg) == "X: 0\nB: ${A}\nC: 2\n"


def test_from_dataclass_writes_required_fields_in_field_order() -> None:
    @dataclasses.dataclass
    class Schema:
        FIRST: int
        SECOND: int = 2
        THIRD: str = dataclasses.field(default_factory=str)
        FOURTH: float = dataclasses.field(kw_only=True)

    cfg = CfgNode.from_dataclass(Schema)
    assert CfgNode.dump(cfg) == "FIRST: ???\nSECOND: 2\nTHIRD: ''\nFOURTH: ???\n"


def test_resolve_refuses_unset_keys() -> None:
    with pytest.raises(MissingValueError, match=r"'SEED' is \?\?\?"):
        CfgNode.load(REQUIRED).resolve()


def test_missing_value_error_is_a_key_and_attribute_error_and_pickles() -> None:
    assert getattr(CfgNode.load(REQUIRED), "SEED", "default") == "default"
    with pytest.raises(KeyError) as info:
        CfgNode.load(REQUIRED).SEED  # noqa: B018
    error = pickle.loads(pickle.dumps(info.value))
    assert type(error) is MissingValueError
    assert (error.key, error.line, str(error)) == ("SEED", 4, str(info.value))


def test_a_node_built_from_a_config_keeps_its_expressions_live() -> None:
    cfg = CfgNode(CfgNode.load("ROOT: /data\nTRAIN: ${ROOT}/train\n"))
    cfg.ROOT = "/mnt"
    assert cfg.TRAIN == "/mnt/train"


def test_setting_a_key_no_expression_reads_resolves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = CfgNode.load(TEXT)
    calls: list[CfgNode] = []
    resolve_tree = easycore_config._resolve_tree
    monkeypatch.setattr(
        easycore_config,
        "_resolve_tree",
        lambda root, strict: (calls.append(root), resolve_tree(root, strict)),
    )
    cfg.MODEL.HEAD_COPY.DIM = 3  # read by no ${...}
    cfg.SOLVER.NEW = 1
    assert calls == []
    cfg.MODEL.HEAD.DIM = 4  # read by ${MODEL.HEAD}
    assert cfg.MODEL.HEAD_COPY.DIM == 4
    cfg.SOLVER = {"BASE_LR": 0.3, "SIZE": (1, 1)}  # a node above keys that are read
    assert (cfg.SOLVER.BASE_LR, cfg.MODEL.HEAD_COPY.DIM) == (0.3, 4)
    assert calls == []  # those changes resolved only what reads them
    assert cfg.missing_keys() == []


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the key of each ${...} evaluated from now on."""
    keys: list[str] = []
    evaluate = easycore_config._Resolver._evaluate

    def recording(resolver: Any, expr: Any, node: CfgNode, key: Any) -> Any:
        keys.append(key)
        return evaluate(resolver, expr, node, key)

    monkeypatch.setattr(easycore_config._Resolver, "_evaluate", recording)
    return keys


def test_setting_a_read_key_resolves_only_what_reads_it_in_a_chain(
    evaluated: list[str],
) -> None:
    text = "A: 1\nB: ${A}\nC: x${B}\nD: ${X}\nX: 2\nN:\n  E: ${C}\n  F: ${env:HOME,}\n"
    cfg = CfgNode.load(text)
    evaluated.clear()
    cfg.A = 5
    assert sorted(evaluated) == ["B", "C", "E"]  # each once; D and F are not read again
    assert (cfg.B, cfg.C, cfg.N.E, cfg.D) == (5, "x5", "x5", 2)
    evaluated.clear()
    cfg.X = 3
    assert evaluated == ["D"]
    assert cfg.D == 3


def test_a_key_set_over_its_expression_is_not_resolved_again() -> None:
    cfg = CfgNode.load("A: 1\nB: ${A}\nC: ${B}\n")
    cfg.B = 7  # B holds a plain value now
    cfg.A = 2
    assert (cfg.B, cfg.C) == (7, 7)


def test_a_node_replaced_in_a_config_is_not_kept_alive_by_it() -> None:
    cfg = CfgNode.load("A: 1\nN:\n  B: ${A}\n")
    cfg.A = 2  # learns which keys read A: N.B among them
    gone = weakref.ref(cfg.N)
    cfg.N = {"B": 0}
    cfg.A = 3
    gc.collect()
    assert gone() is None


def test_a_set_that_replaces_a_node_holding_expressions_skips_them() -> None:
    cfg = CfgNode.load("A: 1\nN:\n  B: ${A}\n")
    old = cfg.N
    cfg.N = {"B": 0}
    cfg.A = 2
    assert (cfg.N.B, old.B) == (0, 1)


def test_save_over_a_base_keeps_expressions_that_differ_from_the_base(write: Write) -> None:
    base = write("base.yaml", "ROOT: /data\nTRAIN: ${ROOT}/train\nTEST: ${ROOT}/test\nN: ???\n")
    cfg = HierarchicalCfgNode.open(base)
    cfg.merge_from_list(["TRAIN=${ROOT}/other", "ROOT=/mnt"])
    HierarchicalCfgNode.save(cfg, write("exp.yaml", ""), base_cfg_path=base)
    text = (base.parent / "exp.yaml").read_text(encoding="utf-8")
    assert text == "__BASE__: base.yaml\nROOT: /mnt\nTRAIN: ${ROOT}/other\n"
    back = HierarchicalCfgNode.open(base.parent / "exp.yaml")
    assert (back.TRAIN, back.TEST, back.missing_keys()) == ("/mnt/other", "/mnt/test", ["N"])
    back.ROOT = "/x"
    assert back.TRAIN == "/x/other"


def test_an_override_of_a_string_key_may_be_an_interpolation() -> None:
    cfg = CfgNode.load(TEXT)
    cfg.merge_from_list(["DATA.TRAIN=${DATA.ROOT}/val", "MODEL.HEAD_COPY=${DATA}"])
    cfg.DATA.ROOT = "/mnt"
    assert cfg.DATA.TRAIN == "/mnt/val"
    cfg.merge_from_list(["DATA.TRAIN=cost $${5}"])
    assert cfg.DATA.TRAIN == "cost ${5}"
