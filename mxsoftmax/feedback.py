"""Feedback on a learner's own functions: checks before training, one sentence when training breaks,
and the checks of ``notebooks/exercises.ipynb``.

Each ``check_*`` and ``exercise_*`` calls the learner's function as training calls it
(``softmax(y_linear)``, ``cross_entropy(yhat, y)`` and ``net(X, params)`` under
``autograd.record()``, ``SGD(params, lr)`` after it, on float32 NDArrays) with small crafted
inputs, and returns a :class:`Verdict`: ``.ok``, ``.message`` (which property failed and a hint,
never the answer) and ``.failed`` (that property's short name). Whatever the learner's code does
becomes a verdict: only our own usage errors (:class:`InvalidValue`) leave a check.
"""
import contextlib
import functools
import html
import inspect
import numbers
import warnings

import mxnet as mx
import numpy as np
from mxnet import autograd, nd

from .errors import Diverged, reason, translated
from .validation import CONSTRAINTS as C, Options, validate_params

NOT_DONE = "not done yet"
FLOAT32_EXP_LIMIT = 88.7  # exp(88.7) is about the largest float32, 3.4e38


class Verdict:
    """What a check found: ``ok``, one ``message`` and the name of the property that ``failed``."""

    def __init__(self, ok, message, failed=None):
        self.ok, self.message, self.failed = ok, message, failed

    def __repr__(self):
        mark = "\u2714" if self.ok else "\u25cb" if self.failed == "not done" else "\u2718"
        return mark + " " + self.message

    def _repr_html_(self):
        colour = "#1a7f37" if self.ok else "#9a6700" if self.failed == "not done" else "#cf222e"
        return '<div style="color:%s;font-weight:bold">%s</div>' % (colour, html.escape(repr(self)))


class _Refused(Exception):
    """``_Refused(failed, message)``: a property that fails, raised wherever a check finds it."""


