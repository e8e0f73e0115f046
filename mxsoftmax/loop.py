"""The tutorial's training loop: the math of a batch, one step, one epoch, and ``fit``, two ways.

:class:`LiteralPath` is the tutorial's loop as written: ``DataLoader`` batches, the math run
operation by operation, ``SGD``, the loss synced to the host after every batch, accuracy through
``net`` in batches of 64. :class:`CompiledPath` runs the same functions compiled into one graph
(:mod:`mxsoftmax.compiled`) on whole-split arrays, updates with ``sgd_update`` and syncs once per
epoch: the same batches in the same order, the same parameters bit for bit, the same lines, faster.
Its accuracy counts the argmax of the logits: softmax keeps each row's order, so this is the
tutorial's answer wherever the tutorial's is finite, for any evaluation batch size.
"""
import time

import numpy as np
from mxnet import autograd, nd
from tqdm import tqdm

from .compiled import Step
from .batches import LiteralBatches, SplitArrays
from .errors import InvalidInput, InvalidType, MxSoftmaxError
from .loss import cross_entropy, softmax_cross_entropy
from .metrics import evaluate_accuracy, moving_average
from .model import (NUM_INPUTS, NUM_OUTPUTS, check_params, linear, net, softmax,
                    stable_softmax)
from .optim import SGD, sgd_update
from .settings import DEFAULTS

EPOCH_LINE = "Epoch %s. Loss: %s, Train_acc %s, Test_acc %s"


class Diverged(MxSoftmaxError, ArithmeticError):
    """A batch's loss or the parameters after an epoch were not finite."""

    def __init__(self, epoch, batch=None, value=None):
        where = ("the loss became %s in epoch %d at batch %d" % (value, epoch, batch)
                 if batch is not None else "the parameters became inf or NaN in epoch %d" % epoch)
        super().__init__(where)
        self.epoch, self.batch = epoch, batch


class Interrupted(MxSoftmaxError):
    """Work stopped on a signal; ``signum`` says which, ``epoch``/``batch`` where, if training."""

    def __init__(self, signum, epoch=None, batch=None):
        import signal
        where = " in epoch %d after batch %d" % (epoch, batch) if epoch is not None else ""
        super().__init__("interrupted by %s%s" % (signal.Signals(signum).name, where))
        self.signum, self.epoch, self.batch = signum, epoch, batch


class TutorialMath:
    """The tutorial's batch: probabilities from ``net``, ``cross_entropy`` on one-hot labels.

    ``softmax`` is yours to replace: write it as ``def softmax(y_linear, F=nd)`` with ``F.``
    operators and both paths run it, the compiled one included.
    """

    def __init__(self, softmax=softmax):
        self.softmax = softmax

    def net(self, X, params, F=nd):
        """Class probabilities of each row of ``X``."""
        return net(X, params, F, self.softmax)

    def loss(self, X, y_one_hot, params, F=nd):
        """Per-example loss: ``cross_entropy(net(X), y)``."""
        return cross_entropy(self.net(X, params, F), y_one_hot, F)


class StableMath:
    """``--stable``: softmax shifted per row, cross-entropy from the logits by log-sum-exp."""

    def net(self, X, params, F=nd):
        """Class probabilities of each row of ``X``."""
        return net(X, params, F, stable_softmax)

    def loss(self, X, y_one_hot, params, F=nd):
        """Per-example loss, finite for any finite logits."""
        return softmax_cross_entropy(linear(X, params, F), y_one_hot, F)


def train_step(params, data, label, learning_rate, math=TutorialMath(), update=SGD):
    """The tutorial's step on one batch: record the loss, backpropagate, update; returns the loss.

    Labels must be class indices 0-9: ``one_hot`` would silently turn any other into zeros.
    """
    _check_labels(data, label)
    _check_step(params, learning_rate)
    label_one_hot = nd.one_hot(label, NUM_OUTPUTS)
    with autograd.record():
        loss = math.loss(data, label_one_hot, params)
    loss.backward()
    update(params, learning_rate)
    return loss


