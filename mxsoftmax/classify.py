"""The model's answer for images, shared by ``predict``, the draw server and the pictures.

:func:`predict_proba` gives the probabilities of many images; :func:`classify` the answer for one
as a JSON-ready dict; :func:`evidence` shows which pixels voted for and against a class.

One word throughout: a class's **score** is ``x W[:, k] + b[k]``, what softmax turns into the
probabilities (often called a logit): the sum of the pixels' votes (:func:`evidence`) plus the
class's bias ``b[k]``, as ``predict --explain`` titles it (``votes + b = score``).
"""
import mxnet as mx
import numpy as np
from mxnet import nd

from .batches import transform
from .errors import InvalidInput, InvalidType
from .model import NUM_INPUTS, NUM_OUTPUTS, linear, stable_net


def predict_proba(images, params, ctx):
    """Class probabilities for uint8 images (N, 28, 28[, 1]) as an (N, 10) numpy array.

    The tutorial's ``transform`` (x / 255), then ``net`` with the row-wise stable softmax, which
    gives the tutorial's probabilities wherever those are finite.
    """
    return stable_net(_batch(images, ctx, "predict_proba"), params).asnumpy()


def predict_scores(images, params, ctx):
    """Class scores ``x W + b`` (:func:`model.linear`, what softmax turns into the probabilities)
    for uint8 images (N, 28, 28[, 1]) as an (N, 10) numpy array."""
    return linear(_batch(images, ctx, "predict_scores"), params).asnumpy()


def _batch(images, ctx, caller):
    """uint8 images as the model's input: an (N, 784) NDArray on ``ctx`` through ``transform``;
    errors name ``caller``, the public function they were given to."""
    images = images.asnumpy() if isinstance(images, nd.NDArray) else np.asarray(images)
    if images.dtype != np.uint8:
        raise InvalidType("%s takes uint8 pixels 0-255 like the idx files, not %s: convert "
                          "with (x * 255).round().astype(np.uint8) if they are in [0, 1]."
                          % (caller, images.dtype))
    if images.size == 0 or not (images.shape[-2:] == (28, 28) or images.shape[-3:] == (28, 28, 1)
                                or images.ndim == 2 and images.shape[1] == NUM_INPUTS):
        raise InvalidInput("%s takes images of 28x28 pixels, (N, 28, 28[, 1]) or (N, 784), "
                           "not an array of shape %s." % (caller, images.shape))
    if not isinstance(ctx, mx.Context):
        raise InvalidType("%s takes an mx.Context such as mx.cpu(), not %s."
                          % (caller, type(ctx).__name__))
    X, _ = transform(nd.array(images.reshape(-1, NUM_INPUTS), ctx=ctx, dtype=np.uint8), np.zeros(1))
    return X


def classify(image28, params, class_names, ctx):
    """The answer for one (28, 28) uint8 image, ready for ``json.dumps``.

    ``{"label", "name", "probability", "score", "top3": [{"label", "name", "probability",
    "score"}] * 3, "probabilities": [10 floats], "scores": [10 floats]}``, from
    :func:`predict_proba` (row-wise stable softmax) and :func:`predict_scores`; ties keep the
    lower label first.
    """
    if not (isinstance(class_names, (list, tuple)) and len(class_names) == NUM_OUTPUTS
            and all(isinstance(n, str) for n in class_names)):
        raise InvalidInput("classify takes a list of %d class names." % NUM_OUTPUTS)
    image = [_checked(image28)]
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
    x = _checked(image28).astype(np.float32).reshape(-1) / 255
    W = W.asnumpy() if hasattr(W, "asnumpy") else np.asarray(W, dtype=np.float32)
    if W.shape != (NUM_INPUTS, NUM_OUTPUTS):
        raise InvalidInput("evidence takes W of shape (%d, %d), not %s."
                           % (NUM_INPUTS, NUM_OUTPUTS, W.shape))
    classes = list(classes)
    if not all(isinstance(k, (int, np.integer)) and 0 <= k < NUM_OUTPUTS for k in classes):
        raise InvalidInput("evidence takes classes 0-%d, not %s." % (NUM_OUTPUTS - 1, classes))
    return (x[:, None] * W[:, list(classes)]).T.reshape(-1, 28, 28)


def _checked(image28):
    image = image28.asnumpy() if isinstance(image28, nd.NDArray) else np.asarray(image28)
    if image.dtype != np.uint8:
        raise InvalidType("images must be uint8 pixels 0-255, not %s." % image.dtype)
    if image.shape not in ((28, 28), (28, 28, 1)):
        raise InvalidInput("images must be 28x28, not %s." % "x".join(map(str, image.shape)))
    return image
