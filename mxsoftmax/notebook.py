"""What the notebooks share: their settings from the environment, and data worded for Jupyter.

``MXSOFTMAX_DATASET``, ``MXSOFTMAX_DATA_DIR`` and ``MXSOFTMAX_EPOCHS`` point a notebook at other
files or shorten its training (the tests do both); unset, it runs the tutorial.
"""
import os

from . import catalog, sources
from .errors import InvalidInput
from .settings import DEFAULTS


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
    if not (epochs.isdigit() and 0 < int(epochs) <= 1000):
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
