"""The loss: the tutorial's ``cross_entropy`` on one-hot labels, and a stable variant on logits."""
from mxnet import nd


def cross_entropy(yhat, y):
    """Per-example ``-sum(y * log(yhat))``, as the tutorial writes it.

    Faithful, so a probability that underflowed to 0 gives inf (true class) or NaN (``0 * log(0)``).
    """
    return - nd.sum(y * nd.log(yhat), axis=0, exclude=True)


def softmax_cross_entropy(y_linear, y):
    """Cross-entropy of ``softmax(y_linear)`` computed from logits via a hand-written log-sum-exp.

    ``log softmax(z) = z - m - log(sum(exp(z - m)))`` with ``m`` each row's max stays finite for
    any finite logits, where ``log(softmax(z))`` underflows to ``log(0) = -inf``.
    """
    m = nd.max(y_linear, axis=1, keepdims=True)
    log_norms = nd.log(nd.sum(nd.exp(y_linear - m), axis=1, keepdims=True)) + m
    return - nd.sum(y * (y_linear - log_norms), axis=1)
