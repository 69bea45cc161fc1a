"""progress=True shows a tqdm bar; without tqdm the error names the extra to install."""

from __future__ import annotations

import sys

import pytest
from _parallel_runners import SumOfSquares


@pytest.mark.timeout(60)
def test_progress_bar_counts_every_item(capsys):
    pytest.importorskip("tqdm")
    with SumOfSquares(2, start_method="fork", progress=True) as runner:
        assert runner(list(range(500))) == sum(x * x for x in range(500))
    err = capsys.readouterr().err
    assert "SumOfSquares" in err
    assert "500/500" in err


def test_missing_tqdm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `import tqdm` fail
    with pytest.raises(ImportError, match=r'pip install "easycore-parallel\[progress\]"'):
        SumOfSquares(1, start_method="fork", progress=True)
