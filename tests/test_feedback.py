"""mxsoftmax.feedback: each check passes the tutorial's (or a reference) function and fails typical
wrong ones with the hint that fits; the six mistakes of issue 20 each get their own sentence.

The reference solutions of notebooks/exercises.ipynb live here, not in the notebook.
"""
import html

import mxnet as mx
import numpy as np
import pytest
from mxnet import nd

from mxsoftmax import errors, feedback, loop, model
from mxsoftmax.feedback import (check_SGD, check_cross_entropy, check_softmax,
                                exercise_batch_size, exercise_border_pixels,
                                exercise_cross_entropy_from_logits, exercise_largest_learning_rate,
                                exercise_stable_softmax, exercise_temperature)


from mistakes import net_zeroing_W, softmax_batch_axis, softmax_F_required, softmax_in_place
from tutorial_cells import SGD, cross_entropy, softmax  # the tutorial's, as printed


# --- typical mistakes ---------------------------------------------------------------------------

def softmax_F_nd(y_linear, F=nd):
    exp = F.exp(F.broadcast_sub(y_linear, F.max(y_linear, axis=1, keepdims=True)))
    return F.broadcast_div(exp, F.sum(exp, axis=1, keepdims=True))


def softmax_whole_batch(y_linear):
    exp = nd.exp(y_linear - nd.max(y_linear))
    return exp / nd.sum(exp)


def softmax_not_normalised(y_linear):
    return nd.exp(y_linear)


def softmax_not_shifted(y_linear):
    exp = nd.exp(y_linear)
    return exp / nd.sum(exp, axis=1, keepdims=True)


def softmax_sym(y_linear):
    exp = mx.sym.exp(y_linear)
    return exp / mx.sym.sum(exp)


def softmax_no_keepdims(y_linear):
    exp = nd.exp(y_linear - nd.max(y_linear))
    return exp / nd.sum(exp, axis=1)


def softmax_detached(y_linear):
    exp = nd.exp(y_linear - nd.max(y_linear))
    return exp / nd.sum(exp, axis=1, keepdims=True).detach()


def softmax_numpy(y_linear):
    return nd.array(softmax(y_linear).asnumpy())


def softmax_reversed(y_linear):
    exp = nd.exp(-y_linear)
    return exp / nd.sum(exp, axis=1, keepdims=True)


def softmax_negative(y_linear):
    return softmax(y_linear) - 0.05


def softmax_returns_numpy(y_linear):
    return softmax(y_linear).asnumpy()


def softmax_no_return(y_linear):
    softmax(y_linear)


def softmax_wrong_shape(y_linear):
    return nd.sum(softmax(y_linear), axis=1)


def softmax_blank(y_linear):
    raise NotImplementedError("your code here")


def softmax_float64(y_linear):
    exp = nd.exp(y_linear - nd.max(y_linear, axis=1, keepdims=True)).astype("float64")
    return exp / nd.sum(exp, axis=1, keepdims=True)


def softmax_writing_its_input(y_linear):
    y_linear[:] = y_linear - nd.max(y_linear, axis=1, keepdims=True)
    exp = nd.exp(y_linear)
    return exp / nd.sum(exp, axis=1, keepdims=True)


SOFTMAX_VERDICTS = [
    (softmax, None, "correct"),
    (softmax_F_nd, None, "correct"),
    (softmax_F_required, "arity", "cannot be called as softmax(y_linear)"),
    (softmax_batch_axis, "rows", "batch axis (axis 0)"),
    (softmax_whole_batch, "rows", "the whole batch does"),
    (softmax_not_normalised, "rows", "divide each row by the sum of its exps"),
    (softmax_not_shifted, "overflow", "shift the logits by their max"),
    (softmax_sym, "symbol", "Symbol where it takes an NDArray"),
    (softmax_no_keepdims, "mxnet", "keepdims=True"),
    (softmax_detached, "gradient", "does not match finite differences"),
    (softmax_numpy, "gradient", "autograd cannot differentiate"),
    (softmax_reversed, "order", "check the sign inside exp"),
    (softmax_negative, "negative", "never negative"),
    (softmax_returns_numpy, "type", "returned a numpy array"),
    (softmax_no_return, "type", "return statement is missing"),
    (softmax_wrong_shape, "shape", "returned shape (4,) where shape (4, 10)"),
    (softmax_blank, "not done", "not done yet"),
    (None, "not done", "not done yet"),
    (softmax_in_place, "in place", "writes into an array in place"),
    (softmax_float64, "dtype", "returned float64 values"),
    (softmax_writing_its_input, "in place", "writes into an array in place"),
]


