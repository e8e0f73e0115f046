"""python -m mxsoftmax.plot: the run's pictures from its own data, any class names, one sentence;
a picture that cannot be drawn well leaves the one before."""
import json
import os
import shutil
import signal

import pytest
from matplotlib.image import imread

from mxsoftmax import pictures, runs
from mxsoftmax import plot as plot_cli

from conftest import FASHION_DIR, random_splits, train, write_split_dir

OTHER_DATA = "python -m mxsoftmax.plot: error: --out: %s was trained on other data than the files " \
             "in %s hold now (their SHA-256 differ): put the run's own data back there to draw " \
             "its confusion and mistakes.\n"


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


def test_a_run_is_drawn_from_its_own_data_with_its_class_names_as_written(own_data_run, capsys):
    """state.json's class names are data: mathtext (`$\\foo$`) or TeX would crash on them."""
    out, _ = own_data_run
    path = os.path.join(out, "state.json")
    state = json.load(open(path))
    state["class_names"] = ["$\\foo$", "a_b^c", "$", "50% $x$", "\\", "\U0001F600 smile",
                            "x" * 40, "{}", "^", "plain"]
    json.dump(state, open(path, "w"))
    code, stdout, err = plot(["--out", out], capsys)
    assert code == 0 and err == ""  # no traceback, no warning about missing glyphs
    assert stdout == "python -m mxsoftmax.plot: drew %s in %s\n" % (", ".join(runs.PICTURES), out)
    for name in runs.PICTURES:
        assert imread(os.path.join(out, name)).shape[2] == 4


def other_data_set(data):
    for name in os.listdir(data):
        os.remove(os.path.join(data, name))
    for name in os.listdir(FASHION_DIR):
        shutil.copy(os.path.join(FASHION_DIR, name), data)


@pytest.mark.parametrize("replace", [lambda data: write_split_dir(data, random_splits(300, 100, seed=1)),
                                     other_data_set], ids=["other-files", "other-data-set"])
def test_data_that_is_not_the_runs_own_is_refused_as_resume_refuses_it(own_data_run, capsys, replace):
    """The run's recorded data folder now holds other valid data (or another known data set):
    its confusion and mistakes would be another model's story. plot refuses, as --resume does."""
    out, data = own_data_run
    replace(data)
    before = contents(out)
    code, stdout, err = plot(["--out", out], capsys)
    assert (code, stdout, err) == (2, "", OTHER_DATA % (out, data))
    assert contents(out) == before  # no picture drawn from the other data
    code, _, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
    assert code == 2 and "was trained on" in err


def test_what_cannot_be_drawn_leaves_the_pictures_before(own_data_run, capsys):
    """Without the test images only history.png and weights.png are drawn; without metrics the
    curves are not drawn empty over the good ones; a damaged init.npz is said once and costs
    only the change map."""
    out, data = own_data_run
    for name in runs.PICTURES:
        open(os.path.join(out, name), "wb").write(b"drawn before")
    shutil.rmtree(data)
    code, stdout, err = plot(["--out", out], capsys)
    assert code == 0 and "drew history.png, weights.png in" in stdout
    assert "the run's test images (%s) cannot be loaded here, so only history.png and " \
           "weights.png are drawn." % data in err
    kept = [name for name, raw in contents(out).items() if raw == b"drawn before"]
    assert sorted(kept) == ["confusion.png", "mistakes.png"]
    open(os.path.join(out, "history.png"), "wb").write(b"drawn before")
    os.remove(os.path.join(out, "metrics.jsonl"))
    with open(os.path.join(out, "init.npz"), "r+b") as f:
        f.truncate(100)
    code, stdout, err = plot(["--out", out], capsys)
    assert code == 0 and stdout == "python -m mxsoftmax.plot: drew weights.png in %s\n" % out
    assert "%s is not a usable params file, so weights.png shows W itself rather than what " \
           "training changed; the file was removed.\n" % os.path.join(out, "init.npz") in err
    assert contents(out)["history.png"] == b"drawn before"
    code, _, err = plot(["--out", out], capsys)
    assert code == 0 and "init.npz" not in err and not os.path.exists(os.path.join(out, "init.npz"))


def test_a_picture_that_cannot_be_written_is_one_sentence(own_data_run, capsys):
    out, _ = own_data_run
    os.mkdir(os.path.join(out, "history.png"))  # a folder where the picture should go
    code, _, err = plot(["--out", out], capsys)
    assert code == 2 and "cannot write %s" % os.path.join(out, "history.png") in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_signal_between_two_pictures_stops_plot_after_the_one_being_drawn(
        own_data_run, monkeypatch, capsys):
    out, _ = own_data_run
    real, saved = pictures.save_figure, []

    def save_then_signal(fig, path):  # Ctrl-C while the first picture is written
        if not saved:
            os.kill(os.getpid(), signal.SIGINT)
        saved.append(os.path.basename(path))
        return real(fig, path)
    monkeypatch.setattr(pictures, "save_figure", save_then_signal)
    code, stdout, err = plot(["--out", out], capsys)
    assert code == 130 and stdout == "" and saved == ["history.png"], (saved, err)
    assert [n for n in os.listdir(out) if n.endswith((".part", ".png"))] == ["history.png"]
    assert imread(os.path.join(out, "history.png")).ndim == 3
