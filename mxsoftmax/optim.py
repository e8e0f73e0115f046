"""The optimizer: the tutorial's plain stochastic gradient descent, and an in-place twin."""
from mxnet import nd


def SGD(params, lr):
    """Update each parameter in place: ``param[:] = param - lr * param.grad``."""
    for param in params:
        param[:] = param - lr * param.grad


def SGD_inplace(params, lr):
    """:func:`SGD`'s update written straight into each parameter with ``out=`` (the fast path).

    The arithmetic is the same float32 ``param - lr * param.grad``; only the write differs:
    ``param[:] = value`` runs NDArray's general slice-assignment code in Python, which for a
    784x10 matrix costs more than the arithmetic (about 40% of a fast epoch here).
    """
    for param in params:
        nd.elemwise_sub(param, lr * param.grad, out=param)
