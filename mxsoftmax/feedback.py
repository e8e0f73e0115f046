"""Feedback on a learner's own functions: checks before training, one sentence when training breaks,
the exercises of ``notebooks/exercises.ipynb``; each a :class:`Verdict` with a hint, never the answer."""
import collections
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
from .loop import compiled, fit
from .model import init_params
from .validation import CONSTRAINTS as C, Options, validate_params

FLOAT32_EXP_LIMIT = 88.7  # exp(88.7) is about the largest float32, 3.4e38
LABELS = np.arange(4) * 3 % 10  # of the crafted batches


class Verdict(collections.namedtuple("Verdict", "ok message failed", defaults=(None,))):
    """What a check found: ``ok``, one ``message`` and the name of the property that ``failed``."""

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


def _require(holds, failed, message, **facts):
    if not holds:
        raise _Refused(failed, message.format(**facts))


def _which(mistakes, otherwise):
    """The message of the first usual mistake ``(found, message)`` found, else ``otherwise``."""
    return next((message for found, message in mistakes if found), otherwise)


class _Learner:
    """The learner's ``fn``, called ``name(*argnames)`` as training calls it: its code runs only here."""

    def __init__(self, fn, name, *argnames):
        self.fn, self.name, self.argnames = fn, name, argnames

    def require(self, holds, failed, message, **facts):
        _require(holds, failed, message, name=self.name, **facts)

    def __call__(self, *args, recorded=True):
        """``fn(*args)``, recorded by autograd as in training; refused if blank, of other arity or raising."""
        self.require(self.fn is not None, "not done", "{name}: not done yet (it is None).")
        self.require(callable(self.fn), "type", "{name} must be a function, not {kind}.",
                     kind=type(self.fn).__name__)
        signature = ""  # a builtin without one (ValueError): let the call decide
        with contextlib.suppress(ValueError), translated(TypeError, lambda err: _Refused(
                "arity", "%s%s cannot be called as %s(%s): it must take exactly %d argument%s without a "
                "default (an extra F=nd is fine)." % (self.name, signature, self.name, ", ".join(
                    self.argnames), len(args), "" if len(args) == 1 else "s"))):
            signature = inspect.signature(self.fn)
            signature.bind(*args)
        with translated(Exception, functools.partial(self._raised, args)):
            with autograd.record() if recorded else contextlib.nullcontext():
                result = self.fn(*args)
        self.require(result is not NotImplemented, "not done", "{name}: not done yet (it returns "
                     "NotImplemented).")
        return result

    def _raised(self, args, err):
        """The refusal for ``err``, raised by the function or by MXNet when its result is read."""
        mxnet, name = isinstance(err, mx.MXNetError), self.name
        if isinstance(err, NotImplementedError):
            return _Refused("not done", "%s: not done yet (it raises NotImplementedError)." % name)
        if isinstance(err, AssertionError):
            return _Refused("symbol", "%s raised AssertionError: MXNet got a Symbol where it takes an "
                            "NDArray; use nd operations, as the tutorial does." % name)
        if mxnet and "inplace operations" in str(err).lower():
            return _Refused("in place", "%s writes into an array in place (e /= ..., l *= -1, or W[:] = ... "
                            "into what it is given), which MXNet refuses while autograd records, as in "
                            "training: make a new array (e = e / ...)." % name)
        if mxnet:
            return _Refused("mxnet", "MXNet refused an operation in %s for inputs of shape %s (%s): most "
                            "often shapes that do not broadcast, such as (N, 10) and a sum of shape (N,); "
                            "keep the summed axis (keepdims=True)." % (name, " and ".join(
                                str(getattr(a, "shape", type(a).__name__)) for a in args), reason(err)))
        return _Refused("raised", "%s raised %s: %s" % (name, type(err).__name__, reason(err)))

    def values(self, shape, *args, batch=None):
        return self.read(self(*args), shape, batch)

    def read(self, result, shape, batch=None):
        """``result`` as float64 numpy, refused unless a float32 NDArray of ``shape`` (a ``batch``'s loss)."""
        self.require(result is not None, "type", "{name} returned None: a return statement is missing.")
        self.require(not isinstance(result, np.ndarray), "type", "{name} returned a numpy array: "
                     "autograd follows only NDArrays (no .asnumpy()).")
        self.require(isinstance(result, nd.NDArray), "type", "{name} returned {kind}, not an NDArray.",
                     kind=type(result).__name__)
        got = result.shape
        said = {(): "a single number", (1,): "a single number", batch: "one value per probability: add "
                "up each example's row", batch[1:]: "one value per class: you summed over the batch axis "
                "(axis 0), not over each example's classes"} if batch else {}
        self.require(got == shape, "shape", "{name} returned {said}; the loss has one value per example, "
                     "shape {shape}." if batch else "{name} returned shape {got} where shape {shape} is "
                     "expected.", got=got, shape=shape, said=said.get(got, "shape %s" % (got,)))
        self.require(result.dtype == np.float32, "dtype", "{name} returned {dtype} values: keep the "
                     "float32 of its input (no .astype, no dtype=), as training's arrays are.",
                     dtype=np.dtype(result.dtype).name)
        with translated(Exception, functools.partial(self._raised, ())):
            return result.asnumpy().astype(np.float64)

    def gradient(self, x, eps, shape, what):
        """Refused unless autograd's gradient of ``sum(w * fn(x))`` is the central finite differences'."""
        weights, x_nd = np.random.RandomState(1).uniform(.5, 1.5, size=shape), _nd(x)
        with autograd.record():
            out = self(x_nd)
            self.read(out, shape)
            total = nd.sum(out * _nd(weights, grad=False))
        with translated(Exception, lambda err: _Refused(
                "gradient", "autograd cannot differentiate %s: its output is not computed from its input "
                "by nd operations (no .asnumpy(), nd.array(...) or Python numbers)." % self.name)):
            total.backward()
            grad = x_nd.grad.asnumpy().astype(np.float64)
        x, numeric = np.float32(x), np.zeros_like(grad)
        steps = np.eye(x.size, dtype=np.float32).reshape((-1,) + x.shape) * np.float32(eps)
        for index, step in zip(np.ndindex(*x.shape), steps):
            numeric[index] = sum(sign * np.sum(self.values(shape, _nd(x + sign * step)) * weights)
                                 for sign in (1, -1)) / (2 * eps)
        gaps = np.abs(grad - numeric) / (1e-2 + np.abs(numeric))
        at = np.unravel_index(np.argmax(gaps), gaps.shape)
        self.require(gaps[at] <= 2e-2, "gradient", "the gradient of {name} does not match finite "
                     "differences (at {at}: autograd {grad:.4g}, finite differences {numeric:.4g}): part of "
                     "it is hidden from autograd (.detach(), nd.stop_gradient, .asnumpy(), nd.array(...)), "
                     "which misses how {what}.", at=tuple(map(int, at)), grad=grad[at],
                     numeric=numeric[at], what=what)


