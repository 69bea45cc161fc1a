"""Build and check the six packages, or set their one version.

    hatch run release:build          every wheel and sdist into dist/, then checked
    hatch run release:bump 0.2.0     set the version of all six packages

The version lives in each module's ``__version__`` (a literal, so a copied module still
knows it); each ``pyproject.toml`` reads it from there. ``bump`` is the one way to change
it: it rewrites the six modules, the pins between the packages, and opens a section in
CHANGELOG.md. ``build`` runs ``twine check`` on every file in dist/ and installs each wheel
in a fresh virtual environment (its easycore dependencies from dist/, nothing else of ours)
and imports it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {
    "easycore-config": "easycore_config",
    "easycore-registry": "easycore_registry",
    "easycore-path": "easycore_path",
    "easycore-parallel": "easycore_parallel",
    "easycore-torch": "easycore_torch",
    "easycore": "easycore",
}
_VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)
_RELEASE = re.compile(r"^\d+\.\d+\.\d+$")
# Pins between our packages: the exact one (easycore-torch on the engine it subclasses)
# and the compatible ranges (the metapackage on its components).
_EXACT_PIN = re.compile(r'"(easycore-[a-z]+)==[^"]+"')
_RANGE_PIN = re.compile(r'"(easycore-[a-z]+(?:\[[a-z,]+\])?)>=[^,"]+,<[^"]+"')


def main(argv: list[str] | None = None) -> int:
    """Run the ``build`` or ``bump`` command given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build and check every wheel and sdist")
    build.add_argument("--out", type=Path, default=REPO / "dist", help="default: dist/")
    bump = commands.add_parser("bump", help="set the version of all six packages")
    bump.add_argument("version", help="X.Y.Z")
    args = parser.parse_args(argv)
    if args.command == "bump":
        bump_version(args.version)
    else:
        build_and_check(args.out)
    return 0


def current_version() -> str:
    """Return the one version of the six packages; fail if the modules disagree."""
    found = {package: _module_version(package) for package in PACKAGES}
    if len(set(found.values())) != 1:
        raise SystemExit(
            f"the packages disagree on their version: {found}; "
            "set one with `hatch run release:bump X.Y.Z`"
        )
    return next(iter(found.values()))


def bump_version(version: str) -> None:
    """Set ``version`` in the six modules and the pins between packages; open its changelog."""
    if not _RELEASE.match(version):
        raise SystemExit(f"version {version!r} is not of the form X.Y.Z (e.g. 0.2.0)")
    old = current_version()
    major = int(version.split(".", 1)[0])
    for package, module in PACKAGES.items():
        init = _module_file(package, module)
        init.write_text(
            _VERSION.sub(f'__version__ = "{version}"', init.read_text(encoding="utf-8"), 1),
            encoding="utf-8",
        )
        project = REPO / "packages" / package / "pyproject.toml"
        text = _EXACT_PIN.sub(rf'"\1=={version}"', project.read_text(encoding="utf-8"))
        text = _RANGE_PIN.sub(rf'"\1>={version},<{major + 1}"', text)
        project.write_text(text, encoding="utf-8")
    _open_changelog_section(version)
    print(f"version {old} -> {version}: six modules, the pins, and CHANGELOG.md")


def build_and_check(out: Path) -> None:
    """Build every wheel and sdist into ``out``, twine-check them, install each wheel alone."""
    version = current_version()
    hatch = shutil.which("hatch")
    if hatch is None:
        raise SystemExit("`hatch` is not on PATH: python -m pip install hatch")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for package in PACKAGES:
        _run([hatch, "build", "-t", "wheel", "-t", "sdist", str(out)], REPO / "packages" / package)
    files = sorted(out.iterdir())
    _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, files)], REPO)
    for package, module in PACKAGES.items():
        _install_alone(out, package, module, version)
    print(f"dist/: {len(files)} files of easycore {version}, checked")


# -- Internals: files and processes ----------------------------------------------


def _module_file(package: str, module: str) -> Path:
    return REPO / "packages" / package / "src" / module / "__init__.py"


def _module_version(package: str) -> str:
    text = _module_file(package, PACKAGES[package]).read_text(encoding="utf-8")
    match = _VERSION.search(text)
    if match is None:
        raise SystemExit(f'{package}: no `__version__ = "X.Y.Z"` line in its module')
    return match.group(1)


def _open_changelog_section(version: str) -> None:
    changelog = REPO / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8")
    marker = "## Unreleased\n"
    if marker not in text:
        raise SystemExit(f"{changelog.name}: no '## Unreleased' section to release")
    today = datetime.date.today().isoformat()
    changelog.write_text(
        text.replace(marker, f"{marker}\n## {version} ({today})\n", 1), encoding="utf-8"
    )


def _install_alone(dist: Path, package: str, module: str, version: str) -> None:
    wheel = dist / f"{module}-{version}-py3-none-any.whl"
    with tempfile.TemporaryDirectory(prefix=f"check-{package}-") as tmp:
        venv.EnvBuilder(with_pip=True).create(tmp)
        python = str(Path(tmp) / ("Scripts" if os.name == "nt" else "bin") / "python")
        # --find-links: our other packages come from dist/, as they will from the index.
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run([*pip, "--find-links", str(dist), str(wheel)], Path(tmp))
        check = f"import {module}; assert {module}.__version__ == {version!r}"
        _run([python, "-c", check], Path(tmp))
        print(f"{wheel.name}: installs in a fresh environment and imports")


def _run(command: list[str], cwd: Path) -> None:
    # Not as the `release` environment: `hatch build` in a package folder would look for
    # an environment of that name there.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HATCH_ENV", "VIRTUAL_ENV"))}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(
            f"`{' '.join(command)}` failed in {cwd} (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )


if __name__ == "__main__":
    sys.exit(main())
