"""Fixtures for the easycore_config tests: YAML backends and config files on disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import easycore_config

BACKENDS = ["libyaml", "python"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once with PyYAML's C loader/dumper and once with the pure-Python ones."""
    name: str = request.param
    if name == "libyaml" and not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    monkeypatch.setattr(easycore_config, "_use_libyaml", name == "libyaml")
    return name


@pytest.fixture(autouse=True)
def _no_unsafe_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's shell must not turn the safety tests off.
    monkeypatch.delenv("EASYCORE_ALLOW_UNSAFE_YAML", raising=False)


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Return ``write(name, text)``: writes a UTF-8 file under tmp_path and returns its path."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write_file
