"""The run folder (``--out DIR``): one exclusive lock, a validated state, atomic checkpoints.

Layout: ``init.npz`` (``W`` and ``b`` as drawn, so pictures can show what training changed),
``epoch-K.npz`` after epoch K (numpy's format, read back with ``allow_pickle=False``), ``metrics.jsonl`` (one line per completed epoch) and
``state.json``, written last: it names the params file and is the commit point, so a crash at any
moment leaves the previous complete epoch in force. ``.lock`` is held (``filelock``) by the one
process using the folder. Everything read back is validated: the folder may have been edited.

Every folder a run leaves can be used again: with ``state.json`` it is a run to resume (a params
file a kill left beside the committed one is swept when it is opened); without it, the run's lock
file beside nothing but a run's files is a run that completed no epoch, which a new run starts
over, removing those files.
"""
import collections
import contextlib
import io
import json
import os
import re
import stat
import zipfile

import mxnet as mx
import numpy as np
from mxnet import nd

from . import catalog
from .errors import (InvalidInput, InvalidValue, Locked, NotARun, NotRegular,
                     WriteFailed, reason, translated)
from .files import (DIGEST, NOT_THERE, PART, FolderLock, cause, dangling_link, read_regular,
                    write_bytes, write_text)
from .settings import NUM_INPUTS, NUM_OUTPUTS
from .validation import CONSTRAINTS as C, Instance, Text, validate_params

FORMAT = 2  # 1: mxsoftmax 0.2, whose checkpoints were MXNet's .params files
STATE, METRICS, INIT = "state.json", "metrics.jsonl", "init.npz"
PICTURES = ("history.png", "weights.png", "confusion.png", "mistakes.png")
PARAMS_NAME = re.compile(r"epoch-(\d{1,9})\.npz\Z")
OLD_PARAMS_NAME = re.compile(r"(epoch-\d{1,9}|init)\.params\Z")  # mxsoftmax 0.2's checkpoints
MAX_PARAMS_BYTES = 1 << 20  # a checkpoint of W and b is 31.6 KB
MAX_STATE_BYTES = 1 << 16
MAX_METRICS_BYTES = 64 << 20
ARRAYS = {"W.npy": (NUM_INPUTS, NUM_OUTPUTS), "b.npy": (NUM_OUTPUTS,)}  # a checkpoint's members


NAME = Text(r"[^\x00-\x1f\x7f]{1,40}", "a printable name of 1-40 characters")
STATE_FIELDS = {  # state.json's fields and their constraints: flags as the command line checks them
    "epoch": C["start_epoch"], "moving_loss": C["moving_loss"],
    "params": Text(r"epoch-\d{1,9}\.npz", "epoch-<epoch>.npz"),
    "data": Text(r"[0-9a-f]{64}", "a SHA-256 in hex, or null", optional=True),
    "flags.dataset": C["dataset"], "flags.batch_size": C["batch_size"],
    "flags.lr": C["learning_rate"], "flags.seed": C["seed"], "flags.epochs": C["epochs"],
    "flags.stable": Instance(bool, "true or false"),
    "flags.data_dir": Instance(str, "a path, or null", optional=True),
}
METRICS_FIELDS = {"epoch": C["start_epoch"], "loss": C["moving_loss"],
                  "train_acc": C["moving_loss"], "test_acc": C["moving_loss"],
                  "seconds": C["moving_loss"]}


def is_own_name(name):
    """True for the names of the files a run writes (the lock aside)."""
    return (name in (INIT, STATE, METRICS) + PICTURES or bool(PARAMS_NAME.match(name))
            or bool(OLD_PARAMS_NAME.match(name)))


def is_own_file(name):
    """True for the names of the files a run leaves, its lock and its temporary files included."""
    found = PART.match(name)
    if found:
        return is_own_name(found.group("name")) or found.group("name") == FolderLock.NAME
    return name == FolderLock.NAME or is_own_name(name)


