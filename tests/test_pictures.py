"""Each figure carries the data it was given, in the panels, colours and titles promised."""
import io
import os

import mxnet as mx
import numpy as np
import pytest
from matplotlib.image import imread
from mxnet import nd

from mxsoftmax import pictures as plot
from mxsoftmax.catalog import class_names
from mxsoftmax.errors import InvalidInput

rng = np.random.RandomState(0)
NAMES = class_names("fashion-mnist")


def image_axes(fig):
    """The axes that show a picture or bars (not the colour bars), in drawing order."""
    bars = {image.colorbar.ax for ax in fig.axes for image in ax.images if image.colorbar}
    return [ax for ax in fig.axes if ax not in bars]


def colour_bars(fig):
    """The colour bars of a figure's pictures."""
    return [image.colorbar for ax in fig.axes for image in ax.images if image.colorbar]


def test_show_image_tiles_to_three_channels():
    image = rng.randint(0, 256, size=(28, 28, 1)).astype(np.uint8)
    fig = plot.show_image(image, title="5.0")
    (ax,) = fig.axes
    shown = ax.images[0].get_array()
    assert shown.shape == (28, 28, 3) and ax.get_title() == "5.0"
    for c in range(3):
        np.testing.assert_allclose(shown[..., c], image[..., 0] / 255., rtol=1e-6)


def test_history_has_loss_and_both_accuracies():
    metrics = [dict(epoch=e, loss=2. - e / 10, train_acc=.5 + e / 20, test_acc=.4 + e / 20)
               for e in range(4)]
    fig = plot.plot_history(metrics)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "Loss" and acc_ax.get_title() == "Accuracy"
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), [2., 1.9, 1.8, 1.7])
    labels = [line.get_label() for line in acc_ax.lines]
    assert labels == ["train", "test"]
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), [.4, .45, .5, .55])
    assert [t.get_text() for t in acc_ax.texts] == ["0.6500", "0.5500"]  # the last values


@pytest.mark.parametrize("n", [1, 2, 10, 30])
def test_history_ticks_are_whole_epochs(n):
    metrics = [dict(epoch=e, loss=1., train_acc=.5, test_acc=.5) for e in range(n)]
    fig = plot.plot_history(metrics)
    fig.savefig(io.BytesIO(), format="png")  # lay out and draw, as the tick locators do for real
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(t == int(t) for t in ticks), ticks
        if n <= 10:
            assert ticks == list(range(n))


def test_history_of_no_epochs_is_empty_axes():
    loss_ax, acc_ax = plot.plot_history([]).axes
    assert len(loss_ax.lines[0].get_xdata()) == 0 and not acc_ax.texts


def test_weights_show_the_change_from_the_start_on_a_scale_centred_at_zero():
    W_init = rng.normal(size=(784, 10))
    W = W_init + rng.normal(scale=.1, size=(784, 10))
    fig = plot.plot_weights(W, NAMES, W_init)
    axes = image_axes(fig)
    assert len(axes) == 10
    change = W - W_init
    limit = np.percentile(np.abs(change), 99.5)
    for k, ax in enumerate(axes):
        assert ax.get_title() == NAMES[k]
        image = ax.images[0]
        np.testing.assert_allclose(image.get_array(), change[:, k].reshape(28, 28))
        assert image.norm.vmin == -image.norm.vmax == pytest.approx(-limit)
        assert image.get_cmap().name == "RdBu_r"
    (bar,) = colour_bars(fig)
    assert bar.norm.vmin == -bar.norm.vmax == pytest.approx(-limit)
    assert bar.extend == "both"  # the top 0.5% lie beyond the scale
    caption = fig.get_supxlabel()
    assert "W - W_init" in caption and "N(0, 1) start" in caption
    assert "Red" in caption and "blue" in caption


