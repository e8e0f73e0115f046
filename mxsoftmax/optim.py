"""The optimizer: the tutorial's plain stochastic gradient descent, and MXNet's fused twin."""
from mxnet import nd


# Defined in "Optimizer"
def SGD(params, lr):
    """Update each parameter in place: ``param[:] = param - lr * param.grad``."""
    for param in params:
        param[:] = param - lr * param.grad


# Defined in "mxsoftmax"
def sgd_update(params, lr):
    """:func:`SGD`'s update as one fused MXNet operator per parameter, written in place.

    ``nd.sgd_update`` with no weight decay computes the same float32 ``param - lr * param.grad``
    bit for bit (a test checks this); it saves the Python-side cost of three operations and of
    NDArray's slice assignment, which for a 784x10 matrix costs more than the arithmetic.
    """
    for param in params:
        nd.sgd_update(param, param.grad, lr=lr, wd=0, out=param)