def _check_labels(data, label):
    """Labels must be one whole number 0-9 per row of ``data``."""
    if not (isinstance(data, nd.NDArray) and isinstance(label, nd.NDArray)):
        raise InvalidType("train_step takes a batch and its labels as NDArrays, not %s and %s."
                          % (type(data).__name__, type(label).__name__))
    values = label.asnumpy()
    if values.shape != (data.shape[0],) or not values.size:
        raise InvalidInput("train_step takes one label per row of the batch: %s labels for a "
                           "batch of shape %s." % (values.shape, data.shape))
    if not (np.isfinite(values).all() and (values == np.round(values)).all()
            and 0 <= values.min() and values.max() < NUM_OUTPUTS):
        raise InvalidInput("train_step takes labels that are whole numbers 0-%d; this batch has "
                           "labels from %s to %s." % (NUM_OUTPUTS - 1, values.min(), values.max()))


def _check_step(params, learning_rate, who="train_step"):
    """The learning rate must be a positive finite number, and the params the model's [W, b]
    in float32 with gradients attached."""
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.number)):
        raise InvalidType("%s takes the learning rate as a number, not %s."
                          % (who, type(learning_rate).__name__))
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise InvalidInput("%s takes a learning rate above 0 and finite, not %r."
                           % (who, learning_rate))
    check_params(params, who)
    if not all(p.dtype == np.float32 for p in params):
        raise InvalidInput("%s trains params [W, b]: float32 NDArrays of shapes (%d, %d) and "
                           "(%d,), as model.init_params makes them." % (who, NUM_INPUTS,
                                                                        NUM_OUTPUTS, NUM_OUTPUTS))
    if any(p.grad is None for p in params):
        raise InvalidInput("%s updates params that have gradients: call attach_grad() on "
                           "each first (model.init_params does)." % who)


