"""A learner's usual mistakes in the tutorial's functions that more than one test file gives to
mxsoftmax's checks (test_feedback.py holds the others, beside the verdicts they get)."""
from mxnet import nd

from tutorial_cells import softmax


def softmax_F_required(y_linear, F):
    return softmax(y_linear)


def softmax_batch_axis(y_linear):
    exp = nd.exp(y_linear - nd.max(y_linear))
    return exp / nd.sum(exp, axis=0, keepdims=True)


def softmax_in_place(y_linear):
    exp = nd.exp(y_linear - nd.max(y_linear, axis=1, keepdims=True))
    exp /= nd.sum(exp, axis=1, keepdims=True)
    return exp


def net_zeroing_W(X, params):
    W, b = params
    W[:] = 0
    return softmax(nd.dot(X, W) + b)