def test_check_softmax_never_prints_the_answer():
    for fn, failed, _ in SOFTMAX_VERDICTS:
        message = check_softmax(fn).message
        assert "nd.max(y_linear, axis=1" not in message and "def " not in message


# --- cross-entropy ------------------------------------------------------------------------------

def ce_batch_axis(yhat, y):
    return - nd.sum(y * nd.log(yhat), axis=0)


def ce_no_minus(yhat, y):
    return nd.sum(y * nd.log(yhat), axis=1)


def ce_mean_of_classes(yhat, y):
    return - nd.mean(y * nd.log(yhat), axis=1)


def ce_swapped(y, yhat):
    return - nd.sum(y * nd.log(yhat), axis=1)


def ce_every_class(yhat, y):
    return - nd.sum(nd.log(yhat), axis=1)


def ce_one_number(yhat, y):
    return - nd.sum(y * nd.log(yhat))


def ce_per_probability(yhat, y):
    return - y * nd.log(yhat)


def ce_detached(yhat, y):
    return - nd.sum(y * nd.log(yhat.detach()), axis=1)


def ce_in_place(yhat, y):
    loss = nd.sum(y * nd.log(yhat), axis=1)
    loss *= -1
    return loss


CE_VERDICTS = [
    (cross_entropy, None, "correct"),
    (ce_batch_axis, "shape", "batch axis (axis 0)"),
    (ce_no_minus, "value", "minus sign is missing"),
    (ce_mean_of_classes, "value", "averaged over the 10 classes"),
    (ce_swapped, "finite", "arguments swapped"),
    (ce_every_class, "value", "multiply by the one-hot y"),
    (ce_one_number, "shape", "a single number"),
    (ce_per_probability, "shape", "one value per probability"),
    (ce_detached, "gradient", "autograd cannot differentiate"),
    (ce_in_place, "in place", "writes into an array in place"),
]


# --- SGD ----------------------------------------------------------------------------------------

def sgd_rebinds(params, lr):
    for param in params:
        param = param - lr * param.grad  # noqa: F841


def sgd_ascends(params, lr):
    for param in params:
        param[:] = param + lr * param.grad


def sgd_without_lr(params, lr):
    for param in params:
        param[:] = param - param.grad


def sgd_first_only(params, lr):
    for param in params:
        param[:] = param - lr * param.grad
        return


def sgd_in_place_operator(params, lr):
    for param in params:
        param -= lr * param.grad


def sgd_one_argument(params):
    pass


def sgd_rebinding_the_list(params, lr):
    for i in range(len(params)):
        params[i] = params[i] - lr * params[i].grad


SGD_VERDICTS = [
    (SGD, None, "correct"),
    (sgd_in_place_operator, None, "correct"),
    (sgd_rebinds, "in place", "unchanged"),
    (sgd_ascends, "direction", "up the gradient"),
    (sgd_without_lr, "size", "stepped by 1 times -grad with lr = 0.1"),
    (sgd_first_only, "every parameter", "changed only W"),
    (sgd_one_argument, "arity", "cannot be called as SGD(params, lr)"),
    (sgd_rebinding_the_list, "in place", "put new arrays into params"),
]


def net_zeroing_W_unrecorded(X, params):
    W, b = params
    with mx.autograd.pause():
        W[:] = 0
    return softmax(nd.dot(X, W) + b)


def net_rebinding_params(X, params):
    params[0] = params[0] * 1
    return softmax(nd.dot(X, params[0]) + params[1])


@pytest.mark.parametrize("fn, words", [
    (model.net, "correct"),
    (net_zeroing_W, "W[:] = ... into what it is given"),  # refused by MXNet while recording
    (net_zeroing_W_unrecorded, "changed its parameters"),
    (net_rebinding_params, "changed its parameters")])
def test_check_net_refuses_a_net_that_changes_its_parameters(fn, words):
    verdict = feedback.check_net(fn)
    assert verdict.ok == (fn is model.net) and words in verdict.message
    assert verdict.failed == (None if verdict.ok else "in place")


# --- when the loss is not finite ----------------------------------------------------------------

