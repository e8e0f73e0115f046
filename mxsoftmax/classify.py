"""The model's answer for pictures, shared by ``predict``, the draw server and the pictures. A
class's **score** ``x W[:, k] + b[k]`` (often called a logit) is what softmax turns into its
probability: the sum of the pixels' votes (:func:`evidence`) plus the bias, ``votes + b = score``."""
import numpy as np
from mxnet import nd

from .batches import transform
from .errors import InvalidInput
from .model import linear, stable_net
from .settings import NUM_INPUTS
from .validation import CONSTRAINTS as C, validate_params


@validate_params({"images": C["images"], "params": C["model"], "ctx": C["ctx"]})
def predict_proba(images, params, ctx):
    """Class probabilities (N, 10) of uint8 images (N, 28, 28[, 1]): ``transform``, stable ``net``."""
    return stable_net(_batch(images, ctx), params).asnumpy()


def _batch(images, ctx):
    """uint8 images as the model's input: an (N, 784) NDArray on ``ctx`` through ``transform``."""
    images = images.asnumpy() if isinstance(images, nd.NDArray) else np.asarray(images)
    X = nd.array(images.reshape(-1, NUM_INPUTS), ctx=ctx, dtype=np.uint8)
    return transform(X, np.zeros(1))[0]


@validate_params({"image28": C["image28"], "params": C["model"], "class_names": C["class_names"],
                  "ctx": C["ctx"]})
def classify(image28, params, class_names, ctx):
    """One (28, 28) uint8 image's answer as JSON values: ``label``, ``name``, ``probability``, ``score``
    of the top class, the ``top3`` (ties: lower label first), all ten ``probabilities`` and ``scores``."""
    X = _batch([image28], ctx)
    probs = stable_net(X, params).asnumpy()[0].astype(np.float64)
    scores = linear(X, params).asnumpy()[0].astype(np.float64)
    if not (np.isfinite(probs).all() and np.isfinite(scores).all()):
        raise InvalidInput("the model's probabilities are not finite: its parameters are too large "
                           "or hold inf or NaN.")
    top = [{"label": int(k), "name": class_names[k], "probability": float(probs[k]),
            "score": float(scores[k])} for k in np.argsort(-probs, kind="stable")[:3]]
    return dict(top[0], top3=top, probabilities=probs.tolist(), scores=scores.tolist())


def evidence(image28, W, classes):
    """Each pixel's vote ``x * W[:, k]`` (``x`` = uint8 / 255) for each class ``k`` of ``classes``,
    as maps (len(classes), 28, 28): a map's sum plus ``b[k]`` is the score of ``k``."""
    x = np.asarray(image28).astype(np.float32).reshape(-1) / 255
    W = W.asnumpy() if hasattr(W, "asnumpy") else np.asarray(W, dtype=np.float32)
    return (x[:, None] * W[:, list(classes)]).T.reshape(-1, 28, 28)
