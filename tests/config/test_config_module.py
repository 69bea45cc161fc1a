"""The module as a file people copy: its header, and its docstring example runs."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import easycore_config

MODULE = Path(easycore_config.__file__)
REPO = Path(__file__).resolve().parents[2]  # not MODULE.parents: alone, the module is installed


def _docstring_example() -> str:
    doc = easycore_config.__doc__ or ""
    match = re.search(r"::\n\n((?:    .*\n|\n)+)", doc)
    assert match is not None, "the module docstring has no '::' example"
    return textwrap.dedent(match.group(1))


@pytest.mark.timeout(60)
def test_module_docstring_example_runs_next_to_a_copy_of_the_module(tmp_path: Path) -> None:
    (tmp_path / "easycore_config.py").write_bytes(MODULE.read_bytes())
    example = _docstring_example()
    assert "merge_from_list" in example
    check = "\nassert cfg.MODEL.NUM_CLASSES == 10 and 'INPUT_SIZE: (224, 224)' in text\n"
    result = subprocess.run(
        [sys.executable, "-I", "-c", example + check],
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


@pytest.mark.parametrize(
    "path",
    [MODULE, REPO / "benchmarks" / "config" / "bench_config.py"],
    ids=["module", "benchmark"],
)
def test_code_points_at_no_tracker_numbers(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.findall(r"\b(?:issue|ticket)\s*#?\d+|#\d+\b", text, re.IGNORECASE)


def test_module_and_docs_name_the_original_project_one_way() -> None:
    docs = REPO / "docs" / "config.md"
    for text in (MODULE.read_text(encoding="utf-8"), docs.read_text(encoding="utf-8")):
        assert not re.search(r"the reference(?:'s| documentation| docs)|to the reference\b", text)
