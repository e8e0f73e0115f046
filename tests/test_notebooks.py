"""The notebooks run top to bottom (with nbclient, on Fashion-MNIST) and are committed clean."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = os.path.join(os.path.dirname(__file__), os.pardir, "notebooks")
NAMES = ["softmax_regression_from_scratch.ipynb", "going_further.ipynb"]


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes(name, monkeypatch, tmp_path, fashion_subset_dir):
    monkeypatch.setenv("MXSOFTMAX_DATASET", "fashion-mnist")
    monkeypatch.setenv("MXSOFTMAX_DATA_DIR", fashion_subset_dir)
    monkeypatch.setenv("MXSOFTMAX_EPOCHS", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs)
    assert "Epoch 1. Loss: " in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
