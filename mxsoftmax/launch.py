"""Entry points that import nothing heavy until called, so a signal while MXNet loads is one line.

``python -m mxsoftmax.<command>`` (train, predict, draw, plot, data, export) and the
``mxsoftmax-*`` scripts start here (:func:`run`); :func:`command` says how to start one again,
the way this process was.
"""
import contextlib
import importlib
import os
import shlex
import shutil
import signal
import sys

from .errors import InvalidValue
from .validation import check_environment

SCRIPT_PREFIX = "mxsoftmax-"


def train():
    """``mxsoftmax-train``, ``python -m mxsoftmax.train``."""
    run("train")


def predict():
    """``mxsoftmax-predict``, ``python -m mxsoftmax.predict``."""
    run("predict")


def draw():
    """``mxsoftmax-draw``, ``python -m mxsoftmax.draw``."""
    run("draw")


def plot():
    """``mxsoftmax-plot``, ``python -m mxsoftmax.plot``."""
    run("plot")


def data():
    """``mxsoftmax-data``, ``python -m mxsoftmax.data``."""
    run("data")


def export():
    """``mxsoftmax-export``, ``python -m mxsoftmax.export``."""
    run("export")


def run(command):
    """Load ``mxsoftmax.cli.<command>`` (and MXNet) under :func:`_loading`, run its ``main`` and
    exit with its code; a Ctrl-C from then on (a key held down) cannot turn the interpreter's
    shutdown into a traceback. MXNet's engine and thread variables are checked first: a value
    MXNet cannot use would abort the process (exit 134) as it loads."""
    try:
        check_environment(os.environ)
    except InvalidValue as err:
        print("python -m mxsoftmax.%s: error: %s: unset it or give a usable value." % (command, err),
              file=sys.stderr, flush=True)
        sys.exit(2)
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
def _loading(name):
    """Ctrl-C or SIGTERM while the command's modules (and MXNet) load: one line, exit 130/143."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    except (KeyboardInterrupt, _Terminated) as err:
        print("python -m mxsoftmax.%s: interrupted while loading." % name, file=sys.stderr,
              flush=True)
        os._exit(143 if isinstance(err, _Terminated) else 130)  # nothing is written yet
    finally:
        signal.signal(signal.SIGTERM, previous)


def command(name):
    """How to start the command ``name`` (train, predict, ...) the way this process was started,
    as a shell word or two to paste: ``mxsoftmax-train`` when it runs as that script (its path
    when the script is not what the shell finds on PATH), else ``INTERPRETER -m mxsoftmax.train``,
    the interpreter running now, so a hint works without an activated venv."""
    started = sys.argv[0] if sys.argv else ""
    if os.path.basename(started).startswith(SCRIPT_PREFIX):
        script = os.path.join(os.path.dirname(os.path.abspath(started)), SCRIPT_PREFIX + name)
        return _shell_path(script, SCRIPT_PREFIX + name)
    if not sys.executable:  # an embedding interpreter that cannot say
        return "python -m mxsoftmax." + name
    return "%s -m mxsoftmax.%s" % (_shell_path(sys.executable, "python"), name)


def _shell_path(path, bare):
    """``bare`` when the shell's PATH finds ``path`` under that name, else ``path`` relative to
    the working directory when inside it (``.venv/bin/python``), else absolute; quoted."""
    path = os.path.abspath(path)
    found = shutil.which(bare)
    if found and os.path.abspath(found) == path:
        return bare
    here = os.getcwd()
    if path.startswith(os.path.join(here, "")):
        path = os.path.relpath(path, here)
        if os.sep not in path:
            path = os.path.join(os.curdir, path)
    return shlex.quote(path)
