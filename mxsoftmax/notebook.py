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
import sys
import threading

import mxnet as mx
import numpy as np
from mxnet import nd

from . import catalog, feedback, sources
from .batches import SplitArrays
from .errors import CheckFailed, NoData
from .loop import CompiledPath, fit, train_step
from .loss import cross_entropy as tutorial_cross_entropy
from .metrics import evaluate_accuracy
from .model import init_params, softmax as tutorial_softmax
from .optim import sgd_update
from .settings import DEFAULTS
from .validation import Interval, constraint, validate

NOTEBOOK_EPOCHS = Interval(numbers.Integral, 1, 1000)
Trained = collections.namedtuple("Trained", "params init history")


def settings_from_env(environ=None):
    """``{'dataset', 'data_dir', 'epochs'}`` from the environment, else the tutorial's defaults.

    ``dataset`` None means: recognised from the files in ``data_dir``, else MNIST.
    """
    environ = os.environ if environ is None else environ
    dataset = environ.get("MXSOFTMAX_DATASET") or None
    if dataset is not None:
        constraint("dataset").check("MXSOFTMAX_DATASET", dataset)
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


def train(splits, ctx, epochs, seed=DEFAULTS.seed, softmax=None, net=None, cross_entropy=None,
          SGD=None, callback=None, every=0, check=True):
    """Train the tutorial's model with its defaults, printing each epoch's line.

    With none of ``softmax``, ``net``, ``cross_entropy`` and ``SGD`` it runs the compiled path.
    With any of them, your functions, written as the tutorial writes them (``nd``, ``-``, ``/``,
    ``*``), train imperatively on :class:`LearnerPath`; the tutorial's own functions fill in the
    others. They are called as ``softmax(y_linear)``, ``net(X, params)`` (``W, b = params``: the
    parameters this run trains, not the notebook's globals), ``cross_entropy(yhat, y)`` and
    ``SGD(params, lr)`` (without yours, the tutorial's update runs as ``optim.sgd_update``, the
    same bits with less Python). Each one given is checked first (:mod:`mxsoftmax.feedback`) and the
    verdict printed; a failed check stops before training unless ``check=False``. Given the
    tutorial's own functions, the lines are the compiled path's, bit for bit.

    ``mx.random`` is seeded with ``seed`` before ``W`` and ``b`` are drawn, as the command line
    does. ``callback`` (such as a :class:`LiveCurve`) and ``every`` go to :func:`loop.fit`.
    Returns a :data:`Trained`: the trained ``params``, a copy of them as drawn (``init``, for
    ``pictures.plot_weights``'s ``W_init``) and the epoch rows (``history``, for
    ``pictures.plot_history``).
    """
    mine = dict(softmax=softmax, net=net, cross_entropy=cross_entropy, SGD=SGD)
    validate(ctx=ctx, epochs=epochs, seed=seed, callback=callback, every=every, **mine)
    if any(fn is not None for fn in mine.values()):
        _check_learners(mine, check)
        path = LearnerPath(splits, ctx, DEFAULTS.batch_size, seed, **mine)
    else:
        path = CompiledPath(splits, ctx, DEFAULTS.batch_size, seed)
    mx.random.seed(seed)
    params = init_params(ctx)
    init = [param.copy() for param in params]
    history = []
    for row in fit(params, path, epochs, DEFAULTS.learning_rate, callback=callback, every=every):
        print(row.pop("line"))
        history.append(row)
    return Trained(params, init, history)


CHECKS = dict(softmax=feedback.check_softmax, net=feedback.check_net,
              cross_entropy=feedback.check_cross_entropy, SGD=feedback.check_SGD)


def _check_learners(functions, stop_on_failure):
    """Print the verdict on each of the learner's functions that has a check; raise
    :class:`feedback.CheckFailed` on the first that fails when ``stop_on_failure``."""
    for name, check in CHECKS.items():
        if functions[name] is not None:
            verdict = check(functions[name], name)
            print(repr(verdict))
            if stop_on_failure and not verdict.ok:
                raise CheckFailed(verdict)


