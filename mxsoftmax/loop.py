"""The tutorial's training loop (:func:`fit`), once, with the batch source and the update as its
parameters: :func:`literal` runs the tutorial as written, :func:`compiled` the same functions traced
once with ``F=sym`` into a graph (:class:`Step`); both give the same parameters bit for bit."""
import collections
import contextlib
import ctypes
import functools
import os
import time

import numpy as np
from mxnet import autograd, nd, sym
from mxnet.base import _LIB, check_call
from tqdm import tqdm

from .batches import LiteralBatches, SplitArrays
from .errors import Diverged, Interrupted, InvalidValue
from .loss import cross_entropy, softmax_cross_entropy
from .metrics import evaluate_accuracy, moving_average
from .model import linear, net, softmax
from .optim import SGD, sgd_update
from .settings import DEFAULTS, NUM_OUTPUTS
from .validation import CONSTRAINTS as C, validate_params

EPOCH_LINE = "Epoch %s. Loss: %s, Train_acc %s, Test_acc %s"

Math = collections.namedtuple("Math", "net cross_entropy")
Math.__doc__ = """The math of a batch: ``net(X, params, F=nd)`` and ``cross_entropy(yhat, y, F=nd)``."""

Training = collections.namedtuple("Training", "data batches update net")
Training.__doc__ = """How :func:`fit` trains: ``data`` (the splits), ``batches(epoch)`` in order,
``update(params, batch, lr)`` returning the batch's losses, and ``net(X, params)`` for accuracy."""


# Defined in "mxsoftmax"
def TutorialMath(softmax=softmax):
    """The tutorial's math; ``softmax`` is yours to replace (``def softmax(y_linear, F=nd)``)."""
    return Math(functools.partial(net, softmax=softmax), cross_entropy)


# Defined in "mxsoftmax"
def StableMath():
    """``--stable``: ``net`` gives the logits, the cross-entropy takes them by log-sum-exp."""
    return Math(linear, softmax_cross_entropy)


# Defined in "Execute training loop"
def train_step(params, batch, learning_rate, math=TutorialMath(), SGD=SGD):
    """The tutorial's step on one ``(data, label)`` batch: record, backpropagate, update; returns
    the per-example losses. Labels were checked where the data came in."""
    data, label = batch
    label_one_hot = nd.one_hot(label, NUM_OUTPUTS)
    with autograd.record():
        output = math.net(data, params)
        loss = math.cross_entropy(output, label_one_hot)
    loss.backward()
    SGD(params, learning_rate)
    return loss


# Defined in "Execute training loop"
@validate_params({"splits": C["splits"], "ctx": C["ctx"], "batch_size": C["batch_size"],
                  "seed": C["seed"]})
def literal(splits, ctx, batch_size=DEFAULTS.batch_size, seed=DEFAULTS.seed, math=TutorialMath()):
    """The tutorial's loop as written: ``DataLoader`` batches, ``train_step`` with ``SGD``,
    accuracy through ``net`` in batches of the batch size."""
    data = LiteralBatches(splits, ctx, batch_size, seed)
    return Training(data, data.train, functools.partial(train_step, math=math), math.net)


# Defined in "mxsoftmax"
@validate_params({"splits": C["splits"], "ctx": C["ctx"], "batch_size": C["batch_size"],
                  "seed": C["seed"]})
def compiled(splits, ctx, batch_size=DEFAULTS.batch_size, seed=DEFAULTS.seed,
             math=TutorialMath()):
    """The same math as one :class:`Step` on the whole-split arrays, batches of row indices and the
    fused ``sgd_update``; accuracy from the logits (softmax keeps each row's order)."""
    data = SplitArrays(splits, ctx, batch_size, seed)
    bound = []

    def update(params, rows, learning_rate):
        if not bound or not bound[0].binds(params):
            bound[:] = [Step(math, *data.train_arrays, params)]
        loss = bound[0](rows)
        sgd_update(params, learning_rate)
        return loss
    return Training(data, data.batch_rows, update, linear)


PATHS = {"compiled": compiled, "literal": literal}


