"""The module as a file people copy: its docstring example runs, its header, its errors."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import easycore_registry
from easycore_registry import (
    AlreadyRegisteredError,
    BuildError,
    NotRegisteredError,
    RegistryError,
    RegistryImportError,
)

MODULE = Path(easycore_registry.__file__)


def _docstring_example() -> str:
    doc = easycore_registry.__doc__ or ""
    match = re.search(r"::\n\n((?:    .*\n|\n)+)", doc)
    assert match is not None, "the module docstring has no '::' example"
    return textwrap.dedent(match.group(1))


@pytest.mark.timeout(60)
def test_module_docstring_example_runs_next_to_a_copy_of_the_module(tmp_path: Path) -> None:
    (tmp_path / "easycore_registry.py").write_bytes(MODULE.read_bytes())
    example = _docstring_example()
    assert "build(" in example
    result = subprocess.run(
        [sys.executable, "-I", "-c", example],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_module_carries_its_copyright_beside_the_spdx_line() -> None:
    lines = MODULE.read_text(encoding="utf-8").splitlines()
    spdx = lines.index("# SPDX-License-Identifier: MIT")
    assert re.fullmatch(r"# Copyright \(c\) \d{4} the easycore developers", lines[spdx + 1])


ERRORS = [
    NotRegisteredError("'x' is not registered", "MODEL", "x", path="backbone"),
    AlreadyRegisteredError("'x' is already registered", "MODEL", "x"),
    BuildError("cannot build the spec", "MODEL", "heads[0]"),
    RegistryImportError("could not import", "MODEL", "location 'mylib.models'"),
    RegistryError("plain"),
]


@pytest.mark.parametrize("error", ERRORS, ids=[type(e).__name__ for e in ERRORS])
def test_every_error_pickles_with_every_attribute(error: RegistryError) -> None:
    error.added_later = 42  # type: ignore[attr-defined]
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)
    assert copy.added_later == 42  # type: ignore[attr-defined]
