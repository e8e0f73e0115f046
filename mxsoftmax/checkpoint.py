"""Checkpoints in ``--out DIR``: parameters, run state and metrics, every file written atomically.

Layout: ``epoch-K.params`` (``nd.save`` of ``{'W', 'b'}`` after epoch K), ``metrics.jsonl`` (one
line per completed epoch) and ``state.json``, written last: it names the params file and is the
commit point, so a crash at any moment leaves the previous complete checkpoint in force.
"""
import json
import os

from mxnet import nd

from . import UsageError
from .files import atomic_write, write_text

STATE = "state.json"
METRICS = "metrics.jsonl"
REQUIRED = {"epoch", "moving_loss", "flags", "params"}
FLAGS = {"dataset", "batch_size", "lr", "seed", "stable"}


def prepare_out(out):
    """Create ``out`` and prove it is writable; UsageError (before any training) if not."""
    try:
        os.makedirs(out, exist_ok=True)
        write_text(os.path.join(out, ".write-test"), "")
        os.remove(os.path.join(out, ".write-test"))
    except OSError as err:
        raise UsageError("--out %s cannot be used (%s): choose a folder you can write to."
                         % (out, err.strerror or err)) from None
    return out


def read_state(out):
    """The run state saved in ``out``, or None when it holds no run."""
    path = os.path.join(out, STATE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            state = json.load(f)
    except (OSError, ValueError) as err:
        raise UsageError("%s cannot be read (%s): it is not a mxsoftmax checkpoint."
                         % (path, err)) from None
    if not (isinstance(state, dict) and REQUIRED <= set(state)
            and isinstance(state["flags"], dict) and FLAGS <= set(state["flags"])):
        raise UsageError("%s lacks some of %s: it is not a mxsoftmax checkpoint; use another "
                         "--out." % (path, ", ".join(sorted(REQUIRED | FLAGS))))
    return state


def save_epoch(out, params, state, metrics):
    """Write one completed epoch: params, all metrics lines so far, then the state naming them.

    ``state`` must hold ``epoch``; ``metrics`` is the list of per-epoch dicts up to it.
    """
    name = "epoch-%d.params" % state["epoch"]
    W, b = params
    atomic_write(os.path.join(out, name), lambda tmp: nd.save(tmp, {"W": W, "b": b}))
    write_text(os.path.join(out, METRICS), "".join(json.dumps(m) + "\n" for m in metrics))
    previous = read_state(out)
    write_text(os.path.join(out, STATE), json.dumps(dict(state, params=name), indent=2) + "\n")
    if previous and previous["params"] != name:
        stale = os.path.join(out, previous["params"])
        if os.path.exists(stale):
            os.remove(stale)


def read_metrics(out, upto_epoch):
    """The metrics lines of epochs 0..``upto_epoch`` saved in ``out``."""
    path = os.path.join(out, METRICS)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [row for row in rows if row["epoch"] <= upto_epoch]


def load_params(path):
    """Load ``[W, b]`` from a params file or a run folder; UsageError if it is not a checkpoint.

    Returns ``(params, state)`` where ``state`` is the run state when a folder was given, else {}.
    """
    state = {}
    if not os.path.exists(path):
        raise UsageError("--params %s does not exist: give a run folder written by 'python -m "
                         "mxsoftmax.train --out DIR' or its epoch-K.params file." % path)
    if os.path.isdir(path):
        state = read_state(path)
        if state is None:
            raise UsageError("%s holds no %s: give a run folder written by 'python -m "
                             "mxsoftmax.train --out DIR' or its epoch-K.params file." % (path, STATE))
        path = os.path.join(path, state["params"])
    try:
        saved = nd.load(path)
    except Exception as err:  # MXNet raises MXNetError or ValueError for foreign files
        raise UsageError("%s is not an MXNet params file (%s): give a file written by "
                         "mxsoftmax.train." % (path, str(err).strip().splitlines()[-1]
                                               if str(err).strip() else type(err).__name__)) from None
    if not isinstance(saved, dict) or set(saved) != {"W", "b"}:
        raise UsageError("%s does not hold the arrays W and b: give a file written by "
                         "mxsoftmax.train." % path)
    W, b = saved["W"], saved["b"]
    if W.shape != (784, 10) or b.shape != (10,):
        raise UsageError("%s holds W %s and b %s; a softmax-regression checkpoint has W (784, 10) "
                         "and b (10,)." % (path, W.shape, b.shape))
    return [W, b], state