def test_explain_not_finite_names_the_row_and_what_softmax_returned():
    def explain(logits, labels, fn):
        logits, y = nd.array(logits), nd.one_hot(nd.array(labels), 10)
        return feedback.explain_not_finite(fn(logits), y, cross_entropy(fn(logits), y), logits)
    rows = np.vstack([np.linspace(0, 100, 10), np.linspace(-150, -30, 10)])
    # row 1's largest logit is 130 below the batch's: every exp of the row is 0, 0/0 = NaN
    found = explain(rows, [9, 9], softmax)
    assert found.startswith("softmax returned NaN for row 1") and "own max" in found
    found = explain([np.linspace(0, 95, 10)], [9], nd.exp)  # not shifted, not normalised
    assert found.startswith("softmax returned inf for row 0") and "reach 95" in found
    found = explain([np.linspace(-95, 10, 10)], [0], softmax_F_nd)  # exp(-105) is 0 in float32
    assert found.startswith("softmax returned 0 for the true class of row 0 (label 0); "
                            "log(0) = -inf") and "105 below" in found
    found = explain([np.linspace(-95, 10, 10)], [1], softmax_F_nd)
    assert found.startswith("softmax returned 0 for class 0 of row 0") and "is NaN" in found
    found = explain([np.linspace(0, 1, 10)], [1], lambda z: softmax(z) - 0.5)
    assert found.startswith("softmax returned a negative value")


def test_check_batch_is_silent_for_a_finite_loss_and_says_which_batch_otherwise():
    y = nd.one_hot(nd.array([1]), 10)
    p = softmax_F_nd(nd.array([np.arange(10.)]))
    assert feedback.check_batch(0, 5, p, y, cross_entropy(p, y)) is None
    zero = p * (1 - y)  # 0 for the true class
    with pytest.raises(errors.Diverged) as caught:
        feedback.check_batch(2, 7, zero, y, cross_entropy(zero, y))
    assert (caught.value.epoch, caught.value.batch, float(caught.value.value)) == (2, 7, np.inf)
    assert str(caught.value).startswith("the loss became inf in epoch 2 at batch 7: softmax "
                                        "returned 0 for the true class of row 0 (label 1)")


def test_a_row_far_below_the_batch_breaks_the_parameters_a_step_before_the_loss():
    """What explain_not_finite says of logits already inf or NaN: with the tutorial's softmax, a row
    60 below the batch's largest has a finite loss and a gradient that is not, so SGD makes W NaN."""
    X = nd.array(np.eye(2, 784))  # row 0 inks pixel 0, row 1 pixel 1
    W, b = nd.zeros((784, 10)), nd.zeros(10)
    W[0] = 60
    for param in (W, b):
        param.attach_grad()
    y = nd.one_hot(nd.array([3, 3]), 10)
    with mx.autograd.record():
        loss = cross_entropy(softmax(nd.dot(X, W) + b), y)
    loss.backward()
    assert np.isfinite(loss.asnumpy()).all() and not np.isfinite(W.grad.asnumpy()).all()
    SGD([W, b], 0.001)
    logits = nd.dot(X, W) + b
    yhat = softmax(logits)
    found = feedback.explain_not_finite(yhat, y, cross_entropy(yhat, y), logits)
    assert found.startswith("the logits X W + b of row 0 were already inf or NaN: an earlier step")
    assert "shift each row by its own max" in found


# --- the exercises: reference solutions and typical wrong answers -------------------------------

def stable_softmax(y_linear):  # reference
    exp = nd.exp(y_linear - nd.max(y_linear, axis=1, keepdims=True))
    return exp / nd.sum(exp, axis=1, keepdims=True)


STABLE_VERDICTS = [
    (stable_softmax, None, "correct"),
    (softmax, "batch", "shifted by one max for the whole batch"),
    (softmax_not_shifted, "overflow", "shift the logits by their max"),
    (softmax_batch_axis, "rows", "batch axis"),
    (softmax_blank, "not done", "not done yet"),
    (softmax_in_place, "in place", "writes into an array in place"),
]


def ce_from_logits(y_linear, y):  # reference
    m = nd.max(y_linear, axis=1, keepdims=True)
    log_norm = nd.log(nd.sum(nd.exp(y_linear - m), axis=1, keepdims=True)) + m
    return - nd.sum(y * (y_linear - log_norm), axis=1)


def ce_log_of_softmax(y_linear, y):
    return cross_entropy(stable_softmax(y_linear), y)


def ce_unshifted(y_linear, y):
    return - nd.sum(y * (y_linear - nd.log(nd.sum(nd.exp(y_linear), axis=1, keepdims=True))), axis=1)


