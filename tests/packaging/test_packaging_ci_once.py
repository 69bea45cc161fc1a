"""`hatch run ci` runs each test once and drops none.

Each component's tests run in its ``alone`` environment, which records what passed
(``--record-passed``); the workspace run deselects those (``--skip-passed-in``) and runs
everything else. Checked with real pytest runs over a small test folder that uses the
repository's own ``tests/conftest.py``, and against the commands hatch.toml gives CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_COMPONENT_TESTS = """
import pytest

def test_passes():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_passes_twice(n):
    assert n

def test_skipped_alone():
    pytest.importorskip("a_module_no_environment_has")

def test_fails_alone():
    assert False

def test_skips_itself():
    pytest.skip("not here")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown")

def test_passes_but_its_teardown_fails(broken_teardown):
    pass
"""


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A repository in small: pytest.ini, our tests/conftest.py, a component and another folder."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    for folder in ("_helpers", "comp", "other"):
        (tmp_path / "tests" / folder).mkdir(parents=True)
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")
    (tmp_path / "tests" / "comp" / "test_comp.py").write_text(_COMPONENT_TESTS, encoding="utf-8")
    (tmp_path / "tests" / "other" / "test_other.py").write_text(
        "def test_workspace_only():\n    pass\n", encoding="utf-8"
    )
    return tmp_path


@pytest.mark.timeout(300)
def test_what_passed_alone_is_deselected_and_everything_else_runs(project: Path) -> None:
    alone = _pytest(project, "tests/comp", "--record-passed", "build/passed/comp.txt")
    assert alone.returncode == 1, alone.stdout  # test_fails_alone and the broken teardown
    recorded = (project / "build" / "passed" / "comp.txt").read_text().split()
    assert recorded == [
        "tests/comp/test_comp.py::test_passes",
        "tests/comp/test_comp.py::test_passes_twice[1]",
        "tests/comp/test_comp.py::test_passes_twice[2]",
    ]

    workspace = _pytest(project, "tests", "--skip-passed-in", "build/passed")
    ran = {line.split()[0] for line in workspace.stdout.splitlines() if "::" in line}
    assert "3 deselected" in workspace.stdout, workspace.stdout
    for nodeid in recorded:
        assert nodeid not in ran
    assert "tests/other/test_other.py::test_workspace_only" in ran
    assert "tests/comp/test_comp.py::test_fails_alone" in ran
    assert "tests/comp/test_comp.py::test_passes_but_its_teardown_fails" in ran
    assert "tests/comp/test_comp.py::test_skipped_alone" in ran
    assert "tests/comp/test_comp.py::test_skips_itself" in ran


@pytest.mark.timeout(120)
def test_a_missing_record_folder_is_an_error_not_a_full_or_empty_run(project: Path) -> None:
    result = _pytest(project, "tests", "--skip-passed-in", "build/nothing-here")
    assert result.returncode != 0
    assert "--skip-passed-in build/nothing-here: no such folder" in result.stderr
    assert "hatch run alone:test" in result.stderr


@pytest.mark.timeout(120)
def test_without_the_options_nothing_is_recorded_or_deselected(project: Path) -> None:
    result = _pytest(project, "tests")
    assert "deselected" not in result.stdout
    assert "tests/comp/test_comp.py::test_passes" in result.stdout
    assert not (project / "build").exists()


def test_hatch_ci_records_alone_and_skips_those_in_the_workspace() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the stdlib from Python 3.11")
    hatch = tomllib.loads((REPO / "hatch.toml").read_text(encoding="utf-8"))
    alone_pytest = [c for c in hatch["envs"]["alone"]["scripts"]["test"] if "pytest" in c]
    assert alone_pytest == [
        "pytest -p no:cacheprovider --durations=10 tests/{matrix:component} "
        "--record-passed build/alone-passed/{matrix:component}.txt {args}"
    ]
    ci = hatch["envs"]["default"]["scripts"]["ci"]
    assert "hatch run alone:test" in ci
    workspace = [c for c in ci if c.startswith("pytest")]
    for command in workspace:
        assert "--skip-passed-in build/alone-passed" in command
        assert ci.index(command) > ci.index("hatch run alone:test")
    # The runner folders run on their own, after the rest, and the rest leaves them out.
    on_workers, runners = workspace
    assert "--ignore tests/parallel --ignore tests/torch" in on_workers
    assert runners.endswith(" tests/parallel tests/torch")
    assert " -n " not in runners


def _together(*commands: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / ".ci" / "together.py"), *commands],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.timeout(120)
def test_together_runs_the_commands_at_once_and_prints_each_whole(tmp_path: Path) -> None:
    # The first waits for a file only the second writes: run one after the other, the
    # first would give up after 30 s and fail.
    flag = tmp_path / "flag"
    waits = (
        f"for i in $(seq 300); do [ -e {flag} ] && break; sleep 0.1; done; "
        f"[ -e {flag} ] && echo first-line-1 && echo first-line-2"
    )
    result = _together(waits, f"echo second && touch {flag}")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    second = lines.index(next(line for line in lines if line.startswith("== echo second")))
    first = lines.index(next(line for line in lines if line.startswith("== for i in")))
    assert lines[first + 1 : first + 3] == ["first-line-1", "first-line-2"]
    assert lines[second + 1] == "second"


@pytest.mark.timeout(120)
def test_together_fails_when_any_command_fails_and_names_it() -> None:
    result = _together("true", "echo broken; exit 3", "echo fine")
    assert result.returncode == 1
    assert "failed: echo broken; exit 3 (exit 3)" in result.stderr
    assert "fine" in result.stdout
    assert "broken" in result.stdout


def test_ci_creates_every_alone_environment_before_the_alone_runs() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the stdlib from Python 3.11")
    hatch = tomllib.loads((REPO / "hatch.toml").read_text(encoding="utf-8"))
    first = hatch["envs"]["default"]["scripts"]["ci"][0]
    components = hatch["envs"]["alone"]["matrix"][0]["component"]
    for component in components:
        assert f'"hatch env create alone.{component}"' in first
    assert first.count("hatch env create alone.") == len(components)
