"""The model: parameters ``W`` (784x10) and ``b`` (10), ``softmax`` and ``net``, as in the tutorial.

Each formula is written once with ``F``, MXNet's operator namespace in the style of gluon's
``hybrid_forward(F, ...)``: ``F=nd`` (the default) runs it imperatively as the tutorial does,
``F=sym`` builds the same operators into a graph that :mod:`mxsoftmax.compiled` runs at once.
The tutorial's ``a - b``, ``a + b`` and ``a / b`` on NDArrays are MXNet's ``broadcast_sub``,
``broadcast_add`` and ``broadcast_div``, written out here so that symbols broadcast the same way.
"""
import mxnet as mx
import numpy as np
from mxnet import nd

from .errors import InvalidInput, InvalidType, reason

IMAGE_SHAPE = (28, 28)
NUM_INPUTS = 784
NUM_OUTPUTS = 10


def init_params(ctx, num_inputs=NUM_INPUTS, num_outputs=NUM_OUTPUTS):
    """Draw ``W`` and ``b`` from N(0, 1) on ``ctx`` and attach gradients; returns ``[W, b]``."""
    if not isinstance(ctx, mx.Context):
        raise InvalidType("init_params takes an mx.Context such as mx.cpu(), not %s."
                          % type(ctx).__name__)
    for name, size in (("num_inputs", num_inputs), ("num_outputs", num_outputs)):
        if isinstance(size, bool) or not (isinstance(size, int) and 1 <= size <= 10 ** 6):
            raise InvalidInput("init_params takes %s as a whole number from 1 to 10**6, not %r."
                               % (name, size))
    try:
        W = nd.random_normal(shape=(num_inputs, num_outputs), ctx=ctx)
        b = nd.random_normal(shape=num_outputs, ctx=ctx)
        W.wait_to_read()
    except mx.MXNetError as err:
        raise InvalidInput("init_params cannot draw W and b on %s (%s)." % (ctx, reason(err))) from None
    params = [W, b]
    for param in params:
        param.attach_grad()
    return params


def softmax(y_linear, F=nd):
    """The tutorial's softmax: shift by the max of the whole batch, exponentiate, divide by row sums.

    Faithful, so a row whose logits sit about 88 below the batch's largest underflows to 0/0.
    """
    exp = F.exp(F.broadcast_sub(y_linear, F.max(y_linear)))
    norms = F.sum(exp, axis=0, exclude=True).reshape((-1, 1))
    return F.broadcast_div(exp, norms)


def stable_softmax(y_linear, F=nd):
    """Softmax shifted by each row's own max: every row's largest exponent is exp(0) = 1."""
    exp = F.exp(F.broadcast_sub(y_linear, F.max(y_linear, axis=1, keepdims=True)))
    return F.broadcast_div(exp, F.sum(exp, axis=1, keepdims=True))


def linear(X, params, F=nd):
    """The logits ``X W + b`` that softmax turns into probabilities."""
    if F is nd:
        _check_batch(X)
        _check_params(params, X)
    W, b = params
    return F.broadcast_add(F.dot(X, W), b)


def net(X, params, F=nd, softmax=softmax):
    """The tutorial's model: probabilities ``softmax(X W + b)`` for each row of ``X``.

    ``softmax`` may be replaced by your own (take ``F=nd`` as a second argument to compile it too).
    """
    return softmax(linear(X, params, F), F)


def model_predict(net, data):
    """The later tutorial's prediction: the index of the most probable class of each row.

    ``net`` maps a (batch, 784) NDArray to class probabilities, as the tutorial's ``net(X)`` does.
    """
    return nd.argmax(net(data), axis=1)


def stable_net(X, params, F=nd):
    """Like :func:`net` with :func:`stable_softmax`."""
    return net(X, params, F, stable_softmax)


def _check_batch(X):
    if not isinstance(X, nd.NDArray):
        raise InvalidType("the model takes a batch as an NDArray, not %s." % type(X).__name__)
    if X.ndim != 2 or X.shape[1] != NUM_INPUTS or X.shape[0] == 0:
        raise InvalidInput("the model takes a batch of shape (N, %d) with N >= 1, one flattened "
                           "28x28 image per row, not %s: reshape it with .reshape((-1, %d))."
                           % (NUM_INPUTS, X.shape, NUM_INPUTS))


def check_params(params, owner="the model"):
    """``params`` if they are the model's ``[W, b]``, NDArrays of shapes (784, 10) and (10,);
    InvalidInput naming ``owner`` (whose params they are) if not."""
    shapes = [getattr(p, "shape", None) for p in params] if isinstance(params, (list, tuple)) else []
    if shapes != [(NUM_INPUTS, NUM_OUTPUTS), (NUM_OUTPUTS,)] or not all(
            isinstance(p, nd.NDArray) for p in params):
        raise InvalidInput("%s's params are [W, b]: NDArrays of shapes (%d, %d) and (%d,), not %s."
                           % (owner, NUM_INPUTS, NUM_OUTPUTS, NUM_OUTPUTS,
                              shapes or type(params).__name__))
    return params


def _check_params(params, X):
    check_params(params)
    dtypes = {np.dtype(a.dtype) for a in (X, params[0], params[1])}
    if len(dtypes) != 1 or dtypes.pop() not in (np.float32, np.float64):  # what dot runs on CPUs
        names = tuple(np.dtype(a.dtype).name for a in (X, params[0], params[1]))
        raise InvalidType("the model takes a batch and params all float32 (or all float64), not "
                          "%s, %s and %s." % names)


def params_on(params, ctx):
    """Copies of ``params`` on ``ctx`` with gradients attached (e.g. after loading a checkpoint)."""
    copies = [param.copyto(ctx) for param in params]
    for param in copies:
        param.attach_grad()
    return copies
