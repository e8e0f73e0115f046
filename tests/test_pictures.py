"""Each figure carries the data it was given, in the panels, colours and titles promised; pictures
are written whole, quietly, whatever the class names, MPLBACKEND or HOME."""
import io
import os
import subprocess
import sys
import warnings

import mxnet as mx
import numpy as np
import pytest
from matplotlib.image import imread
from matplotlib.text import Text
from mxnet import nd

from mxsoftmax import pictures as plot
from mxsoftmax.catalog import class_names
from mxsoftmax.errors import InvalidInput, InvalidValue
from mxsoftmax.runs import PICTURES

rng = np.random.RandomState(0)
NAMES = class_names("fashion-mnist")


def image_axes(fig):
    """The axes that show a picture or bars (not the colour bars), in drawing order."""
    bars = {bar.ax for bar in colour_bars(fig)}
    return [ax for ax in fig.axes if ax not in bars]


def colour_bars(fig):
    return [image.colorbar for ax in fig.axes for image in ax.images if image.colorbar]


def test_show_image_tiles_to_three_channels():
    image = rng.randint(0, 256, size=(28, 28, 1)).astype(np.uint8)
    (ax,) = plot.show_image(image, title="5.0").axes
    assert ax.get_title() == "5.0"
    np.testing.assert_allclose(ax.images[0].get_array(), np.repeat(image / 255., 3, axis=2), rtol=1e-6)


@pytest.mark.parametrize("n", [0, 1, 4, 10, 30])
def test_history_has_loss_both_accuracies_their_last_values_and_whole_epoch_ticks(n):
    metrics = [dict(epoch=e, loss=2. - e / 10, train_acc=.5 + e / 100, test_acc=.4 + e / 100)
               for e in range(n)]
    fig = plot.plot_history(metrics)
    fig.savefig(io.BytesIO(), format="png")  # lay out and draw, as the tick locators do for real
    loss_ax, acc_ax = fig.axes
    assert (loss_ax.get_title(), acc_ax.get_title()) == ("Loss", "Accuracy")
    assert [line.get_label() for line in acc_ax.lines] == ["train", "test"]
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), 2. - np.arange(n) / 10)
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), .4 + np.arange(n) / 100)
    assert [t.get_text() for t in acc_ax.texts] == (["%.4f" % (.5 + (n - 1) / 100),
                                                     "%.4f" % (.4 + (n - 1) / 100)] if n else [])
    for ax in fig.axes[:n and 2]:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(t == int(t) for t in ticks) and (n > 12 or ticks == list(range(n)))


def test_weights_show_the_change_from_the_start_or_W_itself_on_a_scale_centred_at_zero():
    W_init = rng.normal(size=(784, 10)).astype(np.float32)
    W = W_init + rng.normal(scale=.1, size=(784, 10)).astype(np.float32)
    params = [nd.array(W), nd.zeros(10)]
    for init, shown, words in (([nd.array(W_init), nd.zeros(10)], W - W_init, "W - W_init"),
                               (None, W, "column of W as")):
        run = plot.RunPictures(params, init, [], None, NAMES, mx.cpu())
        assert list(run.drawings()) == ["weights.png"]  # no curves without epochs, no test split
        fig, limit = run.weights(), np.percentile(np.abs(shown), 99.5)
        for k, ax in enumerate(image_axes(fig)):
            assert ax.get_title() == NAMES[k] and ax.images[0].get_cmap().name == "RdBu_r"
            np.testing.assert_allclose(ax.images[0].get_array(), shown[:, k].reshape(28, 28), atol=1e-6)
        (bar,) = colour_bars(fig)
        assert bar.norm.vmin == -bar.norm.vmax == pytest.approx(-limit) and bar.extend == "both"
        assert words in fig.get_supxlabel() and ("N(0, 1) start" in fig.get_supxlabel()) == bool(init)


def test_confusion_colours_are_row_rates_and_cells_print_counts():
    counts = np.diag([8] * 9 + [0])  # the last class has no test image
    counts[0, 1], counts[1, 0], counts[1, 1] = 2, 1, 3
    fig = plot.plot_confusion(counts, NAMES)
    (ax,) = image_axes(fig)
    diagonal, confusions = ax.images
    np.testing.assert_allclose(diagonal.get_array().compressed(), [.8, .75] + [1] * 7 + [0])
    np.testing.assert_allclose(confusions.get_array().compressed(), np.r_[.2, [0] * 8, .25, [0] * 80])
    assert (diagonal.norm.vmin, diagonal.norm.vmax, confusions.norm.vmax) == (0, 1, .25)
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
    assert {k: t.get_text() for k, t in texts.items()} == {
        (i, j): str(counts[i, j]) for i in range(10) for j in range(10)}
    assert [texts[cell].get_color() for cell in ((0, 0), (0, 2), (1, 0))] == ["white", "black", "white"]
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        assert [t.get_text() for t in labels] == NAMES
    with pytest.raises(InvalidValue, match="^class_names must be a list of 10 class names"):
        plot.plot_confusion(counts[:3, :3], ["a", "b", "c"])


