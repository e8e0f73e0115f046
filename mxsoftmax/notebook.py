"""What the notebooks share: their settings from the environment, data worded for Jupyter, a run
(with the learner's own functions if given), and a live curve of training.

``MXSOFTMAX_DATASET``, ``MXSOFTMAX_DATA_DIR`` and ``MXSOFTMAX_EPOCHS`` point a notebook at other
files or shorten its training (the tests do both); unset, it runs the tutorial.
"""
import collections
import functools
import io
import numbers
import os
import re
import sys
import threading
import traceback

import mxnet as mx
from mxnet import nd

from . import catalog, feedback, sources
from .batches import SplitArrays
from .errors import (CheckFailed, Diverged, InvalidInput, MxSoftmaxError, NoData, reason,
                     translated)
from .loop import Training, compiled, fit, train_step
from .loss import cross_entropy as tutorial_cross_entropy
from .model import init_params, params_on, softmax as tutorial_softmax
from .optim import sgd_update
from .settings import DEFAULTS, NUM_OUTPUTS
from .validation import CONSTRAINTS as C, Interval, validate_params

NOTEBOOK_EPOCHS = Interval(numbers.Integral, 1, 1000)
Trained = collections.namedtuple("Trained", "params init history")


def settings_from_env(environ=None):
    """``{'dataset', 'data_dir', 'epochs'}`` from the environment, else the tutorial's defaults.

    ``dataset`` None means: recognised from the files in ``data_dir``, else MNIST.
    """
    environ = os.environ if environ is None else environ
    dataset = environ.get("MXSOFTMAX_DATASET") or None
    if dataset is not None:
        C["dataset"].check("MXSOFTMAX_DATASET", dataset)
    epochs = environ.get("MXSOFTMAX_EPOCHS") or str(DEFAULTS.epochs)
    epochs = NOTEBOOK_EPOCHS.parse(epochs, "MXSOFTMAX_EPOCHS")
    return dict(dataset=dataset, data_dir=environ.get("MXSOFTMAX_DATA_DIR") or None,
                epochs=epochs)


def load_data(settings):
    """The data that ``settings`` name; without any, the message says what to set for Jupyter."""
    try:
        return sources.load_splits(settings["dataset"], settings["data_dir"])
    except sources.NoData as err:
        ways = ("connect to the internet and run the cell again, or set MXSOFTMAX_DATA_DIR to a "
                "folder with the four MNIST-format idx files")
        if err.dataset != "fashion-mnist":
            ways += ", or set MXSOFTMAX_DATASET=fashion-mnist" + (
                "" if sources.debian_ready("fashion-mnist") else " after 'apt-get install %s'"
                % catalog.DATASETS["fashion-mnist"]["package"])
        raise NoData(err.dataset, err.folder, err.bases, ways + ", before starting Jupyter") \
            from None


def fashion_mnist(settings, splits, run, ctx):
    """Fashion-MNIST and a run on it, for a notebook's last section: ``(splits, run)``.

    When the notebook already runs on Fashion-MNIST, its own ``splits`` and ``run`` come back, so
    nothing is loaded or trained twice (and the tests' small subset stays the data); otherwise the
    full Fashion-MNIST is loaded and trained for the notebook's epochs.
    """
    if splits.dataset == "fashion-mnist":
        return splits, run
    fashion = load_data(dict(settings, dataset="fashion-mnist", data_dir=None))
    return fashion, train(fashion, ctx, settings["epochs"])


@validate_params({"splits": C["splits"], "ctx": C["ctx"], "epochs": C["epochs"], "seed": C["seed"],
                  "softmax": C["softmax"], "net": C["net"], "cross_entropy": C["cross_entropy"],
                  "SGD": C["SGD"], "callback": C["callback"], "every": C["every"]})
