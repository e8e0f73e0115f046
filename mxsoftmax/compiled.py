"""The tutorial's math compiled once: its own functions traced with ``F=sym``, run as a CachedOp.

A training step still records with ``autograd.record()``, still calls ``loss.backward()`` and
still updates plain ``mx.nd`` parameters that have ``attach_grad()``; only the forward pass and
the loss run as one cached graph (``static_alloc``, ``static_shape``: the machinery behind gluon's
``hybridize()``) instead of about a dozen operations dispatched one by one from Python. The
operators are the same ones ``F=nd`` runs, so the results are the same bit for bit.
"""
from mxnet import autograd, nd, sym

from .model import NUM_OUTPUTS

FLAGS = [("static_alloc", True), ("static_shape", True)]


class Graph:
    """``fn(data, label, [W, b], F)`` traced once with ``F=sym`` and called on NDArrays."""

    def __init__(self, fn):
        data, label, W, b = sym.var("data"), sym.var("label"), sym.var("W"), sym.var("b")
        out = fn(data, label, [W, b], sym)
        self.op = nd.CachedOp(out, FLAGS)
        self.order = out.list_inputs()  # the CachedOp takes its inputs in this order

    def __call__(self, data, label, params):
        W, b = params
        given = {"data": data, "label": label, "W": W, "b": b}
        return self.op(*[given[name] for name in self.order])


class Step:
    """One training step of ``math`` (its ``loss`` on one-hot labels) with a compiled forward."""

    def __init__(self, math):
        self.loss = Graph(lambda X, y, params, F: math.loss(X, F.one_hot(y, NUM_OUTPUTS), params, F))

    def __call__(self, params, data, label):
        """Record the loss of one batch and backpropagate; returns the per-example losses."""
        with autograd.record():
            loss = self.loss(data, label, params)
        loss.backward()
        return loss