def _verdict(check):
    """Decorate a check: whatever :class:`_Refused` is raised inside becomes its verdict."""
    @functools.wraps(check)
    def run(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except _Refused as refused:
            return Verdict(False, refused.args[1], refused.args[0])
    return run


def _require(*properties):
    """Refuse with the first ``(failed, holds, message)`` that does not hold."""
    for failed, holds, message in properties:
        if not holds:
            raise _Refused(failed, message)


def _which(mistakes, otherwise):
    """The message of the first ``(found, message)`` found, else ``otherwise``: which usual
    mistake gives what the learner's function returned."""
    return next((message for found, message in mistakes if found), otherwise)


def _given(value, name):
    """``value``, or the "not done" refusal while the learner's cell still holds None."""
    if value is None:
        raise _Refused("not done", "%s: %s (it is None)." % (name, NOT_DONE))
    return value


# --- calling the learner's function: the only places its code and its results are touched --------

def _call(fn, name, argnames, *args, recorded=True):
    """``fn(*args)``, under ``autograd.record()`` when ``recorded`` (as training calls it), refused
    if ``fn`` is blank, takes other arguments or raises. ``argnames`` name ``args`` as the
    tutorial does (``("y_linear",)``), for the sentences."""
    if not callable(_given(fn, name)):
        raise _Refused("type", "%s must be a function, not %s." % (name, type(fn).__name__))
    signature = ""  # a builtin without one (ValueError): let the call decide
    with contextlib.suppress(ValueError), translated(TypeError, lambda err: _Refused(
            "arity", "%s%s cannot be called as %s(%s): it must take exactly %d argument%s without a "
            "default (an extra F=nd is fine)." % (name, signature, name, ", ".join(argnames),
                                                   len(args), "" if len(args) == 1 else "s"))):
        signature = inspect.signature(fn)
        signature.bind(*args)
    # the learner's code may raise anything, MXNet's errors may surface only when read
    with translated(Exception, lambda err: _raised(name, args, err)):
        with autograd.record() if recorded else contextlib.nullcontext():
            result = fn(*args)
    if result is NotImplemented:
        raise _Refused("not done", "%s: %s (it returns NotImplemented)." % (name, NOT_DONE))
    return result


def _raised(name, args, err):
    """The refusal of ``name`` that raised ``err`` when called with ``args``: not done yet, a
    Symbol where an NDArray belongs, an in-place operation autograd refuses, shapes MXNet refused,
    or else what it raised."""
    if isinstance(err, NotImplementedError):
        return _Refused("not done", "%s: %s (it raises NotImplementedError)." % (name, NOT_DONE))
    if isinstance(err, AssertionError):
        return _Refused("symbol", "%s raised AssertionError, which MXNet raises when an operation "
                        "gets a Symbol where it takes an NDArray (or the reverse): write it with nd "
                        "operations on the NDArrays it is given, as the tutorial does (mx.sym and "
                        "F=sym are for compiled graphs)." % name)
    if isinstance(err, mx.MXNetError) and "inplace operations" in str(err).lower():
        return _Refused("in place", "%s writes into an array in place (such as e /= ..., l *= -1, "
                        "or W[:] = ... into what it is given), which MXNet refuses while autograd "
                        "records, as in training: make a new array instead (e = e / ...)." % name)
    if isinstance(err, mx.MXNetError):
        return _Refused("mxnet", "MXNet refused an operation in %s for inputs of shape %s (%s): "
                        "most often two shapes that do not broadcast, such as an (N, 10) array and "
                        "a sum of shape (N,); keep the summed axis (keepdims=True or "
                        ".reshape((-1, 1)))." % (name, " and ".join(
                            str(getattr(a, "shape", type(a).__name__)) for a in args), reason(err)))
    return _Refused("raised", "%s raised %s: %s" % (name, type(err).__name__, reason(err)))


def _values(result, name, shape, batch=None):
    """``result`` as float64 numpy if it is a float32 NDArray of ``shape``, else refused;
    ``batch`` is the batch's (examples, classes) when ``result`` is a loss, one value per example."""
    _require(("type", result is not None, "%s returned None: a return statement is missing." % name),
             ("type", not isinstance(result, np.ndarray), "%s returned a numpy array: autograd "
              "follows only NDArrays, so keep nd operations to the end (no .asnumpy())." % name),
             ("type", isinstance(result, nd.NDArray), "%s returned %s, not an NDArray."
              % (name, type(result).__name__)))
    if result.shape != shape:
        said = {(): "a single number (training takes the mean itself)", batch: "one value per "
                "probability: add up each example's row", batch[1:]: "one value per class: you "
                "summed over the batch axis (axis 0), not over each example's classes"} if batch else {}
        raise _Refused("shape", "%s returned %s; the loss has one value per example, shape %s." % (
            name, said.get(() if result.shape == (1,) else result.shape, "shape %s" % (result.shape,)),
            shape) if batch else "%s returned shape %s where shape %s is expected."
                       % (name, result.shape, shape))
    _require(("dtype", result.dtype == np.float32, "%s returned %s values: training mixes them "
              "with float32 arrays, which MXNet refuses; keep the float32 of its input (no .astype, "
              "no dtype=)." % (name, np.dtype(result.dtype).name)))
    with translated(Exception, lambda err: _raised(name, (), err)):
        return result.asnumpy().astype(np.float64)


def _output(fn, name, argnames, shape, *args, batch=None):
    """What ``fn(*args)`` returns, as :func:`_values` reads it."""
    return _values(_call(fn, name, argnames, *args), name, shape, batch)


def _same_arrays(params, given):
    """Whether ``params`` still holds the very arrays it was ``given``."""
    return len(params) == len(given) and all(p is g for p, g in zip(params, given))


# --- crafted inputs and their references, in float64 ---------------------------------------------

def _logits(rows=4, seed=0):
    """Logits from -3 to 3, a permutation of steps 0.6 apart in each row: no ties blur the order."""
    rng = np.random.RandomState(seed)
    return rng.rand(rows, 10).argsort(axis=1) * .6 - 3 + rng.uniform(0, .3, size=(rows, 1))


def _big_logits():
    """Rows that each hold +100 and -100: exp(100) overflows float32, exp(-200) underflows."""
    z = _logits(3)
    z[:, :2] = 100, -100
    z[1] = z[1, ::-1]
    return z


def _log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softmax(z, T=1.):
    return np.exp(_log_softmax(z / T))


def _labels(rows=4):
    """Labels and their one-hot rows."""
    labels = np.arange(rows) * 3 % 10
    return labels, np.eye(10)[labels]


def _nd(a, grad=True):
    """``a`` as a float32 NDArray, with a gradient unless not ``grad``: under autograd.record()
    every operation on it is recorded, as on everything that descends from W and b in training."""
    x = nd.array(a, dtype=np.float32)
    if grad:
        x.attach_grad()
    return x


def _check_gradient(fn, name, argname, x, eps, what, shape):
    """Refused unless autograd's gradient of ``sum(w * fn(x))`` (fixed random weights ``w``,
    ``fn(x)`` of ``shape``) is the one of central finite differences."""
    weights = np.random.RandomState(1).uniform(.5, 1.5, size=shape)
    x_nd = _nd(x)
    with autograd.record():
        out = _call(fn, name, (argname,), x_nd)
        _values(out, name, shape)
        total = nd.sum(out * _nd(weights, grad=False))
    with translated(Exception, lambda err: _Refused(
            "gradient", "autograd cannot differentiate %s: its output is not computed from its "
            "input by nd operations under autograd.record() (did it go through .asnumpy(), "
            "nd.array(...) or a Python number?)." % name)):
        total.backward()
        grad = x_nd.grad.asnumpy().astype(np.float64)
    x, numeric = np.float32(x), np.zeros_like(grad)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        numeric[index] = sum(sign * np.sum(_output(fn, name, (argname,), shape, _nd(x + sign * step))
                                           * weights) for sign in (1, -1)) / (2 * eps)
    gaps = np.abs(grad - numeric) / (1e-2 + np.abs(numeric))
    at = np.unravel_index(np.argmax(gaps), gaps.shape)
    _require(("gradient", gaps[at] <= 2e-2, "the gradient of %s does not match finite differences "
              "(at %s, autograd says %.4g, finite differences %.4g): part of it is hidden from "
              "autograd (.detach(), nd.stop_gradient, .asnumpy() or nd.array(...)), so backward() "
              "misses how %s." % (name, tuple(map(int, at)), grad[at], numeric[at], what)))


# --- the checks of the tutorial's functions -------------------------------------------------------

@_verdict
def check_softmax(fn, name="softmax"):
    """Check a learner's ``softmax(y_linear)``: shape, no negative values, rows that sum to 1 (and
    which axis was summed otherwise), the order of the logits, finite values for logits of +-100,
    and a gradient that matches finite differences."""
    z, big = _logits(), _big_logits()
    _softmax_values(_output(fn, name, ("y_linear",), z.shape, _nd(z)), z, name)
    p = _output(fn, name, ("y_linear",), big.shape, _nd(big))
    _require(("overflow", np.isfinite(p).all(), "%s returned inf or NaN for logits of +-100: "
              "exp(100) is 2.7e43, beyond float32's largest (3.4e38 = exp(88.7)). softmax(z) = "
              "softmax(z - c) for any constant c: shift the logits by their max before exp." % name))
    _softmax_values(p, big, name, order=False)
    _check_gradient(fn, name, "y_linear", z, 1e-2, "each probability depends on every logit of its "
                    "row", z.shape)
    return Verdict(True, "%s: correct. Rows sum to 1, no negative values, the shape of the input, "
                   "the order of the logits, finite for logits of +-100, and a gradient that "
                   "matches finite differences." % name)


def _softmax_values(p, z, name, order=True):
    """Refused unless ``p`` has the properties of softmax's values for the logits ``z``."""
    rows = p.sum(axis=1)
    summed = _which([
        (np.allclose(p.sum(axis=0), 1, atol=1e-4), "its columns do: you normalised over the batch "
         "axis (axis 0). Each row (one example) must sum to 1, divided by the sum over its own "
         "classes (axis 1)"),
        (np.isclose(p.sum(), 1, atol=1e-4), "the whole batch does: you divided by the sum over "
         "every example and class. Divide each row by its own sum")],
        "they sum to %s: divide each row by the sum of its exps" % ", ".join(
            "%.4g" % s for s in rows[:3]))
    reversed_ = (np.argsort(p, axis=1) == np.argsort(-z, axis=1)).all()
    _require(("finite", np.isfinite(p).all(), "%s returned inf or NaN for logits between -3 and "
              "3: look for a division by something that can be 0, or a log." % name),
             ("negative", (p >= 0).all(), "%s returned negative values (as low as %.3g): "
              "probabilities are never negative, and exp of any logit is positive." % (name, p.min())),
             ("rows", np.allclose(rows, 1, atol=1e-4), "the rows of %s's output must each sum to 1, "
              "and %s." % (name, summed)),
             ("order", not order or (np.argsort(p, axis=1) == np.argsort(z, axis=1)).all(),
              "%s must keep the order of the logits (the largest logit gets the largest "
              "probability), and it %s." % (name, "reverses it: check the sign inside exp"
                                            if reversed_ else "does not: exp is increasing, keep it so")))


@_verdict
def check_net(fn, name="net"):
    """Check a learner's ``net(X, params)``: probabilities for each row of a small batch, which
    depend on ``params`` (``W, b = params``), not on the notebook's global ``W`` and ``b``, and
    leave them as they were."""
    rng = np.random.RandomState(4)
    X, W, b = (np.float32(a) for a in (rng.uniform(0, 1, size=(4, 784)),
                                       rng.normal(0, .05, size=(784, 10)), rng.normal(0, .05, 10)))
    logits = X.astype(np.float64) @ W + b
    params = [_nd(W), _nd(b)]
    given = list(params)
    p = _output(fn, name, ("X", "params"), (4, 10), _nd(X), params)
    _require(("in place", _same_arrays(params, given) and np.array_equal(given[0].asnumpy(), W)
              and np.array_equal(given[1].asnumpy(), b), "%s changed its parameters (params[i] = "
              "... or W[:] = ...): training owns them and only SGD steps them; read them (W, b = "
              "params) and make new arrays." % name))
    _softmax_values(p, logits, name, order=False)
    _require(("params", np.allclose(p, _softmax(logits), atol=1e-4), "%s's probabilities are not "
              "softmax(X W + b) for the W and b in params: take them from its argument (W, b = "
              "params), not from the notebook's globals." % name))
    return Verdict(True, "%s: correct. softmax(X W + b) with the W and b it is given." % name)


@_verdict
def check_cross_entropy(fn, name="cross_entropy"):
    """Check a learner's ``cross_entropy(yhat, y)``: one value per example, minus the log of the
    probability given to the label, and a gradient that matches finite differences."""
    (labels, y), yhat = _labels(), _softmax(_logits() / 3)  # every probability well above 0
    loss = _output(fn, name, ("yhat", "y"), labels.shape, _nd(yhat), _nd(y), batch=yhat.shape)
    expected = -np.log(yhat[np.arange(4), labels])
    if not np.isfinite(loss).all():
        swapped = _output(fn, name, ("yhat", "y"), labels.shape, _nd(y), _nd(yhat))
        raise _Refused("finite", "%s returned inf or NaN for probabilities between 0 and 1%s." % (
            name, " with its arguments swapped: it takes the probabilities first, cross_entropy("
            "yhat, y), and log of the one-hot label's zeros is -inf" if np.allclose(
                swapped, expected, rtol=1e-4) else ": only the label's probability should enter "
            "a log, and here every probability is between 0 and 1"))
    i = int(np.argmax(np.abs(loss - expected)))
    _require(("value", np.allclose(loss, expected, rtol=1e-4, atol=1e-5), _which([
        (np.allclose(loss, -expected, rtol=1e-4), "%s returned negative losses: log of a "
         "probability is <= 0, and the cross-entropy is minus that: a minus sign is missing." % name),
        (np.allclose(loss, expected / 10, rtol=1e-4), "%s returned a tenth of the cross-entropy: "
         "you averaged over the 10 classes; add them up instead." % name),
        (np.allclose(loss, -np.log(yhat).sum(axis=1), rtol=1e-4), "%s added -log of every "
         "class's probability: multiply by the one-hot y first, so that only the label's "
         "probability counts." % name)],
        "for example %d (label %d, which gets probability %.4g) %s returned %.4g: the "
        "cross-entropy of one example is minus the log of the probability given to its label."
        % (i, labels[i], yhat[i, labels[i]], name, loss[i]))))
    _check_gradient(lambda p: fn(p, _nd(y, grad=False)), name, "yhat", yhat, 1e-4,
                    "the loss depends on the label's probability", labels.shape)
    return Verdict(True, "%s: correct. One value per example, minus the log of the probability "
                   "given to the label, and a gradient that matches finite differences." % name)


@_verdict
def check_SGD(fn, name="SGD"):
    """Check a learner's ``SGD(params, lr)``: each parameter changed in place by ``-lr * grad``,
    in the arrays that ``params`` holds (training keeps those)."""
    rng = np.random.RandomState(2)
    start, grads = [[rng.normal(size=(3, 2)), rng.normal(size=2)] for _ in range(2)]
    params, lr = [_nd(p) for p in start], 0.1
    for param, grad in zip(params, grads):
        param.grad[:] = grad
    given = list(params)
    _call(fn, name, ("params", "lr"), params, lr, recorded=False)
    _require(("in place", _same_arrays(params, given), "%s put new arrays into params (params[i] = "
              "...) instead of writing into the ones it holds: training keeps its own arrays, which "
              "then never move; write into each array itself (param[:] = ...)." % name))
    steps = [_values(p, name, p.shape) - s for p, s in zip(given, start)]
    moved = [not np.allclose(step, 0, atol=1e-7) for step in steps]
    ratio = np.concatenate([(step / -grad).ravel() for step, grad in zip(steps, grads)])
    _require(("in place", any(moved), "%s left the parameters unchanged: assigning to the loop's "
              "name (param = ...) makes a new array and leaves the one in params as it was; write "
              "into the array itself." % name),
             ("every parameter", all(moved), "%s changed only %s: every parameter in params needs "
              "its step (is a return inside the loop?)." % (
                  name, " and ".join(n for n, m in zip(("W", "b"), moved) if m))),
             ("direction", not np.allclose(ratio, -lr, rtol=1e-4), "%s moved the parameters up the "
              "gradient, which increases the loss: gradient descent steps against it." % name),
             ("size", not np.allclose(ratio, ratio[0], rtol=1e-4) or np.isclose(ratio[0], lr,
                                                                                rtol=1e-4),
              "%s stepped by %.4g times -grad with lr = %g: the step is the learning rate times "
              "the gradient." % (name, ratio[0], lr)),
             ("step", np.allclose(ratio, lr, rtol=1e-4), "%s moved the parameters, but not along "
              "-lr * grad: each parameter's step comes from its own .grad." % name))
    return Verdict(True, "%s: correct. Each parameter moved by -lr * grad, in place." % name)


# --- when training breaks ------------------------------------------------------------------------

def explain_not_finite(yhat, y_one_hot, loss, logits=None, name="softmax"):
    """One sentence on why ``loss`` (per example) is inf or NaN: what ``name`` (the softmax or
    net) returned for the batch, ``yhat``, and from which logits ``X W + b``, when known."""
    yhat, y = np.atleast_2d(_host(yhat)), np.atleast_2d(_host(y_one_hot))
    loss = np.atleast_1d(_host(loss))
    rows = np.flatnonzero(~np.isfinite(loss.reshape(len(loss), -1)).all(axis=1))
    if len(loss) != len(yhat) or not rows.size:
        return "cross_entropy returned a loss that is not one finite value per example."
    row = int(rows[0])
    p, label, z = yhat[row], int(np.argmax(y[row])), None if logits is None else _host(logits)
    if z is not None and not np.isfinite(z[row]).all():
        return ("the logits X W + b of row %d were already inf or NaN: the parameters blew up in an "
                "earlier step (a learning rate too large, or an SGD that does not step by "
                "-lr * grad)." % row)
    top, below = (0, 0) if z is None else (z[row].max(), z.max() - z[row].max())
    if np.isnan(p).any():
        return "%s returned NaN for row %d%s." % (name, row, "" if z is None else _which([
            (top > FLOAT32_EXP_LIMIT, ", whose logits reach %.4g: exp overflowed to inf (float32 "
             "ends at exp(%.1f)), and inf / inf = NaN; shift by the max before exp"
             % (top, FLOAT32_EXP_LIMIT)),
            (below > FLOAT32_EXP_LIMIT, ": its largest logit is %.4g below the batch's largest, so "
             "after shifting by the batch's max every exp of the row underflows to 0 and 0 / 0 = "
             "NaN; shift each row by its own max" % below)],
            ", although its logits are between %.4g and %.4g" % (z[row].min(), top)))
    if np.isinf(p).any():
        return ("%s returned inf for row %d%s: a probability is at most 1, so exp must not overflow "
                "and each row is divided by its sum." % (name, row, "" if z is None else
                                                         ", whose logits reach %.4g (exp overflows "
                                                         "float32 above %.1f)" % (top, FLOAT32_EXP_LIMIT)))
    if (p < 0).any():
        return ("%s returned a negative value (%.4g) for row %d; log of a negative number is NaN."
                % (name, p.min(), row))
    if not (p == 0).any():
        return ("cross_entropy returned %s for row %d although %s's probabilities there are finite "
                "and above 0: run check_cross_entropy on it." % (loss[row], row, name))
    zero = label if p[label] == 0 else int(np.argmax(p == 0))
    cause = "" if z is None else (
        " (its logit %.4g is %.4g below the batch's largest and %.4g below its row's: exp of a "
        "number that negative underflows to 0 in float32; a softmax shifted by each row's own "
        "max, or a cross-entropy computed from the logits by log-sum-exp, avoids it)"
        % (z[row, zero], z.max() - z[row, zero], top - z[row, zero]))
    if zero == label:
        return ("%s returned 0 for the true class of row %d (label %d); log(0) = -inf%s."
                % (name, row, label, cause))
    return ("%s returned 0 for class %d of row %d; log(0) = -inf, and the one-hot label's 0 times "
            "-inf is NaN%s." % (name, zero, row, cause))


def _host(a):
    return (a.asnumpy() if isinstance(a, nd.NDArray) else np.asarray(a)).astype(np.float64)


def check_batch(epoch, batch, output, label_one_hot, loss, logits=None, name="softmax"):
    """For the tutorial's loop written out: raise :class:`Diverged` with a sentence if this
    batch's loss is inf or NaN, else nothing (it costs one copy of the batch's losses)."""
    values = _host(loss)
    if not np.isfinite(values).all():
        raise Diverged(epoch, batch, np.float32(values.mean()),
                       explain_not_finite(output, label_one_hot, loss, logits, name))


# --- the exercises of notebooks/exercises.ipynb --------------------------------------------------

class Question:
    """A multiple-choice question: ``options`` {letter: text}, the ``answer`` letter, and for each
    wrong letter a ``hint`` that says where to look, not what to answer."""

    def __init__(self, text, options, answer, hints):
        self.text, self.options, self.answer, self.hints = text, options, answer, hints

    def _repr_markdown_(self):
        return "**%s**\n\n" % self.text + "\n".join(
            "- `%s`: %s" % item for item in self.options.items())

    def __repr__(self):
        return self.text + "\n" + "\n".join("  %s) %s" % item for item in self.options.items())

    def verdict(self, letter, name, solved=""):
        """The verdict on ``letter`` once the rest of the exercise (``solved``, a sentence) is
        right; refused (inside a check) otherwise."""
        before, options = solved + " " if solved else "", ", ".join(map(repr, self.options))
        if letter is None:
            raise _Refused("not done", "%s%s %s (set %s to one of %s)." % (
                before, self.text, NOT_DONE, name, options))
        letter = letter.strip().lower() if isinstance(letter, str) else letter
        _require(("choice", isinstance(letter, str) and letter in self.options,
                  "%s is %s: answer with one of %s." % (name, repr(letter)[:40], options)))
        _require(("why", letter == self.answer, "%s%s = %r is not why: %s" % (
            before, name, letter, self.hints.get(letter))))
        return Verdict(True, "correct. %s%r is why." % (before, letter))


QUESTIONS = dict(
    learning_rate=Question(
        "Why does a larger learning rate fail?",
        dict(a="The steps overshoot the minimum, so the loss goes up and down but stays finite.",
             b="One step of lr times the batch's summed gradient changes W so much that the next "
               "batch's logits spread over hundreds; the tutorial's softmax then gives "
               "probabilities of exactly 0, log(0) = -inf and 0 * log(0) = NaN.",
             c="float32 cannot hold learning rates above 0.01."),
        "b", dict(a="print the loss of the first few batches at the rate above yours: does it "
                    "stay finite?",
                  c="float32 holds numbers up to 3.4e38; look at what the logits X W + b become "
                    "after one step instead.")),
    batch_size=Question(
        "After one epoch at learning rate 0.001, how does the test accuracy depend on the batch size?",
        dict(a="Smaller batches are clearly better: they take more steps per epoch.",
             b="About the same: loss.backward() on a batch's vector of losses adds up the examples' "
               "gradients, so a step grows with the batch, and one epoch moves W about as far in "
               "fewer, larger steps (until a step is so large that the loss becomes NaN).",
             c="Larger batches are clearly better: their gradients are less noisy."),
        "b", dict(a="compare your numbers for 16 and 256: 16 takes 16 times as many steps. How "
                    "large is each step? Look at what loss.backward() does with a vector of losses.",
                  c="compare your numbers for 64 and 1024, and how large a step at 1024 is "
                    "against one at 64 with the same learning rate.")),
    border=Question(
        "Why do these weights never move from W_init?",
        dict(a="Their gradient is exactly 0: the gradient of W[j, k] adds up x_j * (yhat_k - y_k) "
               "over the batch, and x_j is 0 in every training image.",
             b="The learning rate is too small for them to move visibly.",
             c="softmax ignores the pixels at the border."),
        "a", dict(b="they do not move at all, not even in the last bit: compare W and W_init with ==.",
                  c="softmax sees only the 10 logits; look at how a pixel enters the logits, "
                    "X W + b, and so the gradient of W.")),
    temperature=Question(
        "What does a temperature T > 1 do to the probabilities softmax(z / T)?",
        dict(a="It flattens them towards 1/10 each and keeps their order: the model is less sure.",
             b="It sharpens them: the most probable class gets even more.",
             c="It can change which class is the most probable."),
        "a", dict(b="print your softmax_T of one row for T = 1 and T = 3 and compare the largest "
                    "probability.",
                  c="dividing every logit by the same T > 0 keeps their order; compare the argmax "
                    "for T = 1 and T = 3.")),
)


def ask(name):
    """The question ``name`` of :data:`QUESTIONS`, shown as its options in a notebook."""
    return QUESTIONS[Options(QUESTIONS).check("name", name)]


@_verdict
def exercise_stable_softmax(fn):
    """A softmax that is correct and stays finite for a batch of 10,000 rows whose logits lie from
    -100 to 100 (each row far from the others), not only for a row holding +-100."""
    name = "stable_softmax"
    basic = check_softmax(fn, name)
    if not basic.ok:
        return basic
    z = np.linspace(-100, 100, 10000)[:, None] + np.random.RandomState(3).normal(0, 5, (10000, 10))
    p = _output(fn, name, ("y_linear",), z.shape, _nd(z))
    bad = np.flatnonzero(~np.isfinite(p).all(axis=1))
    row = int(bad[0]) if bad.size else 0
    gap = np.abs(p - _softmax(z)).max()
    _require(("batch", not bad.size, "%s returned NaN for %d of 10,000 rows, such as row %d, whose "
              "largest logit is %.4g below the batch's largest: shifted by one max for the whole "
              "batch, every exp of that row underflows to 0, and 0 / 0 = NaN. The shift need not "
              "be the same for every row." % (name, bad.size, row, z.max() - z[row].max())),
             ("batch", gap <= 1e-5, "%s is finite for the batch of 10,000 but differs from softmax "
              "by up to %.3g there: every row must still sum to 1 over its own classes." % (name, gap)))
    return Verdict(True, "correct: %s stays finite and exact for a batch of 10,000 rows with "
                   "logits from -100 to 100, and passes every check of check_softmax." % name)


@_verdict
def exercise_cross_entropy_from_logits(fn):
    """Cross-entropy ``fn(y_linear, y)`` from the logits: values, finite for logits of +-100 where
    the true class gets a probability below float32's smallest, and the gradient."""
    name, argnames = "cross_entropy_from_logits", ("y_linear", "y")
    (labels, y), z = _labels(), _logits()
    loss = _output(fn, name, argnames, labels.shape, _nd(z), _nd(y), batch=z.shape)
    expected = -_log_softmax(z)[np.arange(4), labels]
    _require(("value", np.allclose(loss, expected, rtol=1e-4, atol=1e-4), _which([
        (np.allclose(loss, expected - z.max(axis=1), rtol=1e-4, atol=1e-4), "%s's values are off "
         "by each row's largest logit: what you subtract inside the exp must come back outside the "
         "log." % name)],
        "%s returned %.4g for example 0 (label %d): the cross-entropy is minus the log of the "
        "label's probability, -log softmax(z)[label]." % (name, loss[0], labels[0]))))
    over, under = _logits(3) * 1.5 + 90.5, _big_logits()  # exp overflows; the label's underflows
    for probe, label, hint in (
            (over, _labels(3)[0], "exp(%d) overflows float32: take each row's largest logit out of "
             "the sum before exp; it comes back outside the log." % over.max()),
            (under, under.argmin(axis=1), "the label's probability, exp(-200) relative to the "
             "largest, underflows to 0 and log(0) = -inf: stay in log space, log softmax(z) = "
             "z - log(sum(exp(z))), instead of taking the log of softmax's output.")):
        got = _output(fn, name, argnames, label.shape, _nd(probe), _nd(np.eye(10)[label]))
        want = -_log_softmax(probe)[np.arange(3), label]
        _require(("log space", np.allclose(got, want, rtol=1e-4), "%s returned %s where the loss "
                  "is %s: %s" % (name, np.array2string(got, precision=4),
                                 np.array2string(want, precision=4), hint)))
    _check_gradient(lambda x: fn(x, _nd(y, grad=False)), name, "y_linear", z, 1e-2,
                    "the loss depends on each logit", labels.shape)
    return Verdict(True, "correct: %s matches -log softmax, stays exact for logits of +-100 and "
                   "its gradient matches finite differences." % name)


def one_epoch(splits, ctx, batch_size=64, learning_rate=0.001):
    """Test accuracy after one epoch of the tutorial's model from the N(0, 1) start of seed 0,
    or 'diverged (...)' with the sentence of the :class:`Diverged` that stopped it."""
    from .loop import compiled, fit
    from .model import init_params
    mx.random.seed(0)
    params = init_params(ctx)
    try:
        (row,) = fit(params, compiled(splits, ctx, batch_size, 0), 1, learning_rate)
    except Diverged as err:
        return "diverged (%s)" % err
    return row["test_acc"]


LEARNING_RATES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.)


