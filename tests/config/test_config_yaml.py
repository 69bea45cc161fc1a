"""Reading and writing YAML: open, load, dump, save, with the C and the pure-Python backends."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import easycore_config
from easycore_config import CfgNode, ConfigError, ConfigTypeError

EXAMPLE = """\
MODEL:
  IN_FEATURES: ["res3", "res4", "res5"]
  INPUT_SIZE: (224, 224)
  NUM_CLASSES: 100
NAME: YuxinZhaozyx
"""


def test_load_gives_python_values(backend: str) -> None:
    cfg = CfgNode.load(EXAMPLE)
    assert cfg.MODEL.IN_FEATURES == ["res3", "res4", "res5"]
    assert cfg.MODEL.INPUT_SIZE == (224, 224)
    assert type(cfg.MODEL.INPUT_SIZE) is tuple
    assert cfg.MODEL.NUM_CLASSES == 100
    assert cfg.NAME == "YuxinZhaozyx"
    assert type(cfg.MODEL) is CfgNode


SCALARS = {
    "plain-tuple": ("(224, 224)", (224, 224)),
    "plain-nested-tuple": ("((1, 2), [3])", ((1, 2), [3])),
    "plain-one-tuple": ("(1,)", (1,)),
    "single-quoted-tuple": ("'(224, 224)'", "(224, 224)"),
    "double-quoted-tuple": ('"(1, 2)"', "(1, 2)"),
    "tagged-str-tuple": ("!!str (1, 2)", "(1, 2)"),
    "not-a-literal": ("(a, b)", "(a, b)"),
    "flow-list": ("[1, 2]", [1, 2]),
    "exponent-float": ("1e-3", 0.001),
    "exponent-float-dot": ("1.0e4", 10000.0),
    "exponent-float-signed": ("-2.5E+2", -250.0),
    "quoted-exponent": ("'1e-3'", "1e-3"),
    "yaml-float": ("0.5", 0.5),
    "python-none": ("None", None),
    "quoted-none": ("'None'", "None"),
    "yaml-null": ("null", None),
    "yaml-bool": ("true", True),
    "int": ("42", 42),
    "octal-yaml11": ("017", 15),
    "hex": ("0x1F", 31),
    "underscored-int": ("1_000", 1000),
    "infinity": (".inf", float("inf")),
    "version-string": ("1.2.3", "1.2.3"),
    "path": ("/data/coco", "/data/coco"),
}


@pytest.mark.parametrize(("text", "expected"), SCALARS.values(), ids=SCALARS.keys())
def test_scalars_load_as_python_values_and_quoted_ones_stay_strings(
    backend: str, text: str, expected: Any
) -> None:
    value = CfgNode.load(f"V: {text}\n").V
    assert value == expected
    assert type(value) is type(expected)


def test_open_reads_a_path_a_text_stream_and_a_binary_stream(
    write: Callable[[str, str], Path],
) -> None:
    path = write("example.yaml", EXAMPLE)
    with open(path, encoding="utf-8") as text_stream:
        from_text = CfgNode.open(text_stream)
    with open(path, "rb") as binary_stream:
        from_bytes = CfgNode.open(binary_stream)
    assert CfgNode.open(path) == CfgNode.open(str(path)) == from_text == from_bytes


def test_open_uses_the_given_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("NAME: caf\xe9\n".encode("latin-1"))
    assert CfgNode.open(path, encoding="latin-1").NAME == "caf\xe9"


def test_open_with_the_wrong_encoding_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("A: 1\nNAME: caf\xe9\n".encode("latin-1"))
    with pytest.raises(
        ConfigError, match=r"latin\.yaml, line 2: byte 0xe9 is not valid utf-8"
    ) as info:
        CfgNode.open(path)
    assert (info.value.file, info.value.line) == (str(path), 2)


def test_a_byte_order_mark_is_skipped(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffA: 1\nB: (1, 2)\n".encode())
    assert CfgNode.open(path) == {"A": 1, "B": (1, 2)}


def test_load_accepts_bytes() -> None:
    assert CfgNode.load(b"A: 1\n").A == 1


def test_empty_document_is_an_empty_node(backend: str, write: Callable[[str, str], Path]) -> None:
    assert CfgNode.load("") == {}
    assert CfgNode.open(write("empty.yaml", "# only a comment\n")) == {}


def test_invalid_yaml_names_file_line_and_problem(
    backend: str, write: Callable[[str, str], Path]
) -> None:
    path = write("bad.yaml", "A: 1\nB: [1, 2\nC: 3\n")
    with pytest.raises(
        ConfigError, match=r"invalid YAML in .*bad\.yaml, line \d+, column \d+: "
    ) as info:
        CfgNode.open(path)
    assert info.value.file == str(path)
    assert info.value.line in (2, 3, 4)
    assert isinstance(info.value.__cause__, yaml.YAMLError)


def test_a_top_level_that_is_not_a_mapping_is_refused(
    backend: str, write: Callable[[str, str], Path]
) -> None:
    path = write("list.yaml", "# a list\n- 1\n- 2\n")
    with pytest.raises(
        ConfigError, match=r"list\.yaml must hold a mapping .* line 2 starts a list"
    ) as info:
        CfgNode.open(path)
    assert info.value.line == 2


def test_several_documents_are_refused(backend: str) -> None:
    with pytest.raises(ConfigError, match=r"invalid YAML in <string>.*expected a single document"):
        CfgNode.load("A: 1\n---\nB: 2\n")


def test_a_missing_file_raises_file_not_found_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(FileNotFoundError, match=r"No such config file: '.*missing\.yaml'") as info:
        CfgNode.open(path)
    assert info.value.filename == str(path)


def test_duplicate_keys_are_refused_with_both_lines(backend: str) -> None:
    with pytest.raises(
        ConfigError, match=r"duplicate key 'LR' in <string>, line 3 \(first at line 2\)"
    ) as info:
        CfgNode.load("SOLVER:\n  LR: 0.1\n  LR: 0.2\n")
    assert info.value.line == 3


def test_unhashable_keys_are_refused(backend: str) -> None:
    with pytest.raises(ConfigError, match=r"line 1.*cannot be a dict key \(list\)"):
        CfgNode.load("? [1, 2]\n: value\n")


def test_merge_keys_merge_and_own_keys_win(backend: str) -> None:
    cfg = CfgNode.load("BASE: &base {LR: 0.1, STEPS: [1]}\nRUN:\n  <<: *base\n  LR: 0.5\n")
    assert cfg.RUN == {"LR": 0.5, "STEPS": [1]}
    assert type(cfg.RUN) is CfgNode


def test_aliased_values_are_independent_copies(backend: str) -> None:
    cfg = CfgNode.load("A: &x {L: [1]}\nB: *x\nC: [*x, *x]\n")
    assert cfg.A == cfg.B == cfg.C[0] == cfg.C[1]
    cfg.A.L.append(2)
    cfg.B.NEW = 1
    assert cfg.C[0] == {"L": [1]}
    assert cfg.A == {"L": [1, 2]}
    assert "NEW" not in cfg.A


def test_python_tuple_tag_written_by_pyyaml_loads_as_a_tuple(backend: str) -> None:
    # What the original easycore saved: yaml.dump with PyYAML's default Dumper.
    text = yaml.dump({"MODEL": {"INPUT_SIZE": (224, 224)}}, Dumper=yaml.Dumper)
    assert "!!python/tuple" in text
    assert CfgNode.load(text).MODEL.INPUT_SIZE == (224, 224)


def test_dump_returns_text_without_a_stream_and_none_with_one(backend: str) -> None:
    cfg = CfgNode.load(EXAMPLE)
    text = CfgNode.dump(cfg)
    assert isinstance(text, str)
    stream = io.StringIO()
    assert CfgNode.dump(cfg, stream) is None
    assert stream.getvalue() == text


def test_dump_writes_tuples_as_plain_scalars_and_keeps_key_order(backend: str) -> None:
    cfg = CfgNode({"Z": 1, "A": {"INPUT_SIZE": (224, 224)}})
    assert CfgNode.dump(cfg) == "Z: 1\nA:\n  INPUT_SIZE: (224, 224)\n"


def test_dump_quotes_strings_that_would_load_as_something_else(backend: str) -> None:
    cfg = CfgNode({"T": "(1, 2)", "F": "1e-3", "N": "None", "B": "yes", "I": "12"})
    text = CfgNode.dump(cfg)
    assert "T: '(1, 2)'" in text
    assert "F: '1e-3'" in text
    assert CfgNode.load(text) == cfg


@pytest.mark.parametrize("text", ["\x85", "a\u2028b", "\u2029 "], ids=["NEL", "LS", "PS"])
def test_unicode_line_breaks_round_trip_with_allow_unicode(backend: str, text: str) -> None:
    cfg = CfgNode({"S": text})
    assert CfgNode.load(CfgNode.dump(cfg, allow_unicode=True)) == cfg


def test_dump_to_a_binary_stream_encodes(backend: str) -> None:
    stream = io.BytesIO()
    CfgNode.dump(CfgNode({"NAME": "caf\xe9"}), stream, encoding="utf-16", allow_unicode=True)
    assert stream.getvalue().decode("utf-16") == "NAME: caf\xe9\n"


DUMP_OPTIONS: dict[str, tuple[dict[str, Any], Callable[[str], bool]]] = {
    "explicit_start": ({"explicit_start": True}, lambda text: text.startswith("---")),
    "explicit_end": ({"explicit_end": True}, lambda text: text.rstrip().endswith("...")),
    "allow_unicode": ({"allow_unicode": True}, lambda text: "caf\xe9" in text),
    "escaped-unicode": ({}, lambda text: "caf\\xE9" in text),
    "sort_keys": ({"sort_keys": True}, lambda text: text.index("A:") < text.index("Z:")),
    "indent": ({"indent": 4}, lambda text: "\n    SIZE: (1, 2)" in text),
    "line_break": ({"line_break": "\r\n"}, lambda text: "\r\n" in text),
    "version": ({"version": (1, 1)}, lambda text: text.startswith("%YAML 1.1")),
    "flow": ({"default_flow_style": True}, lambda text: text.startswith("{")),
}


@pytest.mark.parametrize(("options", "check"), DUMP_OPTIONS.values(), ids=DUMP_OPTIONS.keys())
def test_dump_passes_options_to_pyyaml_and_still_round_trips(
    backend: str, options: dict[str, Any], check: Callable[[str], bool]
) -> None:
    cfg = CfgNode({"Z": "caf\xe9", "A": {"SIZE": (1, 2), "L": [(3, 4)]}})
    text = CfgNode.dump(cfg, **options)
    assert isinstance(text, str)
    assert check(text), text
    back = CfgNode.load(text)
    assert back == cfg
    assert type(back.A.SIZE) is tuple


TUPLE_STYLES: dict[str, dict[str, Any]] = {
    "block": {},
    "flow": {"default_flow_style": True},
    "auto": {"default_flow_style": None},
    "canonical": {"canonical": True},
    "double-quoted": {"default_style": '"'},
}


@pytest.mark.parametrize("options", TUPLE_STYLES.values(), ids=TUPLE_STYLES.keys())
def test_tuples_of_any_content_round_trip_in_every_style(
    backend: str, options: dict[str, Any]
) -> None:
    cfg = CfgNode(
        {
            "SIZE": (224, 224),
            "MIXED": ("a: b", 1.5, None, True),
            "NESTED": ((1, 2), [3, "x #y"]),
            "WITH_NODE": ({"A": 1},),
            "UNICODE": ("caf\xe9",),
            "EMPTY": (),
            "INF": (float("inf"),),
            "LIST": [(1, 2), (3, 4)],
        }
    )
    back = CfgNode.load(CfgNode.dump(cfg, **options))
    assert back == cfg
    assert all(type(back[key]) is tuple for key in cfg if key != "LIST")
    assert [type(item) for item in back.LIST] == [tuple, tuple]
    assert type(back.WITH_NODE[0]) is CfgNode


def test_dump_of_a_value_yaml_cannot_hold_names_its_key(backend: str) -> None:
    cfg = CfgNode({"MODEL": {"WEIGHTS": Path("/w.pth")}})
    with pytest.raises(
        ConfigTypeError, match=r"cannot write 'MODEL.WEIGHTS' as YAML: a \w*Path .* Convert it"
    ) as info:
        CfgNode.dump(cfg)
    assert info.value.key == "MODEL.WEIGHTS"
    assert info.value.actual is not None
    assert info.value.actual.endswith("Path")


def test_dump_writes_no_anchors_for_shared_values(backend: str) -> None:
    shared = [1, 2]
    text = CfgNode.dump(CfgNode({"A": shared, "B": shared}, copy=False))
    assert "&" not in text
    assert "*" not in text


def test_save_writes_a_file_that_opens_to_the_same_config(backend: str, tmp_path: Path) -> None:
    cfg = CfgNode.load(EXAMPLE)
    cfg.save(tmp_path / "saved.yaml")
    cfg.save(str(tmp_path / "saved-str.yaml"))
    assert CfgNode.open(tmp_path / "saved.yaml") == cfg
    assert CfgNode.open(tmp_path / "saved-str.yaml") == cfg


def test_save_writes_to_text_and_binary_streams(tmp_path: Path) -> None:
    cfg = CfgNode({"NAME": "caf\xe9"})
    with open(tmp_path / "text.yaml", "w", encoding="utf-8") as stream:
        cfg.save(stream)
    with open(tmp_path / "binary.yaml", "wb") as binary:
        cfg.save(binary, encoding="latin-1")
    assert CfgNode.open(tmp_path / "text.yaml") == cfg
    assert CfgNode.open(tmp_path / "binary.yaml", encoding="latin-1") == cfg


def test_save_uses_the_given_encoding(tmp_path: Path) -> None:
    CfgNode({"NAME": "caf\xe9"}).save(tmp_path / "a.yaml", encoding="utf-16")
    assert "caf" in (tmp_path / "a.yaml").read_text(encoding="utf-16")


def test_save_that_cannot_write_a_value_keeps_the_existing_file(
    backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    CfgNode({"LR": 0.1}).save(path)
    with pytest.raises(ConfigTypeError, match="cannot write 'WEIGHTS'"):
        CfgNode({"LR": 0.2, "WEIGHTS": Path("/w.pth")}).save(path)
    assert CfgNode.open(path) == {"LR": 0.1}


def test_both_backends_load_and_dump_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    import easycore_config

    text = EXAMPLE + "EXTRA: {A: &a [1, 2], B: *a, C: 1e-3, D: '(1, 2)', E: !!python/tuple [1]}\n"
    results = []
    for use_libyaml in (True, False):
        monkeypatch.setattr(easycore_config, "_use_libyaml", use_libyaml)
        cfg = CfgNode.load(text)
        results.append((cfg, CfgNode.dump(cfg), CfgNode.dump(cfg, default_flow_style=None)))
    assert results[0] == results[1]


@pytest.mark.timeout(30)
def test_deep_nesting_fails_cleanly(backend: str) -> None:
    depth = 5000
    with pytest.raises(ConfigError, match="<string>"):
        CfgNode.load("A: " + "[" * depth + "]" * depth + "\n")


def test_a_warm_tag_cache_reads_as_a_cold_one(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "A: 1\nB: '1'\nC: 1e-3\nD: (1, 2)\nE: true\nF: 'true'\nG: ???\nH: ~\nI: 0x1F\nJ: 1.5\n"
    loader = easycore_config._LOADERS[(backend == "libyaml", False)]
    monkeypatch.setattr(loader, "tag_cache", {})
    cold = CfgNode.load(text)
    assert loader.tag_cache  # type: ignore[attr-defined]
    warm = CfgNode.load(text)
    assert warm == cold
    assert [type(warm[key]) for key in warm] == [type(cold[key]) for key in cold]
    assert warm == {"A": 1, "B": "1", "C": 0.001, "D": (1, 2), "E": True, "F": "true"} | {
        "H": None,
        "I": 31,
        "J": 1.5,
    }
