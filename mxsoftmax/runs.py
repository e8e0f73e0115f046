"""The run folder (``--out DIR``): ``init.npz`` (W and b as drawn), ``epoch-K.npz``,
``metrics.jsonl`` and ``state.json``, written last: it names the checkpoint, so a crash leaves the
last complete epoch in force. One process at a time (``.lock``); everything read back is checked."""
import collections
import contextlib
import errno
import io
import json
import os
import re
import zipfile

import mxnet as mx
import numpy as np
from mxnet import nd

from . import catalog
from .errors import InvalidInput, InvalidValue, WriteFailed, reason, translated
from .files import NOT_THERE, PART, FolderLock, cause, read_regular, write_bytes
from .settings import NUM_INPUTS, NUM_OUTPUTS
from .validation import CONSTRAINTS as C, Instance, Text, validate_params

FORMAT = 2  # 1: mxsoftmax 0.2, whose checkpoints were MXNet's .params files
STATE, METRICS, INIT = "state.json", "metrics.jsonl", "init.npz"
PICTURES = ("history.png", "weights.png", "confusion.png", "mistakes.png")
CHECKPOINT = re.compile(r"epoch-\d{1,9}\.npz\Z")
OWN = re.compile(r"((init|epoch-\d{1,9})\.(npz|params)|%s)\Z" % "|".join(
    re.escape(name) for name in (FolderLock.NAME, STATE, METRICS) + PICTURES))  # .params: mxsoftmax 0.2's
MAX_PARAMS_BYTES, MAX_STATE_BYTES, MAX_METRICS_BYTES = 1 << 20, 1 << 16, 64 << 20
ARRAYS = {"W": (NUM_INPUTS, NUM_OUTPUTS), "b": (NUM_OUTPUTS,)}  # a checkpoint is 31.6 KB
AGAIN = "train the run again into a new folder (the train command's --out)"
NO_ACCESS = (errno.EACCES, errno.EPERM)

NAME = Text(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,40}", "a printable name of 1-40 characters")  # and UTF-8
STATE_FIELDS = {  # state.json's fields and their constraints: flags as the command line checks them
    "epoch": C["start_epoch"], "moving_loss": C["moving_loss"],
    "data": Text(r"[0-9a-f]{64}", "a SHA-256 in hex, or null", optional=True),
    "flags.dataset": C["dataset"], "flags.batch_size": C["batch_size"], "flags.lr": C["learning_rate"],
    "flags.seed": C["seed"], "flags.epochs": C["epochs"], "flags.stable": Instance(bool, "true or false"),
    "flags.data_dir": Text(r"[^\ud800-\udc7f\udd00-\udfff]*", "a path, or null", optional=True),  # fsencode
    "class_names": C["class_names"]}
METRICS_FIELDS = dict(epoch=C["start_epoch"], **dict.fromkeys(
    ("loss", "train_acc", "test_acc", "seconds"), C["moving_loss"]))


def is_own_file(name):
    """True for the names of the files a run leaves: its lock, its files, their temporary files."""
    found = PART.match(name)
    return bool(OWN.match(found.group("name") if found else name))


