"""Safe loading: code-running tags refused, the opt-ins, and bounded alias expansion."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import easycore_config
from easycore_config import CfgNode, ConfigError, HierarchicalCfgNode, UnsafeYAMLError

UNSAFE = {
    "object-apply": "!!python/object/apply:os.getcwd []",
    "object-new": "!!python/object/new:collections.OrderedDict []",
    "object": "!!python/object:argparse.Namespace {a: 1}",
    "name": "!!python/name:os.system",
    "module": "!!python/module:os",
}


@pytest.mark.parametrize("value", UNSAFE.values(), ids=UNSAFE.keys())
def test_tags_that_build_objects_are_refused_naming_file_tag_and_opt_in(
    backend: str, write: Callable[[str, str], Path], value: str
) -> None:
    path = write("exp.yaml", f"A: 1\nB: {value}\n")
    tag = value.split(maxsplit=1)[0]
    with pytest.raises(UnsafeYAMLError, match=r"exp\.yaml, line 2") as info:
        CfgNode.open(path)
    message = str(info.value)
    assert repr(tag) in message
    assert "allow_unsafe=True" in message
    assert "EASYCORE_ALLOW_UNSAFE_YAML=1" in message
    assert (info.value.tag, info.value.file, info.value.line) == (tag, str(path), 2)


def test_a_refused_tag_never_runs(backend: str, tmp_path: Path) -> None:
    target = tmp_path / "created-by-yaml"
    with pytest.raises(UnsafeYAMLError):
        CfgNode.load(f"A: !!python/object/apply:os.mkdir ['{target}']\n")
    assert not target.exists()


def test_unsafe_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="refused the YAML tag"):
        CfgNode.load("A: !!python/name:os.system\n")


UNSAFE_DOCUMENT = """\
CWD: !!python/object/apply:os.getcwd []
ORDERED: !!python/object/apply:collections.OrderedDict [[[a, 1], [b, 2]]]
JOIN: !!python/name:os.path.join
SIZE: (1, 2)
"""


def test_allow_unsafe_loads_as_the_pyyaml_unsafe_loader_would(backend: str) -> None:
    cfg = CfgNode.load(UNSAFE_DOCUMENT, allow_unsafe=True)
    reference = yaml.unsafe_load(UNSAFE_DOCUMENT)
    assert cfg.CWD == reference["CWD"] == os.getcwd()
    assert reference["ORDERED"] == cfg.ORDERED
    assert type(cfg.ORDERED) is collections.OrderedDict
    assert cfg.JOIN is os.path.join
    assert cfg.SIZE == (1, 2)


def test_an_unsafe_top_level_mapping_becomes_a_node(backend: str) -> None:
    text = "!!python/object/apply:collections.OrderedDict [[[A, {B: 1}]]]\n"
    cfg = CfgNode.load(text, allow_unsafe=True)
    assert type(cfg) is CfgNode
    assert cfg.A.B == 1


def test_allow_unsafe_works_on_open(write: Callable[[str, str], Path]) -> None:
    path = write("unsafe.yaml", UNSAFE_DOCUMENT)
    assert CfgNode.open(path, allow_unsafe=True).JOIN is os.path.join


def test_allow_unsafe_works_on_hierarchical_open(write: Callable[[str, str], Path]) -> None:
    write("base.yaml", "JOIN: !!python/name:os.path.join\n")
    path = write("child.yaml", "__BASE__: base.yaml\nA: 1\n")
    with pytest.raises(UnsafeYAMLError, match=r"base\.yaml, line 1"):
        HierarchicalCfgNode.open(path)
    assert HierarchicalCfgNode.open(path, allow_unsafe=True).JOIN is os.path.join


def test_allow_unsafe_works_on_merge_from_file(write: Callable[[str, str], Path]) -> None:
    path = write("override.yaml", "JOIN: !!python/name:os.path.join\n")
    cfg = CfgNode({"JOIN": None})
    with pytest.raises(UnsafeYAMLError):
        cfg.merge_from_file(path)
    cfg.merge_from_file(path, allow_unsafe=True)
    assert cfg.JOIN is os.path.join


def test_the_environment_variable_opts_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EASYCORE_ALLOW_UNSAFE_YAML", "1")
    assert CfgNode.load("JOIN: !!python/name:os.path.join\n").JOIN is os.path.join


@pytest.mark.parametrize("value", ["0", "", "no"], ids=["zero", "empty", "no"])
def test_other_values_of_the_environment_variable_do_not_opt_in(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("EASYCORE_ALLOW_UNSAFE_YAML", value)
    with pytest.raises(UnsafeYAMLError):
        CfgNode.load("JOIN: !!python/name:os.path.join\n")


HARMLESS: dict[str, tuple[str, Any]] = {
    "tuple": ("!!python/tuple [1, [2, 3]]", (1, [2, 3])),
    "list": ("!!python/list [1, 2]", [1, 2]),
    "dict": ("!!python/dict {A: 1}", {"A": 1}),
    "str": ("!!python/str 123", "123"),
    "unicode": ("!!python/unicode abc", "abc"),
    "bytes": ("!!python/bytes aGVsbG8=", b"hello"),
    "int": ("!!python/int '7'", 7),
    "long": ("!!python/long '7'", 7),
    "float": ("!!python/float '0.5'", 0.5),
    "complex": ("!!python/complex 1+2j", 1 + 2j),
    "bool": ("!!python/bool 'true'", True),
    "none": ("!!python/none ''", None),
}


@pytest.mark.parametrize(("text", "expected"), HARMLESS.values(), ids=HARMLESS.keys())
def test_python_tags_of_plain_builtin_values_load_in_safe_mode(
    backend: str, text: str, expected: Any
) -> None:
    value = CfgNode.load(f"V: {text}\n").V
    assert value == expected
    assert type(value) is (CfgNode if type(expected) is dict else type(expected))


def test_an_unknown_tag_is_an_error_naming_the_line(backend: str) -> None:
    with pytest.raises(
        ConfigError, match=r"invalid YAML in <string>, line 2.*could not determine a constructor"
    ):
        CfgNode.load("A: 1\nB: !custom 2\n")


BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.mark.timeout(10)
def test_a_billion_laughs_document_fails_fast(
    backend: str, write: Callable[[str, str], Path]
) -> None:
    path = write("laughs.yaml", BILLION_LAUGHS)
    with pytest.raises(
        ConfigError, match=r"aliases in .*laughs\.yaml expand to [\d,]+ more nodes .*billion laughs"
    ) as info:
        CfgNode.open(path)
    assert info.value.file == str(path)
    assert info.value.line is not None


def test_alias_expansion_is_bounded_by_what_aliases_add(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(easycore_config, "_MAX_ALIAS_EXPANSION", 10)
    # The anchored list is 1 + 3 nodes; each alias adds 4 more: 2 aliases add 8, 3 add 12.
    CfgNode.load("A: &x [1, 2, 3]\nB: [*x, *x]\n")
    with pytest.raises(ConfigError, match="expand to 12 more nodes"):
        CfgNode.load("A: &x [1, 2, 3]\nB: [*x, *x, *x]\n")


def test_a_big_document_without_aliases_is_not_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(easycore_config, "_MAX_ALIAS_EXPANSION", 10)
    text = "".join(f"K{index}: &a{index} [1, 2, 3]\n" for index in range(100))
    assert len(CfgNode.load(text)) == 100


def test_ordinary_alias_use_loads(backend: str) -> None:
    text = "DEFAULT: &d {LR: 0.1, STEPS: [1, 2, 3]}\n" + "".join(
        f"RUN{i}: *d\n" for i in range(500)
    )
    cfg = CfgNode.load(text)
    assert cfg.RUN499.STEPS == [1, 2, 3]


def test_a_recursive_alias_is_refused(backend: str) -> None:
    with pytest.raises(
        ConfigError, match=r"<string>, line 2: an alias refers to a node that contains it"
    ):
        CfgNode.load("A: 1\nB: &b [1, *b]\n")
