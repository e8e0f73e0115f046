"""The model: parameters ``W`` (784x10) and ``b`` (10), ``softmax`` and ``net``, as in the tutorial."""
import numpy as np
from mxnet import nd

from .data import NUM_INPUTS, NUM_OUTPUTS, transform


def init_params(ctx, num_inputs=NUM_INPUTS, num_outputs=NUM_OUTPUTS):
    """Draw ``W`` and ``b`` from N(0, 1) on ``ctx`` and attach gradients; returns ``[W, b]``."""
    W = nd.random_normal(shape=(num_inputs, num_outputs), ctx=ctx)
    b = nd.random_normal(shape=num_outputs, ctx=ctx)
    params = [W, b]
    for param in params:
        param.attach_grad()
    return params


def softmax(y_linear):
    """The tutorial's softmax: shift by the max of the whole batch, exponentiate, divide by row sums.

    Faithful, so it overflows to inf/NaN when one row's logits sit far above another's.
    """
    exp = nd.exp(y_linear - nd.max(y_linear))
    norms = nd.sum(exp, axis=0, exclude=True).reshape((-1, 1))
    return exp / norms


def stable_softmax(y_linear):
    """Softmax shifted by each row's own max: every row's largest exponent is exp(0) = 1."""
    exp = nd.exp(y_linear - nd.max(y_linear, axis=1, keepdims=True))
    return exp / nd.sum(exp, axis=1, keepdims=True)


def linear(X, params):
    """The logits ``X W + b`` that softmax turns into probabilities."""
    W, b = params
    return nd.dot(X, W) + b


def net(X, params):
    """The tutorial's model: probabilities ``softmax(X W + b)`` for each row of ``X``."""
    return softmax(linear(X, params))


def stable_net(X, params):
    """Like :func:`net` with :func:`stable_softmax`."""
    return stable_softmax(linear(X, params))


def params_on(params, ctx):
    """Copies of ``params`` on ``ctx`` with gradients attached (e.g. after loading a checkpoint)."""
    copies = [param.copyto(ctx) for param in params]
    for param in copies:
        param.attach_grad()
    return copies


def predict_proba(images, params, ctx):
    """Class probabilities for uint8 images (N, 28, 28[, 1]) as an (N, 10) numpy array.

    Uses the tutorial's ``transform`` and the row-wise stable softmax, which gives the same
    probabilities as ``net`` wherever ``net`` is finite.
    """
    data = nd.array(np.asarray(images).reshape(-1, 28, 28, 1), ctx=ctx, dtype=np.uint8)
    data, _ = transform(data, np.zeros(1))
    return stable_net(data.reshape((-1, NUM_INPUTS)), params).asnumpy()
