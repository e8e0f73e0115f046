"""The model's answer for one 28x28 image, shared by ``predict``, the draw server and pictures.

:func:`load_run` is the one place that turns ``--params`` into parameters, class names and the
dataset (whose recipe :mod:`mxsoftmax.images` follows); :func:`classify` gives the answer as a
JSON-ready dict; :func:`evidence` shows which pixels voted for and against a class.
"""
import os
from collections import namedtuple

import numpy as np

from . import UsageError, checkpoint
from .data import CLASS_NAMES
from .errors import InvalidInput, InvalidType
from .model import predict_proba

Run = namedtuple("Run", "params class_names dataset path")


def load_run(path, ctx):
    """Load a run folder or an ``epoch-K.params`` file as a :class:`Run` with params on ``ctx``.

    Class names and dataset come from the run's ``state.json`` (the folder's, or the folder the
    params file is in), else MNIST's. Raises UsageError when ``path`` is not a checkpoint.
    """
    params, state = checkpoint.load_params(path)
    if not state and os.path.isfile(path):
        try:
            state = checkpoint.read_state(os.path.dirname(os.path.abspath(path))) or {}
        except UsageError:
            state = {}
    dataset = state.get("flags", {}).get("dataset") or "mnist"
    names = state.get("class_names") or CLASS_NAMES.get(dataset) or CLASS_NAMES["mnist"]
    return Run([p.as_in_context(ctx) for p in params], list(names), dataset, path)


def classify(image28, params, class_names, ctx):
    """The answer for one (28, 28) uint8 image, ready for ``json.dumps``.

    ``{"label", "name", "probability", "top3": [{"label", "name", "probability"}] * 3,
    "probabilities": [10 floats]}``, from :func:`model.predict_proba` (row-wise stable softmax);
    ties keep the lower label first.
    """
    probs = predict_proba([_checked(image28)], params, ctx)[0].astype(np.float64)
    if not np.isfinite(probs).all():
        raise InvalidInput("the model's probabilities are not finite: its parameters are too large "
                           "or hold inf or NaN.")
    top = [{"label": int(k), "name": class_names[k], "probability": float(probs[k])}
           for k in np.argsort(-probs, kind="stable")[:3]]
    return dict(top[0], top3=top, probabilities=[float(p) for p in probs])


def evidence(image28, W, classes):
    """Each pixel's vote for each class in ``classes``: maps (len(classes), 28, 28) of ``x * W[:, k]``.

    ``x`` is the image as the model sees it (the tutorial's ``transform``: uint8 / 255), so a map's
    sum plus ``b[k]`` is the logit of class ``k``. ``W`` is an NDArray or array (784, 10).
    """
    x = _checked(image28).astype(np.float32).reshape(-1) / 255
    W = W.asnumpy() if hasattr(W, "asnumpy") else np.asarray(W, dtype=np.float32)
    return (x[:, None] * W[:, list(classes)]).T.reshape(-1, 28, 28)


def _checked(image28):
    image = np.asarray(image28)
    if image.dtype != np.uint8:
        raise InvalidType("images must be uint8 pixels 0-255, not %s." % image.dtype)
    if image.shape not in ((28, 28), (28, 28, 1)):
        raise InvalidInput("images must be 28x28, not %s." % "x".join(map(str, image.shape)))
    return image