def _logits(rows=4, seed=0):
    """Logits from -3 to 3, each row a permutation of steps 0.6 apart: no ties blur the order."""
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


def _nd(a, grad=True):
    """``a`` as float32 NDArray whose operations autograd records (unless not ``grad``), as W's."""
    x = nd.array(a, dtype=np.float32)
    if grad:
        x.attach_grad()
    return x


@_verdict
def check_softmax(fn, name="softmax"):
    """Check a learner's ``softmax(y_linear)``: what its verdict lists, and which mistake otherwise."""
    softmax, z, big = _Learner(fn, name, "y_linear"), _logits(), _big_logits()
    _softmax_values(softmax, softmax.values(z.shape, _nd(z)), z)
    p = softmax.values(big.shape, _nd(big))
    softmax.require(np.isfinite(p).all(), "overflow", "{name} returned inf or NaN for logits of +-100: "
                    "exp(100) overflows float32; softmax(z) = softmax(z - c) for any c, so shift the "
                    "logits by their max before exp.")
    _softmax_values(softmax, p, big, order=False)
    softmax.gradient(z, 1e-2, z.shape, "each probability depends on every logit of its row")
    return Verdict(True, "%s: correct. Rows sum to 1, no negative values, the input's shape, the logits' "
                   "order, finite for logits of +-100, and a gradient that matches finite differences."
                   % name)