def _check_fit(epochs, start_epoch, stop):
    for name, value in (("epochs", epochs), ("start_epoch", start_epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InvalidInput("fit takes %s as a whole number >= 0, not %r." % (name, value))
    if stop is not None and not callable(stop):
        raise InvalidType("fit takes stop as a function (or None), not %s." % type(stop).__name__)


class LiteralPath:
    """The tutorial's loop as written (see the module's docstring)."""

    def __init__(self, splits, ctx, batch_size=DEFAULTS.batch_size, seed=DEFAULTS.seed,
                 math=TutorialMath()):
        self.batches, self.math, self.ctx = LiteralBatches(splits, ctx, batch_size, seed), math, ctx

    def num_batches(self):
        """Training batches per epoch."""
        return self.batches.num_batches()

    def train_epoch(self, params, epoch, learning_rate, after_batch):
        """One pass over ``epoch``'s batches; returns each batch's mean loss (numpy float32)."""
        losses = []
        for i, (data, label) in enumerate(self.batches.train(epoch)):
            loss = train_step(params, data, label, learning_rate, self.math)
            losses.append(nd.mean(loss).asscalar())
            after_batch(i)
        return np.array(losses, dtype=np.float32)

    def accuracy(self, params):
        """(test, train) accuracy, the tutorial's way: ``net`` on batches of the batch size."""
        model = lambda X: self.math.net(X, params)  # noqa: E731 (the tutorial's net(X))
        return (evaluate_accuracy(self.batches.test(), model, self.ctx),
                evaluate_accuracy(self.batches.train_eval(), model, self.ctx))


class CompiledPath:
    """The same math compiled, on whole-split arrays (see the module's docstring)."""

    def __init__(self, splits, ctx, batch_size=DEFAULTS.batch_size, seed=DEFAULTS.seed,
                 math=TutorialMath()):
        self.arrays, self.math, self.ctx = SplitArrays(splits, ctx, batch_size, seed), math, ctx
        self.step = None  # compiled for, and bound to, the parameters last trained

    def num_batches(self):
        """Training batches per epoch."""
        return self.arrays.num_batches()

    def train_epoch(self, params, epoch, learning_rate, after_batch):
        """One pass over ``epoch``'s batches; returns each batch's mean loss (numpy float32)."""
        step = self._step(params)
        losses = []
        for i, rows in enumerate(self.arrays.batch_rows(epoch)):
            loss = step(rows)
            sgd_update(params, learning_rate)
            losses.append(nd.mean(loss))
            after_batch(i)
        return nd.concat(*losses, dim=0).asnumpy()

    def _step(self, params):
        if self.step is None or not self.step.binds(params):
            self.step = Step(self.math, *self.arrays.train_arrays, params)
        return self.step

    def accuracy(self, params):
        """(test, train) accuracy from the argmax of the logits, 10,000 rows at a time."""
        model = lambda X: linear(X, params)  # noqa: E731
        return (evaluate_accuracy(self.arrays.test(), model, self.ctx),
                evaluate_accuracy(self.arrays.train_eval(), model, self.ctx))


PATHS = {"compiled": CompiledPath, "literal": LiteralPath}


def fit(params, path, epochs, learning_rate, start_epoch=0, moving_loss=0., stop=None,
        progress=False, smoothing_constant=DEFAULTS.smoothing, callback=None, every=0):
    """Train ``params`` in place along ``path``; yield one dict per completed epoch.

    Each dict has the epoch line's numbers (``epoch``, ``loss``, ``train_acc``, ``test_acc``),
    ``seconds`` and the ``line`` itself. ``stop()`` is polled after every batch and returns a
    signal number to stop on (raising :class:`Interrupted`), or None. Raises :class:`Diverged`
    before yielding an epoch whose losses or resulting parameters are not finite.
    ``callback(row)`` gets a copy of each epoch's dict before it is yielded (for a live curve);
    with ``every=N`` (N > 0) also, after every N-th batch, ``{epoch, batch, batches, loss}``: that batch's
    mean loss (it waits for the batch to finish, so only when asked), None from a path that does
    not hand it to ``after_batch``.
    """
    _check_step(params, learning_rate, "fit")
    _check_fit(epochs, start_epoch, stop)
    if isinstance(every, bool) or not isinstance(every, int) or every < 0 or (
            every and callback is None):
        raise InvalidInput("fit takes every as a whole number of batches >= 0 (0: none), and a "
                           "callback with it, not %r." % (every,))
    for e in range(start_epoch, epochs):
        start = time.time()
        with tqdm(total=path.num_batches(), desc="epoch %d" % e, leave=False,
                  disable=not progress) as bar:
            def after_batch(i, loss=None):
                bar.update()
                if every and (i + 1) % every == 0:
                    callback(dict(epoch=e, batch=i, batches=bar.total, loss=None if loss is None
                                  else float(nd.mean(loss).asscalar())))
                signum = stop() if stop else None
                if signum:
                    raise Interrupted(signum, e, i)
            curr = path.train_epoch(params, e, learning_rate, after_batch)
        _check_finite(curr, params, e)
        moving_loss = moving_average(curr, moving_loss, smoothing_constant, first=(e == 0))
        test_accuracy, train_accuracy = path.accuracy(params)
        row = dict(epoch=e, loss=float(moving_loss), train_acc=float(train_accuracy),
                   test_acc=float(test_accuracy), seconds=round(time.time() - start, 3),
                   line=EPOCH_LINE % (e, moving_loss, train_accuracy, test_accuracy))
        if callback is not None:
            callback(dict(row))
        yield row


def _check_finite(losses, params, epoch):
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        raise Diverged(epoch, int(bad[0]), losses[bad[0]])
    if not all(np.isfinite(p.asnumpy()).all() for p in params):
        raise Diverged(epoch)
