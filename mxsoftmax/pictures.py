"""Pictures that explain (the tutorial's image, a grid, a run's four pictures, predict's why), each a
matplotlib ``Figure`` that :func:`save_figure` writes with Agg; every text drawn as written, no mathtext."""
import atexit
import contextlib
import functools
import logging
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
from mxnet import nd

from .classify import predict_proba
from .errors import InvalidInput
from .files import atomic_write
from .metrics import confusion_matrix
from .runs import PICTURES
from .validation import CONSTRAINTS, validate_params


def _import_matplotlib(environ=os.environ):
    """matplotlib, quiet under a HOME it cannot use (a temporary MPLCONFIGDIR, removed at exit), a
    MPLBACKEND it refuses (set aside while it loads, then given to it if valid, for pyplot) and a
    matplotlibrc's bad keys (the pictures use none of its settings: :data:`literal`)."""
    home = os.path.expanduser("~") if environ.get("HOME") != "" else ""
    bases = [environ.get(name) or home for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME")]
    if not environ.get("MPLCONFIGDIR") and not all(os.path.isdir(b) and os.access(b, os.W_OK) for b in bases):
        environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="mxsoftmax-matplotlib-")
        atexit.register(shutil.rmtree, environ["MPLCONFIGDIR"], True)
    backend = None if "matplotlib" in sys.modules else environ.pop("MPLBACKEND", None)
    log = logging.getLogger("matplotlib")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        import matplotlib.backends.backend_agg
        import matplotlib.figure
        import matplotlib.style
        import matplotlib.ticker
    finally:
        log.setLevel(level)
        if backend is not None:
            environ["MPLBACKEND"] = backend
    if backend:
        with contextlib.suppress(ValueError):
            matplotlib.rcParams["backend"] = backend
    return matplotlib


mpl = _import_matplotlib()
Figure = mpl.figure.Figure
# as a decorator: matplotlib's defaults, not a matplotlibrc's (figure.dpi: 1000 took 1.6 GB), no mathtext
literal = mpl.style.context(["default", {"text.usetex": False, "text.parse_math": False}])
NAMES = {"class_names": CONSTRAINTS["class_names"]}
MAX_NAME = 40  # characters of a class name shown; a run's state allows no more
CAPTIONS = ("Each panel is one column of W as 28x28 pixels. Red: a bright pixel there raises the "
            "class's score; blue: it lowers it.", "Each panel is one column of W - W_init, the "
            "change from the N(0, 1) start. Red: training raised the pixel's weight for the "
            "class; blue: lowered it.")


def shown_names(class_names):
    """The class names cut to :data:`MAX_NAME` characters: one cannot squeeze the panels."""
    return [n if len(n) <= MAX_NAME else n[:MAX_NAME - 1] + "\u2026" for n in map(str, class_names)]


def _numpy(x):
    return x.asnumpy() if isinstance(x, nd.NDArray) else np.asarray(x)


def _panel(ax, image, title=None, size=None, **style):
    """``image`` on ``ax`` without axes, under ``title``: the AxesImage."""
    ax.set_axis_off()
    ax.set_title("" if title is None else str(title), **({"fontsize": size} if size else {}))
    return ax.imshow(image, **style)


def _signed(values, percentile=100):
    """Colours centred at 0; a percentile below 100 saturates the largest few magnitudes."""
    limit = float(np.percentile(np.abs(values), percentile)) if np.size(values) else 0.
    return dict(cmap="RdBu_r", vmin=-(limit or 1.), vmax=limit or 1.)  # red +, white 0, blue -


@literal
def show_image(image, title=None):
    """The tutorial's view of one (28, 28, 1) image: tiled to 3 channels, then ``imshow``."""
    im = nd.tile(nd.array(_numpy(image), dtype=np.float32), (1, 1, 3)).asnumpy()
    fig = Figure(figsize=(3, 3))
    _panel(fig.add_subplot(), im / 255. if im.max() > 1 else im, title)
    return fig


