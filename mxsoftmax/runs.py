"""The run folder (``--out DIR``): one exclusive lock, a validated state, atomic checkpoints.

Layout: ``init.params`` (``W`` and ``b`` as drawn, so pictures can show what training changed),
``epoch-K.params`` after epoch K, ``metrics.jsonl`` (one line per completed epoch) and
``state.json``, written last: it names the params file and is the commit point, so a crash at any
moment leaves the previous complete epoch in force. ``.lock`` is held (``flock``) by the one
process using the folder. Everything read back is validated: the folder may have been edited.
"""
import collections
import errno
import fcntl
import json
import math
import os
import re

import mxnet as mx
import numpy as np
from mxnet import nd

from . import catalog
from .errors import InvalidInput, WriteFailed, reason
from .files import atomic_write, write_text
from .model import NUM_INPUTS, NUM_OUTPUTS

FORMAT = 1
STATE, METRICS, INIT, LOCK = "state.json", "metrics.jsonl", "init.params", ".lock"
PARAMS_NAME = re.compile(r"epoch-(\d{1,9})\.params\Z")
OWN_FILES = re.compile(r"\A(\.lock|init\.params|\..+\.part)\Z")  # a run that has no epoch yet
MAX_PARAMS_BYTES = 1 << 20  # a checkpoint of W and b is 31.5 KB
MAX_STATE_BYTES = 1 << 16
MAX_METRICS_BYTES = 64 << 20
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)


class RunError(InvalidInput):
    """A run folder or checkpoint that cannot be used as asked."""


class RunLocked(RunError):
    """Another process holds the run folder."""


class RunExists(RunError):
    """A new run was asked for in a folder that already holds one."""


class NotARun(RunError):
    """A folder with other files in it and no mxsoftmax run."""


class RunFolder:
    """A run folder held under an exclusive lock from :meth:`lock` (or ``with``) to :meth:`unlock`."""

    def __init__(self, path):
        self.path = str(path)
        self._fd = None
        self._committed = None  # the params file named by the last state read or written

    def __enter__(self):
        self.lock()
        return self

    def __exit__(self, *exc):
        self.unlock()

    def file(self, name):
        """The path of ``name`` inside the folder."""
        return os.path.join(self.path, name)

    def lock(self):
        """Create the folder if needed and take its lock; RunLocked names the holder's PID."""
        try:
            os.makedirs(self.path, exist_ok=True)
            fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise RunError("%s cannot be used (%s): choose a folder you can write to."
                           % (self.path, reason(err))) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunLocked("%s is in use by another mxsoftmax run (PID %s): wait for it to "
                            "finish, or choose another folder." % (self.path, holder)) from None
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        self._fd = fd

    def unlock(self):
        """Release the lock (the lock file stays; it is empty of meaning without a holder)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def check_new(self):
        """Refuse a new run here if the folder holds a run, or files that are not a run's."""
        if os.path.exists(self.file(STATE)):
            raise RunExists("%s already holds a run: resume it, or choose another folder so it "
                            "is not overwritten." % self.path)
        foreign = sorted(n for n in os.listdir(self.path) if not OWN_FILES.match(n))
        if foreign:
            raise NotARun("%s holds other files (%s) and no mxsoftmax run: choose an empty or "
                          "new folder so that nothing in it is overwritten."
                          % (self.path, ", ".join(foreign[:3]) + (", ..." if foreign[3:] else "")))

    def state(self):
        """The validated run state, or None when no epoch has completed here."""
        if not os.path.exists(self.file(STATE)):
            return None
        state = read_state(self.file(STATE))
        self._committed = state["params"]
        return state

    def save_init(self, params):
        """Keep the parameters as drawn, before any training."""
        _save_params(self.file(INIT), params)

    def init_params(self):
        """The parameters as drawn (``init.params``), or None for a run that did not keep them."""
        path = self.file(INIT)
        return load_params_file(path)[0] if os.path.isfile(path) else None

    def params(self, state):
        """The checkpoint's ``[W, b]`` (float32 NDArrays on the CPU) that ``state`` names."""
        return load_params_file(self.file(state["params"]))[0]

    def save_epoch(self, params, state, metrics):
        """Commit one completed epoch: its params, all metrics lines so far, then the state.

        ``state`` holds ``epoch``, ``moving_loss``, ``flags`` and ``class_names``; ``metrics`` is the
        list of per-epoch dicts up to it. The previous epoch's params file is removed last.
        """
        name = "epoch-%d.params" % state["epoch"]
        _save_params(self.file(name), params)
        _write(self.file(METRICS), "".join(json.dumps(m) + "\n" for m in metrics))
        _write(self.file(STATE), json.dumps(dict(state, format=FORMAT, params=name), indent=2) + "\n")
        stale, self._committed = self._committed, name
        if stale and stale != name and os.path.isfile(self.file(stale)):
            os.remove(self.file(stale))

    def metrics(self, upto_epoch):
        """The metrics rows of epochs 0..``upto_epoch``, and a one-line note when some were damaged.

        Lines past the checkpoint (written just before a crash) are dropped silently; a damaged
        line (garbage, truncated, not an object, out of order) is dropped and reported. Either
        way the file is rewritten from the rows kept.
        """
        path = self.file(METRICS)
        if not os.path.isfile(path):
            return [], None
        with open(path, "rb") as f:
            lines = f.read(MAX_METRICS_BYTES).decode("utf-8", "replace").splitlines()
        rows, damaged, beyond = [], 0, 0
        for line in filter(str.strip, lines):
            row = _metrics_row(line)
            if row is not None and row["epoch"] > upto_epoch:
                beyond += 1
            elif row is None or row["epoch"] != len(rows):
                damaged += 1
            else:
                rows.append(row)
        if damaged or beyond:
            _write(path, "".join(json.dumps(m) + "\n" for m in rows))
        if damaged or len(rows) != upto_epoch + 1:
            return rows, ("%s had %d damaged line(s); rewrote it from the %d valid epoch(s) up "
                          "to epoch %d." % (path, damaged, len(rows), upto_epoch))
        return rows, None