class RunFolder:
    """A run folder, locked from :meth:`open_new` or :meth:`open_existing` to :meth:`close`."""

    def __init__(self, path):
        self.path = str(path)
        self.lock = FolderLock(self.path, who="run")

    def file(self, name):
        return os.path.join(self.path, name)

    def open_new(self):
        """Lock a new run's folder: new, empty, or with only the files of a run that completed no epoch."""
        locked = self._run_lock()
        ours = locked or os.path.lexists(self.file(STATE))  # a run's files beside its lock or state
        self._refuse_others(ours, before_lock=True)
        self.lock.acquire()
        with contextlib.ExitStack() as unless_new:
            unless_new.callback(self.lock.release, discard=not locked)
            if os.path.lexists(self.file(STATE)):  # with its lock, or a copy without dotfiles
                raise InvalidInput("%s already holds a run: resume it with --resume, or choose "
                                   "another folder." % self.path, path=self.path)
            self._refuse_others(ours)  # again, under the lock: another process may have written
            unless_new.pop_all()
        self._remove()

    def _refuse_others(self, ours, before_lock=False):
        """Refuse a folder of other files; before the lock, not one where a run began meanwhile."""
        others = self._others(ours) if os.path.isdir(self.path) else []
        if others and not (before_lock and self._run_lock()):
            raise InvalidInput("%s holds other files (%s%s) and no mxsoftmax run: choose an empty "
                               "or new folder so that nothing in it is overwritten." % (
                                   self.path, ", ".join(others[:3]), ", ..." if others[3:] else ""),
                               path=self.path)

    def _run_lock(self):
        """True if a lock file is here and not another program's: a run began in this folder."""
        return os.path.lexists(self.lock.path) and not self.lock.foreign()

    def open_existing(self):
        """Lock an existing run, sweep the temporary files a kill left and return its state; nothing is
        created, and no checkpoint removed before :meth:`load` has read the state's back whole."""
        if not os.path.isdir(self.path):
            parent, why = os.path.dirname(os.path.abspath(self.path)), cause(self.path)
            such = ", such as %s" % parent if os.path.isfile(os.path.join(parent, STATE)) else ""
            if os.path.exists(self.path):
                problem = "is a file, not a run folder"
            elif why == NOT_THERE:  # not a dangling link or a name too long: a misspelt name?
                problem, such = "does not exist", such or " (check its name)"
            else:
                problem = "cannot be used (%s)" % why
            raise InvalidInput(path=self.path, problem=problem,
                               advice="give the folder of an existing run" + such)
        if not os.path.lexists(self.file(STATE)):
            if os.path.lexists(self.lock.path) and not self._others(ours=True):
                self.lock.acquire()  # a run alive in its first epoch: Locked names its process
                self.lock.release()
                raise InvalidInput("%s holds a run that completed no epoch, so there is nothing to "
                                   "continue or draw: train it again in that folder (the train command, "
                                   "without --resume)." % self.path, path=self.path)
            raise InvalidInput("%s holds no completed epoch of a mxsoftmax run: give the folder "
                               "of a run trained with --out." % self.path, path=self.path)
        self.lock.acquire()
        state = read_state(self.file(STATE))
        self.lock.sweep(is_own_file)
        return state

    def close(self, discard=False):
        """Release the lock; ``discard`` a new run that completed no epoch, its folders included."""
        discard = discard and self.lock.lock.is_locked and not os.path.lexists(self.file(STATE))
        if discard:
            self._remove()
        self.lock.release(discard=discard)

    def _others(self, ours):
        """The names here that are not a run's: all but a FolderLock's lock file unless ``ours``."""
        return sorted(n for n in os.listdir(self.path) if not (
            not self.lock.foreign() if n == FolderLock.NAME else
            ours and is_own_file(n) and _plain(self.file(n))))

    def _remove(self, keep=None):
        """Remove a run's files but the lock; with ``keep``, its temporary files and other checkpoints."""
        for name in os.listdir(self.path):
            doomed = keep is None or PART.match(name) or CHECKPOINT.match(name) and name != keep
            if doomed and name != FolderLock.NAME and is_own_file(name) and _plain(self.file(name)):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.file(name))

    def save_init(self, params):
        _save_params(self.file(INIT), params)

    def init_params(self, say=None):
        """The parameters as drawn, or None: only ``weights.png`` needs them, so a damaged file
        costs that picture; with ``say`` (a way to print a line) it is said, and a file removed."""
        path = self.file(INIT)
        try:
            return load_params_file(path) if os.path.lexists(path) else None
        except InvalidInput:
            if say is not None:
                removed = _plain(path)  # a folder or a FIFO there is the user's to move
                if removed:
                    os.remove(path)
                say("%s is not a usable params file, so weights.png shows W itself rather than what "
                    "training changed; %s." % (path, "the file was removed" if removed else "move it away"))
            return None

    def load(self, state, say):
        """A resumed or redrawn run's metrics rows, checkpoint and initial draw (or None)."""
        with translated(InvalidInput, lambda err: _damaged(self.path, state, err)):
            params = load_params_file(self.file(state["params"]))
        self._remove(keep=state["params"])  # the checkpoints a kill left, now that the state's is whole
        return self.metrics(state["epoch"], say), params, self.init_params(say)

    def save_epoch(self, params, state, metrics):
        """Commit an epoch: its checkpoint, metrics, then ``state``; the old checkpoint goes last."""
        name = "epoch-%d.npz" % state["epoch"]
        _save_params(self.file(name), params)
        _write_rows(self.file(METRICS), metrics)
        write_bytes(self.file(STATE), json.dumps(dict(state, format=FORMAT, params=name),
                                                 indent=2).encode() + b"\n")
        self._remove(keep=name)

    def metrics(self, upto_epoch, say):
        """The rows of epochs 0..``upto_epoch``, damaged or lost ones said once: the file is rewritten."""
        path = self.file(METRICS)
        try:
            raw = read_regular(path, MAX_METRICS_BYTES)
            problem = None if raw is not None else "is larger than %d MB" % (MAX_METRICS_BYTES >> 20)
        except OSError as err:  # damaged: what can be read is kept; not this user's to read: refused
            if err.errno in NO_ACCESS:
                raise _no_access(path, cause(path, err)) from None
            raw, problem = None, "could not be read (%s)" % cause(path, err)
        lines = [line for line in (raw or b"").decode("utf-8", "replace").splitlines() if line.strip()]
        rows, damaged = [], 0
        for line in lines:
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):  # RecursionError: nested too deeply for Python's parser
                row = None
            if not (isinstance(row, dict) and all(c.holds(row.get(k)) for k, c in METRICS_FIELDS.items())) \
                    or rows and row["epoch"] <= rows[-1]["epoch"]:
                damaged += 1
            elif row["epoch"] <= upto_epoch:
                rows.append({k: row[k] for k in METRICS_FIELDS})
        if problem or len(rows) != len(lines):
            _write_rows(path, rows)
        if not problem and damaged:
            problem = "had %d damaged line(s)" % damaged
        elif not problem and (not rows or rows[-1]["epoch"] != upto_epoch):
            problem = "has no line for epoch %d, the checkpoint's" % upto_epoch  # lines lost
        if problem:
            say("%s %s: the learning curves keep %d of the %d epochs." % (
                path, problem, len(rows), upto_epoch + 1))
        return rows