@literal
def show_grid(images, titles=None, ncols=8, suptitle=None):
    """Images (N, 28, 28[, 1]) in ``ncols`` columns under their titles, laid out by hand (faster than
    tight_layout): columns as wide as the longest line (<= MAX_NAME + 20), rows its height."""
    images, lines = _numpy(images).reshape(-1, 28, 28), [str(t).split("\n") for t in titles or []]
    nrows = max(1, -(-len(images) // ncols))
    width = max(1.6, .068 * min(max((len(line) for t in lines for line in t), default=0), MAX_NAME + 20))
    head = .15 * max(map(len, lines), default=0) + .08  # inches of a title
    top, side = (.4 if suptitle else .05) + head, width * ncols * .99 / (ncols + (ncols - 1) * .08)
    height = top + nrows * side + (nrows - 1) * head + .05
    fig = Figure(figsize=(width * ncols, height))
    fig.subplots_adjust(.005, .05 / height, .995, 1 - top / height, .08, head / side)
    for i, image in enumerate(images):
        _panel(fig.add_subplot(nrows, ncols, i + 1), image, titles and titles[i], 8, cmap="gray")
    fig.suptitle(suptitle or "", y=1 - .08 / height, va="top")
    return fig


@literal
def plot_history(metrics):
    """Moving loss (left) and train/test accuracy (right) per epoch, each last value written."""
    epochs = [m["epoch"] for m in metrics]
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, lines, title, ylabel in (
            (axes[0], {"loss": "moving loss"}, "Loss", "cross-entropy (moving average)"),
            (axes[1], {"train_acc": "train", "test_acc": "test"}, "Accuracy", "accuracy")):
        ax.set(title=title, xlabel="epoch", ylabel=ylabel)
        for key, label in lines.items():
            (line,) = ax.plot(epochs, [m[key] for m in metrics], marker="o", label=label)
            for m in metrics[-1:]:
                ax.annotate("%.4f" % m[key], (m["epoch"], m[key]), xytext=(6, 0), fontsize=8,
                            textcoords="offset points", va="center", color=line.get_color())
        if epochs:  # each epoch ticked when few (MaxNLocator ticks fractions within two)
            ax.set_xlim(epochs[0] - .5, epochs[-1] + .5 + .12 * (epochs[-1] - epochs[0] + 1))
            ax.xaxis.set_major_locator(mpl.ticker.FixedLocator(epochs) if len(epochs) <= 12
                                       else mpl.ticker.MaxNLocator(integer=True))
    axes[1].legend()
    return fig


@literal
@validate_params(NAMES)
def plot_weights(W, class_names, W_init=None):
    """The ten columns of ``W`` (784 x 10) as 28x28 maps centred at 0, or of ``W - W_init``
    (what training changed) with the start: N(0, 1) noise that hides the templates in ``W``."""
    changed = W_init is not None
    shown = _numpy(W).astype(np.float64) - (_numpy(W_init) if changed else 0)
    fig = Figure(figsize=(12, 5.6))  # laid out by hand: constrained layout triples drawing time
    axes = fig.subplots(2, 5, gridspec_kw=dict(left=.01, right=.88, bottom=.08, top=.88,
                                               wspace=.06, hspace=.16))
    for k, (ax, name) in enumerate(zip(axes.flat, shown_names(class_names))):
        image = _panel(ax, shown[:, k].reshape(28, 28), name, **_signed(shown, 99.5))
    fig.colorbar(image, cax=fig.add_axes([.9, .12, .015, .72]), extend="both",
                 label="weight change" if changed else "weight")
    fig.suptitle("What training changed in W" if changed else "Learned weights W per class")
    fig.supxlabel(CAPTIONS[changed], fontsize=10)
    return fig


@literal
@validate_params(NAMES)
def plot_confusion(counts, class_names):
    """Counts by true row and predicted column, coloured by their share of the true class: right
    (green, 0-100%) and confused (red, up to the largest, so a 4% confusion stands out)."""
    counts = np.asarray(counts)
    totals, right = counts.sum(axis=1, keepdims=True), np.eye(len(counts), dtype=bool)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    wrong_limit = max(rates[~right].max(initial=0), .01)
    fig = Figure(figsize=(9, 6.5))  # laid out by hand, as plot_weights
    ax = fig.add_axes([.12, .16, .6, .76])
    names, ticks = shown_names(class_names), np.arange(len(rates))
    ax.set(xlabel="predicted", ylabel="true", xticks=ticks, yticks=ticks, yticklabels=names,
           title="Confusion matrix (test set)\ncounts, coloured by their share of the true class")
    ax.set_xticklabels(names, rotation=45, ha="right")
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                color="white" if rates[i, j] > .6 * (1 if i == j else wrong_limit) else "black")
    for x, hidden, cmap, top, label in ((.75, ~right, "Greens", 1, "right: %s correctly"),
                                        (.88, right, "Reds", wrong_limit, "confused: %s as this column")):
        fig.colorbar(ax.imshow(np.ma.masked_where(hidden, rates), cmap=cmap, vmin=0, vmax=top),
                     cax=fig.add_axes([x, .16, .02, .76]), label=label % "share of the true class "
                     "predicted", format=mpl.ticker.PercentFormatter(1, decimals=0))
    return fig


def format_probability(p):
    """A probability in percent with the digits that tell it from 0% and 100% (softmax is often
    99.998% sure when wrong); exactly 0 and 1 are float32 rounding, shown as approximately."""
    percent = 100. * float(p)
    if percent in (0., 100.):
        return "\u2248%g%%" % percent
    if percent >= 99.95:  # two digits of the gap to 100%
        return "%.*f%%" % (int(np.ceil(-np.log10(100. - percent))) + 1, percent)
    return "%.2g%%" % percent if percent < .05 else "%.1f%%" % percent


@literal
@validate_params(NAMES)
def show_mistakes(images, labels, probs, class_names, n=16):
    """The ``n`` images the model got wrong with the most confidence, most confident first."""
    labels, probs, names = np.asarray(labels), np.asarray(probs), shown_names(class_names)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:n]
    return show_grid(_numpy(images)[wrong], ["pred %s %s\ntrue %s %s" % (
        names[pred[i]], format_probability(probs[i, pred[i]]), names[labels[i]],
        format_probability(probs[i, labels[i]])) for i in wrong], suptitle="Most confidently "
        "wrong: the predicted class and the true class, with the probability the model gave each")