class RunFolder:
    """A run folder, held under an exclusive lock from :meth:`open_new`/:meth:`open_existing` to
    :meth:`close`."""

    def __init__(self, path):
        self.path = str(path)
        self.lock = FolderLock(self.path, who="run")
        self._committed = None  # the params file named by the last state read or written

    def file(self, name):
        """The path of ``name`` inside the folder."""
        return os.path.join(self.path, name)

    def open_new(self):
        """Lock the folder for a new run. It must be new, empty, or hold only what a run that
        completed no epoch leaves (its lock file among them), which is removed: the run starts
        over. A refused folder is left untouched."""
        self._check_new()
        self.lock.acquire()
        with contextlib.ExitStack() as unless_new:
            unless_new.callback(self.lock.release, discard=True)
            self._check_new()  # again, under the lock: another run may have come first
            unless_new.pop_all()
        self._remove_own_files()

    def open_existing(self):
        """Lock an existing run (to resume or redraw it) and return its state; nothing is created.

        Temporary files and params files other than the state's (a kill between writing the state
        and removing the previous checkpoint, or before the state named the new one) are swept.
        """
        if not os.path.exists(self.path):
            problem = cause(self.path)
            if problem != NOT_THERE:  # a dangling link, a name too long: not a misspelt name
                raise InvalidInput("%s cannot be used (%s): give the folder of an existing run."
                               % (self.path, problem), path=self.path)
            raise InvalidInput("%s does not exist: give the folder of an existing run (check its "
                           "name)." % self.path, path=self.path)
        if not os.path.isdir(self.path):
            parent = os.path.dirname(os.path.abspath(self.path))
            hint = ", such as %s" % parent if os.path.isfile(os.path.join(parent, STATE)) else ""
            raise InvalidInput("%s is a file, not a run folder: give the folder of the run%s."
                           % (self.path, hint), path=self.path)
        if not os.path.lexists(self.file(STATE)):
            if self._started():
                raise NotARun("%s holds a run that completed no epoch, so there is nothing to "
                              "continue or draw: train it again in that folder (without --resume)."
                              % self.path, started=True, path=self.path)
            raise NotARun("%s holds no completed epoch of a mxsoftmax run." % self.path, path=self.path)
        if not os.path.isfile(self.file(STATE)):
            raise InvalidInput("%s is %s: remove it (the run cannot be continued) or choose another "
                           "folder." % (self.file(STATE), _kind(self.file(STATE))))
        self.lock.acquire()
        self.lock.sweep(is_own_name)
        state = self.state()
        for name in os.listdir(self.path):
            if PARAMS_NAME.match(name) and name != state["params"] and _is_plain(self.file(name)):
                os.remove(self.file(name))
        return state

    def close(self, discard=False):
        """Release the lock. With ``discard`` (a new run that completed no epoch), first remove
        what it wrote, then the lock file and the folders it made, when nothing else is left."""
        discard = discard and self.lock.held and not os.path.lexists(self.file(STATE))
        if discard:
            self._remove_own_files()
        self.lock.release(discard=discard)

    def _remove_own_files(self):
        """Remove what a run that completed no epoch left here (regular files and symbolic links
        with a run's names; the lock stays), so that nothing of it is mistaken for the new run."""
        for name in os.listdir(self.path):
            if name != FolderLock.NAME and is_own_file(name) and _is_plain(self.file(name)):
                os.remove(self.file(name))

    def _started(self):
        """True when the folder holds a run's lock file and, beside it, only a run's files: what
        a run that completed no epoch leaves, however it was cut (a kill, a full disk)."""
        names = os.listdir(self.path)
        return FolderLock.NAME in names and all(  # the lock itself is checked when it is taken
            n == FolderLock.NAME or is_own_file(n) and _is_plain(self.file(n), gone=True)
            for n in names)

    def _check_new(self):
        """Refuse a new run here if the folder holds a run, or files that are not a run's."""
        link = dangling_link(self.path)
        if link:
            raise InvalidInput("%s is a symbolic link to %s, which does not exist: create that folder, "
                           "or choose another one for the run." % link)
        if not os.path.exists(self.path):
            return
        if not os.path.isdir(self.path):
            raise InvalidInput("%s is a file, not a folder: choose a folder for the run." % self.path, path=self.path)
        holder = self.lock.holder()
        if holder:
            raise Locked(self.path, holder, "run")
        if os.path.lexists(self.file(STATE)):
            raise InvalidInput("%s already holds a run: resume it, or choose another folder so it "
                            "is not overwritten." % self.path, path=self.path)
        names = os.listdir(self.path)
        ours = FolderLock.NAME in names  # a run's files are its own only beside its lock file
        foreign = sorted(n for n in names if not (ours and (n == FolderLock.NAME or is_own_file(n)
                                                            and _is_plain(self.file(n), True))))
        if foreign:
            raise NotARun("%s holds other files (%s) and no mxsoftmax run: choose an empty or "
                          "new folder so that nothing in it is overwritten."
                          % (self.path, ", ".join(foreign[:3]) + (", ..." if foreign[3:] else "")), path=self.path)

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

    def init_params(self, say=None):
        """The parameters as drawn (``init.npz``), or None.

        They are needed only to show what training changed in ``weights.png``: a run without them
        draws ``W`` itself. A damaged file (not params, inf or NaN) gives None too, so that it
        costs that picture and never the run; with ``say``, the caller's way to print one line,
        it is said once: ``say`` gets the sentence and the file is removed.
        """
        path = self.file(INIT)
        if not os.path.lexists(path):
            return None
        try:
            return load_params_file(path)[0]
        except InvalidInput:
            if say is not None:
                say("%s is not a usable params file, so weights.png shows W itself rather than "
                    "what training changed; the file was removed." % path)
                if _is_plain(path):
                    os.remove(path)
            return None

    def params(self, state):
        """The checkpoint's ``[W, b]`` (float32 NDArrays on the CPU) that ``state`` names."""
        return load_params_file(self.file(state["params"]))[0]

    def save_epoch(self, params, state, metrics):
        """Commit one completed epoch: its params, all metrics lines so far, then the state.

        ``state`` holds ``epoch``, ``moving_loss``, ``flags`` and ``class_names``; ``metrics`` is the
        list of per-epoch dicts up to it. The previous epoch's params file is removed last.
        """
        name = "epoch-%d.npz" % state["epoch"]
        _save_params(self.file(name), params)
        write_text(self.file(METRICS), "".join(json.dumps(m) + "\n" for m in metrics))
        write_text(self.file(STATE),
                   json.dumps(dict(state, format=FORMAT, params=name), indent=2) + "\n")
        stale, self._committed = self._committed, name
        if stale and stale != name and os.path.isfile(self.file(stale)):
            os.remove(self.file(stale))

    def metrics(self, upto_epoch):
        """The metrics rows of epochs 0..``upto_epoch``, and a one-line note when some were lost.

        Lines past the checkpoint (written just before a crash) are dropped silently; a damaged
        line (garbage, truncated, not an object, out of order) is dropped and reported, and so is
        a missing or unreadable file, once: the file is rewritten from the rows kept, which may
        then skip the epochs whose lines were lost.
        """
        path = self.file(METRICS)
        try:
            raw, unreadable = read_regular(path, MAX_METRICS_BYTES), None
        except NotRegular:
            raw, unreadable = b"", "not a regular file"
        except OSError as err:
            raw, unreadable = b"", cause(path, err)
        if raw is None:
            raw, unreadable = b"", "larger than %d MB" % (MAX_METRICS_BYTES >> 20)
        rows, damaged, beyond = [], 0, 0
        for line in filter(str.strip, raw.decode("utf-8", "replace").splitlines()):
            row = _metrics_row(line)
            if row is not None and row["epoch"] > upto_epoch:
                beyond += 1
            elif row is None or (rows and row["epoch"] <= rows[-1]["epoch"]):
                damaged += 1
            else:
                rows.append(row)
        if damaged or beyond or unreadable is not None:
            write_text(path, "".join(json.dumps(m) + "\n" for m in rows))
        return rows, _metrics_note(path, unreadable, damaged, rows, upto_epoch)


