"""The model: parameters ``W`` (784x10) and ``b`` (10), ``softmax`` and ``net``, as in the tutorial.

Each formula is written once with ``F`` (gluon's ``hybrid_forward`` style): ``F=nd`` runs it as the
tutorial does, ``F=sym`` traces it for :class:`mxsoftmax.loop.Step`; the tutorial's ``a - b`` is
spelled ``broadcast_sub`` (and so on) so that symbols broadcast the same way. Nothing here checks.
"""
from mxnet import nd

from .settings import NUM_INPUTS, NUM_OUTPUTS


# Defined in "Allocate model parameters"
def init_params(ctx, num_inputs=NUM_INPUTS, num_outputs=NUM_OUTPUTS):
    """Draw ``W`` and ``b`` from N(0, 1) on ``ctx`` and attach gradients; returns ``[W, b]``."""
    W = nd.random_normal(shape=(num_inputs, num_outputs), ctx=ctx)
    b = nd.random_normal(shape=num_outputs, ctx=ctx)
    params = [W, b]
    for param in params:
        param.attach_grad()
    return params


# Defined in "Multiclass logistic regression"
def softmax(y_linear, F=nd):
    """The tutorial's softmax: shift by the max of the whole batch, exponentiate, divide by row sums.

    Faithful, so in float32 a row whose logits sit about 55 below the batch's largest gets an inf/NaN
    gradient (the backward of ``exp / norms`` underflows), and from about 104 below NaN (0/0) itself.
    """
    exp = F.exp(F.broadcast_sub(y_linear, F.max(y_linear)))
    norms = F.sum(exp, axis=0, exclude=True).reshape((-1, 1))
    return F.broadcast_div(exp, norms)


# Defined in "mxsoftmax"
def stable_softmax(y_linear, F=nd):
    """Softmax shifted by each row's own max: every row's largest exponent is exp(0) = 1."""
    exp = F.exp(F.broadcast_sub(y_linear, F.max(y_linear, axis=1, keepdims=True)))
    return F.broadcast_div(exp, F.sum(exp, axis=1, keepdims=True))


# Defined in "Define the model"
def linear(X, params, F=nd):
    """The logits ``X W + b`` that softmax turns into probabilities."""
    W, b = params
    return F.broadcast_add(F.dot(X, W), b)


# Defined in "Define the model"
def net(X, params, F=nd, softmax=softmax):
    """The tutorial's model: probabilities ``softmax(X W + b)`` for each row of ``X``.

    ``softmax`` may be replaced by your own (take ``F=nd`` as a second argument to compile it too).
    """
    return softmax(linear(X, params, F), F)


# Defined in "mxsoftmax"
def stable_net(X, params, F=nd):
    """Like :func:`net` with :func:`stable_softmax`."""
    return net(X, params, F, stable_softmax)


# Defined in "mxsoftmax"
def model_predict(net, data):
    """The later tutorial's prediction: the index of the most probable class of each row.

    ``net`` maps a (batch, 784) NDArray to class probabilities, as the tutorial's ``net(X)`` does.
    """
    return nd.argmax(net(data), axis=1)


# Defined in "mxsoftmax"
def params_on(params, ctx):
    """Copies of ``params`` on ``ctx`` with gradients attached (e.g. after loading a checkpoint)."""
    copies = [param.copyto(ctx) for param in params]
    for param in copies:
        param.attach_grad()
    return copies
