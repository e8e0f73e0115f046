"""Files, carefully: only regular files are read (a FIFO cannot hang a read), every write is
atomic and synced, one process per folder (``filelock``), and why a path cannot be used, truly said."""
import contextlib
import errno
import os
import re
import secrets
import stat
import tempfile

import filelock

from .errors import InvalidInput, Locked, NotRegular, WriteFailed, reason, translated

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)
PART = re.compile(r"\A\.(?P<name>.+)\.[a-z0-9_]{8}\.part\Z")  # atomic_write's temporary files
NOT_THERE = "it does not exist"  # what cause() says of a path that is simply not there


def open_regular(path):
    """``path`` opened for reading in binary mode if it is a regular file (links followed)."""
    with translated(ValueError, lambda err: OSError(errno.EINVAL, reason(err), path)):  # a NUL in it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open itself
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotRegular("%s is %s." % (path, "a folder" if stat.S_ISDIR(mode) else
                                        "not a regular file"), path=path)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_regular(path, limit):
    """The bytes of the regular file ``path``; None when it holds more than ``limit`` bytes."""
    with open_regular(path) as f:
        data = f.read(limit + 1)
    return None if len(data) > limit else data


def atomic_write(path, write):
    """Call ``write(tmp)`` on a new file beside ``path`` (named as :data:`PART` says), then rename
    it to ``path``: the file is complete or as it was, after a power loss too (the file is synced
    before the rename, its folder after). An OSError becomes WriteFailed or InvalidInput."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                       ".%s.%s.part" % (os.path.basename(path), secrets.token_hex(4)))
    try:
        with translated(OSError, lambda err: None if isinstance(err, (WriteFailed, NotRegular))
                        else write_error(path, err)):
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            write(tmp)
            _sync(tmp)
            os.replace(tmp, path)
        with contextlib.suppress(OSError):  # the rename is done: a folder that cannot be opened or
            _sync(os.path.dirname(tmp))    # synced (not listable; no fsync on its file system) keeps it
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def _sync(path):
    """fsync the file or folder ``path``: what was written to it, or renamed in it, is on the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_error(path, err):
    """The error to raise when ``path`` could not be written because of the OSError ``err``."""
    if err.errno in NO_SPACE:
        return WriteFailed("cannot write %s (%s)" % (path, reason(err)), path=path)
    return InvalidInput("cannot write %s (%s): choose another place, or one you can write to."
                        % (path, cause(path, err)), path=path)


