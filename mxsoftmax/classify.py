"""The model's answer for images, shared by ``predict``, the draw server and the pictures.

:func:`predict_proba` gives the probabilities of many images; :func:`classify` the answer for one
as a JSON-ready dict; :func:`evidence` shows which pixels voted for and against a class.

One word throughout: a class's **score** is ``x W[:, k] + b[k]``, what softmax turns into the
probabilities (often called a logit): the sum of the pixels' votes (:func:`evidence`) plus the
class's bias ``b[k]``, as ``predict --explain`` titles it (``votes + b = score``).
"""
import numpy as np
from mxnet import nd

from .batches import transform
from .errors import InvalidInput
from .model import linear, stable_net
from .settings import NUM_INPUTS
from .validation import CONSTRAINTS, validate_params

INPUTS = {"images": CONSTRAINTS["images"], "params": CONSTRAINTS["model"], "ctx": CONSTRAINTS["ctx"]}


@validate_params(INPUTS)
def predict_proba(images, params, ctx):
    """Class probabilities for uint8 images (N, 28, 28[, 1]) as an (N, 10) numpy array.

    The tutorial's ``transform`` (x / 255), then ``net`` with the row-wise stable softmax, which
    gives the tutorial's probabilities wherever those are finite.
    """
    return stable_net(_batch(images, ctx), params).asnumpy()


@validate_params(INPUTS)
def predict_scores(images, params, ctx):
    """Class scores ``x W + b`` (:func:`model.linear`, what softmax turns into the probabilities)
    for uint8 images (N, 28, 28[, 1]) as an (N, 10) numpy array."""
    return linear(_batch(images, ctx), params).asnumpy()


def _batch(images, ctx):
    """uint8 images as the model's input: an (N, 784) NDArray on ``ctx`` through ``transform``."""
    images = images.asnumpy() if isinstance(images, nd.NDArray) else np.asarray(images)
    X, _ = transform(nd.array(images.reshape(-1, NUM_INPUTS), ctx=ctx, dtype=np.uint8), np.zeros(1))
    return X


@validate_params({"image28": CONSTRAINTS["image28"], "class_names": CONSTRAINTS["class_names"]})
def classify(image28, params, class_names, ctx):
    """The answer for one (28, 28) uint8 image, ready for ``json.dumps``.

    ``{"label", "name", "probability", "score", "top3": [{"label", "name", "probability",
    "score"}] * 3, "probabilities": [10 floats], "scores": [10 floats]}``, from
    :func:`predict_proba` (row-wise stable softmax) and :func:`predict_scores`; ties keep the
    lower label first.
    """
    image = [image28]
    probs = predict_proba(image, params, ctx)[0].astype(np.float64)
    scores = predict_scores(image, params, ctx)[0].astype(np.float64)
    if not (np.isfinite(probs).all() and np.isfinite(scores).all()):
        raise InvalidInput("the model's probabilities are not finite: its parameters are too large "
                           "or hold inf or NaN.")
    top = [{"label": int(k), "name": class_names[k], "probability": float(probs[k]),
            "score": float(scores[k])} for k in np.argsort(-probs, kind="stable")[:3]]
    return dict(top[0], top3=top, probabilities=[float(p) for p in probs],
                scores=[float(s) for s in scores])


def evidence(image28, W, classes):
    """Each pixel's vote for each class in ``classes``: maps (len(classes), 28, 28) of ``x * W[:, k]``.

    ``x`` is the image as the model sees it (the tutorial's ``transform``: uint8 / 255), so a map's
    sum plus ``b[k]`` is the score of class ``k``. ``W`` is an NDArray or array (784, 10).
    """
    x = np.asarray(image28).astype(np.float32).reshape(-1) / 255
    W = W.asnumpy() if hasattr(W, "asnumpy") else np.asarray(W, dtype=np.float32)
    return (x[:, None] * W[:, list(classes)]).T.reshape(-1, 28, 28)
