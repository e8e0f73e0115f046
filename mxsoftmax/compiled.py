"""The tutorial's math compiled once: its own functions traced with ``F=sym`` and bound to the data.

One training step of the tutorial is about a dozen MXNet operations, and each one costs more
Python-side dispatch than arithmetic at batch 64. Here the same functions (``net``,
``cross_entropy``, or the stable pair; ``one_hot``; the batch gather ``take``) are traced once into
a graph whose backward pass MXNet plans once, and bound to the whole-split arrays and to ``W``,
``b`` and their ``.grad`` buffers. A step is then: write the batch's row indices, run the graph
forward and backward (the gradients land in ``W.grad`` and ``b.grad``, as ``loss.backward()``
would leave them), and update. The operators are the ones ``F=nd`` runs, so parameters and losses
are the tutorial's bit for bit (``tests/test_loop.py`` checks it against the literal loop).
"""
import contextlib
import os

import numpy as np
from mxnet import nd, sym

from .settings import NUM_OUTPUTS


class Step:
    """``math``'s loss on batches of rows of ``(data, label)``, compiled and bound to ``params``.

    The graph is bound once per batch size (the last batch of an epoch may be smaller). It holds
    on to the very arrays it was given: rebinding is needed only if they are replaced, not when
    they are written in place (as the optimizer does).
    """

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
        """True when this step is bound to exactly these parameters and gradient buffers."""
        W, b = params
        return (self.arrays["W"] is W and self.arrays["b"] is b and self.grads["W"] is W.grad
                and self.grads["b"] is b.grad)

    def _executor(self, size):
        """The graph bound for batches of ``size`` rows (made on first use)."""
        if size not in self.executors:
            ctx = self.arrays["data"].context
            args = dict(self.arrays, rows=nd.zeros(size, ctx=ctx, dtype=np.int64))
            req = {name: "write" if name in self.grads else "null" for name in args}
            with _quiet_binding():
                self.executors[size] = self.graph.bind(ctx, args, args_grad=self.grads,
                                                       grad_req=req)
        return self.executors[size]

    def __call__(self, rows):
        """Forward and backward on the rows ``rows`` (an int64 NDArray); returns their losses.

        The returned array is the graph's output buffer: the next call of the same size
        overwrites it, so reduce or copy what you keep.
        """
        executor = self._executor(rows.shape[0])
        rows.copyto(executor.arg_dict["rows"])
        executor.forward(is_train=True)
        executor.backward()
        return executor.outputs[0]


@contextlib.contextmanager
def _quiet_binding():
    """Without this, MXNet logs "Subgraph backend MKLDNN is activated." for every bind."""
    before = os.environ.get("MXNET_SUBGRAPH_VERBOSE")
    os.environ["MXNET_SUBGRAPH_VERBOSE"] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["MXNET_SUBGRAPH_VERBOSE"]
        else:
            os.environ["MXNET_SUBGRAPH_VERBOSE"] = before