@literal
@validate_params({"image28": CONSTRAINTS["image28"], **NAMES})
def plot_explanation(image28, probabilities, evidence, class_names, classes=None, bias=None):
    """What the model saw, its top probabilities and each pixel's vote ``x * W[:, c]`` for the
    ``classes`` (default: the most probable) of the ``evidence`` maps; ``bias``: votes + b = score."""
    probabilities, evidence = _numpy(probabilities).ravel(), _numpy(evidence).reshape(-1, 28, 28)
    classes = np.argsort(-probabilities, kind="stable")[:len(evidence)] if classes is None \
        else np.asarray(classes)
    if len(classes) != len(evidence):
        raise InvalidInput("plot_explanation takes one evidence map per class shown: %d maps for "
                           "%d classes." % (len(evidence), len(classes)))
    k, names, shown = len(classes), [shown_names(class_names)[c] for c in classes], probabilities[classes]
    fig = Figure(figsize=(3.2 * (k + 2), 3.6), layout="constrained")
    axes = fig.subplots(1, k + 2, width_ratios=[1, 1.2] + [1] * k)
    _panel(axes[0], _numpy(image28).reshape(28, 28), "what the model saw", cmap="gray", vmin=0, vmax=255)
    axes[1].barh(np.arange(k), shown, color="tab:blue", tick_label=names)
    axes[1].set(xlim=(0, 1), ylim=(k - .5, -.5), title="top %d probabilities" % k, xlabel="probability")
    for row, p in enumerate(shown):  # the value inside a long bar, after a short one
        axes[1].text(p - .02 if p > .5 else p + .02, row, format_probability(p), va="center",
                     ha="right" if p > .5 else "left", color="white" if p > .5 else "black")
    b = None if bias is None else _numpy(bias).ravel()
    for ax, c, name, votes in zip(axes[2:], classes, names, evidence):
        total = ("(sum %+.2f)" % votes.sum() if b is None else "votes %+.2f + b %+.2f\n= score "
                 "%+.2f" % (votes.sum(), b[c], votes.sum() + b[c]))
        image = _panel(ax, votes, "evidence for %s\n%s" % (name, total), 11, **_signed(evidence))
    fig.colorbar(image, ax=axes[2:], shrink=.85, label="pixel value \u00d7 weight W[pixel, class]")
    fig.supxlabel("Red pixels raised the class's score, blue ones lowered it; the votes plus the "
                  "bias b make the score that softmax turns into the probability.", fontsize=10)
    return fig


@literal
def save_figure(fig, path):
    """Write ``fig`` as a PNG with Agg, atomically; a glyph the font lacks (an emoji) is a box, unwarned."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from font")
        atomic_write(path, mpl.backends.backend_agg.FigureCanvasAgg(fig).print_png)
    return path


def draw_pictures(folder, params, init, metrics, test_split, class_names, ctx, between=None):
    """Write a run's pictures into ``folder``; their names. ``between``, unless None, runs after each."""
    drawings = RunPictures(params, init, metrics, test_split, class_names, ctx).drawings()
    for name, draw in drawings.items():
        save_figure(draw(), os.path.join(folder, name))
        if between is not None:
            between()
    return list(drawings)


class RunPictures:
    """A run's pictures, one method each: ``history``, ``weights`` (W - ``init``, or W when init is
    None), ``confusion`` and ``mistakes`` of the test split."""

    @validate_params({"params": CONSTRAINTS["model"], "ctx": CONSTRAINTS["ctx"], **NAMES})
    def __init__(self, params, init, metrics, test_split, class_names, ctx):
        self.params, self.init, self.metrics, self.test = params, init, metrics, test_split
        self.class_names, self.ctx = class_names, ctx

    def drawings(self):
        """``{file name: its method}`` of the pictures the run has data for (no confusion or mistakes
        without a test split, no empty curves over good ones without epochs)."""
        tested = self.test is not None
        drawings = ((self.history, bool(self.metrics)), (self.weights, True),
                    (self.confusion, tested), (self.mistakes, tested))
        return {name: draw for name, (draw, wanted) in zip(PICTURES, drawings) if wanted}

    @functools.cached_property
    def probs(self):
        return predict_proba(self.test[0], self.params, self.ctx)

    def history(self):
        return plot_history(self.metrics)

    def weights(self):
        return plot_weights(self.params[0], self.class_names, self.init[0] if self.init else None)

    def confusion(self):
        return plot_confusion(confusion_matrix(self.test[1], self.probs.argmax(1)), self.class_names)

    def mistakes(self):
        return show_mistakes(self.test[0], self.test[1], self.probs, self.class_names)
