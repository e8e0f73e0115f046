"""What the notebooks share: their settings, data worded for Jupyter, a run (with your own functions)
and a live curve of it."""
import collections
import functools
import io
import itertools
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
from .errors import CheckFailed, Diverged, InvalidInput, MxSoftmaxError, NoData, reason, translated
from .loop import Math, Training, compiled, fit, train_step
from .loss import cross_entropy as tutorial_cross_entropy
from .model import init_params, linear, params_on, softmax as tutorial_softmax
from .optim import sgd_update
from .settings import DEFAULTS, NUM_OUTPUTS
from .validation import CONSTRAINTS as C, Interval, validate_params

Trained = collections.namedtuple("Trained", "params init history")


def settings_from_env(environ=None):
    """``MXSOFTMAX_DATASET``, ``MXSOFTMAX_DATA_DIR`` and ``MXSOFTMAX_EPOCHS`` (``os.environ``'s unless
    given), else the tutorial's (``dataset`` None: the one the files in ``data_dir`` hold, else MNIST)."""
    environ = os.environ if environ is None else environ
    return dict(dataset=C["dataset_or_none"].check("MXSOFTMAX_DATASET",
                                                   environ.get("MXSOFTMAX_DATASET") or None),
                data_dir=environ.get("MXSOFTMAX_DATA_DIR") or None,
                epochs=Interval(numbers.Integral, 1, 1000).parse(
                    environ.get("MXSOFTMAX_EPOCHS") or str(DEFAULTS.epochs), "MXSOFTMAX_EPOCHS"))


def load_data(settings):
    """The data that ``settings`` name; without any, the message says what to set for Jupyter."""
    with translated(NoData, lambda err: err.explain(_ways(err.dataset))):
        return sources.load_splits(settings["dataset"], settings["data_dir"])


def _ways(dataset):
    fashion = "" if dataset == "fashion-mnist" else ", or set MXSOFTMAX_DATASET=fashion-mnist" + (
        "" if sources.debian_ready("fashion-mnist") else " after `apt-get install %s`"
        % catalog.DATASETS["fashion-mnist"]["package"])
    return ("connect to the internet and run the cell again, or set MXSOFTMAX_DATA_DIR to a folder "
            "with the four MNIST-format idx files%s, before starting Jupyter" % fashion)


def fashion_mnist(settings, splits, run, ctx):
    """Fashion-MNIST and a run on it, ``(splits, run)``: the notebook's own when it is on Fashion-MNIST
    already (nothing loaded or trained twice), else loaded and trained."""
    if splits.dataset == "fashion-mnist":
        return splits, run
    fashion = load_data(dict(settings, dataset="fashion-mnist", data_dir=None))
    return fashion, train(fashion, ctx, settings["epochs"])


@validate_params({"splits": C["splits"], "ctx": C["ctx"], "epochs": C["epochs"], "seed": C["seed"],
                  "softmax": C["softmax"], "net": C["net"], "cross_entropy": C["cross_entropy"],
                  "SGD": C["SGD"], "callback": C["callback"], "every": C["every"]})
def train(splits, ctx, epochs, seed=DEFAULTS.seed, softmax=None, net=None, cross_entropy=None,
          SGD=None, callback=None, every=0, check=True):
    """Train the tutorial's model, printing each epoch's line: a :data:`Trained`. Your own functions are
    checked first (:class:`CheckFailed` unless ``check=False``), then trained with on the compiled path's
    batches; a loss not finite is :class:`Diverged` saying what yours returned, an error they raise
    :class:`InvalidInput` naming it."""
    mine = {name: fn for name, fn in dict(softmax=softmax, net=net, cross_entropy=cross_entropy,
                                          SGD=SGD).items() if fn is not None}
    for name, fn in mine.items():
        verdict = getattr(feedback, "check_" + name)(fn, name)
        print(repr(verdict))
        if check and not verdict.ok:
            raise CheckFailed(verdict)
    math = LearnerMath(softmax, net, cross_entropy)
    training = (learner(splits, ctx, math, SGD or sgd_update, seed) if mine
                else compiled(splits, ctx, DEFAULTS.batch_size, seed))
    mx.random.seed(seed)
    params = init_params(ctx)
    init = start = [param.copy() for param in params]
    history = []
    with translated(Exception, functools.partial(_blamed, mine)):
        try:
            for row in fit(params, training, epochs, DEFAULTS.learning_rate, callback=callback,
                           every=every):
                print(row.pop("line"))
                history.append(row)
                start = [param.copy() for param in params]  # to replay a divergence from
        except Diverged as err:
            if not mine or err.batch is None:
                raise
            # the epoch again from its start up to the batch: what the learner's softmax or net returned
            again, batches = params_on(start, ctx), iter(training.batches(err.epoch))
            for batch in itertools.islice(batches, err.batch):
                training.update(again, batch, DEFAULTS.learning_rate)
            data, label = next(batches)
            y, yhat = nd.one_hot(label, NUM_OUTPUTS), math.net(data, again)
            raise Diverged(err.epoch, err.batch, err.value, feedback.explain_not_finite(
                yhat, y, math.cross_entropy(yhat, y), linear(data, again), "net" if net else "softmax")
            ) from None
    return Trained(params, init, history)