def test_weights_without_a_start_show_W_itself():
    W = rng.normal(size=(784, 10))
    fig = plot.plot_weights(W, NAMES)
    for k, ax in enumerate(image_axes(fig)):
        np.testing.assert_allclose(ax.images[0].get_array(), W[:, k].reshape(28, 28))
    assert "start" not in fig.get_supxlabel() and "Red" in fig.get_supxlabel()


def test_run_pictures_draw_W_minus_W_init():
    W_init = rng.normal(size=(784, 10)).astype(np.float32)
    W = W_init + np.float32(.5) * np.eye(784, 10, dtype=np.float32)
    params = [nd.array(W), nd.zeros(10)]
    pictures = plot.RunPictures(params, [nd.array(W_init), nd.zeros(10)], [], None, NAMES, None)
    assert list(pictures.drawings()) == ["history.png", "weights.png"]
    for k, ax in enumerate(image_axes(pictures.weights())):
        expected = np.zeros(784)
        expected[k] = .5
        np.testing.assert_allclose(ax.images[0].get_array(), expected.reshape(28, 28), atol=1e-6)


def test_row_rates_divide_each_row_by_its_total():
    counts = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    np.testing.assert_allclose(plot.row_rates(counts), [[.8, .2, 0], [.25, .75, 0], [0, 0, 0]])


def cell_texts(ax):
    """The texts of a matrix plot by (row, column)."""
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}


def test_confusion_colours_are_row_rates_and_cells_print_counts():
    counts = np.array([[8, 2, 0], [1, 3, 0], [0, 1, 4]])
    fig = plot.plot_confusion(counts, ["a", "b", "c"])
    (ax,) = image_axes(fig)
    diagonal, confusions = ax.images
    np.testing.assert_allclose(diagonal.get_array().compressed(), [.8, .75, .8])
    np.testing.assert_allclose(confusions.get_array().compressed(), [.2, 0, .25, 0, 0, .2])
    assert (diagonal.norm.vmin, diagonal.norm.vmax) == (0, 1)
    assert (confusions.norm.vmin, confusions.norm.vmax) == (0, .25)  # the largest confusion
    assert diagonal.colorbar is not None and confusions.colorbar is not None
    texts = cell_texts(ax)
    assert {k: t.get_text() for k, t in texts.items()} == {
        (i, j): str(counts[i, j]) for i in range(3) for j in range(3)}
    assert texts[(0, 0)].get_color() == "white" and texts[(0, 2)].get_color() == "black"
    assert texts[(1, 0)].get_color() == "white"  # 25%, the top of the confusions' scale


def test_confusion_of_ten_classes_names_its_ticks():
    counts = rng.randint(0, 50, size=(10, 10))
    (ax,) = image_axes(plot.plot_confusion(counts, NAMES))
    texts = cell_texts(ax)
    assert texts[(3, 7)].get_text() == str(counts[3, 7]) and len(texts) == 100
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES


@pytest.mark.parametrize("p, text", [
    (.5, "50.0%"), (.2345, "23.4%"), (1., "\u2248100%"), (0., "\u22480%"), (.999, "99.9%"),
    (.9995, "99.950%"), (.99998415, "99.9984%"), (1 - 1.2e-7, "99.999988%"),
    (.004, "0.4%"), (9.49e-6, "0.00095%"), (1.92e-9, "1.9e-07%")])
def test_format_probability_keeps_the_digits_that_differ_from_0_and_100(p, text):
    assert plot.format_probability(p) == text


def test_mistakes_are_the_most_confident_wrong_predictions():
    labels = np.array([0, 1, 2, 3, 4])
    probs = np.full((5, 10), .01)
    probs[0, 0] = .9   # right
    probs[1, 5] = .8   # wrong, second most confident
    probs[2, 6] = .95  # wrong, most confident
    probs[3, 3] = .7   # right
    probs[4, 9] = .3   # wrong, least confident
    images = rng.randint(0, 256, size=(5, 28, 28)).astype(np.uint8)
    np.testing.assert_array_equal(plot.most_confident_mistakes(labels, probs), [2, 1, 4])
    fig = plot.show_mistakes(images, labels, probs, NAMES)
    axes = fig.axes
    assert len(axes) == 3
    assert axes[0].get_title() == "pred Shirt 95.0%\ntrue Pullover 1.0%"
    assert axes[2].get_title() == "pred Ankle boot 30.0%\ntrue Coat 1.0%"
    np.testing.assert_array_equal(axes[1].images[0].get_array(), images[1])


