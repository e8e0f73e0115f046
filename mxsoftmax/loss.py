"""The loss: the tutorial's ``cross_entropy`` on one-hot labels, and a stable variant on logits.

Written with ``F`` like :mod:`mxsoftmax.model`, so the same lines run on ``nd`` and ``sym``.
"""
from mxnet import nd


# Defined in "The cross-entropy loss function"
def cross_entropy(yhat, y, F=nd):
    """Per-example ``-sum(y * log(yhat))``, as the tutorial writes it.

    Faithful, so a probability that underflowed to 0 gives inf (true class) or NaN (``0 * log(0)``).
    """
    return - F.sum(F.broadcast_mul(y, F.log(yhat)), axis=0, exclude=True)


# Defined in "mxsoftmax"
def softmax_cross_entropy(y_linear, y, F=nd):
    """Cross-entropy of ``softmax(y_linear)`` computed from logits via a hand-written log-sum-exp.

    ``log softmax(z) = z - m - log(sum(exp(z - m)))`` with ``m`` each row's max stays finite for
    any finite logits, where ``log(softmax(z))`` underflows to ``log(0) = -inf``.
    """
    m = F.max(y_linear, axis=1, keepdims=True)
    log_norms = F.broadcast_add(
        F.log(F.sum(F.exp(F.broadcast_sub(y_linear, m)), axis=1, keepdims=True)), m)
    return - F.sum(F.broadcast_mul(y, F.broadcast_sub(y_linear, log_norms)), axis=1)