@pytest.mark.parametrize("p, text", [
    (.5, "50.0%"), (.2345, "23.4%"), (1., "\u2248100%"), (0., "\u22480%"), (.999, "99.9%"),
    (.9995, "99.950%"), (.99998415, "99.9984%"), (1 - 1.2e-7, "99.999988%"), (1 - 4e-4, "99.960%"),
    (.004, "0.4%"), (3.99e-4, "0.04%"), (9.49e-6, "0.00095%"), (1.92e-9, "1.9e-07%")])
def test_format_probability_keeps_the_digits_that_differ_from_0_and_100(p, text):
    assert plot.format_probability(p) == text


def test_mistakes_are_the_16_most_confident_wrong_answers():
    labels, probs = np.array([0, 1, 2, 3, 8]), np.full((5, 10), .01)
    probs[0, 0], probs[1, 5], probs[2, 6], probs[3, 3] = .9, .8, .95, .7  # 0 and 3 are right
    probs[4, 3], probs[4, 8] = 1 - 9e-6, 2e-7  # sure of Dress; the true Bag got 0.00002%
    images = rng.randint(0, 256, size=(5, 28, 28)).astype(np.uint8)
    axes = plot.show_mistakes(images, labels, probs, NAMES).axes
    assert [ax.get_title() for ax in axes] == ["pred Dress 99.99910%\ntrue Bag 2e-05%",
                                               "pred Shirt 95.0%\ntrue Pullover 1.0%",
                                               "pred Sandal 80.0%\ntrue Trouser 1.0%"]
    np.testing.assert_array_equal(axes[1].images[0].get_array(), images[2])
    many = np.eye(10)[np.arange(40) % 10]  # 40 answers, all wrong
    assert len(plot.show_mistakes(np.zeros((40, 28, 28), np.uint8), (np.arange(40) + 1) % 10,
                                  many, NAMES).axes) == 16
    assert plot.show_mistakes(images[:1], [0], probs[:1], NAMES).axes == []  # none wrong


def test_explanation_shows_the_image_probabilities_and_evidence():
    image = rng.randint(0, 256, size=(28, 28)).astype(np.uint8)
    probs = np.array([.05, .01, .6, .01, .01, .01, .25, .01, .04, .01])
    evidence, shown = rng.normal(size=(3, 28, 28)), ["Pullover", "Shirt", "T-shirt/top"]
    seen, bars, *maps = image_axes(plot.plot_explanation(image, probs, evidence, NAMES))
    np.testing.assert_array_equal(seen.images[0].get_array(), image)
    assert [p.get_width() for p in bars.patches] == pytest.approx([.6, .25, .05])  # largest first
    assert [t.get_text() for t in bars.get_yticklabels()] == shown
    for ax, votes, name in zip(maps, evidence, shown):
        np.testing.assert_allclose(ax.images[0].get_array(), votes)
        assert ax.images[0].norm.vmax == pytest.approx(np.abs(evidence).max()) == -ax.images[0].norm.vmin
        assert name in ax.get_title() and "%+.2f" % votes.sum() in ax.get_title()
    fig = plot.plot_explanation(image, np.full(10, .1), evidence[:2], NAMES, [7, 1], np.arange(10) / 10.)
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["Sneaker", "Trouser"]
    for ax, votes, b in zip(image_axes(fig)[2:], evidence, (.7, .1)):
        assert "votes %+.2f + b %+.2f\n= score %+.2f" % (votes.sum(), b, votes.sum() + b) in ax.get_title()
    with pytest.raises(InvalidInput, match="one evidence map per class shown: 2 maps for 3 classes"):
        plot.plot_explanation(image, probs, evidence[:2], NAMES, classes=[7, 1, 2])


HOSTILE_NAMES = ["$\\foo$", "a_b^c", "line\nbreak", "y" * 200, "\U0001F600 smile", "$", "\\$x$",
                 "a$b$c", "50%", "\\"]


@pytest.mark.parametrize("picture", ["weights", "confusion", "mistakes", "explanation", "grid",
                                     "image"])
