"""mxsoftmax: the Straight Dope tutorial "Multiclass logistic regression from scratch" as a package.

The data flows one way, files -> arrays -> batches -> math -> loop -> outputs:
``idx`` and ``sources`` (with ``catalog``) read and fetch the files; ``batches`` turns arrays into
batches (the tutorial's ``transform``); ``model``, ``loss``, ``optim`` and ``metrics`` are the
tutorial's math (``softmax``, ``net``, ``cross_entropy``, ``SGD``, ``evaluate_accuracy``), and
``compiled`` runs it as one graph; ``loop`` trains (``fit``); ``runs``, ``pictures``,
``classify``, ``images`` and ``server`` are the outputs; ``cli`` and ``notebook`` are the front
ends (``python -m mxsoftmax.<command>`` starts the command lines through ``launch``).
README.md's "How the code is organised" draws the whole house.
"""

__version__ = "0.2.0"

# Before anything imports MXNet: the numpy aliases MXNet 1.9.1 still uses (numpy 1.24+ removed them).
from mxsoftmax.compat import restore_aliases as _restore_aliases  # noqa: E402

_restore_aliases()
