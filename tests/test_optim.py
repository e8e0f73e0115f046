"""mxsoftmax.optim: the tutorial's SGD and its fused twin."""
import mxnet as mx
import numpy as np
from mxnet import nd

from mxsoftmax.model import init_params
from mxsoftmax.optim import SGD, sgd_update


def test_sgd_matches_numpy_update(rng):
    W, b = init_params(mx.cpu())
    gW, gb = rng.normal(size=(784, 10)), rng.normal(size=10)
    W.grad[:] = gW
    b.grad[:] = gb
    before = W.asnumpy(), b.asnumpy()
    SGD([W, b], 0.5)
    np.testing.assert_allclose(W.asnumpy(), before[0] - 0.5 * gW, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.asnumpy(), before[1] - 0.5 * gb, rtol=1e-6, atol=1e-6)


def test_sgd_update_is_sgd_bit_for_bit():
    mx.random.seed(1)
    a, b = init_params(mx.cpu()), init_params(mx.cpu())
    for x, y in zip(a, b):
        y[:] = x
        g = nd.random_normal(shape=x.shape) * 3
        x.grad[:] = g
        y.grad[:] = g
    for lr in (.001, .37, 1e-30):
        SGD(a, lr)
        sgd_update(b, lr)
        for x, y in zip(a, b):
            assert np.array_equal(x.asnumpy(), y.asnumpy())
    assert not np.array_equal(a[0].asnumpy(), init_params(mx.cpu())[0].asnumpy())