def _metrics_row(line):
    """One metrics.jsonl line as a dict, or None when it is not a valid row."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict) or not _is_int(row.get("epoch")) or row["epoch"] < 0:
        return None
    for key in ("loss", "train_acc", "test_acc", "seconds"):
        if not _is_number(row.get(key)):
            return None
    return {k: row[k] for k in ("epoch", "loss", "train_acc", "test_acc", "seconds")}


def _write(path, text):
    """:func:`write_text` with a full disk reported as :class:`WriteFailed`."""
    try:
        write_text(path, text)
    except OSError as err:
        raise _write_error(path, err) from None


def _write_error(path, err):
    if isinstance(err, OSError) and err.errno not in NO_SPACE:
        return RunError("cannot write %s (%s): choose a folder you can write to."
                        % (path, reason(err)))
    return WriteFailed("cannot write %s (%s)" % (path, reason(err)))


def _save_params(path, params):
    """``nd.save`` of ``{'W', 'b'}`` to ``path`` atomically; MXNet's write errors become WriteFailed."""
    W, b = params
    try:
        atomic_write(path, lambda tmp: nd.save(tmp, {"W": W, "b": b}))
    except (OSError, mx.MXNetError) as err:
        raise _write_error(path, err) from None


# ------------------------------------------------------------------------------- reading back