class Step:
    """``math``'s loss on rows of ``(data, label)``, traced with ``F=sym`` (the operators ``F=nd``
    runs) and bound once per batch size to the arrays, ``W``, ``b`` and their ``.grad``."""

    def __init__(self, math, data, label, params):
        rows = sym.var("rows")
        X, y = sym.take(sym.var("data"), rows), sym.take(sym.var("label"), rows)
        output = math.net(X, [sym.var("W"), sym.var("b")], sym)
        loss = math.cross_entropy(output, sym.one_hot(y, NUM_OUTPUTS), sym)
        self.graph = sym.make_loss(loss)  # backward() seeds it with ones, as loss.backward() does
        self.arrays = {"data": data, "label": label, "W": params[0], "b": params[1]}
        self.grads = {"W": params[0].grad, "b": params[1].grad}
        self.executors = {}

    def binds(self, params):
        """True when bound to these parameters and gradient buffers; ``p.grad`` is a new NDArray at
        each access, so a buffer is known by its data's address."""
        return all(self.arrays[k] is p and _address(self.grads[k]) == _address(p.grad)
                   for k, p in zip("Wb", params))

    def __call__(self, rows):
        """Forward and backward on ``rows``; their losses, in a buffer the next call overwrites."""
        size = rows.shape[0]
        if size not in self.executors:
            ctx = self.arrays["data"].context
            args = dict(self.arrays, rows=nd.zeros(size, ctx=ctx, dtype=np.int64))
            req = {name: "write" if name in self.grads else "null" for name in args}
            with _quiet_binding():
                self.executors[size] = self.graph.bind(ctx, args, args_grad=self.grads,
                                                       grad_req=req)
        executor = self.executors[size]
        rows.copyto(executor.arg_dict["rows"])
        executor.forward(is_train=True)
        executor.backward()
        return executor.outputs[0]


# Defined in "Execute training loop"
@validate_params({"params": C["params"], "epochs": C["epochs"], "learning_rate": C["learning_rate"],
                  "start_epoch": C["start_epoch"], "moving_loss": C["moving_loss"],
                  "stop": C["stop"], "callback": C["callback"], "every": C["every"]})
def fit(params, training, epochs, learning_rate, start_epoch=0, moving_loss=0., stop=None,
        progress=False, callback=None, every=0):
    """Train ``params`` in place; yield each epoch's row (the epoch line's numbers, ``seconds``,
    ``line``), or raise :class:`Diverged` instead of a row that is not finite. ``stop()`` is polled
    after each batch (a signal number ends it: :class:`Interrupted`); ``callback`` gets each row
    and, with ``every=N``, every N-th batch's ``{epoch, batch, batches, loss}``."""
    if every and callback is None:
        raise InvalidValue(param="every", value=every, shown=repr(every),
                           expected="0 (off) without a callback")
    smoothing_constant = DEFAULTS.smoothing
    for e in range(start_epoch, epochs):
        start, losses = time.time(), []
        with tqdm(total=training.data.num_batches(), desc="epoch %d" % e, leave=False,
                  disable=not progress) as bar:
            for i, batch in enumerate(training.batches(e)):
                losses.append(nd.mean(training.update(params, batch, learning_rate)))
                bar.update()
                if every and (i + 1) % every == 0:
                    callback(dict(epoch=e, batch=i, batches=bar.total,
                                  loss=float(losses[-1].asscalar())))
                signum = stop() if stop else None
                if signum:
                    raise Interrupted(signum, e, i)
        curr = nd.concat(*losses, dim=0).asnumpy()  # one sync per epoch
        _check_finite(curr, params, e)
        moving_loss = moving_average(curr, moving_loss, smoothing_constant, first=(e == 0))
        test_accuracy, train_accuracy = accuracy(training, params)
        row = dict(epoch=e, loss=float(moving_loss), train_acc=float(train_accuracy),
                   test_acc=float(test_accuracy), seconds=round(time.time() - start, 3),
                   line=EPOCH_LINE % (e, moving_loss, train_accuracy, test_accuracy))
        if callback is not None:
            callback(dict(row))
        yield row


# Defined in "Execute training loop"
def accuracy(training, params):
    """(test, train) accuracy, the tutorial's ``evaluate_accuracy`` through ``training.net``."""
    model = functools.partial(training.net, params=params)  # the tutorial's net(X)
    ctx = params[0].context
    return (evaluate_accuracy(training.data.test(), model, ctx),
            evaluate_accuracy(training.data.train_eval(), model, ctx))


def _address(array):
    """Where ``array``'s data lies (MXNet's ``MXNDArrayGetData``): the same for every view."""
    address = ctypes.c_void_p()
    check_call(_LIB.MXNDArrayGetData(array.handle, ctypes.byref(address)))
    return address.value


@contextlib.contextmanager
def _quiet_binding():
    """Without this, MXNet logs "Subgraph backend MKLDNN is activated." for every bind."""
    before = os.environ.get("MXNET_SUBGRAPH_VERBOSE")
    os.environ["MXNET_SUBGRAPH_VERBOSE"] = "0"
    try:
        yield
    finally:
        os.environ.pop("MXNET_SUBGRAPH_VERBOSE")
        if before is not None:
            os.environ["MXNET_SUBGRAPH_VERBOSE"] = before


def _check_finite(losses, params, epoch):
    """:class:`Diverged` naming the first batch whose loss, or the parameters, are not finite."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        raise Diverged(epoch, int(bad[0]), losses[bad[0]])
    if not all(np.isfinite(p.asnumpy()).all() for p in params):
        raise Diverged(epoch)