def _softmax_values(softmax, p, z, order=True):
    """Refused unless ``p`` has the properties of softmax's values for the logits ``z``."""
    softmax.require(np.isfinite(p).all(), "finite", "{name} returned inf or NaN for logits between -3 "
                    "and 3: look for a division by something that can be 0, or a log.")
    softmax.require((p >= 0).all(), "negative", "{name} returned negative values ({low:.3g}): "
                    "probabilities are never negative.", low=p.min())
    rows = p.sum(axis=1)
    softmax.require(np.allclose(rows, 1, atol=1e-4), "rows", "the rows of {name}'s output must each sum "
                    "to 1, and " + _which([
                        (np.allclose(p.sum(axis=0), 1, atol=1e-4), "its columns do: you normalised over "
                         "the batch axis (axis 0), not each row over its classes."),
                        (np.isclose(p.sum(), 1, atol=1e-4), "the whole batch does: divide each row by "
                         "its own sum.")], "they sum to {sums}: divide each row by the sum of its exps."),
                    sums=", ".join("%.4g" % s for s in rows[:3]))
    ranks = np.argsort(p, axis=1)
    softmax.require(not order or (ranks == np.argsort(z, axis=1)).all(), "order", "{name} must keep the "
                    "order of the logits, and it " + ("reverses it: check the sign inside exp." if (
                        ranks == np.argsort(-z, axis=1)).all() else "does not: exp is increasing."))


@_verdict
def check_net(fn, name="net"):
    """Check a learner's ``net(X, params)``: softmax(X W + b) of the W and b given, left as they were."""
    rng, net = np.random.RandomState(4), _Learner(fn, name, "X", "params")
    X, W, b = (np.float32(a) for a in (rng.uniform(0, 1, size=(4, 784)),
                                       rng.normal(0, .05, size=(784, 10)), rng.normal(0, .05, 10)))
    params = [_nd(W), _nd(b)]
    given = list(params)
    p = net.values((4, 10), _nd(X), params)
    net.require(list(map(id, params)) == list(map(id, given)) and all(
        np.array_equal(net.read(g, w.shape), w) for g, w in zip(given, (W, b))), "in place",
        "{name} changed its parameters (params[i] = ... or W[:] = ...): in training only SGD does.")
    logits = X.astype(np.float64) @ W + b
    _softmax_values(net, p, logits, order=False)
    net.require(np.allclose(p, _softmax(logits), atol=1e-4), "params", "{name}'s probabilities are not "
                "softmax(X W + b) for the W and b in params: take them from its argument (W, b = params), "
                "not the notebook's globals.")
    return Verdict(True, "%s: correct. softmax(X W + b) with the W and b it is given." % name)