def _write_rows(path, rows):
    write_bytes(path, "".join(json.dumps(row) + "\n" for row in rows).encode())


def _save_params(path, params):
    """``W`` and ``b`` to ``path`` as an ``.npz``, once they read back as one."""
    buffer = io.BytesIO()
    np.savez(buffer, W=params[0].asnumpy(), b=params[1].asnumpy())
    raw = buffer.getvalue()
    with translated(InvalidInput, lambda err: WriteFailed("cannot write %s (numpy's savez produced %d "
                    "bytes that do not read back as W and b)" % (path, len(raw)), path=path)):
        load_params_file(path, raw)
    write_bytes(path, raw)


def _plain(path):
    """A regular file, a link (removing one never touches its target) or a name gone since."""
    return os.path.islink(path) or os.path.isfile(path) or not os.path.lexists(path)


def _read(path, limit, refused):
    """The bytes of the regular file ``path``, at most ``limit``; else ``refused(path, problem)``."""
    try:
        raw = read_regular(path, limit)
    except OSError as err:  # nothing there: cause() says why (a dangling link, a long name)
        why = cause(path, None if isinstance(err, FileNotFoundError) else err)
        if err.errno in NO_ACCESS:
            raise _no_access(path, why) from None
        raise refused(path, "does not exist" if why == NOT_THERE else "cannot be read (%s)" % why) from None
    if raw is None:
        raise refused(path, "is larger than %d bytes" % limit)
    return raw


def _no_access(path, why):
    """Nothing is damaged: this user may not read ``path`` (which is not rewritten, nor called unusable)."""
    return InvalidInput(path=path, problem="cannot be read (%s)" % why,
                        advice="give this user read access to it, or run as its owner")


def _bad_state(path, problem):
    return InvalidInput(path=path, problem=problem + ", so the run cannot be used", advice=AGAIN)


def _bad_params(path, problem, advice="give a run folder written with --out, or its epoch-K.npz file"):
    return InvalidInput(path=path, problem=problem, advice=advice)


def read_state(path):
    """``state.json``, each field checked against :data:`STATE_FIELDS`; InvalidInput if not."""
    raw = _read(path, MAX_STATE_BYTES, _bad_state)
    with translated((ValueError, RecursionError), lambda err: _bad_state(path, "cannot be read (%s)"
                    % ("nested too deeply" if isinstance(err, RecursionError) else reason(err)))):
        state = json.loads(raw.decode("utf-8"))
    if not isinstance(state, dict) or not isinstance(state.get("flags"), dict):
        raise _bad_state(path, "is not a JSON object with flags")
    version = state.get("format", 1)  # mxsoftmax 0.1 wrote none
    if version != FORMAT:  # True, which == 1, too
        raise _bad_state(path, "is a run state of format %r, not %d%s" % (version, FORMAT, (
            " (mxsoftmax 0.2's, whose MXNet .params checkpoints this version does not read)"
            if version == 1 and version is not True else "")))
    with translated(InvalidValue, lambda err: _bad_state(
            path, "is not a valid mxsoftmax run state (%s)" % err)):
        for field, constraint in STATE_FIELDS.items():
            parent, _, key = field.rpartition(".")
            constraint.check(field, (state[parent] if parent else state).get(key))
        for name in state["class_names"]:
            NAME.check("class_names", name)
        params = "epoch-%d.npz" % state["epoch"]
        Text(re.escape(params), params).check("params", state.get("params"))
    return state


