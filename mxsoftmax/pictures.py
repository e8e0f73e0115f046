"""Pictures a learner wants: an image, a grid, learning curves, weights, confusion, mistakes, why.

Every function returns a matplotlib Figure and draws nothing on screen by itself, so notebooks
show them inline and the CLI saves them with :func:`save_figure` (Agg backend, no display);
:func:`draw_pictures` writes a run's pictures for ``train`` and ``plot``. Class names are data
(a run's ``state.json`` may hold any printable text): every text is drawn literally, never as
mathtext or TeX.
"""
import functools
import os
import warnings

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter
from mxnet import nd

from .errors import InvalidInput
from .files import atomic_write
from .metrics import confusion_matrix
from .classify import predict_proba
from .settings import IMAGE_SHAPE
from .runs import PICTURES

DIVERGING = "RdBu_r"  # red positive, white 0, blue negative: the colours of signed pictures
LITERAL_TEXT = {"text.usetex": False, "text.parse_math": False}  # "$\\foo$" is a name, not math


def literal_text(draw):
    """``draw`` with every text it creates taken literally (see :data:`LITERAL_TEXT`): a name
    such as ``$\\foo$`` or ``a_b^c`` is shown as written instead of crashing mathtext or TeX."""
    @functools.wraps(draw)
    def literal(*args, **kwargs):
        with matplotlib.rc_context(LITERAL_TEXT):
            return draw(*args, **kwargs)
    return literal


MAX_NAME = 40  # characters of a class name shown; a run's state allows no more


def shown_names(class_names):
    """The class names as pictures show them: text, cut to :data:`MAX_NAME` characters with an
    ellipsis, so that one long name cannot squeeze a picture's panels to nothing."""
    names = [str(name) for name in class_names]
    return [n if len(n) <= MAX_NAME else n[:MAX_NAME - 1] + "\u2026" for n in names]


def _to_numpy(x):
    return x.asnumpy() if isinstance(x, nd.NDArray) else np.asarray(x)


@literal_text
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


@literal_text
def show_grid(images, titles=None, ncols=8, suptitle=None):
    """Images (N, 28, 28[, 1]) in a grid of ``ncols`` columns, each with an optional title.

    A column is as wide as its longest title line at font size 8, and each row leaves room for
    the title's lines (up to a width that a class name of :data:`MAX_NAME` characters needs:
    longer titles overflow rather than make the picture huge); the layout is computed here, since
    ``tight_layout`` would take longer than the drawing itself.
    """
    images = _to_numpy(images).reshape(-1, 28, 28)
    nrows = max(1, -(-len(images) // ncols))
    lines = [str(title).split("\n") for title in titles] if titles is not None else [[]]
    longest = max((len(line) for title in lines for line in title), default=0)
    width = max(1.6, .068 * min(longest, MAX_NAME + 20))
    title_height = .15 * max(len(title) for title in lines) + .08  # inches
    top = (.4 if suptitle else .05) + title_height
    wspace, side = .08, .005
    side_inches = width * ncols * (1 - 2 * side) / (ncols + (ncols - 1) * wspace)  # of a square
    height = top + nrows * side_inches + (nrows - 1) * title_height + .05
    fig = Figure(figsize=(width * ncols, height))
    fig.subplots_adjust(left=side, right=1 - side, bottom=.05 / height, top=1 - top / height,
                        wspace=wspace, hspace=title_height / side_inches)
    for i, image in enumerate(images):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(image, cmap="gray")
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, y=1 - .08 / height, va="top")
    return fig


@literal_text
def plot_history(metrics):
    """Moving loss (left) and train/test accuracy (right) per epoch from ``metrics`` rows."""
    epochs = [m["epoch"] for m in metrics]
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [m["loss"] for m in metrics], marker="o", label="moving loss")
    loss_ax.set(title="Loss", xlabel="epoch", ylabel="cross-entropy (moving average)")
    acc_ax.plot(epochs, [m["train_acc"] for m in metrics], marker="o", label="train")
    acc_ax.plot(epochs, [m["test_acc"] for m in metrics], marker="o", label="test")
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    acc_ax.legend()
    for ax in (loss_ax, acc_ax):
        if epochs:  # a run whose metrics.jsonl was lost still gets its (empty) axes
            _epoch_ticks(ax, epochs)
            for line in ax.lines:
                _label_last(ax, line)
    return fig


