"""The loss: the tutorial's ``cross_entropy`` on one-hot labels, and a stable variant on logits.

Written with ``F`` like :mod:`mxsoftmax.model`, so the same lines run on ``nd`` and ``sym``.
"""
from mxnet import nd

from .errors import InvalidInput, InvalidType


def cross_entropy(yhat, y, F=nd):
    """Per-example ``-sum(y * log(yhat))``, as the tutorial writes it.

    Faithful, so a probability that underflowed to 0 gives inf (true class) or NaN (``0 * log(0)``).
    """
    _check(yhat, y, F)
    return - F.sum(F.broadcast_mul(y, F.log(yhat)), axis=0, exclude=True)


def softmax_cross_entropy(y_linear, y, F=nd):
    """Cross-entropy of ``softmax(y_linear)`` computed from logits via a hand-written log-sum-exp.

    ``log softmax(z) = z - m - log(sum(exp(z - m)))`` with ``m`` each row's max stays finite for
    any finite logits, where ``log(softmax(z))`` underflows to ``log(0) = -inf``.
    """
    _check(y_linear, y, F)
    m = F.max(y_linear, axis=1, keepdims=True)
    log_norms = F.broadcast_add(
        F.log(F.sum(F.exp(F.broadcast_sub(y_linear, m)), axis=1, keepdims=True)), m)
    return - F.sum(F.broadcast_mul(y, F.broadcast_sub(y_linear, log_norms)), axis=1)


def _check(scores, y, F):
    """On ``nd``, both arguments must be NDArrays of one shape (N, classes)."""
    if F is not nd:
        return
    if not (isinstance(scores, nd.NDArray) and isinstance(y, nd.NDArray)):
        raise InvalidType("the loss takes NDArrays, not %s and %s."
                          % (type(scores).__name__, type(y).__name__))
    if scores.shape != y.shape or scores.ndim != 2 or not scores.size:
        raise InvalidInput("the loss takes scores and one-hot labels of one shape (N, classes), "
                           "not %s and %s." % (scores.shape, y.shape))
    if scores.dtype != y.dtype:
        raise InvalidType("the loss takes scores and one-hot labels of one float type, not %s and "
                          "%s." % (scores.dtype.__name__, y.dtype.__name__))