def _blamed(functions, err):
    """:class:`InvalidInput` naming the learner's function that raised ``err`` mid-training (innermost in
    its traceback, else for an MXNetError all given); None for our errors and a callback's."""
    codes = {getattr(fn, "__code__", None): name for name, fn in functions.items()}
    names = [codes[frame.f_code] for frame, _ in traceback.walk_tb(err.__traceback__)
             if frame.f_code in codes][-1:] or (list(functions) if isinstance(err, mx.MXNetError) else [])
    if isinstance(err, MxSoftmaxError) or not names:
        return None
    who, said = " or ".join(names), re.split(r"(?<=\.)\s", reason(err).removeprefix(
        type(err).__name__ + ": "))[0]
    return InvalidInput("training with your %s stopped on %s (%s): run %s on it and fix what it says." % (
        who, type(err).__name__, said.rstrip("."), " and ".join("feedback.check_" + name for name in names)),
        param=who)


def LearnerMath(softmax=None, net=None, cross_entropy=None):
    """The learner's functions (the tutorial's where None) as a :data:`loop.Math` on ``nd``."""
    softmax = softmax or tutorial_softmax
    return Math(net or (lambda X, params: softmax(linear(X, params))),
                cross_entropy or tutorial_cross_entropy)


def learner(splits, ctx, math, SGD, seed=DEFAULTS.seed):
    """A :data:`loop.Training` of the learner's ``math`` and ``SGD`` on the compiled path's batches;
    accuracy from the argmax of its ``net``, the logits' where finite, so the lines are the same."""
    data = SplitArrays(splits, ctx, DEFAULTS.batch_size, seed)
    return Training(data, data.train, functools.partial(train_step, math=math, SGD=SGD), math.net)


class LiveCurve:
    """The moving loss and train/test accuracy as a ``callback`` of :func:`train` or :func:`loop.fit`
    (``rows``: epochs already done). In a Jupyter kernel one PNG (``display_id``) replaced after every
    row, batch rows of ``every=N`` a light line; outside a kernel it draws and prints nothing."""

    def __init__(self, rows=()):
        self.rows, self.batches, self.handle = [dict(row) for row in rows], [], None
        ipython = sys.modules.get("IPython")  # imported by a kernel; never imported here
        if getattr(ipython and ipython.get_ipython(), "kernel", None) is not None:
            from IPython.display import display
            self.handle = display(self._image(), display_id=True)

    def __call__(self, row):
        """Add one row (an epoch's, or a batch's from ``every``) and redraw."""
        if "batch" not in row:
            self.rows.append(dict(row))
        elif row.get("loss") is not None:
            self.batches.append((row["epoch"] - 1 + (row["batch"] + 1) / row["batches"], row["loss"]))
        if self.handle is not None:
            self.handle.update(self._image())

    def figure(self):
        """The figure as it stands: ``pictures.plot_history`` of the rows, and the batch losses."""
        from . import pictures
        fig = pictures.plot_history(self.rows)
        if self.batches:
            fig.axes[0].plot(*zip(*self.batches), color="gray", alpha=.5, linewidth=1, label="batch loss")
            fig.axes[0].legend()
        if not self.rows:
            fig.suptitle("waiting for the first epoch")
        return fig

    def _image(self):
        from IPython.display import Image
        png = io.BytesIO()
        self.figure().savefig(png, format="png")
        return Image(data=png.getvalue(), format="png")


@validate_params({"port": C["port"]})
def draw_page(params, class_names, dataset, ctx, port=0):
    """Serve the draw page for a model trained in the notebook on 127.0.0.1, in a background thread:
    ``(url, server)``; open the URL in a new tab (it refuses frames), ``server.shutdown()`` when done."""
    from .runs import Run
    from .server import DrawServer
    server = DrawServer(("127.0.0.1", port), Run(params, list(class_names), dataset, "this notebook"), ctx)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d/" % server.server_address[1], server