def _label_last(ax, line):
    """Write the last value of ``line`` beside its point, so the final numbers read exactly."""
    x, y = line.get_xdata()[-1], line.get_ydata()[-1]
    ax.annotate("%.4f" % y, (x, y), xytext=(6, 0), textcoords="offset points", va="center",
                fontsize=8, color=line.get_color())


def _epoch_ticks(ax, epochs, most=12):
    """Whole-number epoch ticks (each epoch when there are few, else MaxNLocator's integers).

    MaxNLocator(integer=True) alone falls back to fractional ticks when the axis spans less than
    two integers, as it does for a single epoch, so few epochs get their ticks set explicitly.
    """
    if len(epochs) <= most:
        ax.set_xticks(epochs)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    span = max(epochs) - min(epochs) + 1
    ax.set_xlim(min(epochs) - .5, max(epochs) + .5 + .12 * span)  # room for the last values


def _symmetric_limit(arrays, percentile=100):
    """A magnitude for colour limits -limit..limit, which centre a diverging map at 0.

    ``percentile`` below 100 ignores the few largest magnitudes, so that a handful of extreme
    pixels do not wash out all the others (the colour bar then shows arrows for the clipped ends).
    """
    limit = float(np.percentile(np.abs(arrays), percentile)) if np.size(arrays) else 0.
    return limit if limit > 0 else 1.


def _extend(values, limit):
    """The colour bar's ``extend``: 'both' when some values lie beyond -limit..limit."""
    return "both" if np.size(values) and np.abs(values).max() > limit else "neither"


WEIGHTS_PERCENTILE = 99.5  # the top 0.5% of magnitudes (about 40 of 7,840) saturate
WEIGHTS_CAPTION = ("Each panel is one column of W as 28x28 pixels. Red: a bright pixel there "
                   "raises the class's score; blue: it lowers it.")
CHANGE_CAPTION = ("Each panel is one column of W - W_init, the change from the N(0, 1) start. Red: "
                  "training raised the pixel's weight for the class; blue: lowered it.")


@literal_text
def plot_weights(W, class_names, W_init=None):
    """The ten columns of ``W`` (784 x 10) as 28x28 maps on one diverging scale centred at 0.

    With ``W_init`` (the parameters as drawn) the maps show ``W - W_init``, what training changed:
    the N(0, 1) start is noise that a learning rate of 0.001 barely moves, and it hides the
    templates in ``W`` itself. Red is positive, blue negative, white zero; one colour bar.
    """
    W = _to_numpy(W).astype(np.float64)
    changed = W_init is not None
    shown = W - _to_numpy(W_init) if changed else W
    limit = _symmetric_limit(shown, WEIGHTS_PERCENTILE)
    fig = Figure(figsize=(12, 5.6))  # laid out by hand: constrained layout triples drawing time
    axes = fig.subplots(2, 5, gridspec_kw=dict(left=.01, right=.88, bottom=.08, top=.88,
                                               wspace=.06, hspace=.16))
    names = shown_names(class_names)
    for k, ax in enumerate(axes.flat):
        image = ax.imshow(shown[:, k].reshape(IMAGE_SHAPE), cmap=DIVERGING, vmin=-limit, vmax=limit)
        ax.set_title(names[k])
        ax.set_axis_off()
    fig.colorbar(image, cax=fig.add_axes([.9, .12, .015, .72]), extend=_extend(shown, limit),
                 label="weight change" if changed else "weight")
    fig.suptitle("What training changed in W" if changed else "Learned weights W per class")
    fig.supxlabel(CHANGE_CAPTION if changed else WEIGHTS_CAPTION, fontsize=10)
    return fig


