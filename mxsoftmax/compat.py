"""numpy's removed aliases that MXNet 1.9.1 still uses, restored before MXNet loads.

numpy 1.20 deprecated the aliases of Python's builtins (``numpy.bool``, ``numpy.int``, ...) and
numpy 1.24 removed them. MXNet 1.9.1 takes two of them from numpy: ``numpy.bool`` (read when
``mxnet.numpy`` is imported, so ``import mxnet`` fails without it, and in ``mx.np``'s boolean
indexing) and ``numpy.int`` (``mx.test_utils``' random-generator checks). Nothing else that numpy
1.24-1.26 removed is used by MXNet; numpy 2 removes dozens more names and stays unsupported.

The package's ``__init__`` calls :func:`restore_aliases` first, so every ``import mxsoftmax.x``
(and a notebook's ``import mxsoftmax`` before its ``import mxnet``) works on numpy up to 1.26.
"""
import contextlib
import os
import signal
import sys
import warnings

import numpy

from .errors import InvalidValue
from .validation import check_environment

#: Each alias MXNet 1.9.1 uses and the builtin numpy defined it as (numpy 1.19's ``numpy.bool is bool``).
ALIASES = {"bool": bool, "int": int}


def restore_aliases(module=numpy):
    """Set each name of :data:`ALIASES` that ``module`` lacks to its builtin; return the names set.

    A name the module still serves (numpy 1.20-1.23 serve these with a DeprecationWarning, numpy
    2 has its own ``numpy.bool``) is left as it is, so older numpy is not touched at all.
    """
    added = []
    for name, builtin in ALIASES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 1.20-1.23 warn when serving them, 1.24-1.26 when refusing
            present = hasattr(module, name)
        if not present:
            setattr(module, name, builtin)
            added.append(name)
    return tuple(added)


class _Terminated(BaseException):
    """SIGTERM while MXNet loads (a BaseException: some imports swallow every Exception)."""


def _terminate(signum, _frame):
    raise _Terminated(signum)


@contextlib.contextmanager
def loading(command):
    """Around a command's imports, the first of MXNet: MXNet's variables are checked before it
    loads (a value it cannot parse would abort the process, exit 134), and Ctrl-C or SIGTERM
    while it loads is one line and exit 130/143. Once MXNet is loaded this does nothing."""
    if "mxnet" in sys.modules:
        yield
        return
    prog = "python -m mxsoftmax." + command
    try:
        check_environment(os.environ)
    except InvalidValue as err:
        print("%s: error: %s: unset it or give a usable value." % (prog, err), file=sys.stderr,
              flush=True)
        sys.exit(2)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    except (KeyboardInterrupt, _Terminated) as err:
        print("%s: interrupted while loading." % prog, file=sys.stderr, flush=True)
        os._exit(143 if isinstance(err, _Terminated) else 130)  # nothing is written yet
    finally:
        signal.signal(signal.SIGTERM, previous)
