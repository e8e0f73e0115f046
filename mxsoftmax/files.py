"""Files, carefully: reading only regular files, atomic writes, and one writer per folder.

Every file mxsoftmax reads goes through :func:`open_regular` (a FIFO, a device or a directory is
refused before a byte is read, so nothing can hang or stream forever), and every file it writes
goes through :func:`atomic_write` (a temporary file beside the target, renamed into place when
complete), whose failures become :class:`WriteFailed` (no space: exit 1) or :class:`CannotWrite`
(a place that cannot take files: exit 2). :class:`FolderLock` keeps a second process out of a
folder being written, and sweeps the temporary files a killed process left there.
"""
import errno
import fcntl
import os
import re
import stat
import tempfile

from mxnet.base import MXNetError

from .errors import InvalidInput, WriteFailed, reason

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)
PART = re.compile(r"\A\.(?P<name>.+)\.[a-z0-9_]{8}\.part\Z")  # atomic_write's temporary files


class NotRegular(InvalidInput):
    """A path that is not a regular file: a directory, a FIFO, a device, a socket."""


class CannotWrite(InvalidInput):
    """A place that cannot take the file (not a folder, no permission, read-only)."""


class Locked(InvalidInput):
    """Another process holds the folder's lock."""

    def __init__(self, message, holder):
        super().__init__(message)
        self.holder = holder


def open_regular(path):
    """Open ``path`` for reading in binary mode, only if it is a regular file (symlinks followed).

    Raises NotRegular for anything else, and OSError when it cannot be opened at all.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open itself
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise NotRegular("%s is %s." % (path, kind))
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, limit):
    """The bytes of the regular file ``path``; None when it holds more than ``limit`` bytes."""
    with open_regular(path) as f:
        data = f.read(limit + 1)
    return None if len(data) > limit else data


def atomic_write(path, write):
    """Call ``write(tmp_path)`` to fill a temporary file beside ``path``, then rename it to ``path``.

    If ``write`` raises, the temporary file is removed and ``path`` is left as it was. The result
    gets the usual permissions (0666 less the umask), not mkstemp's private 0600. A failure to
    write (``OSError``, or MXNet's error from ``nd.save``) becomes WriteFailed or CannotWrite.
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part",
                                   dir=folder)
        os.close(fd)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except WriteFailed:
        raise
    except (OSError, MXNetError) as err:
        raise write_error(path, err) from None
    finally:
        if tmp and os.path.exists(tmp):
            os.remove(tmp)


def write_error(path, err):
    """The error to raise when ``path`` could not be written because of ``err``."""
    text = reason(err)
    if isinstance(err, MXNetError):  # nd.save does not say why; a full disk is the usual cause
        return WriteFailed("cannot write %s (%s; is the disk full?)" % (path, text))
    if err.errno in NO_SPACE:
        return WriteFailed("cannot write %s (%s)" % (path, text))
    if err.errno == errno.EISDIR:
        return CannotWrite("cannot write %s: it is a folder; move it away or choose another "
                           "place." % path)
    return CannotWrite("cannot write %s (%s): choose a folder you can write to." % (path, text))


def write_text(path, text):
    """Atomically replace ``path`` with ``text``."""
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    atomic_write(path, write)


class FolderLock:
    """An exclusive ``flock`` on ``folder/.lock`` that names its holder's PID.

    Held with ``with`` (or :meth:`acquire`/:meth:`release`); while held, the temporary files of
    :func:`atomic_write` that a killed process left in the folder can be swept (:meth:`sweep`).
    :meth:`release` with ``discard`` also removes the lock file and the folders that
    :meth:`acquire` created, for work that ended leaving nothing else there.
    """
    NAME = ".lock"

    def __init__(self, folder):
        self.folder, self.fd = str(folder), None
        self.path = os.path.join(self.folder, self.NAME)
        self.created = []  # the folders acquire() made, outermost first

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def acquire(self):
        """Create the folder if needed and take the lock; Locked names the holder's PID."""
        try:
            self.created = make_dirs(self.folder)
            # never through a symlink, never blocking on a FIFO someone put there
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
        except OSError as err:
            self._undo()
            raise CannotWrite("%s cannot be used (%s): choose a folder you can write to."
                              % (self.folder, _folder_reason(self.folder, err))) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CannotWrite("%s is not a regular file: remove it, or choose another folder."
                              % self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            holder = holder if holder.isdigit() else "unknown"
            raise Locked("%s is in use by another mxsoftmax process (PID %s): wait for it to "
                         "finish, or choose another folder." % (self.folder, holder),
                         holder) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, b"%d\n" % os.getpid())
        except OSError as err:
            os.close(fd)
            self._undo(lock_file=True)
            raise write_error(self.path, err) from None
        self.fd = fd

    def holder(self):
        """The PID (as text) of another process holding this lock now, or None; nothing is
        created."""
        if self.fd is not None:  # held here
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # held (any other failure says nothing about a holder)
                pid = os.read(fd, 32).decode("ascii", "replace").strip()
                return pid if pid.isdigit() else "unknown"
            except OSError:
                return None
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def release(self, discard=False):
        """Release the lock; the lock file stays (without a holder it means nothing) unless
        ``discard``, which also removes the folders acquire() made, when nothing else is in them."""
        if self.fd is not None:
            if discard:
                self._undo(lock_file=True)
            os.close(self.fd)
            self.fd = None

    def _undo(self, lock_file=False):
        if lock_file and os.path.lexists(self.path):
            os.remove(self.path)
        for folder in reversed(self.created):
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)

    def sweep(self, ours):
        """Remove the temporary files that an interrupted write of a file named ``ours(name)``
        left behind (only regular files named the way :func:`atomic_write` names them)."""
        for entry in os.listdir(self.folder):
            found = PART.match(entry)
            path = os.path.join(self.folder, entry)
            if found and ours(found.group("name")) and os.path.isfile(path) \
                    and not os.path.islink(path):
                os.remove(path)


def make_dirs(folder):
    """``os.makedirs(folder, exist_ok=True)``; returns the folders it made, outermost first."""
    missing, path = [], os.path.abspath(folder)
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    return missing[::-1]


def _folder_reason(folder, err):
    if os.path.exists(folder) and not os.path.isdir(folder):
        return "it is a file, not a folder"
    return reason(err)