def ce_max_not_added_back(y_linear, y):
    m = nd.max(y_linear, axis=1, keepdims=True)
    return - nd.sum(y * (y_linear - nd.log(nd.sum(nd.exp(y_linear - m), axis=1, keepdims=True))),
                    axis=1)


def ce_blank(y_linear, y):
    raise NotImplementedError


CE_LOGITS_VERDICTS = [
    (ce_from_logits, None, "correct"),
    (ce_log_of_softmax, "log space", "stay in log space"),
    (ce_unshifted, "log space", "overflows float32: take each row's largest logit out"),
    (ce_max_not_added_back, "value", "must come back outside the log"),
    (ce_blank, "not done", "not done yet"),
    (lambda y_linear, y: ce_in_place(stable_softmax(y_linear), y), "in place", "in place"),
]

CHECKED = [(check,) + verdict for check, verdicts in (
    (check_softmax, SOFTMAX_VERDICTS), (check_cross_entropy, CE_VERDICTS), (check_SGD, SGD_VERDICTS),
    (exercise_stable_softmax, STABLE_VERDICTS), (exercise_cross_entropy_from_logits,
                                                 CE_LOGITS_VERDICTS)) for verdict in verdicts]


@pytest.mark.parametrize("check, fn, failed, words", CHECKED, ids=[
    "%s-%s" % (c[0].__name__, getattr(c[1], "__name__", c[1])) for c in CHECKED])
def test_each_check_names_the_property_that_fails_with_its_hint(check, fn, failed, words):
    verdict = check(fn)
    assert (verdict.ok, verdict.failed) == (failed is None, failed), verdict.message
    assert words in verdict.message
    mark = "\u2714" if verdict.ok else "\u25cb" if failed == "not done" else "\u2718"
    assert repr(verdict) == mark + " " + verdict.message
    assert verdict.message in html.unescape(verdict._repr_html_())


def test_the_reference_cross_entropy_from_logits_equals_the_tutorials_where_finite():
    z = nd.array(np.random.RandomState(0).normal(0, 3, size=(8, 10)))
    y = nd.one_hot(nd.array(np.arange(8)), 10)
    assert np.allclose(ce_from_logits(z, y).asnumpy(), cross_entropy(softmax(z), y).asnumpy(),
                       rtol=1e-5)


def softmax_T(y_linear, T):  # reference
    return stable_softmax(y_linear / T)


def softmax_T_times(y_linear, T):
    return stable_softmax(y_linear * T)


def softmax_T_after(y_linear, T):
    return stable_softmax(y_linear) / T


@pytest.mark.parametrize("fn, why, failed, words", [
    (softmax_T, "a", None, "correct"),
    (softmax_T, None, "not done", "not done yet"),
    (softmax_T, "b", "why", "compare the largest probability"),
    (softmax_T, "c", "why", "keeps their order"),
    (softmax_T, "z", "choice", "one of 'a', 'b', 'c'"),
    (softmax_T_times, "a", "temperature", "the temperature divides the logits"),
    (softmax_T_after, "a", "temperature", "not the probabilities"),
    (None, None, "not done", "not done yet"),
    (lambda y_linear, T: softmax_float64(y_linear / T), "a", "dtype", "returned float64"),
    (lambda y_linear, T: 3, "a", "type", "returned int, not an NDArray"),
    (softmax_T, ["a"], "choice", "answer with one of 'a', 'b', 'c'"),
])
def test_exercise_temperature(fn, why, failed, words):
    verdict = exercise_temperature(fn, why)
    assert (verdict.ok, verdict.failed) == (failed is None, failed), verdict.message
    assert words in verdict.message


@pytest.mark.parametrize("why, failed, words", [
    ("b", None, "correct"), ("a", "why", "loss.backward()"), ("c", "why", "same learning rate"),
    (None, "not done", "not done yet")])
def test_exercise_batch_size(why, failed, words):
    verdict = exercise_batch_size(why)
    assert (verdict.ok, verdict.failed) == (failed is None, failed), verdict.message
    assert words in verdict.message


def test_batch_size_answer_b_holds_on_data(fashion_subset):
    """The claim behind answer 'b': one epoch gives about the same accuracy at batch 16 and 256."""
    results = [feedback.one_epoch(fashion_subset, mx.cpu(), size) for size in (16, 256)]
    assert all(isinstance(r, float) for r in results) and abs(results[0] - results[1]) < 0.03


