"""Entry points that import nothing heavy until called, so a signal while MXNet loads is one line.

``python -m mxsoftmax.<command>`` (train, predict, draw, plot, data, export) and the
``mxsoftmax-*`` scripts start here.
"""
import contextlib
import importlib
import os
import signal
import sys


def train():
    """``mxsoftmax-train``, ``python -m mxsoftmax.train``."""
    _run("train")


def predict():
    """``mxsoftmax-predict``, ``python -m mxsoftmax.predict``."""
    _run("predict")


def draw():
    """``mxsoftmax-draw``, ``python -m mxsoftmax.draw``."""
    _run("draw")


def plot():
    """``python -m mxsoftmax.plot``."""
    _run("plot")


def data():
    """``python -m mxsoftmax.data``."""
    _run("data")


def export():
    """``mxsoftmax-export``, ``python -m mxsoftmax.export``."""
    _run("export")


def _run(command):
    """Load ``mxsoftmax.cli.<command>`` (and MXNet) under :func:`_loading`, run its ``main`` and
    exit with its code; a Ctrl-C from then on (a key held down) cannot turn the interpreter's
    shutdown into a traceback."""
    with _loading(command):
        main = importlib.import_module(".cli." + command, __package__).main
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


class _Terminated(BaseException):
    """SIGTERM while loading (a BaseException: some imports swallow every Exception)."""


def _terminate(signum, _frame):
    raise _Terminated(signum)


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
