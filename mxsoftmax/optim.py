"""The optimizer: the tutorial's plain stochastic gradient descent."""


def SGD(params, lr):
    """Update each parameter in place: ``param[:] = param - lr * param.grad``."""
    for param in params:
        param[:] = param - lr * param.grad
