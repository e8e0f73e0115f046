"""mxsoftmax.loss: cross_entropy and its stable twin, against numpy and finite differences."""
import numpy as np
import pytest
from mxnet import autograd, nd

from mxsoftmax.loss import cross_entropy, softmax_cross_entropy
from mxsoftmax.model import net, softmax

from conftest import np_softmax, one_hot


def test_cross_entropy_matches_numpy(rng):
    p = np_softmax(rng.normal(size=(5, 10)))
    labels = rng.randint(0, 10, size=5)
    got = cross_entropy(nd.array(p), nd.array(one_hot(labels))).asnumpy()
    np.testing.assert_allclose(got, -np.log(p[np.arange(5), labels]), rtol=1e-5, atol=1e-6)


def test_stable_cross_entropy_matches_numpy_log_softmax(rng):
    z = rng.normal(scale=4, size=(6, 10))
    labels = rng.randint(0, 10, size=6)
    ref = -(z[np.arange(6), labels] - np.log(np.exp(z).sum(axis=1)))
    got = softmax_cross_entropy(nd.array(z), nd.array(one_hot(labels))).asnumpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_faithful_pair_breaks_on_extreme_logits_where_stable_pair_does_not(rng):
    # Row 0 sits 200 above row 1: the batch-wide shift underflows row 1 to 0/0.
    z = np.zeros((2, 10), dtype=np.float32)
    z[0, 0] = 200.
    z[1, 3] = 1000.
    z[0] += 1000.
    y = nd.array(one_hot(np.array([0, 4])))
    faithful = cross_entropy(softmax(nd.array(z)), y).asnumpy()
    stable = softmax_cross_entropy(nd.array(z), y).asnumpy()
    assert not np.all(np.isfinite(faithful))
    assert np.all(np.isfinite(stable))
    np.testing.assert_allclose(stable, [0., 1000.], atol=1e-3)
    # On ordinary logits the two agree.
    z = rng.normal(size=(8, 10)).astype(np.float32)
    y = nd.array(one_hot(rng.randint(0, 10, size=8)))
    np.testing.assert_allclose(cross_entropy(softmax(nd.array(z)), y).asnumpy(),
                               softmax_cross_entropy(nd.array(z), y).asnumpy(), rtol=1e-5)


def _loss_and_grads(X, Y, W, b):
    W, b = W.copy(), b.copy()
    W.attach_grad()
    b.attach_grad()
    with autograd.record():
        loss = cross_entropy(net(X, [W, b]), Y)
    loss.backward()
    return loss, W.grad, b.grad


def test_gradient_matches_closed_form_and_finite_differences(rng):
    X = nd.array(rng.uniform(size=(6, 784)), dtype=np.float64)
    labels = rng.randint(0, 10, size=6)
    Y = nd.array(one_hot(labels), dtype=np.float64)
    W = nd.array(rng.normal(scale=.05, size=(784, 10)), dtype=np.float64)
    b = nd.array(rng.normal(scale=.05, size=10), dtype=np.float64)
    _, gW, gb = _loss_and_grads(X, Y, W, b)
    P = np_softmax(X.asnumpy() @ W.asnumpy() + b.asnumpy())
    np.testing.assert_allclose(gW.asnumpy(), X.asnumpy().T @ (P - one_hot(labels)), rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose(gb.asnumpy(), (P - one_hot(labels)).sum(axis=0), rtol=1e-6,
                               atol=1e-9)

    def total(W_, b_):
        return cross_entropy(net(X, [W_, b_]), Y).sum().asscalar()
    eps = 1e-6
    for i, j in [(0, 0), (300, 4), (783, 9), (412, 7)]:
        Wp, Wm = W.copy(), W.copy()
        Wp[i, j] += eps
        Wm[i, j] -= eps
        fd = (total(Wp, b) - total(Wm, b)) / (2 * eps)
        assert fd == pytest.approx(gW[i, j].asscalar(), rel=1e-5, abs=1e-8)
    for j in (0, 5, 9):
        bp, bm = b.copy(), b.copy()
        bp[j] += eps
        bm[j] -= eps
        fd = (total(W, bp) - total(W, bm)) / (2 * eps)
        assert fd == pytest.approx(gb[j].asscalar(), rel=1e-5, abs=1e-8)
