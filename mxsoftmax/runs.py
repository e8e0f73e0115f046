"""The run folder (``--out DIR``): one exclusive lock, a validated state, atomic checkpoints.

Layout: ``init.params`` (``W`` and ``b`` as drawn, so pictures can show what training changed),
``epoch-K.params`` after epoch K, ``metrics.jsonl`` (one line per completed epoch) and
``state.json``, written last: it names the params file and is the commit point, so a crash at any
moment leaves the previous complete epoch in force. ``.lock`` is held (``flock``) by the one
process using the folder. Everything read back is validated: the folder may have been edited.

Every folder a run leaves can be used again: with ``state.json`` it is a run to resume (a params
file a kill left beside the committed one is swept when it is opened); without it, the run's lock
file beside nothing but a run's files is a run that completed no epoch, which a new run starts
over, removing those files.
"""
import collections
import contextlib
import json
import math
import os
import re
import stat
import struct
import tempfile

import mxnet as mx
import numpy as np
from mxnet import nd

from . import catalog
from .errors import (InvalidType, NotARun, NotRegular, RunCannotWrite,
                     RunError, RunExists, RunLocked, WriteFailed, reason, translated)
from .files import (DIGEST, NOT_THERE, PART, FolderLock, cause, dangling_link, read_regular,
                    write_bytes, write_text)
from .settings import NUM_INPUTS, NUM_OUTPUTS
from .validation import constraint, validate

FORMAT = 1
STATE, METRICS, INIT = "state.json", "metrics.jsonl", "init.params"
PICTURES = ("history.png", "weights.png", "confusion.png", "mistakes.png")
PARAMS_NAME = re.compile(r"epoch-(\d{1,9})\.params\Z")
MAX_PARAMS_BYTES = 1 << 20  # a checkpoint of W and b is 31.5 KB
MAX_STATE_BYTES = 1 << 16
MAX_METRICS_BYTES = 64 << 20


class RunLock(FolderLock):
    """The lock of a run folder: its holder is a run, its failures are RunErrors."""
    WHO = "run"
    Locked, CannotWrite = RunLocked, RunCannotWrite


