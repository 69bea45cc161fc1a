"""The README's first command, ``hatch run demo``, runs the whole tour and passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_tour_runs_every_step_offline() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "tour.py")],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for title in ("1.2 ", "1.3.2 ", "1.3.3 ", "1.3.4 ", "1.3.5 ", "1.4 ", "1.5 "):
        assert title in result.stdout
    assert "all 7 steps passed" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_readme_quick_start_names_the_demo_and_ci_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pip install hatch && hatch run demo" in readme
    assert "python -m pip install hatch && hatch run ci" in readme
    assert "python -m pip install hatch && hatch run ci" in ci
