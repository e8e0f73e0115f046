"""Before MXNet loads: numpy's names that MXNet 1.9.1 reads (numpy 1.24 and 2.x removed them) set
where numpy lacks them, to what numpy 1.23 meant (numpy's own names, modules and MXNet untouched;
``distutils`` comes from setuptools on Python >= 3.12); :func:`loading` around each command's imports."""
import contextlib
import importlib.util
import math
import os
import shlex
import signal
import sys
import types
import warnings

import numpy

from .errors import InvalidValue, reason
from .validation import check_environment

MXNET_MISSING = ("MXNet is not installed: run `bash .ci/setup`, or `%s -m pip install --no-deps "
                 "mxnet==1.9.1` (its metadata asks for numpy<2, which has no wheels on Python 3.13+; "
                 "mxsoftmax.compat makes it run on numpy 2)")


def _calls(name, target, **fixed):
    """numpy 1.x's ``numpy.<name>``, its own function (as MXNet's tables of numpy functions expect),
    calling ``numpy.<target>`` when called (``ravel`` flattens what it returns, as ``in1d`` did)."""
    def alias(*args, **kwargs):
        result = getattr(numpy, target)(*args, **dict(fixed, **kwargs))
        return numpy.ravel(result) if name == "in1d" else result
    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = "numpy 1.x's numpy.%s: numpy.%s (restored for MXNet 1.9.1)." % (name, target)
    return alias


def _expired(name):
    """numpy 1.20-1.26's stand-in for a financial function: present, raising when called."""
    def expired(*args, **kwargs):
        raise RuntimeError("In accordance with NEP 32, the function %s was removed from NumPy version 1.20. "
                           "A replacement for this function is available in the numpy_financial library: "
                           "https://pypi.org/project/numpy-financial" % name)
    expired.__name__ = expired.__qualname__ = name
    return expired


#: Each name MXNet 1.9.1 reads from numpy (where, in MXNet) that some numpy >= 1.24 lacks, and its value.
ALIASES = {
    # the builtins' aliases numpy 1.24 removed (numpy 2 has its own numpy.bool, kept as is)
    "bool": bool,            # mxnet/numpy/utils.py:37 (read at import), numpy/multiarray.py:591,719
    "int": int,              # mxnet/test_utils.py:2319 (verify_generator)
    # constants numpy 2.0 removed: numpy 1.x had them as Python floats
    "PZERO": 0.0,            # mxnet/numpy/utils.py:42 (import)
    "NZERO": -0.0,           # mxnet/numpy/utils.py:43 (import)
    "NINF": -math.inf,       # mxnet/numpy/utils.py:44 (import)
    "PINF": math.inf,        # mxnet/numpy/utils.py:45 (import)
    "NAN": math.nan,         # mxnet/numpy/utils.py:47 (import)
    "NaN": math.nan,         # mxnet/numpy/utils.py:48 (import)
    "Inf": math.inf,         # mxnet/gluon/contrib/estimator/event_handler.py:248,416,419,440,696
    # functions numpy 2.0 (in1d, trapz: 2.4) removed, each its own function calling its replacement: not
    # the replacement itself, which would take its place in MXNet's __array_function__ table
    "sometrue": _calls("sometrue", "any"),       # mxnet/numpy_dispatch_protocol.py:87 (import)
    "round_": _calls("round_", "round"),         # mxnet/numpy_dispatch_protocol.py:92 (import)
    "product": _calls("product", "prod"),        # mxnet/numpy_dispatch_protocol.py:124 (import)
    "alltrue": _calls("alltrue", "all"),         # mxnet/numpy/fallback.py:111 (import)
    "trapz": _calls("trapz", "trapezoid"),       # mxnet/numpy/fallback.py:190 (import)
    "in1d": _calls("in1d", "isin"),              # mxnet/numpy/fallback.py:135 (import)
    "msort": _calls("msort", "sort", axis=0),    # mxnet/numpy/fallback.py:145 (import)
    # numpy.compat (removed in 2.0): only the attribute, `import numpy.compat` still fails
    "compat": types.SimpleNamespace(basestring=str),  # mxnet/ndarray/numpy/_op.py:7563 (np.pad)
    # numpy 1.20-1.26 served raising stand-ins, numpy 2 none (mxnet/numpy/fallback.py:143-177, import)
    **{name: _expired(name) for name in ("mirr", "npv", "pmt", "ppmt", "pv", "rate")},
}


def restore_aliases(module=numpy):
    """Set each name of :data:`ALIASES` that ``module`` lacks; the names set, in order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 1.20-1.23 warn when serving some, 1.24-1.26 when refusing
        missing = tuple(name for name in ALIASES if not hasattr(module, name))
    for name in missing:
        setattr(module, name, ALIASES[name])
    return missing


@contextlib.contextmanager
def loading(command):
    """Around a command's imports, the first of MXNet: its variables are checked before it loads
    (else it may abort, exit 134), and a signal while it loads is one line and exit 130/143.
    Started with standard descriptors closed (``0<&- 2>&-``), each is held by /dev/null, so that no
    file of ours gets its number (MXNet logs to 2), and a closed stderr says nothing, not into stdout."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:  # closed: os.open takes the lowest free number, this one
            os.open(os.devnull, os.O_RDWR)
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)
    if "mxnet" in sys.modules:
        yield
        return
    prog = "python -m mxsoftmax." + command
    try:
        check_environment(os.environ)
        python = shlex.quote(sys.executable or "python")  # embedded: no executable
        problem = None if importlib.util.find_spec("mxnet") else MXNET_MISSING % python
    except InvalidValue as err:
        problem = "%s: unset it or give a usable value" % err
    if problem:
        _refuse(prog, problem)
    terminated = []

    def terminate(signum, _frame):  # a BaseException, as Ctrl-C's: some imports swallow Exception
        terminated.append(signum)
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with warnings.catch_warnings():  # MXNet's own at import (distutils' Version): not the
            warnings.simplefilter("ignore", DeprecationWarning)  # user's, fatal if they are errors
            yield
    except KeyboardInterrupt:
        print("%s: interrupted while loading." % prog, file=sys.stderr, flush=True)
        os._exit(143 if terminated else 130)  # nothing is written yet
    except (OSError, AttributeError) as err:  # ctypes: libmxnet.so did not load, or MXNET_LIBRARY_PATH's
        library = os.environ.get("MXNET_LIBRARY_PATH")  # lacks MXNet's functions (other attributes: raised)
        if "mxnet" in sys.modules or isinstance(err, AttributeError) and not library:
            raise
        _refuse(prog, "MXNet's library cannot be loaded (%s): %s" % (reason(err), (
            "unset MXNET_LIBRARY_PATH, or point it at MXNet 1.9.1's libmxnet.so"
            if library else "check the memory limit (`ulimit -v`) and "
            "MXNet's installation (`bash .ci/setup` reinstalls it)")))
    finally:
        signal.signal(signal.SIGTERM, previous)


def _refuse(prog, problem):
    print("%s: error: %s." % (prog, problem), file=sys.stderr, flush=True)
    sys.exit(2)