def row_rates(counts):
    """Each row of a confusion matrix divided by its sum (the share of that true class); 0 if empty."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


@literal_text
def plot_confusion(counts, class_names):
    """A confusion matrix coloured by row-normalised rates, with the count in each cell.

    Rows are true classes, columns predicted ones; a cell's colour is the share of its true class
    that went to that column, so rows of different sizes compare. Right answers (the diagonal,
    green, 0-100%) and confusions (red) have a colour scale each: the confusions' scale ends at
    the largest confusion, so a 4% confusion is strong red instead of a shade lost beside a
    diagonal near 90%.
    """
    counts = np.asarray(counts)
    class_names = shown_names(class_names)
    rates = row_rates(counts)
    right = np.eye(len(rates), dtype=bool)
    wrong_limit = max(rates[~right].max(initial=0), .01)
    fig = Figure(figsize=(9, 6.5))  # laid out by hand, as plot_weights
    ax = fig.add_axes([.12, .16, .6, .76])
    diagonal = ax.imshow(np.ma.masked_where(~right, rates), cmap="Greens", vmin=0, vmax=1)
    confusions = ax.imshow(np.ma.masked_where(right, rates), cmap="Reds", vmin=0, vmax=wrong_limit)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks)
    ax.set_xticklabels(class_names, rotation=45, ha="right")
    ax.set_yticks(ticks)
    ax.set_yticklabels(class_names)
    ax.set(xlabel="predicted", ylabel="true",
           title="Confusion matrix (test set)\ncounts, coloured by their share of the true class")
    for (i, j), n in np.ndenumerate(counts):
        dark = rates[i, j] > (.6 if i == j else .6 * wrong_limit)
        ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                color="white" if dark else "black")
    fig.colorbar(diagonal, cax=fig.add_axes([.75, .16, .02, .76]),
                 format=PercentFormatter(1, decimals=0),
                 label="right: share of the true class predicted correctly")
    fig.colorbar(confusions, cax=fig.add_axes([.88, .16, .02, .76]),
                 format=PercentFormatter(1, decimals=0),
                 label="confused: share of the true class predicted as this column")
    return fig


def format_probability(p):
    """A probability as a percentage with the digits that tell it apart from 0% and 100%.

    Softmax regression is very sure of itself: its wrong answers often have 99.998% and the true
    class 0.0001%, which two decimals would print as 1.00 and 0.00 for every image. Exactly 0 and
    1 are printed as approximately 0% and 100%: they are float32 rounding, not certainty.
    """
    percent = 100. * float(p)
    if percent in (0., 100.):  # float32 rounds anything within about 6e-8 of them to them
        return "\u2248%g%%" % percent
    if percent >= 99.95:
        decimals = int(np.ceil(-np.log10(100. - percent))) + 1  # two digits of the gap
        return "%.*f%%" % (decimals, percent)
    if percent < .05:
        return "%.2g%%" % percent
    return "%.1f%%" % percent


def most_confident_mistakes(labels, probs, n=16):
    """Indices of wrong predictions, the most confident first (at most ``n``)."""
    predictions = probs.argmax(axis=1)
    wrong = np.flatnonzero(predictions != np.asarray(labels))
    return wrong[np.argsort(-probs[wrong, predictions[wrong]], kind="stable")][:n]


def mistake_title(probs, label, class_names):
    """'pred <class> <probability>' over 'true <class> <probability>' for one image."""
    pred, label = int(np.argmax(probs)), int(label)
    class_names = shown_names(class_names)
    return "pred %s %s\ntrue %s %s" % (class_names[pred], format_probability(probs[pred]),
                                       class_names[label], format_probability(probs[label]))


@literal_text
def show_mistakes(images, labels, probs, class_names, n=16):
    """A grid of the test images the model got wrong with the most confidence."""
    index = most_confident_mistakes(labels, probs, n)
    titles = [mistake_title(probs[i], labels[i], class_names) for i in index]
    return show_grid(_to_numpy(images)[index], titles,
                     suptitle="Most confidently wrong: the predicted class and the true class, "
                              "with the probability the model gave each")


def top_classes(probabilities, k=3):
    """The ``k`` most probable classes, most probable first (ties: the lower index first)."""
    return np.argsort(-np.asarray(probabilities), kind="stable")[:k]


@literal_text
def plot_explanation(image28, probabilities, evidence, class_names, classes=None, bias=None):
    """One image explained: what the model saw, its top probabilities, and each pixel's vote.

    ``image28`` is the (28, 28) input as the model saw it; ``probabilities`` the ten class
    probabilities; ``evidence`` (k, 28, 28) the maps ``x * W[:, c]`` for ``classes`` (default:
    the k most probable, see :func:`top_classes`). A map sums to the class's score minus its bias,
    so red pixels pushed that class up and blue ones down; all maps share one scale centred at 0.
    With ``bias`` (the ten values of ``b``) each title adds it up: votes + b = score.
    """
    image28 = _to_numpy(image28).reshape(IMAGE_SHAPE)
    probabilities = _to_numpy(probabilities).ravel()
    evidence = _to_numpy(evidence).reshape(-1, *IMAGE_SHAPE)
    classes = top_classes(probabilities, len(evidence)) if classes is None else np.asarray(classes)
    if len(classes) != len(evidence):
        raise InvalidInput("plot_explanation takes one evidence map per class shown: %d maps for "
                           "%d classes." % (len(evidence), len(classes)))
    k = len(classes)
    fig = Figure(figsize=(3.2 * (k + 2), 3.6), layout="constrained")
    axes = fig.subplots(1, k + 2, width_ratios=[1, 1.2] + [1] * k)
    seen, bars = axes[:2]
    seen.imshow(image28, cmap="gray", vmin=0, vmax=255 if image28.max() > 1 else 1)
    seen.set_title("what the model saw")
    seen.set_axis_off()
    names = [shown_names(class_names)[c] for c in classes]
    shown = probabilities[classes]
    bars.barh(np.arange(k), shown, color="tab:blue")
    bars.set_yticks(np.arange(k))
    bars.set_yticklabels(names)
    bars.invert_yaxis()
    bars.set(xlim=(0, 1), title="top %d probabilities" % k, xlabel="probability")
    for row, p in enumerate(shown):  # the value inside a long bar, after a short one
        inside = p > .5
        bars.text(p - .02 if inside else p + .02, row, format_probability(p), va="center",
                  ha="right" if inside else "left", color="white" if inside else "black")
    limit = _symmetric_limit(evidence)
    bias = None if bias is None else _to_numpy(bias).ravel()[classes]
    for i, (ax, name, votes) in enumerate(zip(axes[2:], names, evidence)):
        image = ax.imshow(votes, cmap=DIVERGING, vmin=-limit, vmax=limit)
        total = ("(sum %+.2f)" % votes.sum() if bias is None else "votes %+.2f + b %+.2f\n= score "
                 "%+.2f" % (votes.sum(), bias[i], votes.sum() + bias[i]))
        ax.set_title("evidence for %s\n%s" % (name, total), fontsize=11)
        ax.set_axis_off()
    fig.colorbar(image, ax=axes[2:], shrink=.85, label="pixel value \u00d7 weight W[pixel, class]")
    fig.supxlabel("Red pixels raised the class's score, blue ones lowered it; the votes plus the "
                  "bias b make the score that softmax turns into the probability.", fontsize=10)
    return fig


def save_figure(fig, path):
    """Write ``fig`` as a PNG at ``path`` atomically.

    Characters the font lacks (an emoji in a class name) are drawn as boxes without a warning.
    """
    def write(tmp):
        with matplotlib.rc_context(LITERAL_TEXT), warnings.catch_warnings():
            warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from font")
            fig.savefig(tmp, format="png", dpi=100)
    atomic_write(path, write)
    return path


def draw_pictures(folder, params, init, metrics, test_split, class_names, ctx, between=None):
    """Write a run's pictures into the run folder ``folder`` (its path), each atomically; returns
    their names, in the order drawn. Shared by ``train`` and ``plot``.

    See :class:`RunPictures` for what is drawn. ``between`` (if given) is called after each
    picture: the command lines check for a signal there, so Ctrl-C stops between two pictures
    and never leaves half of one.
    """
    drawn = []
    for name, draw in RunPictures(params, init, metrics, test_split, class_names,
                                  ctx).drawings().items():
        save_figure(draw(), os.path.join(folder, name))
        drawn.append(name)
        if between is not None:
            between()
    return drawn


class RunPictures:
    """The pictures of a run, drawn from its parameters, metrics and test split.

    ``init`` (the parameters as drawn, or None) lets ``weights.png`` show what training changed;
    without a test split (None) only the learning curves and the weights are drawn.
    """

    def __init__(self, params, init, metrics, test_split, class_names, ctx):
        self.params, self.init, self.metrics = params, init, metrics
        self.images, self.labels = test_split if test_split is not None else (None, None)
        self.class_names, self.ctx = class_names, ctx
        self._probs = None

    def drawings(self):
        """``{file name: function that draws its figure}``, in the order of :data:`runs.PICTURES`."""
        draws = (self.history, self.weights)
        if self.images is not None:
            draws += (self.confusion, self.mistakes)
        return dict(zip(PICTURES, draws))

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
        return plot_weights(self.params[0], self.class_names,
                            self.init[0] if self.init else None)

    def confusion(self):
        """The test set's confusion matrix."""
        return plot_confusion(confusion_matrix(self.labels, self.probs().argmax(axis=1)),
                              self.class_names)

    def mistakes(self):
        """The most confidently wrong test images."""
        return show_mistakes(self.images, self.labels, self.probs(), self.class_names)
