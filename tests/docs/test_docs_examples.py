"""Every ```python block in the docs and READMEs runs as written, so the docs cannot rot.

Each block runs alone, as a script (``__name__ == "__main__"``, so runner examples work
under every start method), in a fresh process in an empty temporary directory. A block
that must not run is preceded by ``<!-- no-run: reason -->``; the reason is shown as the
skip message.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [REPO / "README.md", *REPO.glob("packages/*/README.md"), *REPO.glob("docs/**/*.md")]
)
_FENCE = re.compile(
    r"(?P<marker><!-- no-run: (?P<reason>[^>]*) -->\s*\n)?^```python[^\n]*\n(?P<code>.*?)^```",
    re.MULTILINE | re.DOTALL,
)


class Block(NamedTuple):
    document: Path
    line: int
    code: str
    skip_reason: str | None


def _blocks() -> list[Block]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start("code"))
            found.append(Block(document, line, match.group("code"), match.group("reason")))
    return found


BLOCKS = _blocks()


def test_documents_have_examples() -> None:
    assert len(BLOCKS) >= 5, [str(d) for d in DOCUMENTS]


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "block", BLOCKS, ids=[f"{b.document.relative_to(REPO)}:{b.line}" for b in BLOCKS]
)
def test_code_block_runs(block: Block, tmp_path: Path) -> None:
    if block.skip_reason is not None:
        pytest.skip(block.skip_reason)
    script = tmp_path / "example.py"
    script.write_text(block.code, encoding="utf-8")
    env = dict(os.environ, EASYCORE_CACHE=str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    where = f"{block.document.relative_to(REPO)}, line {block.line}"
    assert result.returncode == 0, f"{where}:\n{result.stdout}\n{result.stderr}"
