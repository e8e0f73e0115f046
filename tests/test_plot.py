"""Each figure carries the data it was given, in the panels and titles promised."""
import numpy as np
from matplotlib.image import imread

from mxsoftmax import plot
from mxsoftmax.catalog import class_names

rng = np.random.RandomState(0)
NAMES = class_names("fashion-mnist")


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


def test_weights_are_ten_28x28_templates_with_class_titles():
    W = rng.normal(size=(784, 10))
    fig = plot.plot_weights(W, NAMES)
    assert len(fig.axes) == 10
    for k, ax in enumerate(fig.axes):
        assert ax.get_title() == NAMES[k]
        np.testing.assert_allclose(ax.images[0].get_array(), W[:, k].reshape(28, 28))


def test_confusion_shows_counts_in_cells():
    counts = rng.randint(0, 50, size=(10, 10))
    fig = plot.plot_confusion(counts, NAMES)
    (ax,) = fig.axes
    np.testing.assert_array_equal(ax.images[0].get_array(), counts)
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert texts[(3, 7)] == str(counts[3, 7]) and len(texts) == 100
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES


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
    assert axes[0].get_title() == "true Pullover\npred Shirt (0.95)"
    np.testing.assert_array_equal(axes[1].images[0].get_array(), images[1])


def test_save_figure_writes_a_readable_png(tmp_path):
    path = plot.save_figure(plot.show_grid(np.zeros((3, 28, 28)), ["a", "b", "c"]),
                            str(tmp_path / "grid.png"))
    assert imread(path).ndim == 3
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