def write_bytes(path, data):
    """Atomically replace ``path`` with ``data``, read back first: a full disk's short file is not kept."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
        if read_regular(tmp, len(data)) != data:
            raise write_error(path, OSError(errno.ENOSPC, "the file written is incomplete; is "
                                                          "the disk full?"))
    atomic_write(path, write)


class FolderLock:
    """One process per folder: ``filelock``'s lock on ``folder/.lock``, which holds the holder's PID.
    ``who`` names the holder ('process', 'run'); ``advice`` ends a refusal of the folder."""
    NAME = ".lock"

    def __init__(self, folder, who="process", advice="choose a folder you can write to"):
        self.folder, self.who, self.advice = str(folder), who, advice
        self.path = os.path.join(self.folder, self.NAME)
        self.lock = filelock.FileLock(self.path, timeout=0, on_acquired=_write_pid)
        self.created = []  # the folders acquire() made, outermost first

    def acquire(self):
        """Make the folder if needed, take the lock (Locked names the holder's PID) and prove that
        files can be made there: a read-only folder is found now, not at its first write."""
        if os.path.islink(self.path) or os.path.exists(self.path) and not os.path.isfile(self.path):
            raise InvalidInput("%s is %s: remove it, or choose another folder." % (
                self.path, "a symbolic link, not a lock file" if os.path.islink(self.path)
                else "not a regular file"), path=self.path)
        if self.foreign():
            raise InvalidInput(path=self.path, problem="holds something other than a process ID, so it "
                               "is another program's file, not mxsoftmax's lock",
                               advice="move it away, or choose another folder")
        with translated(OSError, lambda err: self._refused("cannot be used", err)):
            self.created, here = [], os.path.abspath(self.folder)
            while not os.path.lexists(here):
                self.created, here = [here] + self.created, os.path.dirname(here)
            os.makedirs(self.folder, exist_ok=True)
            try:
                self.lock.acquire()
            except filelock.Timeout:
                self.release(discard=True)
                holder = "unknown"
                with contextlib.suppress(OSError), open_regular(self.path) as f:
                    found = re.match(rb"([0-9]{1,19})\n", f.read(21))  # its first line, as foreign() reads
                    holder = found.group(1).decode() if found else holder
                raise Locked(self.folder, holder, self.who) from None
        with translated(OSError, lambda err: self._refused("cannot take files", err)):
            tempfile.TemporaryFile(prefix="..lock.", suffix=".part", dir=self.folder).close()

    def foreign(self):
        """True if the lock file holds what a FolderLock never writes first (its holder's PID line, or
        nothing yet; taking the lock rewrites the rest): another program's. Unreadable: not known to be."""
        with contextlib.suppress(OSError), open_regular(self.path) as f:
            return re.match(rb"([0-9]{1,19}\n|\Z)", f.read(21)) is None
        return False

    def _refused(self, problem, err):
        """Let go of the folder; the error for the OSError ``err``, which stopped :meth:`acquire`."""
        self.release(discard=True)
        if err.errno in NO_SPACE:
            return write_error(self.folder, err)
        return InvalidInput("%s %s (%s): %s." % (self.folder, problem, cause(self.folder, err),
                                                 self.advice), path=self.folder)

    def release(self, discard=False):
        """Release the lock; ``discard`` also the lock file and the folders acquire() made, if empty."""
        if self.lock.is_locked:
            if discard and os.path.lexists(self.path):
                with contextlib.suppress(OSError):  # a folder that cannot take files keeps it
                    os.remove(self.path)
            self.lock.release(force=True)
        for folder in reversed(self.created if discard else ()):
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)

    def sweep(self, ours):
        """Remove the regular files a killed :func:`atomic_write` of ``ours(name)`` (or the probe) left."""
        for entry in os.listdir(self.folder):
            found, path = PART.match(entry), os.path.join(self.folder, entry)
            if found and (ours(found.group("name")) or found.group("name") == self.NAME) \
                    and os.path.isfile(path) and not os.path.islink(path):
                os.remove(path)


def _write_pid(fd):
    """Write this process's PID into the lock file it has just locked (``fd``)."""
    os.ftruncate(fd, 0)
    os.write(fd, b"%d\n" % os.getpid())


def cause(path, err=None):
    """Why ``path`` cannot be used, in a few words, where the OS's words for ``err`` mislead: a
    name or path too long, a link that leads nowhere (on the way too), a file for a folder."""
    given = os.path.abspath(path)
    raw = os.fsencode(given)
    longest = max(raw.split(b"/"), key=len)
    if len(longest) > 255:  # Linux's NAME_MAX
        return "a name in it is %d bytes long; a file name has at most 255" % len(longest)
    if len(raw) >= 4096:  # PATH_MAX, with the final NUL
        return "it is %d bytes long; a path has at most 4095" % len(raw)
    here = given
    while here != os.path.dirname(here):
        if os.path.islink(here) and not os.path.exists(here):
            return "%s is a symbolic link to %s, which does not exist" % (
                "it" if here == given else here, os.readlink(here))
        if here != given and os.path.exists(here) and not os.path.isdir(here):
            return "%s is a file, not a folder" % here
        here = os.path.dirname(here)
    if err is None:
        return NOT_THERE
    if err.errno == errno.EISDIR or isinstance(err, NotRegular) and os.path.isdir(path):
        return "it is a folder"
    if isinstance(err, NotRegular):
        return "it is not a regular file"
    if err.errno in (errno.EEXIST, errno.ENOTDIR) and os.path.exists(path) and not os.path.isdir(path):
        return "it is a file, not a folder"
    return reason(err)
