"""Files, carefully: reading only regular files, atomic writes, and one writer per folder.

Every file mxsoftmax reads goes through :func:`open_regular` (a FIFO, a device or a directory is
refused before a byte is read, so nothing can hang or stream forever), and every file it writes
goes through :func:`atomic_write` (a temporary file beside the target, renamed into place when
complete), whose failures become :class:`WriteFailed` (no space: exit 1) or :class:`CannotWrite`
(a place that cannot take files: exit 2). :class:`FolderLock` (``filelock``) keeps a second process out of
a folder being written, proves it can write there, and sweeps the temporary files a killed process
left there. :func:`cause` names why a path cannot be used where the OS's words would mislead.
:func:`translated` is where a module turns another library's failure into its own error.
"""
import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile

import filelock

from .errors import CannotWrite, Locked, NotRegular, WriteFailed, reason, translated

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)
PART = re.compile(r"\A\.(?P<name>.+)\.[a-z0-9_]{8}\.part\Z")  # atomic_write's temporary files
DIGEST = re.compile(r"[0-9a-f]{64}\Z")  # a SHA-256 in hex, as files' digests are recorded
NOT_THERE = "it does not exist"  # what cause() says of a path that is simply not there
NAME_MAX, PATH_MAX = 255, 4096  # bytes in one name, bytes in a path with its final NUL (Linux)


def open_regular(path):
    """Open ``path`` for reading in binary mode, only if it is a regular file (symlinks followed).

    Raises NotRegular for anything else, and OSError when it cannot be opened at all.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open itself
    with contextlib.ExitStack() as unless_opened:
        unless_opened.callback(os.close, fd)
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            raise NotRegular("%s is %s." % (path, kind), path=path)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        opened = os.fdopen(fd, "rb")
        unless_opened.pop_all()
    return opened


def read_regular(path, limit):
    """The bytes of the regular file ``path``; None when it holds more than ``limit`` bytes."""
    with open_regular(path) as f:
        data = f.read(limit + 1)
    return None if len(data) > limit else data


def atomic_write(path, write):
    """Call ``write(tmp_path)`` to fill a temporary file beside ``path``, then rename it to ``path``.

    If ``write`` raises, the temporary file is removed and ``path`` is left as it was. The result
    gets the usual permissions (0666 less the umask), not mkstemp's private 0600. A failure to
    write (``OSError``) becomes WriteFailed or CannotWrite.
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        with translated(OSError, lambda err: _write_failure(path, err)):
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part",
                                       dir=folder)
            os.close(fd)
            write(tmp)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, path)
    finally:
        if tmp and os.path.exists(tmp):
            os.remove(tmp)


def _write_failure(path, err):
    """:func:`write_error` for an OSError of :func:`atomic_write`; None for one that is already
    ours (WriteFailed, or NotRegular from a ``write`` that reads a file back)."""
    return None if isinstance(err, (WriteFailed, NotRegular)) else write_error(path, err)


def write_error(path, err):
    """The error to raise when ``path`` could not be written because of ``err`` (an OSError)."""
    if err.errno in NO_SPACE:
        return WriteFailed("cannot write %s (%s)" % (path, reason(err)), path=path)
    if err.errno == errno.EISDIR:
        return CannotWrite("cannot write %s: it is a folder; move it away or choose another "
                           "place." % path, path=path)
    return CannotWrite("cannot write %s (%s): choose a folder you can write to."
                       % (path, cause(path, err)), path=path)


