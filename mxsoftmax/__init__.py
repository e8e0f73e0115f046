"""mxsoftmax: the Straight Dope tutorial "Multiclass logistic regression from scratch" as a package.

The data flows one way, files -> arrays -> batches -> math -> loop -> outputs:
``idx`` and ``sources`` (with ``catalog``) read and fetch the files; ``batches`` turns arrays into
batches (the tutorial's ``transform``); ``model``, ``loss``, ``optim`` and ``metrics`` are the
tutorial's math (``softmax``, ``net``, ``cross_entropy``, ``SGD``, ``evaluate_accuracy``);
``loop`` trains (``fit``), the tutorial's way or compiled into one graph; ``runs``, ``pictures``,
``classify``, ``images``, ``formats``, ``server`` and ``feedback`` are the outputs; ``train``,
``predict``, ``draw``, ``plot``, ``data`` and ``export`` are the commands (``python -m
mxsoftmax.<command>``, over ``cli``), ``notebook`` the notebooks' front end. README.md's "How the
code is organised" draws the whole house.
"""

__version__ = "0.3.0"

# Before anything imports MXNet: the numpy aliases MXNet 1.9.1 still uses (numpy 1.24+ removed them),
# and in a notebook or a script MXNet's variables (a value it cannot use would kill the kernel):
# the commands (python -m, argv[0] "-m" while the package loads) say it in one line themselves.
import os as _os  # noqa: E402
import sys as _sys  # noqa: E402

from mxsoftmax.compat import restore_aliases as _restore_aliases  # noqa: E402
from mxsoftmax.validation import check_environment as _check_environment  # noqa: E402

_restore_aliases()
if _sys.argv[:1] != ["-m"] and "mxnet" not in _sys.modules:
    _check_environment(_os.environ)