def is_own_name(name):
    """True for the names of the files a run writes (the lock aside)."""
    return name in (INIT, STATE, METRICS) + PICTURES or bool(PARAMS_NAME.match(name))


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
        self.lock = RunLock(self.path)
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
                raise RunError("%s cannot be used (%s): give the folder of an existing run."
                               % (self.path, problem), path=self.path)
            raise RunError("%s does not exist: give the folder of an existing run (check its "
                           "name)." % self.path, path=self.path)
        if not os.path.isdir(self.path):
            parent = os.path.dirname(os.path.abspath(self.path))
            hint = ", such as %s" % parent if os.path.isfile(os.path.join(parent, STATE)) else ""
            raise RunError("%s is a file, not a run folder: give the folder of the run%s."
                           % (self.path, hint), path=self.path)
        if not os.path.lexists(self.file(STATE)):
            if self._started():
                raise NotARun("%s holds a run that completed no epoch, so there is nothing to "
                              "continue or draw: train it again in that folder (without --resume)."
                              % self.path, True, path=self.path)
            raise NotARun("%s holds no completed epoch of a mxsoftmax run." % self.path, path=self.path)
        if not os.path.isfile(self.file(STATE)):
            raise RunError("%s is %s: remove it (the run cannot be continued) or choose another "
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
        discard = discard and self.lock.fd is not None and not os.path.lexists(self.file(STATE))
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
            raise RunError("%s is a symbolic link to %s, which does not exist: create that folder, "
                           "or choose another one for the run." % link)
        if not os.path.exists(self.path):
            return
        if not os.path.isdir(self.path):
            raise RunError("%s is a file, not a folder: choose a folder for the run." % self.path, path=self.path)
        holder = self.lock.holder()
        if holder:
            raise RunLocked(self.path, holder, RunLock.WHO)
        if os.path.lexists(self.file(STATE)):
            raise RunExists("%s already holds a run: resume it, or choose another folder so it "
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
        """The parameters as drawn (``init.params``), or None.

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
        except RunError:
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
        name = "epoch-%d.params" % state["epoch"]
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
    if not isinstance(row, dict) or not _is_int(row.get("epoch")) or row["epoch"] < 0:
        return None
    for key in ("loss", "train_acc", "test_acc", "seconds"):
        if not _is_number(row.get(key)):
            return None
    return {k: row[k] for k in ("epoch", "loss", "train_acc", "test_acc", "seconds")}


def _save_params(path, params):
    """``nd.save`` of ``{'W', 'b'}`` to ``path``, atomically.

    MXNet serialises into memory (:func:`_saved_bytes`) and the bytes are checked by loading
    them back; Python writes the file, so a full disk is reported with the OS's words and the
    path, and any path (a non-UTF-8 name that MXNet cannot encode) can be written.
    """
    with translated((OSError, mx.MXNetError),  # memory, not the disk: nothing was written yet
                    lambda err: WriteFailed("cannot write %s (MXNet could not serialise W and b: "
                                            "%s)" % (path, reason(err)))):
        raw = _saved_bytes({"W": params[0], "b": params[1]})
    try:
        back = params_from_bytes(raw, path)
    except RunError:
        back = None
    if back is None or not all(np.array_equal(a.asnumpy(), p.asnumpy().astype(np.float32))
                               for a, p in zip(back, params)):
        raise WriteFailed("cannot write %s (MXNet's nd.save produced %d incomplete bytes)"
                          % (path, len(raw)))
    write_bytes(path, raw)


def _saved_bytes(arrays):
    """The bytes ``nd.save`` writes for ``arrays``, from a file in memory that MXNet reaches by
    an ASCII path (``/proc/self/fd/N``), else from a temporary folder."""
    try:
        fd = os.memfd_create("params", os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # not Linux, or no memory file: a temporary folder
        fd = None
    if fd is not None and os.path.exists("/proc/self/fd/%d" % fd):
        try:
            nd.save("/proc/self/fd/%d" % fd, arrays)
            with os.fdopen(os.dup(fd), "rb") as f:
                return f.read()
        finally:
            os.close(fd)
    if fd is not None:
        os.close(fd)
    with tempfile.TemporaryDirectory() as folder:
        nd.save(os.path.join(folder, "p.params"), arrays)
        with open(os.path.join(folder, "p.params"), "rb") as f:
            return f.read()


# ------------------------------------------------------------------------------- reading back

def read_state(path):
    """Read and validate a ``state.json``: every field's type and range; RunError if not."""
    with translated((OSError, ValueError, RecursionError), lambda err: _unreadable_state(path, err)):
        raw = read_regular(path, MAX_STATE_BYTES)
        if raw is None:
            raise ValueError("larger than %d bytes" % MAX_STATE_BYTES)
        state = json.loads(raw.decode("utf-8"))
    problem = _state_problem(state)
    if problem:
        raise RunError("%s is not a valid mxsoftmax run state (%s)." % (path, problem), path=path)
    return state


def _unreadable_state(path, err):
    """The RunError for a state file that could not be read or parsed because of ``err``:
    an OSError, a ValueError (NotRegular, bad UTF-8 or JSON, too large) or a RecursionError
    (JSON nested too deeply for Python's parser)."""
    if isinstance(err, RecursionError):
        why = "nested too deeply"
    else:
        why = reason(err) if isinstance(err, ValueError) else cause(path, err)
    return RunError("%s cannot be read (%s): it is not a mxsoftmax run state." % (path, why),
                    path=path)


def _state_problem(state):
    """What is wrong with a parsed state, in a few words, or None."""
    if not isinstance(state, dict):
        return "not a JSON object"
    version = state.get("format", FORMAT)  # runs of mxsoftmax 0.1.0 had no format field
    if not _is_int(version) or version != FORMAT:
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
            ("flags.%s" % name, constraint(param).holds(flags.get(name, 0 if name == "epochs"
                                                              else None)),
             constraint(param).description)
            for name, param in (("dataset", "dataset"), ("batch_size", "batch_size"),
                                ("lr", "learning_rate"), ("seed", "seed"), ("epochs", "epochs"))
        ] + [
            ("flags.stable", isinstance(flags.get("stable"), bool), "true or false"),
            ("flags.data_dir", flags.get("data_dir") is None or isinstance(flags["data_dir"], str),
             "a path or null"),
        ]
    checks.append(("data", state.get("data") is None or isinstance(state["data"], str)
                   and DIGEST.match(state["data"]), "a SHA-256 in hex"))
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
    """``[W, b]`` from a params file, as finite float32 NDArrays on the CPU, and the file's size
    in bytes; RunError if not.

    Files of other float types are converted; anything else is refused by name, never passed on.
    """
    with translated(OSError, lambda err: _unreadable_params(path, err)):
        raw = read_regular(path, MAX_PARAMS_BYTES)
    if raw is None:
        raise RunError("%s is larger than a checkpoint of W and b (%d bytes at most): it is not "
                       "a params file of mxsoftmax." % (path, MAX_PARAMS_BYTES), path=path)
    return params_from_bytes(raw, path), len(raw)


def _unreadable_params(path, err):
    """The RunError for the OSError ``err`` of reading the params file ``path``: not a regular
    file (NotRegular), missing, or unreadable."""
    if isinstance(err, NotRegular):
        return RunError("%s is %s: give a params file." % (path, _kind(path)), path=path)
    if isinstance(err, FileNotFoundError):
        what = "cannot be read (%s)" % cause(path, err) if dangling_link(path) else "is missing"
        return RunError("%s %s: put the file back, or train the run again in a new folder."
                        % (path, what), path=path)
    return RunError("%s cannot be read (%s)." % (path, cause(path, err)), path=path)


def params_from_bytes(raw, path):
    """``[W, b]`` from the bytes of the params file ``path`` (named in messages), as finite
    float32 NDArrays on the CPU; RunError if they are not a checkpoint of W and b."""
    with translated((ValueError, mx.MXNetError), lambda err: RunError(
            "%s is not a params file of mxsoftmax%s: give a run folder written with --out, or its "
            "epoch-K.params file." % (path, _looks_like(raw)), path=path)):
        _check_layout(raw)  # MXNet sizes its vectors from the file's counts: check them first
        saved = nd.load_frombuffer(raw)
    if not isinstance(saved, dict) or set(saved) != {"W", "b"}:
        raise RunError("%s does not hold exactly the arrays W and b." % path, path=path)
    W, b = saved["W"], saved["b"]
    if W.shape != (NUM_INPUTS, NUM_OUTPUTS) or b.shape != (NUM_OUTPUTS,):
        raise RunError("%s holds W %s and b %s; a softmax-regression checkpoint has W (784, 10) "
                       "and b (10,)." % (path, W.shape, b.shape), path=path)
    values = []
    for name, array in (("W", W), ("b", b)):
        if not np.issubdtype(array.dtype, np.floating):
            raise RunError("%s holds %s as %s; a checkpoint holds floating-point numbers."
                           % (path, name, np.dtype(array.dtype).name), path=path)
        values.append(array.asnumpy().astype(np.float32))
        if not np.all(np.isfinite(values[-1])):
            raise RunError("%s holds non-finite values in %s (inf or NaN): it is not a usable "
                           "checkpoint." % (path, name), path=path)
    W, b = (v.astype(np.float64) for v in values)
    if not (np.abs(W).sum(axis=0) + np.abs(b) < np.finfo(np.float32).max).all():
        raise RunError("%s holds weights so large that an image's scores overflow float32 (inf): "
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


# nd.save's layout: a list header, then per array a V2/V3 header and its data, then the keys.
_LIST_MAGIC, _ARRAY_MAGICS = 0x112, (0xF993FAC9, 0xF993FACA)
_ITEM_SIZES = {0: 4, 1: 8, 2: 2, 3: 1, 4: 4, 5: 1, 6: 8}  # mshadow type flag -> bytes


def _check_layout(raw):
    """Raise ValueError unless ``raw`` is ``nd.save`` of a few dense arrays (named or not), every
    count and size fitting the bytes there are; which arrays they are is checked after loading."""
    def take(fmt, at):
        size = struct.calcsize(fmt)
        if at + size > len(raw):
            raise ValueError("truncated")
        return struct.unpack_from(fmt, raw, at), at + size

    (magic, _, count), at = take("<QQQ", 0)
    if magic != _LIST_MAGIC or not 1 <= count <= 16:
        raise ValueError("not a few arrays")
    for _ in range(count):
        (magic, stype, ndim), at = take("<Iii", at)
        if magic not in _ARRAY_MAGICS or stype != 0 or not 1 <= ndim <= 4:
            raise ValueError("not a dense array")
        dims, at = take("<%dq" % ndim, at)
        (_, _, flag), at = take("<iii", at)
        if flag not in _ITEM_SIZES or not all(0 < d <= len(raw) for d in dims):
            raise ValueError("bad array")
        at += math.prod(dims) * _ITEM_SIZES[flag]  # Python ints: no int64 wrap-around
        if at > len(raw):
            raise ValueError("more data than bytes")
    (keys,), at = take("<Q", at)
    if keys not in (0, count):
        raise ValueError("not one name per array")
    for _ in range(keys):
        (length,), at = take("<Q", at)
        if length > 64:
            raise ValueError("long name")
        at += length
    if at != len(raw):
        raise ValueError("wrong size")


def _looks_like(raw):
    """What a file that is not a params file seems to be, for the message."""
    head = raw.lstrip()[:4]
    for start, kind in ((b"{", "JSON"), (b"[", "JSON"), (b"\x89PNG", "a PNG image"),
                        (b"\xff\xd8", "a JPEG image"), (b"\x1f\x8b", "gzip data"),
                        (b"\x00\x00\x08", "an idx data file")):
        if head.startswith(start):
            return " (it looks like %s)" % kind
    return ""


Run = collections.namedtuple("Run", "params class_names dataset path")
Run.__doc__ = "A trained model to use: ``[W, b]`` on a context, its class names and data set."


def check_run(run):
    """``run`` if it is a usable :data:`Run` (a notebook can build one by hand); InvalidInput if
    not, naming the field."""
    if not isinstance(run, Run):
        raise InvalidType("a trained model is a runs.Run, not %s." % type(run).__name__)
    validate(model=run.params, class_names=run.class_names, dataset=run.dataset)
    return run


def load_run(path, ctx=None):
    """A trained model from a run folder or a params file, as a :class:`Run` on ``ctx`` (CPU).

    A folder gives its latest checkpoint, class names and data set; a params file takes them from
    the run folder it sits in when that folder has a valid state, else MNIST's digits 0-9.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise InvalidType("load_run takes a path, not %s." % type(path).__name__)
    if ctx is not None:
        validate(ctx=ctx)
    path = os.fsdecode(path)
    if os.path.isdir(path):
        state, params = _latest(path)
    elif os.path.basename(path) == INIT:
        raise RunError("%s holds the starting weights a run drew at random, before training: give "
                       "the run folder, or its epoch-K.params file." % path, path=path)
    elif os.path.exists(path):
        state, params = _state_beside(path), load_params_file(path)[0]
    else:
        raise RunError("%s does not exist: give a run folder written with --out, or its "
                       "epoch-K.params file." % path, path=path)
    params = [p.as_in_context(ctx or mx.cpu()) for p in params]
    if state is None:
        return Run(params, list(catalog.DIGITS), "mnist", path)
    return Run(params, state["class_names"], state["flags"]["dataset"], path)


def _latest(folder, attempts=5):
    """The state and parameters of the run in ``folder``, even while it trains: a checkpoint
    replaced between reading the state and its params file is looked up again."""
    if not os.path.isfile(os.path.join(folder, STATE)):
        raise RunError("%s holds no %s: give a run folder written with --out, or its "
                       "epoch-K.params file." % (folder, STATE), path=folder)
    for attempt in range(attempts):
        state = read_state(os.path.join(folder, STATE))
        params_path = os.path.join(folder, state["params"])
        try:
            return state, load_params_file(params_path)[0]
        except RunError:
            if os.path.exists(params_path) or attempt == attempts - 1:
                raise


def _state_beside(params_path):
    """The valid state of the run folder a params file sits in, or None."""
    sibling = os.path.join(os.path.dirname(os.path.abspath(params_path)), STATE)
    try:
        return read_state(sibling) if os.path.isfile(sibling) else None
    except RunError:
        return None
