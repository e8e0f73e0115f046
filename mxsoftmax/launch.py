"""Entry points that import nothing heavy until called, so a signal while MXNet loads is one line.

``python -m mxsoftmax.<command>`` (train, predict, draw, plot, data) and the ``mxsoftmax-*``
scripts start here.
"""
import contextlib
import os
import signal
import sys


def train():
    """``mxsoftmax-train``, ``python -m mxsoftmax.train``."""
    with _loading("train"):
        from .cli.train import main
    _exit(main())


def predict():
    """``mxsoftmax-predict``, ``python -m mxsoftmax.predict``."""
    with _loading("predict"):
        from .cli.predict import main
    _exit(main())


def draw():
    """``mxsoftmax-draw``, ``python -m mxsoftmax.draw``."""
    with _loading("draw"):
        from .cli.draw import main
    _exit(main())


def _exit(code):
    """Exit with ``code``; a Ctrl-C from here on (a key held down) cannot interrupt the
    interpreter's shutdown into a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


class _Terminated(BaseException):
    """SIGTERM while loading (a BaseException: some imports swallow every Exception)."""


def _terminate(signum, _frame):
    raise _Terminated(signum)


def plot():
    """``python -m mxsoftmax.plot``."""
    with _loading("plot"):
        from .cli.plot import main
    _exit(main())


def data():
    """``python -m mxsoftmax.data``."""
    with _loading("data"):
        from .cli.data import main
    _exit(main())


@contextlib.contextmanager
def _loading(command):
    """Ctrl-C or SIGTERM while the command's modules (and MXNet) load: one line, exit 130/143."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    except (KeyboardInterrupt, _Terminated) as err:
        print("python -m mxsoftmax.%s: interrupted while loading." % command, file=sys.stderr,
              flush=True)
        os._exit(143 if isinstance(err, _Terminated) else 130)  # nothing is written yet
    finally:
        signal.signal(signal.SIGTERM, previous)
