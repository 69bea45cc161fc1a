"""Running notebook cells in a real Jupyter kernel: shared by the parallel and torch tests."""

from __future__ import annotations

import textwrap
from pathlib import Path


def run_notebook(cells: list[str], folder: Path) -> list[str]:
    """Execute ``cells`` in a fresh ``python3`` kernel started in ``folder``.

    Needs nbformat, nbclient and ipykernel: test modules importorskip them first.

    Args:
        cells: The code of each cell; common indentation is removed.
        folder: The kernel's working directory.

    Returns:
        What each cell printed to stdout, one string per cell.

    Example:
        >>> run_notebook(["print(1 + 1)"], tmp_path)
        ['2\\n']
    """
    import nbclient
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(textwrap.dedent(cell)) for cell in cells]
    client = nbclient.NotebookClient(
        notebook,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    return [
        "".join(output.get("text", "") for output in cell.outputs if output.get("name") == "stdout")
        for cell in notebook.cells
    ]