def train(splits, ctx, epochs, seed=DEFAULTS.seed, softmax=None, net=None, cross_entropy=None,
          SGD=None, callback=None, every=0, check=True):
    """Train the tutorial's model with its defaults, printing each epoch's line.

    With none of ``softmax``, ``net``, ``cross_entropy`` and ``SGD`` it trains on
    :func:`loop.compiled`. With any of them, your functions, written as the tutorial writes them
    (``nd``, ``-``, ``/``, ``*``), train imperatively (:func:`learner`); the tutorial's own fill
    in the others. They are called as ``softmax(y_linear)``, ``net(X, params)`` (``W, b =
    params``: the parameters this run trains, not the notebook's globals), ``cross_entropy(yhat,
    y)`` and ``SGD(params, lr)``. Each one given is checked first (:mod:`mxsoftmax.feedback`)
    and the verdict printed; a failed check stops before training unless ``check=False``. Given
    the tutorial's own functions, the lines are the compiled path's, bit for bit. A loss that
    becomes inf or NaN is :class:`Diverged`, its ``finding`` what your function returned there;
    an error your function raises mid-training is :class:`InvalidInput` naming it (``param``).

    ``mx.random`` is seeded with ``seed`` before ``W`` and ``b`` are drawn. ``callback`` (such as
    a :class:`LiveCurve`) and ``every`` go to :func:`loop.fit`. Returns a :data:`Trained`.
    """
    mine = dict(softmax=softmax, net=net, cross_entropy=cross_entropy, SGD=SGD)
    learning = any(fn is not None for fn in mine.values())
    if learning:
        _check_learners(mine, check)
    math = LearnerMath(softmax, net, cross_entropy) if learning else None
    training = (learner(splits, ctx, math, SGD or sgd_update) if learning
                else compiled(splits, ctx, DEFAULTS.batch_size, seed))
    mx.random.seed(seed)
    params = init_params(ctx)
    init = [param.copy() for param in params]
    start, history = [init], []

    def keep(row):  # the parameters at the start of the next epoch, to replay a divergence
        if "batch" not in row:
            start[0] = [param.copy() for param in params]
        if callback is not None:
            callback(row)
    with translated(Exception, functools.partial(_blamed, mine) if learning else lambda err: None):
        try:
            for row in fit(params, training, epochs, DEFAULTS.learning_rate, callback=keep,
                           every=every):
                print(row.pop("line"))
                history.append(row)
        except Diverged as err:
            if not learning or err.batch is None:
                raise
            raise _replay(training, math, start[0], err) from None
    return Trained(params, init, history)


def _blamed(functions, err):
    """:class:`InvalidInput` naming the learner's function that raised ``err`` mid-training (the
    innermost in its traceback, else for an MXNetError those given) and the first sentence of what
    it raised; None for our own errors and those of nobody's function (a callback's)."""
    given = [name for name, fn in functions.items() if fn is not None]
    codes = {getattr(functions[name], "__code__", None): name for name in given}
    names = [codes[frame.f_code] for frame, _ in traceback.walk_tb(err.__traceback__)
             if frame.f_code in codes][-1:] or (given if isinstance(err, mx.MXNetError) else [])
    if isinstance(err, MxSoftmaxError) or not names:
        return None
    who = " or ".join(names)
    said = re.split(r"(?<=\.)\s", reason(err).removeprefix(type(err).__name__ + ": "))[0]
    return InvalidInput("training with your %s stopped on %s (%s): run %s on it and fix what it "
                        "says." % (who, type(err).__name__, said.rstrip("."), " and ".join(
                            "feedback.check_" + name for name in names)), param=who)


CHECKS = dict(softmax=feedback.check_softmax, net=feedback.check_net,
              cross_entropy=feedback.check_cross_entropy, SGD=feedback.check_SGD)


def _check_learners(functions, stop_on_failure):
    """Print the verdict on each of the learner's functions; raise :class:`CheckFailed` on the
    first that fails when ``stop_on_failure``."""
    for name, check in CHECKS.items():
        if functions[name] is not None:
            verdict = check(functions[name], name)
            print(repr(verdict))
            if stop_on_failure and not verdict.ok:
                raise CheckFailed(verdict)


class LearnerMath:
    """The learner's functions as a :data:`loop.Math`, on ``nd`` only: ``net(X, params)`` is
    the learner's, or the tutorial's ``softmax(nd.dot(X, W) + b)`` with the learner's (or the
    tutorial's) ``softmax``."""

    def __init__(self, softmax=None, net=None, cross_entropy=None):
        self.softmax = softmax or tutorial_softmax
        self.own_net = net
        self.cross_entropy = cross_entropy or tutorial_cross_entropy
        self.source = "net" if net else "softmax"  # whose output becomes the probabilities

    def logits(self, X, params):
        """The tutorial's ``nd.dot(X, W) + b``."""
        W, b = params
        return nd.dot(X, W) + b

    def net(self, X, params, F=nd):
        """Class probabilities of each row of ``X``."""
        if self.own_net is not None:
            return self.own_net(X, params)
        return self.softmax(self.logits(X, params))