@_verdict
@validate_params({"splits": C["splits"], "ctx": C["ctx"]})
def exercise_largest_learning_rate(learning_rate, why, splits, ctx):
    """The largest of :data:`LEARNING_RATES` at which one epoch from seed 0's start keeps a finite
    loss, checked by training at it and at the next one; then why the next one fails."""
    rate = _given(learning_rate, "largest_learning_rate")
    _require(("choice", isinstance(rate, numbers.Real) and not isinstance(rate, (bool, np.bool_))
              and rate in LEARNING_RATES, "largest_learning_rate is %s: pick one of %s." % (
                  repr(rate)[:40], ", ".join(map(str, LEARNING_RATES)))))
    result = one_epoch(splits, ctx, learning_rate=rate)
    _require(("too large", isinstance(result, float), "at learning rate %g %s: a smaller one."
              % (rate, result)))
    larger = LEARNING_RATES[LEARNING_RATES.index(rate) + 1:][:1]
    if larger and isinstance(one_epoch(splits, ctx, learning_rate=larger[0]), float):
        raise _Refused("too small", "%g trains (test accuracy %.4g), and so does %g: try larger "
                       "ones." % (rate, result, larger[0]))
    return QUESTIONS["learning_rate"].verdict(why, "why_learning_rate", "%g is the largest that "
                                              "trains (test accuracy %.4g after one epoch)%s." % (
                                                  rate, result, "; at %g the loss becomes NaN"
                                                  % larger[0] if larger else ""))