def _metrics_note(path, unreadable, damaged, rows, upto_epoch):
    """One line on what :meth:`RunFolder.metrics` could not keep, or None when it kept all.

    Epochs missing in the middle were reported when they were lost; a file that does not reach
    the checkpoint's epoch (which is always written with it) has lost lines since.
    """
    if unreadable is not None:
        return ("%s could not be read (%s); the learning curves of epochs 0-%d are lost, and the "
                "file starts again from here." % (path, unreadable, upto_epoch))
    if damaged:
        return ("%s had %d damaged line(s); rewrote it from the valid lines, %d of the %d "
                "epochs." % (path, damaged, len(rows), upto_epoch + 1))
    if not rows or rows[-1]["epoch"] != upto_epoch:
        return ("%s has no line for epoch %d, the checkpoint's: the learning curves stop at %s."
                % (path, upto_epoch, "epoch %d" % rows[-1]["epoch"] if rows else "no epoch"))
    return None


def _metrics_row(line):
    """One metrics.jsonl line as a dict, or None when it is not a valid row."""
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply for Python's parser
        return None
    if not isinstance(row, dict) or not all(c.holds(row.get(k)) for k, c in METRICS_FIELDS.items()):
        return None
    return {k: row[k] for k in METRICS_FIELDS}


def _save_params(path, params):
    """``W`` and ``b`` to ``path`` as an ``.npz``, atomically; bytes that do not read back as a
    checkpoint are never written."""
    buffer = io.BytesIO()
    np.savez(buffer, W=params[0].asnumpy(), b=params[1].asnumpy())
    raw = buffer.getvalue()
    with translated(InvalidInput, lambda err: WriteFailed(
            "cannot write %s (numpy's savez produced %d bytes that do not read back as W and b)"
            % (path, len(raw)), path=path)):
        params_from_bytes(raw, path)
    write_bytes(path, raw)


