"""python -m mxsoftmax.plot: the run's pictures from its own data, any class names, one sentence."""
import json
import os
import shutil

import numpy as np
import pytest
from matplotlib.image import imread

from mxsoftmax import pictures, runs
from mxsoftmax import plot as plot_cli

from conftest import FASHION_DIR, random_splits, write_split_dir
from test_runs import train


def plot(argv, capsys):
    """Run the plot CLI in-process; returns (exit code, stdout, stderr)."""
    code = plot_cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def contents(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in os.listdir(folder)
            if name != ".lock"}


@pytest.fixture
def own_data_run(tmp_path, capsys):
    """A one-epoch run trained on a data folder of its own: (run folder, data folder)."""
    data = write_split_dir(tmp_path / "data", random_splits(300, 100))
    out = str(tmp_path / "run")
    assert train(["--data-dir", data, "--epochs", "1", "--out", out], capsys)[0] == 0
    return out, data


def test_a_run_is_drawn_from_its_own_data(own_data_run, capsys):
    out, _ = own_data_run
    code, stdout, err = plot(["--out", out], capsys)
    assert code == 0 and err == ""
    assert stdout == "python -m mxsoftmax.plot: drew %s in %s\n" % (", ".join(runs.PICTURES), out)
    for name in runs.PICTURES:
        assert imread(os.path.join(out, name)).shape[2] == 4


def test_data_that_is_not_the_runs_own_is_refused_as_resume_refuses_it(own_data_run, capsys):
    """The run's recorded data folder now holds other valid data: its confusion and mistakes
    would be another model's story. plot refuses, as --resume does (their SHA-256 differ)."""
    out, data = own_data_run
    write_split_dir(data, random_splits(300, 100, seed=1))
    before = contents(out)
    code, stdout, err = plot(["--out", out], capsys)
    assert code == 2 and stdout == "" and err.count("\n") == 1, err
    assert err == ("python -m mxsoftmax.plot: error: --out: %s was trained on other data than the "
                   "files in %s hold now (their SHA-256 differ): put the run's own data back "
                   "there to draw its confusion and mistakes.\n" % (out, data))
    assert contents(out) == before  # no picture drawn from the other data
    code, _, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
    assert code == 2 and "was trained on other data than the files given now" in err


def test_another_known_data_set_in_the_runs_folder_is_refused(own_data_run, capsys):
    out, data = own_data_run
    for name in os.listdir(data):
        os.remove(os.path.join(data, name))
    for name in os.listdir(FASHION_DIR):
        shutil.copy(os.path.join(FASHION_DIR, name), data)
    before = contents(out)
    code, _, err = plot(["--out", out], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "error: %s was trained on mnist from %s, which now holds fashion-mnist (recognised by " \
           "its checksums)" % (out, data) in err
    assert contents(out) == before


def test_data_that_cannot_be_loaded_leaves_the_two_pictures_that_need_none(own_data_run, capsys):
    out, data = own_data_run
    shutil.rmtree(data)
    code, stdout, err = plot(["--out", out], capsys)
    assert code == 0 and "drew history.png, weights.png in" in stdout
    assert "the run's test images (%s) cannot be loaded here, so only history.png and " \
           "weights.png are drawn." % data in err


def test_class_names_are_drawn_literally(own_data_run, capsys):
    """state.json's class names are data: mathtext (`$\\foo$`) or TeX would crash on them."""
    out, _ = own_data_run
    path = os.path.join(out, "state.json")
    state = json.load(open(path))
    state["class_names"] = ["$\\foo$", "a_b^c", "$", "50% $x$", "\\", "\U0001F600 smile",
                            "x" * 40, "{}", "^", "plain"]
    json.dump(state, open(path, "w"))
    code, stdout, err = plot(["--out", out], capsys)
    assert code == 0 and err == "", err  # no traceback, no warning about missing glyphs
    assert stdout.startswith("python -m mxsoftmax.plot: drew history.png, weights.png, "
                             "confusion.png, mistakes.png")


def test_a_damaged_init_params_is_said_once_and_costs_only_the_change_map(own_data_run, capsys):
    out, _ = own_data_run
    init = os.path.join(out, "init.params")
    with open(init, "r+b") as f:
        f.truncate(100)
    code, stdout, err = plot(["--out", out], capsys)
    assert code == 0 and "drew %s" % ", ".join(runs.PICTURES) in stdout
    assert err == ("python -m mxsoftmax.plot: %s is not a usable params file, so weights.png "
                   "shows W itself rather than what training changed; the file was removed.\n"
                   % init)
    code, _, err = plot(["--out", out], capsys)
    assert code == 0 and err == "" and not os.path.exists(init)


def test_a_picture_that_cannot_be_written_is_one_sentence(own_data_run, capsys):
    out, _ = own_data_run
    os.mkdir(os.path.join(out, "history.png"))  # a folder where the picture should go
    code, _, err = plot(["--out", out], capsys)
    assert code == 2 and "cannot write %s" % os.path.join(out, "history.png") in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_signal_between_two_pictures_stops_plot_after_the_one_being_drawn(
        own_data_run, monkeypatch, capsys):
    import signal
    out, _ = own_data_run
    real, saved = pictures.save_figure, []

    def save_then_signal(fig, path):  # Ctrl-C while the first picture is written
        if not saved:
            os.kill(os.getpid(), signal.SIGINT)
        saved.append(os.path.basename(path))
        return real(fig, path)
    for name in runs.PICTURES:
        os.remove(os.path.join(out, name)) if os.path.exists(os.path.join(out, name)) else None
    monkeypatch.setattr(pictures, "save_figure", save_then_signal)
    code, stdout, err = plot(["--out", out], capsys)
    assert code == 130 and stdout == "" and saved == ["history.png"], (saved, err)
    assert os.path.exists(os.path.join(out, "history.png"))
    assert not [n for n in os.listdir(out) if n.endswith(".part") or n == "weights.png"]
    assert np.asarray(imread(os.path.join(out, "history.png"))).ndim == 3