def test_mistake_titles_tell_near_certain_answers_apart():
    probs = np.full((2, 10), 1e-6)
    probs[0, 3], probs[0, 8] = 1 - 9e-6, 2e-7     # sure of Dress; the true Bag got 0.00002%
    probs[1, 3], probs[1, 8] = 1 - 4e-4, 3.99e-4  # less sure; the true Bag got 0.04%
    titles = [plot.mistake_title(p, 8, NAMES) for p in probs]
    assert titles == ["pred Dress 99.99910%\ntrue Bag 2e-05%", "pred Dress 99.960%\ntrue Bag 0.04%"]


def test_explanation_shows_the_image_probabilities_and_evidence():
    image = rng.randint(0, 256, size=(28, 28)).astype(np.uint8)
    probs = np.array([.05, .01, .6, .01, .01, .01, .25, .01, .04, .01])
    evidence = rng.normal(size=(3, 28, 28))
    fig = plot.plot_explanation(image, probs, evidence, NAMES)
    seen, bars, *maps = image_axes(fig)
    np.testing.assert_array_equal(seen.images[0].get_array(), image)
    assert [p.get_width() for p in bars.patches] == pytest.approx([.6, .25, .05])  # largest first
    assert [t.get_text() for t in bars.get_yticklabels()] == ["Pullover", "Shirt", "T-shirt/top"]
    limit = np.abs(evidence).max()
    assert len(maps) == 3
    for ax, votes, name in zip(maps, evidence, ["Pullover", "Shirt", "T-shirt/top"]):
        np.testing.assert_allclose(ax.images[0].get_array(), votes)
        assert ax.images[0].norm.vmin == -ax.images[0].norm.vmax == pytest.approx(-limit)
        assert name in ax.get_title() and "%+.2f" % votes.sum() in ax.get_title()
        assert ax.images[0].get_cmap().name == "RdBu_r"
    (bar,) = colour_bars(fig)
    assert bar.norm.vmin == -bar.norm.vmax == pytest.approx(-limit)


def test_explanation_takes_the_classes_of_its_maps():
    probs = np.full(10, .1)
    evidence = rng.normal(size=(2, 28, 28))
    fig = plot.plot_explanation(np.zeros((28, 28)), probs, evidence, NAMES, classes=[7, 1])
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["Sneaker", "Trouser"]
    bias = np.arange(10) / 10.
    fig = plot.plot_explanation(np.zeros((28, 28)), probs, evidence, NAMES, classes=[7, 1],
                                bias=bias)
    titles = [ax.get_title() for ax in image_axes(fig)[2:]]
    for title, votes, b in zip(titles, evidence, (.7, .1)):
        assert "votes %+.2f + b %+.2f\n= score %+.2f" % (votes.sum(), b, votes.sum() + b) in title
    with pytest.raises(InvalidInput):
        plot.plot_explanation(np.zeros((28, 28)), probs, evidence, NAMES, classes=[7, 1, 2])


def test_save_figure_writes_a_readable_png(tmp_path):
    path = plot.save_figure(plot.show_grid(np.zeros((3, 28, 28)), ["a", "b", "c"]),
                            str(tmp_path / "grid.png"))
    assert imread(path).ndim == 3
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


HOSTILE_NAMES = ["$\\foo$", "a_b^c", "line\nbreak", "y" * 200, "\U0001F600 smile", "$", "\\$x$",
                 "a$b$c", "50%", "\\"]


def all_texts(fig):
    """Every text artist of a figure, tick labels and titles included."""
    from matplotlib.text import Text
    return [t for t in fig.findobj(Text) if t.get_text()]


