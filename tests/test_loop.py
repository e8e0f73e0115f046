"""The loop: one definition of the math runs the same on nd and sym, and the compiled path equals
the tutorial's literal loop bit for bit, on every context."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import nd

from mxsoftmax import loop
from mxsoftmax.batches import LiteralBatches, SplitArrays
from mxsoftmax.loss import cross_entropy, softmax_cross_entropy
from mxsoftmax.model import init_params, linear, net, softmax, stable_softmax

from conftest import as_data, one_hot, random_splits


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


def subset(data, n_train, n_test):
    return data._replace(train=tuple(a[:n_train] for a in data.train),
                         test=tuple(a[:n_test] for a in data.test))


def train_both_ways(data, seed, math, epochs=3, batch_size=64):
    """Train the literal and the compiled path from the same start; returns {path: (W, b, lines)}."""
    results = {}
    for name, training in loop.PATHS.items():
        mx.random.seed(seed)
        params = init_params(mx.cpu())
        rows = list(loop.fit(params, training(data, mx.cpu(), batch_size, seed, math), epochs, .001))
        results[name] = (params[0].asnumpy(), params[1].asnumpy(), [r["line"] for r in rows])
    return results


def assert_identical(results):
    (W1, b1, lines1), (W2, b2, lines2) = results["literal"], results["compiled"]
    assert np.array_equal(W1, W2) and np.array_equal(b1, b2)
    assert lines1 == lines2 and len(lines1) == 3


@pytest.mark.parametrize("seed", [0, 5])  # (on this subset the tutorial's math diverges for 7)
@pytest.mark.parametrize("math", [loop.TutorialMath, loop.StableMath])
def test_compiled_path_equals_the_literal_loop_bit_for_bit(fashion_subset, seed, math):
    # 600 examples: 9 full batches and a last one of 24, so the smaller last batch is covered.
    assert_identical(train_both_ways(subset(fashion_subset, 600, 200), seed, math()))


@pytest.mark.parametrize("seed", [0, 7])
def test_compiled_path_equals_the_literal_loop_on_mnist(mnist, seed):
    """On real MNIST, the copy that ships with mxsoftmax (2,000 examples keep it quick)."""
    assert_identical(train_both_ways(subset(mnist, 2000, 500), seed, loop.TutorialMath()))


def test_both_ways_visit_the_same_batches_in_the_same_order():
    data = as_data(random_splits(n_train=50, n_test=20))
    literal, arrays = LiteralBatches(data, mx.cpu(), 8, 3), SplitArrays(data, mx.cpu(), 8, 3)
    for epoch in (0, 1):
        a, b = list(literal.train(epoch)), list(arrays.train(epoch))
        assert len(a) == len(b) == 7 == literal.num_batches()
        for (x1, y1), (x2, y2) in zip(a, b):
            assert np.array_equal(x1.asnumpy(), x2.asnumpy())
            assert np.array_equal(y1.asnumpy(), y2.asnumpy())
    first = [y.asnumpy().tolist() for _, y in literal.train(0)]
    assert first != [y.asnumpy().tolist() for _, y in literal.train(1)]


def test_training_leaves_numpys_global_random_state_alone():
    data = as_data(random_splits(n_train=50, n_test=20))
    before = np.random.get_state()[1].copy()
    for training in (loop.literal, loop.compiled):
        list(loop.fit(init_params(mx.cpu()), training(data, mx.cpu(), 8, 3), 2, .001))
    assert np.array_equal(before, np.random.get_state()[1])


def test_printed_accuracies_match_numpy_on_the_trained_parameters(fashion_subset):
    data = subset(fashion_subset, 2000, 700)
    mx.random.seed(0)
    params = init_params(mx.cpu())
    (row,) = list(loop.fit(params, loop.compiled(data, mx.cpu()), 1, .001))
    W, b = (p.asnumpy() for p in params)
    for split, key in (("train", "train_acc"), ("test", "test_acc")):
        images, labels = getattr(data, split)
        X = images.reshape(len(images), -1).astype(np.float64) / 255
        expected = np.mean((X @ W + b).argmax(axis=1) == labels)
        assert row[key] == pytest.approx(expected, abs=1e-6)
        assert ("%s %s" % ({"train_acc": "Train_acc", "test_acc": "Test_acc"}[key],
                           np.float32(expected))) in row["line"]


def test_evaluation_does_not_depend_on_the_batch_size():
    # Row 1's logits sit 200 below row 0's: in one batch the tutorial's softmax gives 0/0 = NaN.
    params = [nd.zeros((784, 10)), nd.zeros(10)]
    X = nd.zeros((2, 784))
    X[0, 0] = 1
    X[1, 1] = 1
    params[0][0, 3] = 1000.
    params[0][1, 5] = 800.
    together = net(X, params).asnumpy()
    assert np.isnan(together[1]).all() and not np.isnan(together[0]).any()
    labels = nd.array([3, 5])
    training = loop.compiled(as_data({"train": (np.zeros((1, 28, 28), np.uint8), [0]),
                                      "test": (np.zeros((1, 28, 28), np.uint8), [0])}), mx.cpu())
    training.data.test_arrays = (X, labels)
    training.data.train_arrays = (X, labels)
    assert loop.accuracy(training, params) == (1.0, 1.0)  # argmax of the logits: right for both rows
    assert linear(X, params).asnumpy().argmax(axis=1).tolist() == [3, 5]


def test_stable_math_trains_the_seeds_where_the_tutorials_diverges(fashion):
    paths = {math: loop.compiled(fashion, mx.cpu(), 64, 0, math())
             for math in (loop.TutorialMath, loop.StableMath)}
    for seed in (3, 4, 11):
        for training in paths.values():
            training.data.seed = seed  # the batch order of the run with this seed; same arrays
        with pytest.raises(loop.Diverged, match="the loss became nan in epoch 0 at batch"):
            mx.random.seed(seed)
            list(loop.fit(init_params(mx.cpu()), paths[loop.TutorialMath], 1, .001))
        mx.random.seed(seed)
        (row,) = list(loop.fit(init_params(mx.cpu()), paths[loop.StableMath], 1, .001))
        assert np.isfinite(row["loss"]) and row["test_acc"] > .6, (seed, row)


@pytest.mark.parametrize("make", [loop.literal, loop.compiled])
def test_everything_lives_on_the_requested_context(fashion_subset, make):
    ctx = mx.cpu(1)
    data = subset(fashion_subset, 640, 100)
    training = make(data, ctx)
    params = init_params(ctx)
    batches = training.data
    for data_batch, label in list(batches.train(0)) + list(batches.test()) + list(batches.train_eval()):
        assert data_batch.context == ctx and label.context == ctx
    seen = []

    def watched(params, batch, lr):
        loss = make_update(params, batch, lr)
        seen.append(all(p.context == ctx and p.grad.context == ctx for p in params)
                    and loss.context == ctx)
        return loss
    make_update = training.update
    rows = list(loop.fit(params, training._replace(update=watched), 1, .001))
    assert rows and seen and all(seen) and len(seen) == 10
    assert net(next(iter(batches.test()))[0], params).context == ctx


def test_a_learner_can_pass_their_own_softmax_and_it_compiles(fashion_subset):
    calls = []

    def my_softmax(y_linear, F=nd):  # each row shifted by its own max
        calls.append(F)
        return stable_softmax(y_linear, F)
    results = train_both_ways(subset(fashion_subset, 300, 100), 0, loop.TutorialMath(my_softmax))
    assert mx.sym in calls and nd in calls
    assert_identical(results)


def test_non_finite_parameters_are_divergence_even_when_losses_are_finite():
    data = as_data(random_splits(n_train=64, n_test=10))
    params = init_params(mx.cpu())
    training = loop.compiled(data, mx.cpu())

    def poisoned(params, batch, lr):  # finite losses, then a parameter made inf
        params[0][0, 0] = np.inf
        return nd.ones(1)
    training = training._replace(update=poisoned)
    with pytest.raises(loop.Diverged, match="parameters became inf or NaN in epoch 0"):
        list(loop.fit(params, training, 1, .001))


def test_the_compiled_path_binds_its_graph_once_per_batch_size(monkeypatch):
    """Planned once: a new binding only for a new batch size (the last, smaller batch), or for
    gradients attached anew (``p.grad`` is a new NDArray at each access)."""
    binds = []
    real = mx.sym.Symbol.bind
    monkeypatch.setattr(mx.sym.Symbol, "bind", lambda self, *a, **k: binds.append(1) or real(
        self, *a, **k))
    params = init_params(mx.cpu())
    training = loop.compiled(as_data(random_splits(n_train=200, n_test=10)), mx.cpu(), 64, 0,
                             loop.StableMath())
    list(loop.fit(params, training, 2, .001))
    assert len(binds) == 2  # 64 rows, then the last 8, in both epochs
    for param in params:
        param.attach_grad()  # new gradient buffers: the old binding would write elsewhere
    list(loop.fit(params, training, 3, .001, start_epoch=2))
    assert len(binds) == 4
