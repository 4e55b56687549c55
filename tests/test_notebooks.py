"""Every notebook in notebooks/ executes top to bottom (nbclient, small sweeps, outputs into a temp dir) and is
stored with its outputs cleared."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_notebooks_exist():
    assert [p.name for p in PATHS] == ["01_quickstart.ipynb", "02_tradeoffs.ipynb", "03_precision_studies.ipynb",
                                       "04_accuracy_tradeoffs.ipynb"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELSIM_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("ACCELSIM_NOTEBOOK_SMALL", "1")
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "no figure displayed"
    written = list(tmp_path.rglob("*.png"))
    assert written and all(p.stat().st_size > 5000 for p in written)