@_verdict
def check_cross_entropy(fn, name="cross_entropy"):
    """Check a learner's ``cross_entropy(yhat, y)``: what its verdict lists, and which mistake otherwise."""
    ce = _Learner(fn, name, "yhat", "y")
    labels, y, yhat = LABELS, np.eye(10)[LABELS], _softmax(_logits() / 3)  # each probability well above 0
    loss = ce.values(labels.shape, _nd(yhat), _nd(y), batch=yhat.shape)
    expected = -np.log(yhat[np.arange(4), labels])
    if not np.isfinite(loss).all():
        swapped = np.allclose(ce.values(labels.shape, _nd(y), _nd(yhat)), expected, rtol=1e-4)
        ce.require(False, "finite", "{name} returned inf or NaN for probabilities between 0 and 1" + (
            " with its arguments swapped: it takes the probabilities first, cross_entropy(yhat, y)."
            if swapped else ": only the label's probability should enter a log."))
    i = int(np.argmax(np.abs(loss - expected)))
    ce.require(np.allclose(loss, expected, rtol=1e-4, atol=1e-5), "value", _which([
        (np.allclose(loss, -expected, rtol=1e-4), "{name} returned negative losses: a minus sign is "
         "missing (the log of a probability is <= 0)."),
        (np.allclose(loss, expected / 10, rtol=1e-4), "{name} returned a tenth of the cross-entropy: "
         "you averaged over the 10 classes; add them up."),
        (np.allclose(loss, -np.log(yhat).sum(axis=1), rtol=1e-4), "{name} added -log of every class's "
         "probability: multiply by the one-hot y first.")],
        "for example {i} (label {label}, probability {p:.4g}) {name} returned {got:.4g}, not minus the "
        "log of the label's probability."), i=i, label=labels[i], p=yhat[i, labels[i]], got=loss[i])
    _Learner(lambda p: fn(p, _nd(y, grad=False)), name, "yhat").gradient(
        yhat, 1e-4, labels.shape, "the loss depends on the label's probability")
    return Verdict(True, "%s: correct. One value per example, minus the log of the label's probability, "
                   "and a gradient that matches finite differences." % name)


@_verdict
def check_SGD(fn, name="SGD"):
    """Check a learner's ``SGD(params, lr)``: each parameter moved by ``-lr * grad``, in the arrays given."""
    rng, sgd = np.random.RandomState(2), _Learner(fn, name, "params", "lr")
    start, grads = [[rng.normal(size=(3, 2)), rng.normal(size=2)] for _ in range(2)]
    params, lr = [_nd(p) for p in start], 0.1
    for param, grad in zip(params, grads):
        param.grad[:] = grad
    given = list(params)
    sgd(params, lr, recorded=False)
    sgd.require(list(map(id, params)) == list(map(id, given)), "in place", "{name} put new arrays into "
                "params (params[i] = ...): training keeps its own, so write into each (param[:] = ...).")
    steps = [sgd.read(p, p.shape) - s for p, s in zip(given, start)]
    moved = [not np.allclose(step, 0, atol=1e-7) for step in steps]
    sgd.require(any(moved), "in place", "{name} left the parameters unchanged: param = ... makes a new "
                "array and leaves the one in params as it was; write into it (param[:] = ...).")
    sgd.require(all(moved), "every parameter", "{name} changed only {moved}: every parameter needs its "
                "step (is a return inside the loop?).", moved=" and ".join(
                    n for n, m in zip(("W", "b"), moved) if m))
    ratio = np.concatenate([(step / -grad).ravel() for step, grad in zip(steps, grads)])
    sgd.require(not np.allclose(ratio, -lr, rtol=1e-4), "direction", "{name} moved the parameters up the "
                "gradient: descent steps against it.")
    sgd.require(not np.allclose(ratio, ratio[0], rtol=1e-4) or np.isclose(ratio[0], lr, rtol=1e-4),
                "size", "{name} stepped by {ratio:.4g} times -grad with lr = {lr:g}: the step is lr times "
                "the gradient.", ratio=ratio[0], lr=lr)
    sgd.require(np.allclose(ratio, lr, rtol=1e-4), "step", "{name} moved the parameters, but not along "
                "-lr * grad: each parameter's step comes from its own .grad.")
    return Verdict(True, "%s: correct. Each parameter moved by -lr * grad, in place." % name)


