"""The tutorial's training loop: the math of a batch, one step, one epoch, and ``fit``, two ways.

:class:`LiteralPath` is the tutorial's loop as written: ``DataLoader`` batches, the math run
operation by operation, ``SGD``, the loss synced to the host after every batch, accuracy through
``net`` in batches of 64. :class:`CompiledPath` runs the same functions compiled into one graph
(:mod:`mxsoftmax.compiled`) on whole-split arrays, updates with ``sgd_update`` and syncs once per
epoch: the same batches in the same order, the same parameters bit for bit, the same lines, faster.
Its accuracy counts the argmax of the logits: softmax keeps each row's order, so this is the
tutorial's answer wherever the tutorial's is finite, for any evaluation batch size.
"""
import collections
import functools
import time

import numpy as np
from mxnet import autograd, nd
from tqdm import tqdm

from .compiled import Step
from .batches import LiteralBatches, SplitArrays
from .errors import Diverged, Interrupted, InvalidValue
from .loss import cross_entropy, softmax_cross_entropy
from .metrics import evaluate_accuracy, moving_average
from .model import linear, net, softmax
from .optim import SGD, sgd_update
from .settings import DEFAULTS, NUM_OUTPUTS
from .validation import validate

EPOCH_LINE = "Epoch %s. Loss: %s, Train_acc %s, Test_acc %s"

Math = collections.namedtuple("Math", "net cross_entropy")
Math.__doc__ = """The math of a batch: ``net(X, params, F=nd)`` and ``cross_entropy(output, y, F=nd)``,
the tutorial's functions, which both paths run (the compiled one with ``F=sym``)."""


def TutorialMath(softmax=softmax):
    """The tutorial's math: ``net`` gives probabilities, ``cross_entropy`` takes one-hot labels.

    ``softmax`` is yours to replace: write it as ``def softmax(y_linear, F=nd)`` with ``F.``
    operators and both paths run it, the compiled one included.
    """
    return Math(functools.partial(net, softmax=softmax), cross_entropy)


def StableMath():
    """``--stable``: ``net`` gives the logits, the cross-entropy takes them by log-sum-exp."""
    return Math(linear, softmax_cross_entropy)


def train_step(params, data, label, learning_rate, math=TutorialMath(), update=SGD):
    """The tutorial's step on one batch: record the loss, backpropagate, update; returns the loss.

    Labels must be class indices 0-9 (checked where the data came in): ``one_hot`` silently
    turns any other into zeros.
    """
    label_one_hot = nd.one_hot(label, NUM_OUTPUTS)
    with autograd.record():
        output = math.net(data, params)
        loss = math.cross_entropy(output, label_one_hot)
    loss.backward()
    update(params, learning_rate)
    return loss


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
            after_batch(i, loss)
        return np.array(losses, dtype=np.float32)

    def accuracy(self, params):
        """(test, train) accuracy, the tutorial's way: ``net`` on batches of the batch size."""
        model = functools.partial(self.math.net, params=params)  # the tutorial's net(X)
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
            after_batch(i, losses[-1])
        return nd.concat(*losses, dim=0).asnumpy()

    def _step(self, params):
        if self.step is None or not self.step.binds(params):
            self.step = Step(self.math, *self.arrays.train_arrays, params)
        return self.step

    def accuracy(self, params):
        """(test, train) accuracy from the argmax of the logits, 10,000 rows at a time."""
        model = functools.partial(linear, params=params)
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
    validate(params=params, learning_rate=learning_rate, epochs=epochs, start_epoch=start_epoch,
             moving_loss=moving_loss, stop=stop, smoothing_constant=smoothing_constant,
             callback=callback, every=every)
    if every and callback is None:
        raise InvalidValue(param="every", value=every, shown=repr(every),
                           expected="0 (off) without a callback")
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