def test_any_class_name_is_drawn_literally_and_saved_whole(picture, tmp_path):
    """Names are data: `$\\foo$` would crash mathtext, `a_b^c` would be typeset; a 200-character
    name is shown cut, not squeezing the panels to nothing; an emoji the font lacks is a box."""
    probs = (np.full((10, 10), .05) + .45 * np.eye(10)).astype(np.float32)  # image k is class k
    images, labels = rng.randint(0, 256, (10, 28, 28)).astype(np.uint8), (np.arange(10) + 1) % 10
    make = {"weights": lambda: plot.plot_weights(rng.normal(size=(784, 10)), HOSTILE_NAMES),
            "confusion": lambda: plot.plot_confusion(rng.randint(0, 9, (10, 10)), HOSTILE_NAMES),
            "mistakes": lambda: plot.show_mistakes(images, labels, probs, HOSTILE_NAMES),
            "explanation": lambda: plot.plot_explanation(images[0], probs[0], rng.normal(
                size=(4, 28, 28)), HOSTILE_NAMES, classes=[0, 1, 3, 4]),
            "grid": lambda: plot.show_grid(images, HOSTILE_NAMES),
            "image": lambda: plot.show_image(images[0, :, :, None], HOSTILE_NAMES[0])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a squeezed layout or a missing glyph warns
        fig = make[picture]()
        assert plot.save_figure(fig, str(tmp_path / "p.png")) == str(tmp_path / "p.png")
    assert imread(str(tmp_path / "p.png")).shape[2] == 4 and os.listdir(tmp_path) == ["p.png"]
    texts = [t for t in fig.findobj(Text) if t.get_text()]
    shown = [n if len(n) <= 40 or picture == "grid" else n[:39] + "\u2026" for n in HOSTILE_NAMES]
    drawn = " ".join(t.get_text() for t in texts)
    for name in {"image": shown[:1], "explanation": [shown[k] for k in (0, 1, 3, 4)]}.get(picture, shown):
        assert name in drawn, name
    assert ("y" * 40 in drawn) == (picture == "grid") and ("y" * 39 in drawn) != (picture == "image")
    assert all(not t.get_usetex() and not t.get_parse_math() for t in texts
               if any(name in t.get_text() for name in shown))
    assert fig.get_size_inches()[0] < 40  # one long name does not make the picture huge


def test_draw_pictures_writes_the_run_pictures_in_order_and_calls_between(tmp_path):
    params = [nd.array(rng.normal(size=(784, 10)).astype(np.float32)), nd.zeros(10)]
    test = rng.randint(0, 256, (30, 28, 28, 1)).astype(np.uint8), rng.randint(0, 10, 30)
    metrics, calls = [dict(epoch=0, loss=1., train_acc=.5, test_acc=.4)], []
    drawn = plot.draw_pictures(str(tmp_path), params, None, metrics, test, NAMES, mx.cpu(),
                               between=lambda: calls.append(sorted(os.listdir(tmp_path))))
    assert drawn == list(PICTURES) == ["history.png", "weights.png", "confusion.png", "mistakes.png"]
    assert calls == [sorted(PICTURES[:i + 1]) for i in range(4)]  # one whole picture at a time
    os.mkdir(tmp_path / "two")  # without a test split: the two pictures that need none
    assert plot.draw_pictures(str(tmp_path / "two"), params, None, metrics, None, NAMES,
                              mx.cpu()) == sorted(os.listdir(tmp_path / "two")) == list(PICTURES[:2])
    os.mkdir(tmp_path / "three")  # between=None, its default as said before, is nothing to call
    assert plot.draw_pictures(str(tmp_path / "three"), params, None, metrics, None, NAMES, mx.cpu(),
                              between=None) == list(PICTURES[:2])
    with pytest.raises(InvalidValue, match="^ctx must be an mx.Context"):
        plot.draw_pictures(str(tmp_path), params, None, metrics, None, NAMES, "cpu")


DRAW = """import os, sys
from mxsoftmax import pictures
import matplotlib
pictures.save_figure(pictures.plot_history([]), sys.argv[1])
backend = dict.__getitem__(matplotlib.rcParams, "backend")  # not resolved (that imports pyplot)
print(os.environ.get("MPLBACKEND"), isinstance(backend, str) and backend, end="")"""


@pytest.mark.parametrize("variables, printed", [
    ({"MPLBACKEND": "Bogus"}, "Bogus False"), ({"MPLBACKEND": "svg"}, "svg svg"),
    ({"HOME": "missing"}, "None False"), ({"HOME": "a-file"}, "None False"), ({"HOME": ""}, "None False")])
def test_pictures_are_drawn_quietly_under_any_backend_variable_and_home(variables, printed, tmp_path):
    """A MPLBACKEND matplotlib does not know would stop its import, an unusable HOME makes it
    warn (or create a missing HOME): neither may cost a picture, print a word or leave a file."""
    (tmp_path / "a-file").write_text("")
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPL", "XDG_"))}
    env.update({k: str(tmp_path / v) if k == "HOME" and v else v for k, v in variables.items()},
               TMPDIR=str(tmp_path / "tmp"))
    proc = subprocess.run([sys.executable, "-c", DRAW, str(tmp_path / "h.png")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", printed)  # a valid one is kept
    assert imread(str(tmp_path / "h.png")).ndim == 3
    assert not (tmp_path / "missing").exists() and os.listdir(tmp_path / "tmp") == []


def test_a_users_matplotlibrc_changes_no_picture_and_prints_nothing(tmp_path):
    """Its figure.dpi of 1000 made each picture 100 times larger (1.6 GB for a run's), a font it
    lacks printed findfont lines, a misspelt key a warning: the pictures use matplotlib's defaults."""
    (tmp_path / "matplotlibrc").write_text("figure.dpi: 1000\nfont.family: NoSuchFont\nno.such.key: 1\n")
    env = dict({k: v for k, v in os.environ.items() if not k.startswith("MPL")}, MPLCONFIGDIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", DRAW, str(tmp_path / "h.png")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    assert imread(str(tmp_path / "h.png")).shape == (400, 1000, 4)  # 10 x 4 inches at 100 dpi
