"""A config with ${...} and ??? stays consistent under any sequence of changes.

After each step, the config equals (and dumps as) what loading its own dump gives,
so the values its expressions hold are those a fresh resolve would give, the unset
keys are the same and in their place; and every string key reads the same as an
attribute as as an item (the instance ``__dict__`` mirrors the keys).
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from easycore_config import CfgNode

TEXT = """\
A: 1
B: ${A}
C: x${B}
N:
  D: ${C}
  E: 2
  F: ???
  G: ${N.F}
H: ${N.E}
"""

values = st.one_of(st.integers(-3, 3), st.text(alphabet="ab", max_size=2), st.none())
top_keys = st.sampled_from(["A", "B", "C", "H"])
nested_keys = st.sampled_from(["D", "E", "F", "G"])


class ConfigMutations(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cfg = CfgNode.load(TEXT)

    @rule(key=top_keys, value=values)
    def set_top_key(self, key: str, value: Any) -> None:
        self.cfg[key] = value

    @rule(key=nested_keys, value=values)
    def set_nested_attribute(self, key: str, value: Any) -> None:
        setattr(self.cfg.N, key, value)

    @rule(key=st.sampled_from(["G", "F"]))
    def delete_a_key_nothing_else_needs(self, key: str) -> None:
        # N.G reads N.F: deleting F leaves G unset, which a dump still loads.
        self.cfg.N.pop(key, None)
        if key == "F" and "F" not in self.cfg.N and "N.F" not in self.cfg.missing_keys():
            self.cfg.N.F = 0  # keep the dump loadable: ${N.F} must have a target

    @rule(value=values)
    def update_and_setdefault(self, value: Any) -> None:
        self.cfg.N.update({"E": value})
        self.cfg.N.setdefault("G", value)

    @rule()
    def merge_expressions_and_marks(self) -> None:
        self.cfg.merge(CfgNode.load("X: 1\nA: ${X}\nN:\n  F: ???\n"))

    @rule(override=st.sampled_from(["A=5", "N.G=${A}", "N.F=???", "C=${N.E}"]))
    def merge_from_list(self, override: str) -> None:
        if (
            override.startswith("N.G")
            and "G" not in self.cfg.N
            and "N.G" not in self.cfg.missing_keys()
        ):
            return  # deleted: a merge may not add it
        self.cfg.merge_from_list([override])

    @rule(how=st.sampled_from(["copy", "deepcopy", "pickle", "CfgNode"]))
    def replace_by_a_copy(self, how: str) -> None:
        copies = {
            "copy": lambda cfg: cfg.copy(),
            "deepcopy": copy.deepcopy,
            "pickle": lambda cfg: pickle.loads(pickle.dumps(cfg)),
            "CfgNode": CfgNode,
        }
        self.cfg = copies[how](self.cfg)

    @invariant()
    def equals_a_fresh_load_of_its_dump(self) -> None:
        text = str(CfgNode.dump(self.cfg))
        fresh = CfgNode.load(text)
        assert fresh == self.cfg
        assert fresh.missing_keys() == self.cfg.missing_keys()
        assert CfgNode.dump(fresh) == text

    @invariant()
    def attributes_mirror_the_keys(self) -> None:
        for node in (self.cfg, self.cfg.N):
            mirrored = {key: value for key, value in dict.items(node) if isinstance(key, str)}
            assert node.__dict__ == mirrored


ConfigMutations.TestCase.settings = settings(max_examples=60, stateful_step_count=12)
test_config_mutations = ConfigMutations.TestCase