def explain_not_finite(yhat, y_one_hot, loss, logits=None, name="softmax"):
    """One sentence on why ``loss`` (per example) is inf or NaN: what ``name`` (the softmax or net)
    returned for the batch, ``yhat``, and from which logits ``X W + b``, when known."""
    yhat, y = np.atleast_2d(_host(yhat)), np.atleast_2d(_host(y_one_hot))
    loss = np.atleast_1d(_host(loss))
    rows = np.flatnonzero(~np.isfinite(loss.reshape(len(loss), -1)).all(axis=1))
    if len(loss) != len(yhat) or not rows.size:
        return "cross_entropy returned a loss that is not one finite value per example."
    row, known = int(rows[0]), logits is not None
    p, label, z = yhat[row], int(np.argmax(y[row])), _host(logits) if known else np.zeros_like(yhat)
    if not np.isfinite(z[row]).all():
        return ("the logits X W + b of row %d were already inf or NaN: an earlier step made the "
                "parameters so, by a gradient that was not finite (the tutorial's softmax, shifted by the "
                "batch's max, gives one while the loss is still finite for a row whose logits sit about 54 "
                "or more below the batch's largest: shift each row by its own max), a learning rate too "
                "large, or an SGD that does not step by -lr * grad." % row)
    top, below = z[row].max(), z.max() - z[row].max()
    zero = label if p[label] == 0 else int(np.argmax(p == 0))
    return _which([
        (np.isnan(p).any(), "{name} returned NaN for row {row}" + ("." if not known else _which([
            (top > FLOAT32_EXP_LIMIT, ", whose logits reach {top:.4g}: exp overflowed to inf, and inf / "
             "inf = NaN; shift by the max before exp."),
            (below > FLOAT32_EXP_LIMIT, ": its largest logit is {below:.4g} below the batch's, so shifted "
             "by the batch's max its every exp underflows to 0, and 0 / 0 = NaN; shift each row by its "
             "own max.")], ", although its logits are between {bottom:.4g} and {top:.4g}."))),
        (np.isinf(p).any(), "{name} returned inf for row {row}" + (
            ", whose logits reach {top:.4g} (exp overflows float32 above 88.7)" if known else "")
         + ": a probability is at most 1."),
        ((p < 0).any(), "{name} returned a negative value ({low:.4g}) for row {row}; log of a negative "
         "number is NaN."),
        (not (p == 0).any(), "cross_entropy returned {loss} for row {row} although {name}'s "
         "probabilities there are finite and above 0: run check_cross_entropy on it."),
        (zero == label, "{name} returned 0 for the true class of row {row} (label {label}); log(0) = "
         "-inf{cause}.")],
        "{name} returned 0 for class {zero} of row {row}; log(0) = -inf, and the one-hot label's 0 times "
        "-inf is NaN{cause}.").format(
            name=name, row=row, top=top, below=below, bottom=z[row].min(), low=p.min(), loss=loss[row],
            label=label, zero=zero, cause=" (its logit %.4g is %.4g below the batch's largest and %.4g "
            "below its row's: its exp underflows to 0 in float32; a softmax shifted by each row's own "
            "max, or a cross-entropy from the logits by log-sum-exp, avoids it)" % (
                z[row, zero], z.max() - z[row, zero], top - z[row, zero]) if known else "")


def _host(a):
    return (a.asnumpy() if isinstance(a, nd.NDArray) else np.asarray(a)).astype(np.float64)


def check_batch(epoch, batch, output, label_one_hot, loss):
    """The tutorial's loop written out: :class:`Diverged` and a sentence if a batch's loss is not finite."""
    values = _host(loss)
    if not np.isfinite(values).all():
        raise Diverged(epoch, batch, np.float32(values.mean()),
                       explain_not_finite(output, label_one_hot, loss))


