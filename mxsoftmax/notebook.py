"""What the notebooks share: their settings from the environment, data worded for Jupyter, a run.

``MXSOFTMAX_DATASET``, ``MXSOFTMAX_DATA_DIR`` and ``MXSOFTMAX_EPOCHS`` point a notebook at other
files or shorten its training (the tests do both); unset, it runs the tutorial.
"""
import collections
import os
import re
import threading

import mxnet as mx

from . import catalog, sources
from .errors import InvalidInput
from .loop import CompiledPath, fit
from .model import init_params
from .settings import DEFAULTS

Trained = collections.namedtuple("Trained", "params init history")


def settings_from_env(environ=None):
    """``{'dataset', 'data_dir', 'epochs'}`` from the environment, else the tutorial's defaults.

    ``dataset`` None means: recognised from the files in ``data_dir``, else MNIST.
    """
    environ = os.environ if environ is None else environ
    dataset = environ.get("MXSOFTMAX_DATASET") or None
    if dataset is not None and dataset not in catalog.NAMES:
        raise InvalidInput("MXSOFTMAX_DATASET=%s is not one of %s."
                           % (dataset, ", ".join(catalog.NAMES)))
    epochs = environ.get("MXSOFTMAX_EPOCHS") or str(DEFAULTS.epochs)
    if not (re.fullmatch(r"[0-9]{1,4}", epochs) and 0 < int(epochs) <= 1000):
        raise InvalidInput("MXSOFTMAX_EPOCHS=%s is not a whole number of epochs from 1 to 1000."
                           % epochs)
    return dict(dataset=dataset, data_dir=environ.get("MXSOFTMAX_DATA_DIR") or None,
                epochs=int(epochs))


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
        raise err.with_ways(ways + ", before starting Jupyter") from None


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


def train(splits, ctx, epochs, seed=DEFAULTS.seed):
    """Train the tutorial's model with its defaults on the compiled path, printing each epoch's line.

    ``mx.random`` is seeded with ``seed`` before ``W`` and ``b`` are drawn, as the command line
    does. Returns a :data:`Trained`: the trained ``params``, a copy of them as drawn (``init``, for
    ``pictures.plot_weights``'s ``W_init``) and the epoch rows (``history``, for ``pictures.plot_history``).
    """
    mx.random.seed(seed)
    params = init_params(ctx)
    init = [param.copy() for param in params]
    path = CompiledPath(splits, ctx, DEFAULTS.batch_size, seed)
    history = []
    for row in fit(params, path, epochs, DEFAULTS.learning_rate):
        print(row.pop("line"))
        history.append(row)
    return Trained(params, init, history)


def draw_page(params, class_names, dataset, ctx, port=0):
    """Serve the draw page for a model trained in the notebook, in a background thread.

    Returns ``(url, server)``: show the URL in an ``IFrame`` next to the notebook, and call
    ``server.shutdown()`` when done. It listens on 127.0.0.1 only, like ``python -m mxsoftmax.draw``.
    """
    from .runs import Run
    from .server import DrawServer
    if isinstance(port, bool) or not (isinstance(port, int) and 0 <= port <= 65535):
        raise InvalidInput("draw_page takes a port number 0-65535 (0: any free port), not %r."
                           % (port,))
    server = DrawServer(("127.0.0.1", port), Run(params, list(class_names), dataset, "this notebook"),
                        ctx)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d/" % server.server_address[1], server