def read_state(path):
    """Read and validate a ``state.json``: every field's type and range; RunError if not."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_STATE_BYTES + 1)
        if len(raw) > MAX_STATE_BYTES:
            raise ValueError("larger than %d bytes" % MAX_STATE_BYTES)
        state = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as err:
        raise RunError("%s cannot be read (%s): it is not a mxsoftmax run state."
                       % (path, reason(err))) from None
    problem = _state_problem(state)
    if problem:
        raise RunError("%s is not a valid mxsoftmax run state (%s)." % (path, problem))
    return state


def _state_problem(state):
    """What is wrong with a parsed state, in a few words, or None."""
    if not isinstance(state, dict):
        return "not a JSON object"
    version = state.get("format", FORMAT)  # runs of mxsoftmax 0.1.0 had no format field
    if version != FORMAT:
        return "format %r; this mxsoftmax reads format %d" % (version, FORMAT)
    flags = state.get("flags")
    checks = [
        ("epoch", _is_int(state.get("epoch")) and state["epoch"] >= 0, "a whole number >= 0"),
        ("moving_loss", _is_number(state.get("moving_loss")), "a finite number"),
        ("params", isinstance(state.get("params"), str) and PARAMS_NAME.match(state["params"])
         and state["params"] == "epoch-%s.params" % state.get("epoch"), "epoch-<epoch>.params"),
        ("class_names", isinstance(state.get("class_names"), list)
         and len(state["class_names"]) == NUM_OUTPUTS
         and all(_is_name(n) for n in state["class_names"]), "10 short printable names"),
        ("flags", isinstance(flags, dict), "an object"),
    ]
    if isinstance(flags, dict):
        checks += [
            ("flags.dataset", flags.get("dataset") in catalog.NAMES, " or ".join(catalog.NAMES)),
            ("flags.batch_size", _is_int(flags.get("batch_size")) and flags["batch_size"] >= 1,
             "a whole number >= 1"),
            ("flags.lr", _is_number(flags.get("lr")) and np.isfinite(np.float32(flags["lr"]))
             and np.float32(flags["lr"]) > 0, "a positive number finite in float32"),
            ("flags.seed", _is_int(flags.get("seed")) and 0 <= flags["seed"] < 2 ** 32,
             "a whole number 0 to 2**32-1"),
            ("flags.stable", isinstance(flags.get("stable"), bool), "true or false"),
            ("flags.epochs", _is_int(flags.get("epochs", 0)) and flags.get("epochs", 0) >= 0,
             "a whole number >= 0"),
            ("flags.data_dir", flags.get("data_dir") is None or isinstance(flags["data_dir"], str),
             "a path or null"),
        ]
    for field, ok, expected in checks:
        if not ok:
            return "%s must be %s" % (field, expected)
    return None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_name(value):
    return isinstance(value, str) and 0 < len(value) <= 40 and value.isprintable()


def load_params_file(path):
    """``[W, b]`` from a params file, as finite float32 NDArrays on the CPU; RunError if not.

    Files of other float types are converted; anything else is refused by name, never passed on.
    """
    try:
        size = os.path.getsize(path)
        if size > MAX_PARAMS_BYTES:
            raise ValueError("%d bytes, more than a checkpoint of W and b" % size)
        saved = nd.load(path)
    except (OSError, ValueError, mx.MXNetError) as err:
        raise RunError("%s is not an MXNet params file of mxsoftmax (%s)."
                       % (path, reason(err))) from None
    if not isinstance(saved, dict) or set(saved) != {"W", "b"}:
        raise RunError("%s does not hold exactly the arrays W and b." % path)
    W, b = saved["W"], saved["b"]
    if W.shape != (NUM_INPUTS, NUM_OUTPUTS) or b.shape != (NUM_OUTPUTS,):
        raise RunError("%s holds W %s and b %s; a softmax-regression checkpoint has W (784, 10) "
                       "and b (10,)." % (path, W.shape, b.shape))
    params = []
    for name, array in (("W", W), ("b", b)):
        if not np.issubdtype(array.dtype, np.floating):
            raise RunError("%s holds %s as %s; a checkpoint holds floating-point numbers."
                           % (path, name, np.dtype(array.dtype).name))
        values = array.asnumpy()
        if not np.all(np.isfinite(values.astype(np.float32))):
            raise RunError("%s holds non-finite values in %s (inf or NaN): it is not a usable "
                           "checkpoint." % (path, name))
        params.append(nd.array(values, dtype=np.float32, ctx=mx.cpu()))
    return params, size


Run = collections.namedtuple("Run", "params class_names dataset path")
Run.__doc__ = "A trained model to use: ``[W, b]`` on a context, its class names and data set."


def load_run(path, ctx=None):
    """A trained model from a run folder or a params file, as a :class:`Run` on ``ctx`` (CPU).

    A folder gives its latest checkpoint, class names and data set; a params file takes them from
    the run folder it sits in when that folder has a valid state, else MNIST's digits 0-9.
    """
    path = str(path)
    ctx = ctx or mx.cpu()
    if os.path.isdir(path):
        state = RunFolder(path).state()
        if state is None:
            raise RunError("%s holds no %s: give a run folder written with --out, or its "
                           "epoch-K.params file." % (path, STATE))
        params_path = os.path.join(path, state["params"])
    elif os.path.exists(path):
        params_path, state = path, _state_beside(path)
    else:
        raise RunError("%s does not exist: give a run folder written with --out, or its "
                       "epoch-K.params file." % path)
    params = [p.as_in_context(ctx) for p in load_params_file(params_path)[0]]
    if state is None:
        return Run(params, list(catalog.DIGITS), "mnist", path)
    return Run(params, state["class_names"], state["flags"]["dataset"], path)


def _state_beside(params_path):
    """The valid state of the run folder a params file sits in, or None."""
    sibling = os.path.join(os.path.dirname(os.path.abspath(params_path)), STATE)
    try:
        return read_state(sibling) if os.path.isfile(sibling) else None
    except RunError:
        return None