# ------------------------------------------------------------------------------- reading back

def read_state(path):
    """Read and validate a ``state.json``: each field against :data:`STATE_FIELDS`; InvalidInput
    naming the file and the field if not."""
    with translated((OSError, ValueError, RecursionError), lambda err: _unreadable_state(path, err)):
        raw = read_regular(path, MAX_STATE_BYTES)
        if raw is None:
            raise ValueError("larger than %d bytes" % MAX_STATE_BYTES)
        state = json.loads(raw.decode("utf-8"))
    if not isinstance(state, dict) or not isinstance(state.get("flags"), dict):
        raise InvalidInput("%s is not a valid mxsoftmax run state (not a JSON object with flags)."
                       % path, path=path)
    version = state.get("format", 1)  # mxsoftmax 0.1 wrote none
    if isinstance(version, bool) or version != FORMAT:
        old = version == 1 and not isinstance(version, bool)
        raise InvalidInput("%s is a run state of format %r; this mxsoftmax reads format %d%s." % (
            path, version, FORMAT, " (format 1 is mxsoftmax 0.2's, whose MXNet .params "
            "checkpoints it does not read: train the run again in a new --out)" if old else ""),
            path=path)
    with translated(InvalidValue, lambda err: InvalidInput(
            "%s is not a valid mxsoftmax run state (%s)." % (path, err), path=path)):
        for field, constraint in STATE_FIELDS.items():
            parent, _, key = field.rpartition(".")
            constraint.check(field, (state[parent] if parent else state).get(key))
        C["class_names"].check("class_names", state.get("class_names"))
        for name in state["class_names"]:
            NAME.check("class_names", name)
    if state["params"] != "epoch-%d.npz" % state["epoch"]:
        raise InvalidInput("%s is not a valid mxsoftmax run state (params must be epoch-%d.npz)."
                       % (path, state["epoch"]), path=path)
    return state


def _unreadable_state(path, err):
    """The InvalidInput for a state file that could not be read or parsed because of ``err``:
    an OSError, a ValueError (NotRegular, bad UTF-8 or JSON, too large) or a RecursionError
    (JSON nested too deeply for Python's parser)."""
    if isinstance(err, RecursionError):
        why = "nested too deeply"
    else:
        why = reason(err) if isinstance(err, ValueError) else cause(path, err)
    return InvalidInput("%s cannot be read (%s): it is not a mxsoftmax run state." % (path, why),
                    path=path)


def load_params_file(path):
    """``[W, b]`` from a params file, as finite float32 NDArrays on the CPU, and the file's size
    in bytes; InvalidInput if not.

    Files of other float types are converted; anything else is refused by name, never passed on.
    """
    with translated(OSError, lambda err: _unreadable_params(path, err)):
        raw = read_regular(path, MAX_PARAMS_BYTES)
    if raw is None:
        raise InvalidInput("%s is larger than a checkpoint of W and b (%d bytes at most): it is not "
                       "a params file of mxsoftmax." % (path, MAX_PARAMS_BYTES), path=path)
    return params_from_bytes(raw, path), len(raw)


def _unreadable_params(path, err):
    """The InvalidInput for the OSError ``err`` of reading the params file ``path``: not a regular
    file (NotRegular), missing, or unreadable."""
    if isinstance(err, NotRegular):
        return InvalidInput("%s is %s: give a params file." % (path, _kind(path)), path=path)
    if isinstance(err, FileNotFoundError):
        what = "cannot be read (%s)" % cause(path, err) if dangling_link(path) else "is missing"
        return InvalidInput("%s %s: put the file back, or train the run again in a new folder."
                        % (path, what), path=path)
    return InvalidInput("%s cannot be read (%s)." % (path, cause(path, err)), path=path)


