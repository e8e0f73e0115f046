"""mxsoftmax.model: W and b, softmax and net, against numpy."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import nd

from mxsoftmax.model import init_params, model_predict, net, softmax, stable_softmax

from conftest import np_softmax


@pytest.mark.parametrize("fn", [softmax, stable_softmax])
def test_softmax_matches_numpy_and_rows_sum_to_one(fn, rng):
    z = rng.normal(scale=3, size=(7, 10)).astype(np.float32)
    got = fn(nd.array(z)).asnumpy()
    np.testing.assert_allclose(got, np_softmax(z.astype(np.float64)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), np.ones(7), rtol=1e-6)


def test_init_params_are_standard_normal_with_gradients():
    mx.random.seed(3)
    W, b = init_params(mx.cpu())
    assert W.shape == (784, 10) and b.shape == (10,)
    assert abs(W.asnumpy().mean()) < 0.05 and abs(W.asnumpy().std() - 1) < 0.05
    assert W.grad is not None and b.grad is not None


def test_model_predict_is_the_argmax_of_each_row():
    scores = nd.array([[.1, .7, .2], [.5, .2, .3], [0, .4, .6]])
    seen = []
    predictions = model_predict(lambda X: seen.append(X) or scores, nd.ones((3, 784)))
    assert predictions.asnumpy().tolist() == [1, 0, 2] and seen[0].shape == (3, 784)


def test_the_math_is_unguarded_a_wrong_argument_gets_mxnets_own_error():
    """As in the tutorial: the checks are where values come in (tests/test_validation.py)."""
    params = init_params(mx.cpu())
    with pytest.raises(mx.MXNetError):
        net(nd.zeros(783), params).wait_to_read()
    with pytest.raises((AssertionError, TypeError)):
        net(np.zeros((2, 784)), params)
