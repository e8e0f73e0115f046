"""The notebooks run top to bottom (with nbclient, on Fashion-MNIST) and are committed clean."""
import asyncio
import collections
import os
import re

import mxnet as mx
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from mxsoftmax import notebook, runs, sources
from mxsoftmax import train as cli_train

from conftest import as_data, random_splits

NOTEBOOKS = os.path.join(os.path.dirname(__file__), os.pardir, "notebooks")
TUTORIAL, FURTHER = "softmax_regression_from_scratch.ipynb", "going_further.ipynb"
EXERCISES = "exercises.ipynb"
NAMES = [TUTORIAL, FURTHER, EXERCISES]
EPOCH_LINE = re.compile(r"^Epoch \d+\. Loss: [0-9.]+, Train_acc [0-9.]+, Test_acc [0-9.]+$")


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    for cell in nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


class CountingClient(NotebookClient):
    """An nbclient that also counts the display updates it receives: ``updates[(cell index,
    display_id)]``, one per ``update_display_data`` message (which nbclient folds into the output
    that has the same display_id, so the executed notebook alone cannot tell)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.updates = collections.Counter()

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] == "update_display_data":
            self.updates[cell_index, msg["content"]["transient"]["display_id"]] += 1
        return super().process_message(msg, cell, cell_index)


@pytest.fixture(scope="module")
def executed(tmp_path_factory, fashion_small_dir):
    """The notebooks run once, side by side, on a small Fashion-MNIST subset for 2 epochs.

    Returns {name: executed notebook}, and the display updates of each as ``nb.updates``. Each
    notebook gets its own kernel; running them at the same time shortens the wait on a machine
    with two cores.
    """
    notebooks = {name: nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4) for name in NAMES}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MXSOFTMAX_DATASET", "fashion-mnist")
        env.setenv("MXSOFTMAX_DATA_DIR", fashion_small_dir)
        env.setenv("MXSOFTMAX_EPOCHS", "2")
        env.setenv("MPLBACKEND", "Agg")
        clients = [CountingClient(nb, timeout=300, kernel_name="python3", resources={
            "metadata": {"path": str(tmp_path_factory.mktemp("run"))}})
            for nb in notebooks.values()]

        async def run_all():
            await asyncio.gather(*(client.async_execute() for client in clients))
        asyncio.run(run_all())
    for nb, client in zip(notebooks.values(), clients):
        nb.updates = client.updates
    return notebooks


def printed(cell):
    """The lines a code cell printed."""
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream").splitlines()


def tagged(nb, tag):
    """The one cell of notebook ``nb`` tagged ``tag``."""
    (cell,) = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    return cell


def has_picture(cell):
    """Whether a code cell showed a figure."""
    return any("image/png" in o.get("data", {}) for o in cell.outputs)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes_and_draws(executed, name):
    cells = [c for c in executed[name].cells if c.cell_type == "code"]
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert any(has_picture(c) for c in cells)


def test_the_tutorials_loop_prints_epoch_0_and_fit_continues_with_epoch_1(executed):
    nb = executed[TUTORIAL]
    literal = printed(tagged(nb, "tutorial-loop"))
    assert len(literal) == 1 and EPOCH_LINE.match(literal[0]) and literal[0].startswith("Epoch 0. ")
    compiled = printed(tagged(nb, "fit-rest"))
    assert len(compiled) == 1 and EPOCH_LINE.match(compiled[0])
    assert compiled[0].startswith("Epoch 1. ")


def test_a_learners_softmax_is_checked_and_retrains_every_epoch(executed):
    check = tagged(executed[TUTORIAL], "own-softmax-check")
    assert "softmax: correct." in "".join(o.get("data", {}).get("text/plain", "")
                                          for o in check.outputs)
    verdict, *lines = printed(tagged(executed[TUTORIAL], "own-softmax"))
    assert verdict.startswith("\u2714 softmax: correct.")
    assert [line.split(".")[0] for line in lines] == ["Epoch 0", "Epoch 1"]
    assert all(EPOCH_LINE.match(line) for line in lines)


def images(cell):
    """The display outputs of a cell that show a PNG, with their display_id."""
    return [o for o in cell.outputs if o.output_type == "display_data" and "image/png" in o.data]


@pytest.mark.parametrize("tag, epochs", [("tutorial-loop", 1), ("fit-rest", 1), ("own-softmax", 2)])
def test_each_training_cell_shows_one_figure_updated_after_every_epoch(executed, tag, epochs):
    nb = executed[TUTORIAL]
    cell = tagged(nb, tag)
    index = nb.cells.index(cell)
    updates = {display: n for (i, display), n in nb.updates.items() if i == index}
    assert len(images(cell)) == 1 and len(updates) == 1 and list(updates.values()) == [epochs]


def test_exercises_run_with_their_blanks_unfilled_and_say_not_done_yet(executed):
    nb = executed[EXERCISES]
    checks = [c for c in nb.cells if "check" in c.metadata.get("tags", [])]
    blanks = [c for c in nb.cells if "yours" in c.metadata.get("tags", [])]
    assert len(checks) >= 6 and len(blanks) == len(checks)
    for cell in checks:
        (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert "not done yet" in result.data["text/plain"], cell.source
        assert "not done yet" in result.data["text/html"]
    for cell in blanks:  # a blank is blank: raising or None, never a solution
        assert "NotImplementedError" in cell.source or re.search(r"= None\b", cell.source)


def test_prediction_shows_ten_test_images_with_their_predictions(executed):
    cell = tagged(executed[TUTORIAL], "prediction")
    (line,) = [line for line in printed(cell) if line.startswith("model predictions are:")]
    assert has_picture(cell)


def test_going_further_trains_once_on_fashion_mnist_and_draws_every_picture(executed):
    cells = [c for c in executed[FURTHER].cells if c.cell_type == "code"]
    lines = [line for c in cells for line in printed(c) if EPOCH_LINE.match(line)]
    assert [line.split(".")[0] for line in lines] == ["Epoch 0", "Epoch 1"]  # on Fashion once
    drawing = [c for c in cells if c.source.splitlines()[-1].startswith(
        ("pictures.", "run_pictures.", "fashion_pictures."))]
    assert len(drawing) == 8 and all(has_picture(c) for c in drawing)
    (page,) = [c for c in cells if "notebook.draw_page(" in c.source]
    html = "".join(o.get("data", {}).get("text/html", "") for o in page.outputs)
    assert re.search(r'<a href="http://127\.0\.0\.1:\d+/" target="_blank"', html), page.outputs  # no frame


def test_fashion_mnist_reuses_a_fashion_notebooks_run_and_loads_it_otherwise(monkeypatch):
    fashion, digits = as_data(random_splits(), "fashion-mnist"), as_data(random_splits())
    run = notebook.Trained([], [], [])
    assert notebook.fashion_mnist({}, fashion, run, mx.cpu()) == (fashion, run)
    asked = []
    monkeypatch.setattr(notebook, "load_data", lambda settings: asked.append(settings) or fashion)
    monkeypatch.setattr(notebook, "train", lambda splits, ctx, epochs: (splits, epochs))
    settings = dict(dataset=None, data_dir="/mnist", epochs=3)
    assert notebook.fashion_mnist(settings, digits, run, mx.cpu()) == (fashion, (fashion, 3))
    assert asked == [dict(dataset="fashion-mnist", data_dir=None, epochs=3)]


def test_train_is_the_command_lines_run(fashion_subset_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli_train.main(["--dataset", "fashion-mnist", "--data-dir", fashion_subset_dir,
                           "--epochs", "2", "--out", out, "--no-pictures", "--quiet"]) == 0
    cli_lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    run = notebook.train(sources.load_splits("fashion-mnist", fashion_subset_dir), mx.cpu(), 2)
    assert capsys.readouterr().out.splitlines() == cli_lines and len(cli_lines) == 2
    assert [row["epoch"] for row in run.history] == [0, 1] and "line" not in run.history[0]
    saved, folder = runs.load_run(out)[0], runs.RunFolder(out)
    for got, expected in zip(run.params + run.init, saved + folder.init_params()):
        assert np.array_equal(got.asnumpy(), expected.asnumpy())
