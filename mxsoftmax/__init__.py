"""mxsoftmax: the Straight Dope tutorial "Multiclass logistic regression from scratch" as a package.

Modules follow the tutorial's concepts: ``context`` (ctx), ``data`` (datasets, ``transform``,
iterators), ``model`` (parameters, ``softmax``, ``net``), ``loss`` (``cross_entropy``), ``optim``
(``SGD``), ``metrics`` (``evaluate_accuracy``), ``train`` (the loop and its CLI), ``plot``,
``checkpoint`` and ``predict``.
"""

__version__ = "0.1.0"


class MxSoftmaxError(Exception):
    """An expected failure whose message is one sentence a user can act on."""


class UsageError(MxSoftmaxError):
    """Bad input from the user (flags, files, data): the CLI exits with code 2."""
