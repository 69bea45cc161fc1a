"""Property tests: whatever a config holds, dump -> load gives it back, on both backends."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import easycore_config
from easycore_config import CfgNode

# Strings that YAML or our literal rule would read as something else unless quoted.
TRICKY_STRINGS = [
    "(1, 2)", "(a, b)", "()", "1e-3", "1.0e4", "None", "null", "~", "true", "yes", "on", "no",
    "0x1F", "017", "1_000", "12:30", ".inf", "-.5", "1.2.3", "", " ", " lead", "trail ", "#x",
    "a #b", "a: b", "- a", "[1]", "{a: 1}", "'q'", '"q"', "!tag", "&a", "*a", "|", ">", "%x",
    "@x", "`x", "multi\nline", "tab\there", "caf\xe9", "\x85", "a\u2028b", "\u2029", "=", "<<",
    "${A}", "x${A.B}y", "$${A}", "${", "$", "$$", "$$${", "${env:HOME}", "???", "'???'", "?",
]  # fmt: skip

strings = st.one_of(
    st.sampled_from(TRICKY_STRINGS),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
)
floats = st.floats(allow_nan=False)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), floats, strings)
keys = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    strings,
    st.integers(min_value=-5, max_value=5),
)


def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(keys, children, max_size=4),
    )


values = st.recursive(scalars, extend, max_leaves=12)
configs = st.dictionaries(keys, values, max_size=6).map(CfgNode)

dump_options = st.fixed_dictionaries(
    {},
    optional={
        "default_flow_style": st.sampled_from([False, True, None]),
        "allow_unicode": st.booleans(),
        "sort_keys": st.booleans(),
        "width": st.sampled_from([20, 80, 1000]),
        "indent": st.sampled_from([2, 4]),
        "explicit_start": st.booleans(),
    },
)


def same(left: Any, right: Any, ordered: bool = True) -> bool:
    """Equal, with the same types (1 != 1.0 != True) and key order all the way down."""
    if isinstance(left, dict) and isinstance(right, dict):
        if (list(left) if ordered else set(left)) != (list(right) if ordered else set(right)):
            return False
        return all(same(left[key], right[key], ordered) for key in left)
    if type(left) is not type(right):
        return False
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(
            same(a, b, ordered) for a, b in zip(left, right, strict=True)
        )
    return bool(left == right)


def use_backend(name: str) -> None:
    if name == "libyaml" and not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    easycore_config._use_libyaml = name == "libyaml"


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(autouse=True)
def _restore_backend() -> Any:
    saved = easycore_config._use_libyaml
    yield
    easycore_config._use_libyaml = saved


@pytest.mark.parametrize("backend_name", ["libyaml", "python"])
@PROPERTY_SETTINGS
@given(cfg=configs, options=dump_options)
def test_dump_then_load_gives_the_config_back(
    backend_name: str, cfg: CfgNode, options: dict[str, Any]
) -> None:
    use_backend(backend_name)
    text = CfgNode.dump(cfg, **options)
    back = CfgNode.load(text)
    assert same(back, cfg, ordered=not options.get("sort_keys")), text


@PROPERTY_SETTINGS
@given(cfg=configs)
def test_each_backend_reads_what_the_other_wrote(cfg: CfgNode) -> None:
    # The two emitters may lay out corner cases differently ("? ''" for an
    # empty key); what the text means must be the same.
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    texts = {}
    for name in ("libyaml", "python"):
        use_backend(name)
        texts[name] = CfgNode.dump(cfg)
    for writer, reader in (("libyaml", "python"), ("python", "libyaml")):
        use_backend(reader)
        assert same(CfgNode.load(texts[writer]), cfg), texts[writer]


@PROPERTY_SETTINGS
@given(cfg=configs)
def test_copies_and_pickles_equal_the_original(cfg: CfgNode) -> None:
    for other in (cfg.copy(), copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        assert same(other, cfg)
        assert type(other) is CfgNode


@PROPERTY_SETTINGS
@given(cfg=configs)
def test_dict_form_has_no_nodes_left(cfg: CfgNode) -> None:
    def has_node(value: Any) -> bool:
        if isinstance(value, CfgNode):
            return True
        if isinstance(value, dict):
            return any(has_node(item) for item in value.values())
        if isinstance(value, (list, tuple)):
            return any(has_node(item) for item in value)
        return False

    plain = cfg.dict()
    assert not has_node(plain)
    assert plain == cfg


identifier_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
# Text around a reference: a "$" right before "${" would read as the escape "$${".
around = strings.filter(lambda text: not text.endswith("$"))


@st.composite
def interpolated(draw: st.DrawFn) -> tuple[CfgNode, str, list[tuple[str, str, str]]]:
    """Return a config, its YAML text with reference lines added, and the references."""
    cfg = draw(st.dictionaries(identifier_keys, values, min_size=1, max_size=5).map(CfgNode))
    references = draw(
        st.lists(st.tuples(st.sampled_from(sorted(cfg)), around, around), min_size=1, max_size=4)
    )
    lines = []
    for index, (key, before, after) in enumerate(references):
        lines.append(f"WHOLE-{index}: ${{{key}}}")
        text = before.replace("${", "$${") + f"${{{key}}}" + after.replace("${", "$${")
        # PyYAML's own dumper, double-quoted: it writes the text as is, any character escaped.
        lines.append(yaml.safe_dump({f"TEXT-{index}": text}, default_style='"', width=10**6))
    return cfg, str(CfgNode.dump(cfg)) + "".join(f"{line.rstrip()}\n" for line in lines), references


@pytest.mark.parametrize("backend_name", ["libyaml", "python"])
@PROPERTY_SETTINGS
@given(case=interpolated())
def test_interpolations_resolve_and_dump_load_keeps_them(
    backend_name: str, case: tuple[CfgNode, str, list[tuple[str, str, str]]]
) -> None:
    use_backend(backend_name)
    cfg, text, references = case
    loaded = CfgNode.load(text)
    for index, (key, before, after) in enumerate(references):
        assert same(loaded[f"WHOLE-{index}"], cfg[key]), text
        if before or after:
            shown = cfg[key] if isinstance(cfg[key], str) else str(cfg.dict()[key])
            assert loaded[f"TEXT-{index}"] == before + shown + after, text
        else:  # nothing around it: a whole-value reference
            assert same(loaded[f"TEXT-{index}"], cfg[key]), text
    dumped = CfgNode.dump(loaded)
    back = CfgNode.load(dumped)
    assert same(back, loaded), dumped
    assert CfgNode.dump(back) == dumped
