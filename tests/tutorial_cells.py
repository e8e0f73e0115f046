"""The tutorial's functions exactly as it prints them (with ``from mxnet import nd`` above), the
reference a learner's own functions are held against in the tests."""
from mxnet import nd


def softmax(y_linear):
    exp = nd.exp(y_linear-nd.max(y_linear))
    partition =nd.sum(exp, axis=0, exclude=True).reshape((-1,1))  # noqa: E225,E231 (as printed)
    return exp / partition


def cross_entropy(yhat, y):
    return - nd.sum(y * nd.log(yhat), axis=0, exclude=True)


def SGD(params, lr):
    for param in params:
        param[:] = param - lr * param.grad


def net(X, params):  # the tutorial's net(X), with the parameters it reads passed in
    W, b = params
    y_linear = nd.dot(X, W) + b
    yhat = softmax(y_linear)
    return yhat