@pytest.mark.parametrize("picture", ["weights", "confusion", "mistakes", "explanation", "grid",
                                     "image"])
def test_any_class_name_is_drawn_literally(picture, tmp_path):
    """Names are data: `$\\foo$` would crash mathtext, `a_b^c` would be typeset; a 200-character
    name is shown cut, not squeezing the panels to nothing; an emoji the font lacks is a box."""
    import warnings
    probs = (np.full((10, 10), .05) + .45 * np.eye(10)).astype(np.float32)  # image k is class k
    labels = (np.arange(10) + 1) % 10  # and wrong: every name appears in a title
    make = {
        "weights": lambda: plot.plot_weights(rng.normal(size=(784, 10)), HOSTILE_NAMES),
        "confusion": lambda: plot.plot_confusion(rng.randint(0, 9, (10, 10)), HOSTILE_NAMES),
        "mistakes": lambda: plot.show_mistakes(rng.randint(0, 256, (10, 28, 28)), labels, probs,
                                               HOSTILE_NAMES),
        "explanation": lambda: plot.plot_explanation(rng.rand(28, 28), probs[0],
                                                     rng.normal(size=(4, 28, 28)), HOSTILE_NAMES,
                                                     classes=[0, 1, 3, 4]),
        "grid": lambda: plot.show_grid(rng.randint(0, 256, (10, 28, 28)), HOSTILE_NAMES),
        "image": lambda: plot.show_image(rng.randint(0, 256, (28, 28, 1)), HOSTILE_NAMES[0]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a squeezed layout or a missing glyph warns
        fig = make[picture]()
        plot.save_figure(fig, str(tmp_path / "p.png"))
    assert imread(str(tmp_path / "p.png")).shape[2] == 4
    texts = all_texts(fig)
    shown = [n if len(n) <= 40 or picture == "grid" else n[:39] + "\u2026"  # titles as given
             for n in HOSTILE_NAMES]
    drawn = " ".join(t.get_text() for t in texts)
    expected = {"image": shown[:1], "explanation": [shown[k] for k in (0, 1, 3, 4)]}
    for name in expected.get(picture, shown):
        assert name in drawn, name
    assert ("y" * 40 in drawn) == (picture == "grid") and ("y" * 39 in drawn) != (picture == "image")
    assert all(not t.get_usetex() and not t.get_parse_math() for t in texts
               if any(name in t.get_text() for name in shown))
    assert fig.get_size_inches()[0] < 40  # one long name does not make the picture huge


def test_draw_pictures_writes_the_run_pictures_in_order_and_calls_between(tmp_path):
    from mxsoftmax.runs import PICTURES
    W = rng.normal(size=(784, 10)).astype(np.float32)
    params = [nd.array(W), nd.zeros(10)]
    images = rng.randint(0, 256, (30, 28, 28, 1)).astype(np.uint8)
    labels = rng.randint(0, 10, 30).astype(np.int32)
    metrics = [dict(epoch=0, loss=1., train_acc=.5, test_acc=.4, seconds=1.)]
    calls = []
    drawn = plot.draw_pictures(str(tmp_path), params, None, metrics, (images, labels), NAMES,
                               mx.cpu(), between=lambda: calls.append(sorted(os.listdir(tmp_path))))
    assert drawn == list(PICTURES) == ["history.png", "weights.png", "confusion.png",
                                       "mistakes.png"]
    assert calls == [sorted(PICTURES[:i + 1]) for i in range(4)]  # one picture at a time
    os.mkdir(tmp_path / "two")  # without a test split: the two pictures that need none
    assert plot.draw_pictures(str(tmp_path / "two"), params, None, metrics, None, NAMES,
                              mx.cpu()) == list(PICTURES[:2])
    assert sorted(os.listdir(tmp_path / "two")) == sorted(PICTURES[:2])
    assert not hasattr(plot.RunPictures, "NAMES")
