"""The tutorial's math against independent numpy references and finite differences."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd

from mxsoftmax.loop import train_step
from mxsoftmax.loss import cross_entropy, softmax_cross_entropy
from mxsoftmax.metrics import confusion_matrix, evaluate_accuracy, moving_average
from mxsoftmax.model import init_params, linear, model_predict, net, softmax, stable_softmax
from mxsoftmax.optim import SGD, sgd_update


@pytest.fixture
def rng():
    """Each test draws from its own seeded generator, whatever runs before it (or beside it)."""
    return np.random.RandomState(42)


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def one_hot(labels, n=10):
    return np.eye(n)[labels]


@pytest.mark.parametrize("fn", [softmax, stable_softmax])
def test_softmax_matches_numpy_and_rows_sum_to_one(fn, rng):
    z = rng.normal(scale=3, size=(7, 10)).astype(np.float32)
    got = fn(nd.array(z)).asnumpy()
    np.testing.assert_allclose(got, np_softmax(z.astype(np.float64)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), np.ones(7), rtol=1e-6)


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


def test_sgd_matches_numpy_update(rng):
    W, b = init_params(mx.cpu())
    gW, gb = rng.normal(size=(784, 10)), rng.normal(size=10)
    W.grad[:] = gW
    b.grad[:] = gb
    before = W.asnumpy(), b.asnumpy()
    SGD([W, b], 0.5)
    np.testing.assert_allclose(W.asnumpy(), before[0] - 0.5 * gW, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.asnumpy(), before[1] - 0.5 * gb, rtol=1e-6, atol=1e-6)


def test_init_params_are_standard_normal_with_gradients():
    mx.random.seed(3)
    W, b = init_params(mx.cpu())
    assert W.shape == (784, 10) and b.shape == (10,)
    assert abs(W.asnumpy().mean()) < 0.05 and abs(W.asnumpy().std() - 1) < 0.05
    assert W.grad is not None and b.grad is not None


def test_evaluate_accuracy_on_hand_made_predictions():
    # 5 examples in two batches; predictions by hand: right, wrong, right | right, wrong -> 3/5.
    scores = [nd.array([[.9, .1, 0], [.2, .7, .1], [0, 0, 1]]), nd.array([[0, 1, 0], [1, 0, 0]])]
    labels = [nd.array([0, 2, 2]), nd.array([1, 2])]
    outputs = iter(scores)
    batches = [(nd.zeros((3, 784)), labels[0]), (nd.zeros((2, 784)), labels[1])]
    acc = evaluate_accuracy(batches, lambda X: next(outputs), mx.cpu())
    assert acc == pytest.approx(0.6)


def test_model_predict_is_the_argmax_of_each_row():
    scores = nd.array([[.1, .7, .2], [.5, .2, .3], [0, .4, .6]])
    seen = []
    predictions = model_predict(lambda X: seen.append(X) or scores, nd.ones((3, 784)))
    assert predictions.asnumpy().tolist() == [1, 0, 2] and seen[0].shape == (3, 784)


def test_moving_average_by_hand():
    # first batch seeds: 2; then .99*2 + .01*4 = 2.02; then .99*2.02 + .01*0 = 1.9998
    assert moving_average([2., 4., 0.], 0., .01, first=True) == pytest.approx(1.9998)
    # continuing an average does not reseed
    assert moving_average([4.], 2., .01) == pytest.approx(2.02)


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


def test_the_math_is_unguarded_a_wrong_argument_gets_mxnets_own_error():
    """As in the tutorial: the checks are where values come in (tests/test_validation.py)."""
    params = init_params(mx.cpu())
    with pytest.raises(mx.MXNetError):
        net(nd.zeros(783), params).wait_to_read()
    with pytest.raises((AssertionError, TypeError)):
        net(np.zeros((2, 784)), params)


def test_confusion_matrix_counts_by_hand():
    counts = confusion_matrix([0, 0, 1, 9], [0, 1, 1, 0])
    assert counts[0, 0] == 1 and counts[0, 1] == 1 and counts[1, 1] == 1 and counts[9, 0] == 1
    assert counts.sum() == 4


def test_evaluate_accuracy_counts_labels_of_any_number_type_and_float64_models():
    params = init_params(mx.cpu())
    batch, labels = nd.zeros((2, 784)), nd.array([0, 1])
    int_labels = nd.array([0, 1], dtype="int32")  # labels of any number type count the same
    assert evaluate_accuracy([(batch, int_labels)], lambda X: net(X, params), mx.cpu()) == \
        evaluate_accuracy([(batch, labels)], lambda X: net(X, params), mx.cpu())
    params64 = [p.astype("float64") for p in params]  # and a float64 model counts them too
    want = (params[1].asnumpy().argmax() == np.array([0, 1])).mean()  # zero batch: b decides
    assert evaluate_accuracy([(batch.astype("float64"), labels)], lambda X: net(X, params64),
                             mx.cpu()) == pytest.approx(want)
    # Same params, same accuracy as numpy's argmax.
    X = nd.array(np.random.RandomState(0).rand(5, 784))
    want = (X.asnumpy() @ params[0].asnumpy() + params[1].asnumpy()).argmax(axis=1)
    got = evaluate_accuracy([(X, nd.array(want))], lambda Z: net(Z, params), mx.cpu())
    assert got == 1.0