class Question(collections.namedtuple("Question", "text options answer hints")):
    """A multiple-choice question: ``options`` {letter: text}, the ``answer``, and hints where to look."""

    def _repr_markdown_(self):
        return "**%s**\n\n" % self.text + "\n".join("- `%s`: %s" % o for o in self.options.items())

    def __repr__(self):
        return self.text + "\n" + "\n".join("  %s) %s" % o for o in self.options.items())

    def verdict(self, letter, name, solved=""):
        """Inside a check: the verdict on ``letter``, once the rest (``solved``, said) is right."""
        facts = dict(name=name, solved=solved + " " if solved else "", text=self.text,
                     options=", ".join(map(repr, self.options)))
        _require(letter is not None, "not done", "{solved}{text} not done yet (set {name} to one of "
                 "{options}).", **facts)
        letter = letter.strip().lower() if isinstance(letter, str) else letter
        _require(isinstance(letter, str) and letter in self.options, "choice", "{name} is {value}: "
                 "answer with one of {options}.", value=repr(letter)[:40], **facts)
        _require(letter == self.answer, "why", "{solved}{name} = {letter!r} is not why: {hint}",
                 letter=letter, hint=self.hints.get(letter), **facts)
        return Verdict(True, "correct. %s%r is why." % (facts["solved"], letter))


QUESTIONS = dict(
    learning_rate=Question(
        "Why does a larger learning rate fail?",
        dict(a="The steps overshoot the minimum, so the loss goes up and down but stays finite.",
             b="One step of lr times the batch's summed gradient moves W so far that the next batch's "
               "logits spread over hundreds; the tutorial's softmax then gives probabilities of exactly "
               "0, log(0) = -inf and 0 * log(0) = NaN.",
             c="float32 cannot hold learning rates above 0.01."),
        "b", dict(a="print the loss of the first batches at the rate above yours: is it finite?",
                  c="float32 holds numbers up to 3.4e38; look at the logits X W + b after one step.")),
    batch_size=Question(
        "After one epoch at learning rate 0.001, how does the test accuracy depend on the batch size?",
        dict(a="Smaller batches are clearly better: they take more steps per epoch.",
             b="About the same: loss.backward() on a batch's vector of losses adds up the examples' "
               "gradients, so a step grows with the batch, and one epoch moves W about as far in fewer, "
               "larger steps (until a step is so large that the loss becomes NaN).",
             c="Larger batches are clearly better: their gradients are less noisy."),
        "b", dict(a="16 takes 16 times as many steps as 256: how large is each step? Look at what "
                    "loss.backward() does with a vector of losses.",
                  c="compare how large a step at 1024 is against one at 64 with the same learning rate.")),
    border=Question(
        "Why do these weights never move from W_init?",
        dict(a="Their gradient is exactly 0: the gradient of W[j, k] adds up x_j * (yhat_k - y_k) over "
               "the batch, and x_j is 0 in every training image.",
             b="The learning rate is too small for them to move visibly.",
             c="softmax ignores the pixels at the border."),
        "a", dict(b="they do not move at all, not even in the last bit: compare W and W_init with ==.",
                  c="softmax sees only the 10 logits; look at how a pixel enters X W + b, and so the "
                    "gradient of W.")),
    temperature=Question(
        "What does a temperature T > 1 do to the probabilities softmax(z / T)?",
        dict(a="It flattens them towards 1/10 each and keeps their order: the model is less sure.",
             b="It sharpens them: the most probable class gets even more.",
             c="It can change which class is the most probable."),
        "a", dict(b="print your softmax_T of one row for T = 1 and T = 3 and compare the largest "
                    "probability.",
                  c="dividing every logit by the same T > 0 keeps their order; compare the argmax for "
                    "T = 1 and T = 3.")),
)


def ask(name):
    """The question ``name`` of :data:`QUESTIONS`, shown as its options in a notebook."""
    return QUESTIONS[Options(QUESTIONS).check("name", name)]