@pytest.fixture(scope="module")
def largest_rate(fashion_subset):
    """The reference: the largest rate of the grid that trains one epoch, found by training at
    every rate (not by the checker's own two-step search)."""
    trained = []
    for rate in feedback.LEARNING_RATES:
        mx.random.seed(0)
        params = model.init_params(mx.cpu())
        try:
            list(loop.fit(params, loop.compiled(fashion_subset, mx.cpu(), 64, 0), 1, rate))
            trained.append(rate)
        except loop.Diverged:
            pass
    assert trained and trained == list(feedback.LEARNING_RATES[:len(trained)])
    return trained[-1]


def test_exercise_largest_learning_rate(fashion_subset, largest_rate):
    def check(rate, why):
        return exercise_largest_learning_rate(rate, why, fashion_subset, mx.cpu())
    index = feedback.LEARNING_RATES.index(largest_rate)
    verdict = check(largest_rate, "b")
    assert verdict.ok and "is the largest that trains" in verdict.message
    smaller, larger = (feedback.LEARNING_RATES[index - 1], feedback.LEARNING_RATES[index + 1])
    assert check(smaller, "b").failed == "too small" and "try larger" in check(smaller, "b").message
    too_large = check(larger, "b")
    assert too_large.failed == "too large" and "the loss became nan" in too_large.message
    assert check(largest_rate, "a").failed == "why"
    assert check(largest_rate, None).failed == "not done"
    assert check(None, None).failed == "not done" and check(0.5, "b").failed == "choice"


@pytest.fixture(scope="module")
def framed(fashion_subset):
    """Fashion-MNIST inks nearly every pixel somewhere: here its images lose two rows at the top,
    the last column and one pixel in the middle, as MNIST's digits leave their border blank."""
    images = fashion_subset.train[0].copy()
    images[:, :2], images[:, :, -1], images[:, 14, 14] = 0, 0, 0
    return fashion_subset._replace(train=(images, fashion_subset.train[1]))


@pytest.fixture(scope="module")
def never_moved(framed):
    """The reference mask, measured: the weights equal to W_init after one epoch of training."""
    mx.random.seed(0)
    params = model.init_params(mx.cpu())
    init = params[0].copy()
    list(loop.fit(params, loop.compiled(framed, mx.cpu(), 64, 0), 1, 0.001))
    mask = (params[0].asnumpy() == init.asnumpy()).all(axis=1)
    assert mask.sum() == 2 * 28 + 26 + 1
    return mask


def test_exercise_border_pixels(framed, never_moved):
    def check(mask, why="a"):
        return exercise_border_pixels(mask, why, framed)
    assert check(never_moved).ok and check(nd.array(never_moved.reshape(28, 28))).ok
    frame = np.zeros((28, 28), dtype=bool)
    frame[:2], frame[:, -1] = True, True  # the border by eye: misses the middle pixel
    verdict = check(frame)
    assert verdict.failed == "mask" and verdict.message.startswith(
        "never_moved misses 1 pixels that no training image inks, such as row 14, column 14")
    faint = (framed.train[0].reshape(-1, 784).mean(axis=0) < 1)  # "almost never inked"
    verdict = check(faint)
    assert verdict.failed == "mask" and "that some training image inks" in verdict.message
    assert check(never_moved, "b").failed == "why" and "==" in check(never_moved, "b").message
    assert check(never_moved, "c").failed == "why"
    assert check(None).failed == "not done" and check(np.zeros(10)).failed == "shape"
    assert check(never_moved, None).failed == "not done"


def test_exercises_given_odd_values_answer_with_a_verdict(framed):
    for mask in ([[1, 0], [1]], "abc", {1: 2}, np.full(784, np.nan), object()):
        verdict = exercise_border_pixels(mask, "a", framed)
        assert verdict.failed == "shape" and "784 of them" in verdict.message
    for rate in (np.array([0.1, 0.3]), nd.array([0.1]), "0.1", [0.1], True):
        verdict = exercise_largest_learning_rate(rate, "b", framed, mx.cpu())
        assert verdict.failed == "choice" and "pick one of 0.001" in verdict.message
    with pytest.raises(errors.InvalidValue, match="^splits must be splits"):
        exercise_border_pixels(np.zeros(784), "a", "not splits")


@pytest.mark.parametrize("name", ["x", None, 1, ["border"]])
def test_ask_names_the_questions_for_an_unknown_one(name):
    with pytest.raises(errors.InvalidValue) as caught:
        feedback.ask(name)
    assert caught.value.param == "name" and str(caught.value).startswith(
        "name must be one of learning_rate, batch_size, border, temperature, not ")
    assert feedback.ask("border") is feedback.QUESTIONS["border"]
