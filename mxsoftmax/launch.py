"""Entry points that import nothing heavy until called, so Ctrl-C while MXNet loads is one line.

``python -m mxsoftmax.train`` (and ``predict``, ``draw``) and the ``mxsoftmax-*`` scripts start
here. (``python -m mxsoftmax.data`` and ``python -m mxsoftmax.plot`` run their command lines from
the bottom of those library modules.)
"""
import contextlib
import os
import signal
import sys


def train():
    """``mxsoftmax-train``, ``python -m mxsoftmax.train``."""
    with _loading("train"):
        from .cli.train import main
    sys.exit(main())


def predict():
    """``mxsoftmax-predict``, ``python -m mxsoftmax.predict``."""
    with _loading("predict"):
        from .cli.predict import main
    sys.exit(main())


def draw():
    """``mxsoftmax-draw``, ``python -m mxsoftmax.draw``."""
    with _loading("draw"):
        from .cli.draw import main
    sys.exit(main())


class _Terminated(Exception):
    pass


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