@_verdict
def exercise_stable_softmax(fn):
    """A softmax that passes :func:`check_softmax` and stays finite for rows far apart from each other."""
    softmax = _Learner(fn, "stable_softmax", "y_linear")
    basic = check_softmax(fn, softmax.name)
    if not basic.ok:
        return basic
    z = np.linspace(-100, 100, 10000)[:, None] + np.random.RandomState(3).normal(0, 5, (10000, 10))
    p = softmax.values(z.shape, _nd(z))
    bad = np.flatnonzero(~np.isfinite(p).all(axis=1))
    row = int(bad[0]) if bad.size else 0
    softmax.require(not bad.size, "batch", "{name} returned NaN for {count} of 10,000 rows, such as row "
                    "{row}, whose largest logit is {below:.4g} below the batch's: shifted by one max for "
                    "the whole batch, its every exp underflows to 0, and 0 / 0 = NaN. The shift need not "
                    "be the same for every row.", count=bad.size, row=row, below=z.max() - z[row].max())
    gap = np.abs(p - _softmax(z)).max()
    softmax.require(gap <= 1e-5, "batch", "{name} is finite for the batch of 10,000 but differs from "
                    "softmax by up to {gap:.3g} there.", gap=gap)
    return Verdict(True, "correct: stable_softmax stays finite and exact for a batch of 10,000 rows with "
                   "logits from -100 to 100, and passes every check of check_softmax.")


@_verdict
def exercise_cross_entropy_from_logits(fn):
    """Cross-entropy ``fn(y_linear, y)`` from the logits, exact where a probability underflows float32."""
    ce = _Learner(fn, "cross_entropy_from_logits", "y_linear", "y")
    labels, y, z = LABELS, np.eye(10)[LABELS], _logits()
    loss = ce.values(labels.shape, _nd(z), _nd(y), batch=z.shape)
    expected = -_log_softmax(z)[np.arange(4), labels]
    ce.require(np.allclose(loss, expected, rtol=1e-4, atol=1e-4), "value", _which([(
        np.allclose(loss, expected - z.max(axis=1), rtol=1e-4, atol=1e-4), "{name}'s values are off by "
        "each row's largest logit: what you subtract inside the exp must come back outside the log.")],
        "{name} returned {got:.4g} for example 0 (label {label}), not -log softmax(z)[label]."),
        got=loss[0], label=labels[0])
    over, under = _logits(3) * 1.5 + 90.5, _big_logits()
    for probe, label, hint in (
            (over, LABELS[:3], "exp({top:.0f}) overflows float32: take each row's largest logit out "
             "of the sum before exp; it comes back outside the log."),
            (under, under.argmin(axis=1), "the label's probability, exp(-200) relative to the largest, "
             "underflows to 0 and log(0) = -inf: stay in log space, log softmax(z) = z - log(sum(exp(z))), "
             "instead of taking the log of softmax's output.")):
        got = ce.values(label.shape, _nd(probe), _nd(np.eye(10)[label]))
        want = -_log_softmax(probe)[np.arange(3), label]
        ce.require(np.allclose(got, want, rtol=1e-4), "log space", "{name} returned {got} where the loss "
                   "is {want}: " + hint, top=probe.max(), got=np.array2string(got, precision=4),
                   want=np.array2string(want, precision=4))
    _Learner(lambda x: fn(x, _nd(y, grad=False)), ce.name, "y_linear").gradient(
        z, 1e-2, labels.shape, "the loss depends on each logit")
    return Verdict(True, "correct: cross_entropy_from_logits matches -log softmax, stays exact for "
                   "logits of +-100 and its gradient matches finite differences.")


def one_epoch(splits, ctx, batch_size=64, learning_rate=0.001):
    """Test accuracy after one epoch from seed 0's N(0, 1) start, or 'diverged (...)' and why."""
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
    """The largest of :data:`LEARNING_RATES` at which an epoch keeps the loss finite; why the next fails."""
    rate = learning_rate
    _require(rate is not None, "not done", "largest_learning_rate: not done yet (it is None).")
    _require(isinstance(rate, numbers.Real) and not isinstance(rate, (bool, np.bool_)) and
             rate in LEARNING_RATES, "choice", "largest_learning_rate is {value}: pick one of {rates}.",
             value=repr(rate)[:40], rates=", ".join(map(str, LEARNING_RATES)))
    result = one_epoch(splits, ctx, learning_rate=rate)
    _require(isinstance(result, float), "too large", "at learning rate {rate:g} {result}: a smaller one.",
             rate=rate, result=result)
    larger = LEARNING_RATES[LEARNING_RATES.index(rate) + 1:][:1]
    if larger and isinstance(one_epoch(splits, ctx, learning_rate=larger[0]), float):
        raise _Refused("too small", "%g trains (test accuracy %.4g), and so does %g: try larger ones."
                       % (rate, result, larger[0]))
    solved = "%g is the largest that trains (test accuracy %.4g after one epoch)%s." % (
        rate, result, "; at %g the loss becomes NaN" % larger[0] if larger else "")
    return QUESTIONS["learning_rate"].verdict(why, "why_learning_rate", solved)