def load_params_file(path, raw=None):
    """``[W, b]`` from a checkpoint file (or its bytes ``raw``) as finite float32 NDArrays on the CPU.
    The zip's directory is checked before anything is decompressed; no pickle is ever loaded."""
    raw = _read(path, MAX_PARAMS_BYTES, _bad_params) if raw is None else raw
    if path.endswith(".params"):
        raise _bad_params(path, "is in MXNet's .params format, which mxsoftmax 0.2 wrote and this "
                                "version does not read", AGAIN)
    with translated(Exception,  # all that parsing these bytes raises: zipfile's, zlib's, lzma's, numpy's
                    lambda err: _bad_params(path, "is not a checkpoint of mxsoftmax (an .npz of W and b)")):
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            sizes = {info.filename: info.file_size for info in archive.infolist()}
        if sizes.keys() != {name + ".npy" for name in ARRAYS} or any(
                sizes[name + ".npy"] > 256 + 8 * np.prod(shape) for name, shape in ARRAYS.items()):
            raise ValueError("not W and b")
        with np.load(io.BytesIO(raw), allow_pickle=False) as saved:
            arrays = [saved[name] for name in ARRAYS]
    for (name, shape), array in zip(ARRAYS.items(), arrays):
        if array.shape != shape or not np.issubdtype(array.dtype, np.floating):
            raise _bad_params(path, "holds %s %s of %s, not W (784, 10) and b (10,) of floating-"
                                    "point numbers" % (name, array.shape, array.dtype.name))
        if not np.isfinite(array.astype(np.float32)).all():
            raise _bad_params(path, "holds inf or NaN in %s" % name)
    W, b = (array.astype(np.float32).astype(np.float64) for array in arrays)
    if not (np.abs(W).sum(axis=0) + np.abs(b) < np.finfo(np.float32).max).all():
        raise _bad_params(path, "holds weights so large that an image's scores overflow float32")
    return [nd.array(array, dtype=np.float32, ctx=mx.cpu()) for array in arrays]


def _damaged(folder, state, err):
    """The InvalidInput ``err`` of the checkpoint ``state`` names, said of the run ``folder`` (a power
    loss can empty that checkpoint), naming the newest intact checkpoint still beside it; one this
    process may not read keeps ``err`` (Permission denied: nothing is damaged)."""
    path = os.path.join(folder, state["params"])
    if os.path.exists(path) and not os.access(path, os.R_OK):
        return err
    others = sorted((n for n in os.listdir(folder) if CHECKPOINT.match(n) and n != state["params"]),
                    key=lambda n: -int(n[6:-4]))
    for intact in (os.path.join(folder, n) for n in others):
        with contextlib.suppress(InvalidInput):
            load_params_file(intact)
            break
    else:
        intact = None
    return _bad_params(path, err.problem + ", so the run's checkpoint is lost or damaged" + (
        "; %s beside it is intact" % intact if intact else ""), AGAIN if not intact else
        "give it as --params to predict, draw or export, or " + AGAIN)


Run = collections.namedtuple("Run", "params class_names dataset path")
Run.__doc__ = "A trained model to use: ``[W, b]`` on a context, its class names and data set."


@validate_params({"path": C["run_path"], "ctx": Instance(mx.Context, C["ctx"].description, optional=True)})
def load_run(path, ctx=None):
    """A trained model from a run folder (its latest checkpoint) or a checkpoint file (names and
    data set from its run's valid state, else MNIST's digits)."""
    path = os.fsdecode(path)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, STATE)):
            raise _bad_params(path, "holds no %s" % STATE)
        for attempt in range(5):  # a checkpoint replaced after its state was read: looked up again
            state = read_state(os.path.join(path, STATE))
            checkpoint = os.path.join(path, state["params"])
            try:
                params = load_params_file(checkpoint)
                break
            except InvalidInput as err:
                if os.path.exists(checkpoint) or attempt == 4:
                    raise _damaged(path, state, err) from None
    elif os.path.basename(path) == INIT:
        raise _bad_params(path, "holds the starting weights a run drew at random, before "
                                "training", "give the run folder, or its epoch-K.npz file")
    else:
        params, state = load_params_file(path), None
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), STATE)
        with contextlib.suppress(InvalidInput):
            state = read_state(beside) if os.path.isfile(beside) else None
    names, dataset = ((state["class_names"], state["flags"]["dataset"]) if state else
                      (list(catalog.DIGITS), "mnist"))
    return Run([p.as_in_context(ctx or mx.cpu()) for p in params], names, dataset, path)