class LearnerMath:
    """The learner's functions as :func:`loop.train_step`'s math, on ``nd`` only.

    ``net(X, params)`` is the learner's, or the tutorial's ``softmax(nd.dot(X, W) + b)`` with
    the learner's (or the tutorial's) ``softmax``.
    """

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


class LearnerPath:
    """The tutorial's math with a learner's functions, imperatively on whole-split arrays.

    The batches are :class:`batches.SplitArrays`' (the compiled path's, in the same order), each
    step is :func:`loop.train_step` with the learner's ``SGD``, and the losses are synced once per
    epoch. Accuracy counts the argmax of the learner's ``net`` on the compiled path's evaluation
    slices of 10,000 rows: wherever the probabilities are finite their argmax is the logits', so
    the lines are the compiled path's. (The tutorial's softmax shifts by the max of the whole slice:
    a row ~88 below the slice's largest logit would be 0/0; on MNIST and Fashion-MNIST, seeds 0-2,
    the largest gap measured is 58.) When a batch's loss is inf or NaN, the epoch is replayed up
    to that batch from its start to say what the learner's function returned there
    (:class:`feedback.LossNotFinite`).
    """

    def __init__(self, splits, ctx, batch_size=DEFAULTS.batch_size, seed=DEFAULTS.seed,
                 softmax=None, net=None, cross_entropy=None, SGD=None):
        self.arrays, self.ctx = SplitArrays(splits, ctx, batch_size, seed), ctx
        self.math = LearnerMath(softmax, net, cross_entropy)
        self.SGD = SGD or sgd_update  # the tutorial's SGD fused, bit for bit (optim's docstring)

    def num_batches(self):
        """Training batches per epoch."""
        return self.arrays.num_batches()

    def train_epoch(self, params, epoch, learning_rate, after_batch):
        """One pass over ``epoch``'s batches; returns each batch's mean loss (numpy float32)."""
        start = [param.copy() for param in params]
        losses = []
        for i, (data, label) in enumerate(self.arrays.train(epoch)):
            loss = train_step(params, data, label, learning_rate, self.math, self.SGD)
            losses.append(nd.mean(loss))
            after_batch(i, losses[-1])
        losses = nd.concat(*losses, dim=0).asnumpy()
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            raise self._replay(start, epoch, int(bad[0]), losses[bad[0]], learning_rate)
        return losses

    def _replay(self, start, epoch, batch, value, learning_rate):
        """:class:`feedback.LossNotFinite` for ``batch`` of ``epoch``, trained again from ``start``."""
        params = [param.copy() for param in start]
        for param in params:
            param.attach_grad()
        for i, (data, label) in enumerate(self.arrays.train(epoch)):
            if i == batch:
                break
            train_step(params, data, label, learning_rate, self.math, self.SGD)
        y = nd.one_hot(label, 10)
        yhat = self.math.net(data, params)
        loss = self.math.cross_entropy(yhat, y)
        return feedback.LossNotFinite(epoch, batch, value,
                                      feedback.explain_not_finite(
                                          yhat, y, loss, self.math.logits(data, params),
                                          self.math.source))

    def accuracy(self, params):
        """(test, train) accuracy through the learner's ``net``, 10,000 rows at a time."""
        model = functools.partial(self.math.net, params=params)  # the tutorial's net(X)
        return (evaluate_accuracy(self.arrays.test(), model, self.ctx),
                evaluate_accuracy(self.arrays.train_eval(), model, self.ctx))


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


def draw_page(params, class_names, dataset, ctx, port=0):
    """Serve the draw page for a model trained in the notebook, in a background thread.

    Returns ``(url, server)``: show the URL in an ``IFrame`` next to the notebook, and call
    ``server.shutdown()`` when done. It listens on 127.0.0.1 only, like ``python -m mxsoftmax.draw``.
    """
    from .runs import Run
    from .server import DrawServer
    validate(port=port)
    server = DrawServer(("127.0.0.1", port), Run(params, list(class_names), dataset, "this notebook"),
                        ctx)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d/" % server.server_address[1], server