@_verdict
def exercise_batch_size(why):
    """The multiple-choice question on batch size against accuracy after one epoch."""
    return QUESTIONS["batch_size"].verdict(why, "why_batch_size")


@_verdict
@validate_params({"splits": C["splits"]})
def exercise_border_pixels(mask, why, splits):
    """A mask of the pixels whose weights never move (0 in every training image); then why they do not."""
    _require(mask is not None, "not done", "never_moved: not done yet (it is None).")
    said = ("never_moved must hold one True or False per pixel, 784 of them (a (28, 28) or (784,) "
            "array), not {kind}")
    with translated((Exception, Warning), lambda err: _Refused(
            "shape", said.format(kind=type(mask).__name__))), warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy < 1.24 only warns about a ragged list
        mask = mask.asnumpy() if isinstance(mask, nd.NDArray) else np.asarray(mask)
    _require(mask.dtype.kind in "biuf" and mask.size == 784 and np.isin(mask, (0, 1)).all(), "shape",
             said, kind="%s of shape %s" % (mask.dtype, mask.shape))
    mask = mask.reshape(28, 28).astype(bool)
    images = splits.train[0]  # a streamed file chunk by chunk: never held whole
    inked = np.logical_or.reduce([(np.asarray(part).reshape(-1, 28, 28) > 0).any(axis=0) for part
                                  in (images.chunks(4096) if hasattr(images, "chunks") else [images])])
    for wrong, what in ((mask & inked, "marks {count} pixels that some training image inks, such as row "
                         "{r}, column {c}: their weights do move."),
                        (~inked & ~mask, "misses {count} pixels that no training image inks, such as row "
                         "{r}, column {c}: their weights never move.")):
        r, c = np.argwhere(wrong)[0] if wrong.any() else (0, 0)
        _require(not wrong.any(), "mask", "never_moved " + what, count=wrong.sum(), r=r, c=c)
    return QUESTIONS["border"].verdict(why, "why_never_moved", "never_moved is right: %d pixels."
                                       % mask.sum())


@_verdict
def exercise_temperature(fn, why):
    """``fn(y_linear, T)``, softmax of the logits divided by T; then what T > 1 does."""
    softmax_T, z = _Learner(fn, "softmax_T", "y_linear", "T"), _logits()
    for T in (1., 3., .5):
        p, want = softmax_T.values(z.shape, _nd(z), T), _softmax(z, T)
        softmax_T.require(np.allclose(p, want, atol=1e-5), "temperature", "with T = {T:g} " + _which([
            (np.allclose(p, _softmax(z, 1 / T), atol=1e-5), "your probabilities {went} (largest {top:.3g}, "
             "against {top1:.3g} at T = 1): the temperature divides the logits."),
            (np.allclose(p, _softmax(z) / T, atol=1e-5), "the rows of {name} sum to {sum:.3g}: divide the "
             "logits by T before softmax, not the probabilities.")],
            "{name} differs from softmax(y_linear / T) by up to {gap:.3g}" + (
                ": at T = 1 it must be softmax itself." if T == 1 else ".")),
            T=T, went="sharpened" if T > 1 else "flattened", top=p[0].max(), top1=_softmax(z)[0].max(),
            sum=1 / T, gap=np.abs(p - want).max())
    return QUESTIONS["temperature"].verdict(why, "why_temperature", "softmax_T is right for T = 0.5, 1 "
                                            "and 3.")