def params_from_bytes(raw, path):
    """``[W, b]`` from the bytes of the ``.npz`` file ``path`` (named in messages), as finite
    float32 NDArrays on the CPU; InvalidInput if they are not a checkpoint of W and b.

    The zip's directory is checked before anything is decompressed: exactly ``W.npy`` and
    ``b.npy``, each no larger than its array can be; no pickles are ever loaded.
    """
    if OLD_PARAMS_NAME.match(os.path.basename(path)):
        raise InvalidInput("%s is a checkpoint of an earlier mxsoftmax (MXNet's .params format), which "
                       "this version does not read: train the run again with --out." % path,
                       path=path)
    with translated((ValueError, OSError, zipfile.BadZipFile), lambda err: InvalidInput(
            "%s is not a checkpoint of mxsoftmax (an .npz of W and b): give a run folder written "
            "with --out, or its epoch-K.npz file." % path, path=path)):
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            sizes = {info.filename: info.file_size for info in archive.infolist()}
        if set(sizes) != set(ARRAYS) or any(sizes[name] > 256 + 8 * np.prod(shape)
                                            for name, shape in ARRAYS.items()):
            raise ValueError("not W and b")
        with np.load(io.BytesIO(raw), allow_pickle=False) as saved:
            W, b = saved["W"], saved["b"]
    if W.shape != ARRAYS["W.npy"] or b.shape != ARRAYS["b.npy"]:
        raise InvalidInput("%s holds W %s and b %s; a softmax-regression checkpoint has W (784, 10) "
                       "and b (10,)." % (path, W.shape, b.shape), path=path)
    values = []
    for name, array in (("W", W), ("b", b)):
        if not np.issubdtype(array.dtype, np.floating):
            raise InvalidInput("%s holds %s as %s; a checkpoint holds floating-point numbers."
                           % (path, name, array.dtype.name), path=path)
        values.append(array.astype(np.float32))
        if not np.all(np.isfinite(values[-1])):
            raise InvalidInput("%s holds non-finite values in %s (inf or NaN): it is not a usable "
                           "checkpoint." % (path, name), path=path)
    W, b = (v.astype(np.float64) for v in values)
    if not (np.abs(W).sum(axis=0) + np.abs(b) < np.finfo(np.float32).max).all():
        raise InvalidInput("%s holds weights so large that an image's scores overflow float32 (inf): "
                       "it is not a usable checkpoint." % path, path=path)
    return [nd.array(v, dtype=np.float32, ctx=mx.cpu()) for v in values]


def _kind(path):
    """What ``path``, which is not a regular file, is, in a few words."""
    link = dangling_link(path)
    if link and link[0] == path:
        return "a symbolic link to %s, which does not exist" % link[1]
    return "a folder" if os.path.isdir(path) else "not a regular file"


def _is_plain(path, gone=False):
    """True for a regular file or a symbolic link (removing one never touches its target), and
    ``gone`` for a file that is no longer there (another run's temporary file, just renamed)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return gone
    return stat.S_ISLNK(mode) or stat.S_ISREG(mode)


Run = collections.namedtuple("Run", "params class_names dataset path")
Run.__doc__ = "A trained model to use: ``[W, b]`` on a context, its class names and data set."


@validate_params({"ctx": Instance(mx.Context, C["ctx"].description, optional=True)})
def load_run(path, ctx=None):
    """A trained model from a run folder or a params file, as a :class:`Run` on ``ctx`` (CPU).

    A folder gives its latest checkpoint, class names and data set; a params file takes them from
    the run folder it sits in when that folder has a valid state, else MNIST's digits 0-9.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise InvalidValue(param="path", value=path, shown=type(path).__name__,
                           expected="a path")
    path = os.fsdecode(path)
    if os.path.isdir(path):
        state, params = _latest(path)
    elif os.path.basename(path) == INIT:
        raise InvalidInput("%s holds the starting weights a run drew at random, before training: give "
                       "the run folder, or its epoch-K.npz file." % path, path=path)
    elif os.path.exists(path):
        state, params = _state_beside(path), load_params_file(path)[0]
    else:
        raise InvalidInput("%s does not exist: give a run folder written with --out, or its "
                       "epoch-K.npz file." % path, path=path)
    params = [p.as_in_context(ctx or mx.cpu()) for p in params]
    if state is None:
        return Run(params, list(catalog.DIGITS), "mnist", path)
    return Run(params, state["class_names"], state["flags"]["dataset"], path)


def _latest(folder, attempts=5):
    """The state and parameters of the run in ``folder``, even while it trains: a checkpoint
    replaced between reading the state and its params file is looked up again."""
    if not os.path.isfile(os.path.join(folder, STATE)):
        raise InvalidInput("%s holds no %s: give a run folder written with --out, or its "
                       "epoch-K.npz file." % (folder, STATE), path=folder)
    for attempt in range(attempts):
        state = read_state(os.path.join(folder, STATE))
        params_path = os.path.join(folder, state["params"])
        try:
            return state, load_params_file(params_path)[0]
        except InvalidInput:
            if os.path.exists(params_path) or attempt == attempts - 1:
                raise


def _state_beside(params_path):
    """The valid state of the run folder a params file sits in, or None."""
    sibling = os.path.join(os.path.dirname(os.path.abspath(params_path)), STATE)
    try:
        return read_state(sibling) if os.path.isfile(sibling) else None
    except InvalidInput:
        return None