def write_bytes(path, data):
    """Atomically replace ``path`` with ``data``, read back before it takes the name: a file
    that does not hold every byte (a disk that filled up unnoticed) is never renamed into place."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
        if read_regular(tmp, len(data)) != data:
            raise write_error(path, OSError(errno.ENOSPC, "the file written is incomplete; is "
                                                          "the disk full?"))
    atomic_write(path, write)


def write_text(path, text):
    """Atomically replace ``path`` with ``text``."""
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    atomic_write(path, write)


class FolderLock:
    """One writer per folder: ``filelock``'s exclusive lock on ``folder/.lock``, which holds the
    holder's PID so that a refused process can name it.

    :meth:`acquire` also makes the folder and proves files can be made there; while held, the
    temporary files a killed process left can be swept (:meth:`sweep`). :meth:`release` with
    ``discard`` removes the lock file and the folders :meth:`acquire` made, when nothing else is
    left. ``who`` names the holder ('process', 'run') and ``advice`` ends the sentence of a folder
    that cannot be used.
    """
    NAME = ".lock"

    def __init__(self, folder, who="process", advice="choose a folder you can write to"):
        self.folder, self.who, self.advice = str(folder), who, advice
        self.path = os.path.join(self.folder, self.NAME)
        self.lock = filelock.FileLock(self.path, timeout=0, on_acquired=_write_pid)
        self.created = []  # the folders acquire() made, outermost first

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    @property
    def held(self):
        """Whether this process holds the lock now."""
        return self.lock.is_locked

    def acquire(self):
        """Create the folder if needed, take the lock and prove that files can be made there.

        Locked names the holder's PID; CannotWrite the true cause of a folder that cannot be used
        (a read-only one included, found now rather than when its first file is written).
        """
        if os.path.lexists(self.path) and (os.path.islink(self.path)
                                           or not os.path.isfile(self.path)):
            raise CannotWrite("%s %s: remove it, or choose another folder." % (
                self.path, "is a symbolic link, not a lock file" if os.path.islink(self.path)
                else "is not a regular file"), path=self.path)
        with translated(OSError, self._unusable):
            self.created = make_dirs(self.folder)
            try:
                self.lock.acquire()
            except filelock.Timeout:
                self._undo()
                raise Locked(self.folder, self.holder() or "unknown", self.who) from None
        with translated(OSError, self._cannot_take):
            fd, probe = tempfile.mkstemp(prefix="." + self.NAME + ".", suffix=".part",
                                         dir=self.folder)  # a read-only folder refuses new files
            os.close(fd)
            os.remove(probe)

    def _unusable(self, err):
        """Undo the folders made so far; the CannotWrite for ``err``."""
        self._undo()
        return CannotWrite("%s cannot be used (%s): %s." % (
            self.folder, cause(self.folder, err), self.advice), path=self.folder)

    def _cannot_take(self, err):
        """Release and undo; WriteFailed for no space, else CannotWrite."""
        self.release(discard=True)
        if err.errno in NO_SPACE:
            return write_error(self.folder, err)
        return CannotWrite("%s cannot take files (%s): %s." % (
            self.folder, cause(self.folder, err), self.advice), path=self.folder)

    def holder(self):
        """The PID (as text) of another process holding this lock now, or None; nothing is
        created and nothing is waited for."""
        if self.held or not os.path.isfile(self.path) or os.path.islink(self.path):
            return None
        probe = filelock.FileLock(self.path, timeout=0)
        try:
            probe.acquire()
        except filelock.Timeout:
            with open_regular(self.path) as f:
                pid = f.read(32).decode("ascii", "replace").strip()
            return pid if pid.isdigit() else "unknown"
        except OSError:
            return None
        probe.release()
        return None

    def release(self, discard=False):
        """Release the lock; the lock file stays (without a holder it means nothing) unless
        ``discard``, which also removes the folders acquire() made, when nothing else is in them."""
        if self.held:
            if discard:
                self._undo(lock_file=True)
            self.lock.release(force=True)

    def _undo(self, lock_file=False):
        if lock_file and os.path.lexists(self.path):
            with contextlib.suppress(OSError):  # a folder that cannot take files cannot lose them
                os.remove(self.path)
        for folder in reversed(self.created):
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)

    def sweep(self, ours):
        """Remove the temporary files that an interrupted write of a file named ``ours(name)`` (or
        :meth:`acquire`'s probe) left behind: only regular files named as :func:`atomic_write`
        names them."""
        for entry in os.listdir(self.folder):
            found = PART.match(entry)
            path = os.path.join(self.folder, entry)
            if found and (ours(found.group("name")) or found.group("name") == self.NAME) \
                    and os.path.isfile(path) and not os.path.islink(path):
                os.remove(path)


def _write_pid(fd):
    """Write this process's PID into the lock file it has just locked (``fd``)."""
    os.ftruncate(fd, 0)
    os.write(fd, b"%d\n" % os.getpid())


def make_dirs(folder):
    """``os.makedirs(folder, exist_ok=True)``; returns the folders it made, outermost first."""
    missing, path = [], os.path.abspath(folder)
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    return missing[::-1]


def cause(path, err=None):
    """Why ``path`` cannot be used, in a few words, true where the OS's words mislead.

    A name over 255 bytes (or a path over 4095) is named as such, where the OS says "File name too
    long" or a lookup merely finds nothing; a symbolic link that leads nowhere (the path or a
    folder on the way), where the OS says "File exists" (making a folder there) or "No such file";
    a file where a folder should be. Otherwise the OS's words for ``err``, or "it does not exist"
    without one.
    """
    raw = os.fsencode(os.path.abspath(path))
    longest = max(raw.split(b"/"), key=len)
    if len(longest) > NAME_MAX:
        return "a name in it is %d bytes long; a file name has at most %d" % (len(longest),
                                                                              NAME_MAX)
    if len(raw) >= PATH_MAX:
        return "it is %d bytes long; a path has at most %d" % (len(raw), PATH_MAX - 1)
    link = dangling_link(path)
    if link:
        return "%s is a symbolic link to %s, which does not exist" % (
            "it" if link[0] == path else link[0], link[1])
    if err is None:
        return NOT_THERE
    if err.errno in (errno.EEXIST, errno.ENOTDIR) and os.path.exists(path) \
            and not os.path.isdir(path):
        return "it is a file, not a folder"
    if err.errno == errno.ELOOP and os.path.islink(path):
        return "it is a symbolic link"
    return reason(err)


def dangling_link(path):
    """``(link, target)`` for the symbolic link on ``path`` (itself or a folder on the way) that
    leads nowhere, or None."""
    given, here = path, os.path.abspath(path)
    while True:
        if os.path.islink(here) and not os.path.exists(here):
            return (given if here == os.path.abspath(given) else here), os.readlink(here)
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