@_verdict
def exercise_batch_size(why):
    """The multiple-choice question on batch size against accuracy after one epoch."""
    return QUESTIONS["batch_size"].verdict(why, "why_batch_size")


@_verdict
@validate_params({"splits": C["splits"]})
def exercise_border_pixels(mask, why, splits):
    """A mask of the pixels whose weights never move, against the pixels that are 0 in every
    training image of ``splits``; then why they never move."""
    said = ("never_moved must hold one True or False per pixel, 784 of them (a (28, 28) or (784,) "
            "array), not %s")
    _given(mask, "never_moved")
    with translated((Exception, Warning), lambda err: _Refused("shape", said % type(mask).__name__)), \
            warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy < 1.24 only warns about a ragged list
        mask = mask.asnumpy() if isinstance(mask, nd.NDArray) else np.asarray(mask)
    _require(("shape", mask.dtype.kind in "biuf" and mask.size == 784 and np.isin(mask, (0, 1)).all(),
              said % ("%s of shape %s" % (mask.dtype, mask.shape))))
    mask = mask.reshape(28, 28).astype(bool)
    inked = np.asarray(splits.train[0]).reshape(-1, 28, 28).max(axis=0) > 0
    for wrong, what, moves in ((mask & inked, "marks %d pixels that some training image inks",
                                "do move"),
                               (~inked & ~mask, "misses %d pixels that no training image inks",
                                "never move")):
        if wrong.any():
            r, c = np.argwhere(wrong)[0]
            raise _Refused("mask", "never_moved %s, such as row %d, column %d: their weights %s."
                           % (what % wrong.sum(), r, c, moves))
    return QUESTIONS["border"].verdict(why, "why_never_moved", "never_moved is right: %d pixels."
                                       % mask.sum())