def learner(splits, ctx, math, SGD):
    """A :data:`loop.Training` of the learner's ``math`` and ``SGD``, imperatively on the
    compiled path's batches (the same order). Accuracy counts the argmax of the learner's
    ``net`` on slices of 10,000 rows: wherever the probabilities are finite their argmax is the
    logits', so the lines are the compiled path's."""
    data = SplitArrays(splits, ctx, DEFAULTS.batch_size, DEFAULTS.seed)
    return Training(data, data.train, functools.partial(train_step, math=math, SGD=SGD), math.net)


def _replay(training, math, start, err):
    """:class:`Diverged` with a ``finding`` for ``err``'s batch, trained to again from the epoch's ``start``."""
    params = params_on(start, start[0].context)
    for i, batch in enumerate(training.batches(err.epoch)):
        if i == err.batch:
            break
        training.update(params, batch, DEFAULTS.learning_rate)
    data, label = batch
    y = nd.one_hot(label, NUM_OUTPUTS)
    yhat = math.net(data, params)
    return Diverged(err.epoch, err.batch, err.value, feedback.explain_not_finite(
        yhat, y, math.cross_entropy(yhat, y), math.logits(data, params), math.source))


def _in_kernel():
    """Whether this runs in a Jupyter kernel (JupyterLab, Notebook, VS Code), without importing
    IPython where nobody did."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


class LiveCurve:
    """The moving loss and train/test accuracy, redrawn in place as epochs complete.

    Pass it as ``callback`` to :func:`train` or :func:`loop.fit`, or call it with each epoch's
    row (``{epoch, loss, train_acc, test_acc}``) from a loop of your own. In a Jupyter kernel it
    shows one figure (``display(..., display_id=True)``) and replaces it after every row
    (``handle.update``) with a PNG drawn by Agg, which JupyterLab, classic Notebook and VS Code all
    render; rows from ``fit(..., every=N)`` add that batch's loss as a light line. Outside a
    kernel it draws and prints nothing. ``rows`` are epochs already done (continuing a run).
    """

    def __init__(self, rows=()):
        self.rows = [dict(row) for row in rows]
        self.batches = []  # (epoch + fraction, loss) from every=N rows
        self.handle = None
        if _in_kernel():
            from IPython.display import display
            self.handle = display(self._image(), display_id=True)

    def __call__(self, row):
        """Add one row (an epoch's, or a batch's from ``every``) and redraw."""
        if "batch" in row:
            if row.get("loss") is not None:
                self.batches.append((row["epoch"] - 1 + (row["batch"] + 1) / row["batches"],
                                     row["loss"]))
        else:
            self.rows.append(dict(row))
        if self.handle is not None:
            self.handle.update(self._image())

    def figure(self):
        """The figure as it stands: ``pictures.plot_history`` of the rows, and the batch losses."""
        from . import pictures
        fig = pictures.plot_history(self.rows)
        if self.batches:
            fig.axes[0].plot(*zip(*self.batches), color="gray", alpha=.5, linewidth=1,
                             label="batch loss")
            fig.axes[0].legend()
        if not self.rows:
            fig.suptitle("waiting for the first epoch")
        return fig

    def _image(self):
        from IPython.display import Image
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        png = io.BytesIO()
        FigureCanvasAgg(self.figure()).print_png(png)
        return Image(data=png.getvalue(), format="png")


@validate_params({"port": C["port"]})
def draw_page(params, class_names, dataset, ctx, port=0):
    """Serve the draw page for a model trained in the notebook, in a background thread.

    Returns ``(url, server)``: show the URL in an ``IFrame`` next to the notebook, and call
    ``server.shutdown()`` when done. It listens on 127.0.0.1 only, like ``python -m mxsoftmax.draw``.
    """
    from .runs import Run
    from .server import DrawServer
    server = DrawServer(("127.0.0.1", port), Run(params, list(class_names), dataset, "this notebook"),
                        ctx)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d/" % server.server_address[1], server
