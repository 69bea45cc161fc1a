"""Every install command in the READMEs and docs works as written, each in a fresh venv.

A user copies ``pip install ...`` lines from a shell block into a terminal at the root of
a clone. Each distinct command runs here the same way: ``bash -c`` in a copy of
``packages/``, with a fresh virtual environment first on PATH; then every module it
installed must import, torch without its NumPy warning and without the CUDA build (a
command that brings torch runs after the docs' step for the CPU build). A shell block that
must not run is preceded by ``<!-- no-run: reason -->`` (the reason is the skip message).
Slow: the commands that bring torch install about 1 GB each (without compiling bytecode:
``PIP_COMPILE=0``, the one thing this shell sets that a user's would not).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [REPO / "README.md", *REPO.glob("packages/*/README.md"), *REPO.glob("docs/**/*.md")]
)
_SHELL_FENCE = re.compile(
    r"(?P<marker><!-- no-run: (?P<reason>[^>]*) -->\s*\n)?"
    r"^```(?:bash|sh|console)\n(?P<code>.*?)^```",
    re.MULTILINE | re.DOTALL,
)
_INSTALL = re.compile(r"^(?:python -m )?pip install ")
# The docs' first step for the CPU build of torch is PyTorch's CPU index, out of reach here;
# this pin is the same CPU wheel on our machines (their pip config) and in CI (the
# workflow's PIP_EXTRA_INDEX_URL). Without it pip takes the latest CUDA build.
_CPU_TORCH_FIRST = "pip install torch==2.13.0"

pytestmark = [pytest.mark.slow]


class Instruction(NamedTuple):
    command: str
    places: tuple[str, ...]
    skip_reason: str | None


def _commands(code: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", code)
    commands = []
    for line in joined.splitlines():
        command = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
        if _INSTALL.match(command) and "&&" not in command:
            commands.append(re.sub(r"\s+", " ", command))
    return commands


def _instructions() -> list[Instruction]:
    places: dict[str, list[str]] = {}
    skips: dict[str, str | None] = {}
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in _SHELL_FENCE.finditer(text):
            line = text.count("\n", 0, match.start("code")) + 1
            for command in _commands(match.group("code")):
                places.setdefault(command, []).append(f"{document.relative_to(REPO)}:{line}")
                skips.setdefault(command, match.group("reason"))
    return [Instruction(c, tuple(p), skips[c]) for c, p in places.items()]


INSTRUCTIONS = _instructions()


def _named_packages(command: str, clone: Path) -> set[str]:
    """The distributions a command names: its package folders, plus easycore-torch for [torch]."""
    named = set()
    for token in shlex.split(command):
        if not token.startswith("packages/"):
            continue
        folder, _, extras = token.partition("[")
        for path in glob.glob(str(clone / folder)):
            named.add(Path(path).name)
        if "torch" in extras:
            named.add("easycore-torch")
    return named


def _user_env(venv_dir: Path) -> dict[str, str]:
    # A user's shell with the venv activated, not the hatch environment running pytest.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HATCH_ENV", "VIRTUAL_ENV", "PYTHONPATH", "PIP_CONSTRAINT"))
    }
    env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv_dir)
    # pip installs the same files, without compiling each one (thousands for torch and Ray,
    # which would cost CI more than the one import below that uses a few of them).
    env["PIP_COMPILE"] = "0"
    return env


def _imports_for(installed: set[str]) -> list[str]:
    imports = [f"import {name.replace('-', '_')}" for name in sorted(installed)]
    if "easycore" in installed:
        imports.append("import easycore.common.config, easycore.common.parallel")
        if "easycore-torch" in installed:
            imports.append("import easycore.torch.parallel")
    return imports


def test_the_docs_have_install_commands() -> None:
    commands = {i.command for i in INSTRUCTIONS}
    assert 'pip install packages/easycore-* "packages/easycore[torch]"' in commands
    assert "pip install packages/easycore-registry" in commands


def test_the_metapackage_names_an_install_command_the_docs_run() -> None:
    # Its ImportError without easycore-torch must name a command that works from a clone:
    # one of those run in a fresh venv below, not "easycore[torch]" (the original's name).
    hide_easycore_torch = (
        "import sys; sys.modules['easycore_torch'] = None\n"
        "try:\n    import easycore.torch.parallel\n"
        "except ImportError as err:\n    print(err)"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_easycore_torch],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    named = re.search(r"run: (pip install [^(]*?) \(", result.stdout)
    assert named, f"no install command in the ImportError: {result.stdout!r}"
    runnable = {i.command for i in INSTRUCTIONS if i.skip_reason is None}
    assert named.group(1) in runnable, (named.group(1), sorted(runnable))


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "instruction", INSTRUCTIONS, ids=[i.command.removeprefix("pip install ") for i in INSTRUCTIONS]
)
def test_install_command_works_in_a_fresh_venv(instruction: Instruction, tmp_path: Path) -> None:
    if instruction.skip_reason is not None:
        pytest.skip(instruction.skip_reason)
    if os.name == "nt":
        pytest.skip("the commands are written for a POSIX shell")
    clone = tmp_path / "clone"
    shutil.copytree(
        REPO / "packages",
        clone / "packages",
        ignore=shutil.ignore_patterns("build", "dist", "__pycache__", "*.egg-info"),
    )
    venv_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(venv_dir)
    env = _user_env(venv_dir)
    where = ", ".join(instruction.places)
    named = _named_packages(instruction.command, clone)
    script = instruction.command
    if "easycore-torch" in named:
        script = f"{_CPU_TORCH_FIRST} && {script}"

    result = subprocess.run(
        ["bash", "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert result.returncode == 0, f"{where}: {instruction.command}\n{result.stderr[-3000:]}"
    assert "does not provide the extra" not in result.stdout + result.stderr, where

    listing = subprocess.run(
        ["python", "-m", "pip", "list", "--format=json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    names = {entry["name"].lower().replace("_", "-") for entry in json.loads(listing.stdout)}
    installed = {name for name in names if name.startswith("easycore")}
    assert named <= installed, where
    cuda = sorted(name for name in names if name.startswith(("nvidia-", "cuda-")))
    assert not cuda, f"{where}: the CUDA build of torch came in: {cuda}"
    imported = subprocess.run(
        ["python", "-c", "; ".join(_imports_for(installed))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert imported.returncode == 0, f"{where}: {imported.stderr}"
    assert "NumPy" not in imported.stderr, f"{where}: {imported.stderr}"
    # Passed: the venv goes now (up to 1.5 GB with torch), not with pytest's old temp dirs.
    shutil.rmtree(venv_dir)