@_verdict
def exercise_temperature(fn, why):
    """``fn(y_linear, T)``, softmax of the logits divided by T, for T = 0.5, 1 and 3; then what
    T > 1 does."""
    name, z = "softmax_T", _logits()
    for T in (1., 3., .5):
        p, want = _output(fn, name, ("y_linear", "T"), z.shape, _nd(z), T), _softmax(z, T)
        _require(("temperature", np.allclose(p, want, atol=1e-5), _which([
            (np.allclose(p, _softmax(z, 1 / T), atol=1e-5), "with T = %g your probabilities %s "
             "(largest %.3g, against %.3g at T = 1): the temperature divides the logits." % (
                 T, "sharpened" if T > 1 else "flattened", p[0].max(), _softmax(z)[0].max())),
            (np.allclose(p, _softmax(z) / T, atol=1e-5), "with T = %g the rows of %s sum to %.3g: "
             "divide the logits by T before softmax, not the probabilities." % (T, name, 1 / T))],
            "with T = %g %s differs from softmax(y_linear / T) by up to %.3g%s." % (
                T, name, np.abs(p - want).max(), "" if T != 1 else ": at T = 1 it must be softmax "
                "itself"))))
    return QUESTIONS["temperature"].verdict(why, "why_temperature",
                                            "softmax_T is right for T = 0.5, 1 and 3.")
