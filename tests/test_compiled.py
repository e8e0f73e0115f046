"""mxsoftmax.compiled: one definition of the math runs the same on nd and sym."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import nd

from mxsoftmax.loss import cross_entropy, softmax_cross_entropy
from mxsoftmax.model import linear, net, softmax, stable_softmax

from conftest import one_hot


def _forward(F_fn, X, Y, params, F):
    """Run ``F_fn`` either on NDArrays (F=nd) or as a symbol bound to the same arrays (F=sym)."""
    if F is nd:
        return F_fn(X, Y, params, nd).asnumpy()
    names = ["X", "Y", "W", "b"]
    out = F_fn(*[mx.sym.var(n) for n in names[:2]], [mx.sym.var("W"), mx.sym.var("b")], mx.sym)
    args = dict(zip(names, [X, Y] + list(params)))
    return out.bind(mx.cpu(), {n: args[n] for n in out.list_arguments()}).forward()[0].asnumpy()


@pytest.mark.parametrize("fn", [
    lambda X, Y, p, F: softmax(linear(X, p, F), F),
    lambda X, Y, p, F: stable_softmax(linear(X, p, F), F),
    lambda X, Y, p, F: cross_entropy(net(X, p, F), Y, F),
    lambda X, Y, p, F: softmax_cross_entropy(linear(X, p, F), Y, F),
], ids=["softmax", "stable_softmax", "cross_entropy", "softmax_cross_entropy"])
def test_one_definition_runs_the_same_on_nd_and_sym(fn, rng):
    X = nd.array(rng.uniform(size=(5, 784)))
    Y = nd.array(one_hot(rng.randint(0, 10, size=5)))
    params = [nd.array(rng.normal(size=(784, 10))), nd.array(rng.normal(size=10))]
    np.testing.assert_array_equal(_forward(fn, X, Y, params, nd), _forward(fn, X, Y, params, mx.sym))
