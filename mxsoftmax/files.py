"""Atomic file writes: a temporary file in the target's folder, renamed into place when complete."""
import os
import tempfile


def atomic_write(path, write):
    """Call ``write(tmp_path)`` to fill a temporary file beside ``path``, then rename it to ``path``.

    If ``write`` raises, the temporary file is removed and ``path`` is left as it was. The result
    gets the usual permissions (0666 less the umask), not mkstemp's private 0600.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    """Atomically replace ``path`` with ``text``."""
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    atomic_write(path, write)
