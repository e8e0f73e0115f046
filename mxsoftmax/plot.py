"""Pictures a learner wants: an image, a grid, learning curves, weights, confusion, mistakes.

Every function returns a matplotlib Figure and draws nothing on screen by itself, so notebooks
show them inline and the CLI saves them with :func:`save_figure` (Agg backend, no display).
"""
import os

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mxnet import nd

from .files import atomic_write
from .metrics import confusion_matrix
from .classify import predict_proba


def _to_numpy(x):
    return x.asnumpy() if isinstance(x, nd.NDArray) else np.asarray(x)


def show_image(image, title=None):
    """The tutorial's view of one (28, 28, 1) image: tiled to 3 channels, then ``imshow``."""
    im = nd.tile(nd.array(_to_numpy(image), dtype=np.float32), (1, 1, 3))
    im = im.asnumpy()
    fig = Figure(figsize=(3, 3))
    ax = fig.add_subplot()
    ax.imshow(im / 255. if im.max() > 1 else im)
    ax.set_axis_off()
    if title is not None:
        ax.set_title(str(title))
    return fig


def show_grid(images, titles=None, ncols=8, suptitle=None):
    """Images (N, 28, 28[, 1]) in a grid of ``ncols`` columns, each with an optional title."""
    images = _to_numpy(images).reshape(-1, 28, 28)
    nrows = max(1, -(-len(images) // ncols))
    fig = Figure(figsize=(1.6 * ncols, 2.2 * nrows + (0.4 if suptitle else 0)))
    for i, image in enumerate(images):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(image, cmap="gray")
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(metrics):
    """Moving loss (left) and train/test accuracy (right) per epoch from ``metrics`` rows."""
    epochs = [m["epoch"] for m in metrics]
    fig = Figure(figsize=(10, 4))
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [m["loss"] for m in metrics], marker="o", label="moving loss")
    loss_ax.set(title="Loss", xlabel="epoch", ylabel="cross-entropy (moving average)")
    acc_ax.plot(epochs, [m["train_acc"] for m in metrics], marker="o", label="train")
    acc_ax.plot(epochs, [m["test_acc"] for m in metrics], marker="o", label="test")
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    acc_ax.legend()
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def plot_weights(W, class_names):
    """The ten columns of ``W`` (784 x 10) drawn as 28x28 templates, red positive, blue negative."""
    W = _to_numpy(W)
    limit = np.abs(W).max()
    fig = Figure(figsize=(12, 5))
    for k in range(W.shape[1]):
        ax = fig.add_subplot(2, 5, k + 1)
        ax.imshow(W[:, k].reshape(28, 28), cmap="bwr", vmin=-limit, vmax=limit)
        ax.set_title(class_names[k])
        ax.set_axis_off()
    fig.suptitle("Learned weights per class")
    fig.tight_layout()
    return fig


def plot_confusion(counts, class_names):
    """A confusion matrix (rows true class, columns predicted) with the count in each cell."""
    counts = np.asarray(counts)
    fig = Figure(figsize=(7, 6))
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks)
    ax.set_xticklabels(class_names, rotation=45, ha="right")
    ax.set_yticks(ticks)
    ax.set_yticklabels(class_names)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (test set)")
    threshold = counts.max() / 2
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                color="white" if n > threshold else "black")
    fig.tight_layout()
    return fig


def most_confident_mistakes(labels, probs, n=16):
    """Indices of wrong predictions, the most confident first (at most ``n``)."""
    predictions = probs.argmax(axis=1)
    wrong = np.flatnonzero(predictions != np.asarray(labels))
    return wrong[np.argsort(-probs[wrong, predictions[wrong]], kind="stable")][:n]


def show_mistakes(images, labels, probs, class_names, n=16):
    """A grid of the test images the model got wrong with the most confidence."""
    index = most_confident_mistakes(labels, probs, n)
    titles = ["true %s\npred %s (%.2f)" % (class_names[int(labels[i])],
                                           class_names[int(probs[i].argmax())], probs[i].max())
              for i in index]
    return show_grid(_to_numpy(images)[index], titles, suptitle="Most confidently wrong")


def save_figure(fig, path):
    """Write ``fig`` as a PNG at ``path`` atomically."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return path


class RunPictures:
    """The pictures of a run, drawn from its parameters, metrics and test split.

    ``init`` (the parameters as drawn, or None) lets ``weights.png`` show what training changed;
    without a test split (None) only the learning curves and the weights are drawn.
    """
    NAMES = ("history.png", "weights.png", "confusion.png", "mistakes.png")

    def __init__(self, params, init, metrics, test_split, class_names, ctx):
        self.params, self.init, self.metrics = params, init, metrics
        self.images, self.labels = test_split if test_split is not None else (None, None)
        self.class_names, self.ctx = class_names, ctx
        self._probs = None

    def drawings(self):
        """``{file name: function that draws its figure}``, in drawing order."""
        drawings = {"history.png": self.history, "weights.png": self.weights}
        if self.images is not None:
            drawings.update({"confusion.png": self.confusion, "mistakes.png": self.mistakes})
        return drawings

    def probs(self):
        """Test-set probabilities, computed once."""
        if self._probs is None:
            self._probs = predict_proba(self.images, self.params, self.ctx)
        return self._probs

    def history(self):
        """Learning curves."""
        return plot_history(self.metrics)

    def weights(self):
        """What training changed in ``W`` (all of ``W`` when the start is unknown)."""
        W = self.params[0].asnumpy()
        return plot_weights(W - self.init[0].asnumpy() if self.init else W, self.class_names)

    def confusion(self):
        """The test set's confusion matrix."""
        return plot_confusion(confusion_matrix(self.labels, self.probs().argmax(axis=1)),
                              self.class_names)

    def mistakes(self):
        """The most confidently wrong test images."""
        return show_mistakes(self.images, self.labels, self.probs(), self.class_names)


if __name__ == "__main__":  # python -m mxsoftmax.plot: the command line is in cli/plot.py
    import runpy
    runpy.run_module("mxsoftmax.cli.plot", run_name="__main__")
