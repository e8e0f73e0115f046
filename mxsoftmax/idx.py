"""MNIST's idx files (gzipped or raw, told apart by content): names, and a bounded reader.

The header is checked first; then exactly the bytes it promises are read into one preallocated
array, and one byte more to detect trailing data, so a gzip bomb costs no more memory than the
array its header describes. The SHA-256 of the idx bytes is taken in the same pass.
"""
import contextlib
import gzip
import hashlib
import os
import struct
import zlib

import numpy as np

from .errors import IdxError, reason, translated
from .files import NotRegular, open_regular

MAGIC = {"images": (2051, 3), "labels": (2049, 1)}  # 0x0803: uint8 in 3 dimensions; 0x0801: 1
MAX_ITEMS = 1000000  # per file: 784 MB of images
GZIP_MAX_RATIO = 1032  # deflate cannot inflate one byte into more than 1032
CHUNK = 1 << 20
FILES = {("train", "images"): "train-images-idx3-ubyte", ("train", "labels"): "train-labels-idx1-ubyte",
         ("test", "images"): "t10k-images-idx3-ubyte", ("test", "labels"): "t10k-labels-idx1-ubyte"}
SPLITS = ("train", "test")


def standard_name(split, kind):
    """The canonical gzipped file name, e.g. ``train-images-idx3-ubyte.gz``."""
    return FILES[(split, kind)] + ".gz"


def candidate_names(split, kind):
    """Every name accepted for one file: ``-idx`` or ``.idx``, gzipped or raw."""
    names = [FILES[(split, kind)], FILES[(split, kind)].replace("-idx", ".idx")]
    return [n + ".gz" for n in names] + names


def find_files(folder):
    """Map (split, kind) to the path of each of the four idx files in ``folder``; a file under two
    names is used only if both hold the same idx bytes, so neither is picked silently."""
    if not os.path.isdir(folder):
        raise IdxError(folder, "is not a folder", "give a folder holding the four MNIST-format idx files")
    found = {}
    for key in FILES:
        paths, what = [os.path.join(folder, name) for name in candidate_names(*key)], "-".join(key)
        files, odd = [p for p in paths if os.path.isfile(p)], [p for p in paths if os.path.lexists(p)]
        if not odd:
            looked = " or ".join(name + "[.gz]" for name in candidate_names(*key)[2:])
            raise IdxError(folder, "has no %s file (looked for %s)" % (what, looked),
                           "put the four MNIST-format idx files there")
        if not files:
            raise IdxError(odd[0], "is " + ("a folder" if os.path.isdir(odd[0]) else "not a regular file"
                                            if os.path.exists(odd[0]) else "a link to nothing"),
                           "the %s file must be a regular file; move it away or replace it" % what)
        if len(files) > 1 and len({_digest_or_path(path, key[1]) for path in files}) > 1:
            raise IdxError(files[0], "and %s both hold the %s file, with different contents" % (
                " and ".join(files[1:]), what), "keep the one you mean and move the other away")
        found[key] = files[0]
    return found


def _digest_or_path(path, kind):
    """The idx digest of ``path``, or the path itself when damaged (it agrees with no copy)."""
    with contextlib.suppress(IdxError):
        return file_digest(path, kind)
    return path


@contextlib.contextmanager
def _opened(path, kind, max_bytes=None):
    """One pass over an idx file (a :class:`_Pass`), its header read and checked before anything
    is allocated; ``max_bytes`` is the most idx bytes it may promise."""
    def unreadable(err):
        if isinstance(err, NotRegular):
            return IdxError(path, "is a folder" if os.path.isdir(path) else "is not a regular file",
                            "give the idx file itself")
        return IdxError(path, "cannot be read (%s)" % reason(err))
    with translated((OSError, EOFError, zlib.error), unreadable), open_regular(path) as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        one = _Pass(path, kind, gzip.GzipFile(fileobj=raw) if gzipped else raw)
        one.check(os.fstat(raw.fileno()).st_size, gzipped, max_bytes)
        yield one


class _Pass:
    """An idx file read once: :meth:`check` its header, :meth:`fill` arrays with its body in place
    (hashing it), :meth:`finish` refuses trailing data and gives the SHA-256."""

    def __init__(self, path, kind, stream):
        self.path, self.kind, self.stream, self.sha = path, kind, stream, hashlib.sha256()

    def check(self, stored, gzipped, max_bytes):
        """Read the header and refuse what it cannot be, given the ``stored`` size of the file."""
        magic, ndim = MAGIC[self.kind]
        header = self.stream.read(4 + 4 * ndim)  # buffered: fewer bytes only at the end
        found = struct.unpack(">I", header[:4])[0] if len(header) >= 4 else magic
        if found != magic:
            raise IdxError(self.path, "has magic number %d, not %d as idx %s files do" % (
                found, magic, self.kind), "check that it is the %s file and not damaged" % self.kind)
        if len(header) < 4 + 4 * ndim:
            raise IdxError(self.path, "is too short to be an idx %s file (%d bytes)" % (self.kind,
                                                                                        len(header)))
        self.dims = struct.unpack(">%dI" % ndim, header[4:])
        if self.kind == "images" and self.dims[1:] != (28, 28):
            raise IdxError(self.path, "holds %dx%d images, not 28x28" % self.dims[1:],
                           "mxsoftmax needs MNIST-format 28x28 images")
        if not 1 <= self.dims[0] <= MAX_ITEMS:
            raise IdxError(self.path, "holds %d %s; an idx file here must hold 1 to %d"
                           % (self.dims[0], self.kind, MAX_ITEMS))
        self.sha.update(header)
        self.got, self.promised = len(header), len(header) + int(np.prod(self.dims))
        if max_bytes is not None and self.promised > max_bytes:
            raise IdxError(self.path, "promises %d bytes of %s, more than the %d this file has" % (
                self.promised, self.kind, max_bytes), "it is not the expected file")
        if not gzipped and self.promised != stored:
            raise self._length_error(stored)
        if gzipped and self.promised > stored * GZIP_MAX_RATIO:
            raise IdxError(self.path, "promises %d bytes of %s, more than its %d gzipped bytes can hold"
                           % (self.promised, self.kind, stored))

    def _length_error(self, actual):
        return IdxError(self.path, "is %d bytes but its header promises %d (%d %s); the file is "
                                   "truncated or padded" % (actual, self.promised, self.dims[0], self.kind))

    def fill(self, array):
        """Read the next ``array.size`` bytes of the body into ``array``; IdxError if they end."""
        view, done = memoryview(array).cast("B"), 0
        while done < len(view):
            n = self.stream.readinto(view[done:done + CHUNK])
            if not n:
                raise self._length_error(self.got + done)
            self.sha.update(view[done:done + n])
            done += n
        self.got += done
        return array

    def finish(self):
        """The SHA-256 of the idx bytes, once nothing follows them (this also checks gzip's CRC)."""
        if self.stream.read(1):
            raise IdxError(self.path, "holds more than the %d bytes its header promises (%d %s); the "
                                      "file is padded or damaged" % (self.promised, self.dims[0], self.kind))
        return self.sha.hexdigest()


class IdxImages:
    """The images of an idx file, checked by header now and read in chunks when used (47 MB of
    uint8 never held whole). A pass checks the rest (length, trailing data, gzip CRC, the SHA-256
    ``expected``, else ``differ(path)``) and records :attr:`digest`; ``np.asarray`` reads all,
    (N, 28, 28, 1)."""

    dtype = np.dtype(np.uint8)

    def __init__(self, path, max_bytes=None, expected=None, differ=None):
        with _opened(path, "images", max_bytes) as one:
            self.shape = one.dims + (1,)
        self.path, self.max_bytes, self.expected, self.differ = path, max_bytes, expected, differ
        self.digest = None

    def __len__(self):
        return self.shape[0]

    def chunks(self, n):
        """Yield the images ``n`` at a time, (k, 28, 28, 1) views of one reused buffer."""
        with _opened(self.path, "images", self.max_bytes) as one:
            buffer = np.empty((n,) + self.shape[1:], dtype=np.uint8)
            for start in range(0, len(self), n):
                yield one.fill(buffer[:min(n, len(self) - start)])
            digest = one.finish()
        if self.expected and digest != self.expected:
            if not self.differ:
                raise IdxError.mismatch(self.path, self.expected, digest)
            self.differ(self.path)
        self.digest = digest

    def __array__(self, dtype=None, copy=None):
        whole, = self.chunks(len(self))  # one chunk, read in place; the pass ends with its checks
        return whole if dtype is None else whole.astype(dtype)


def read_idx(path, kind, max_bytes=None, expected=None):
    """One idx file as a validated uint8 array: ``images`` (N, 28, 28) or ``labels`` (N,) 0-9;
    IdxError.mismatch if its SHA-256 is not ``expected`` (when given)."""
    return _read(path, kind, max_bytes, expected)[0]


def file_digest(path, kind, max_bytes=None):
    """The SHA-256 of the idx bytes of ``path``, read with every check of :func:`read_idx`."""
    return _read(path, kind, max_bytes)[1]


def _read(path, kind, max_bytes=None, expected=None):
    """(array, SHA-256 of its idx bytes) of one file, in one pass with every check; labels must
    be 0-9."""
    with _opened(path, kind, max_bytes) as one:
        array = one.fill(np.empty(one.dims, dtype=np.uint8))
        digest = one.finish()
    if expected and digest != expected:
        raise IdxError.mismatch(path, expected, digest)
    if kind == "labels" and array.max() > 9:
        raise IdxError(path, "has label %d; labels must be 0-9" % array.max())
    return array, digest


def read_split(images_path, labels_path, expected=None, stream=False, differ=None):
    """One split: images (N, 28, 28, 1) uint8 (an :class:`IdxImages` with ``stream``) and labels
    (N,) int32. ``expected`` maps ``images``/``labels`` to a known file's (SHA-256, size): other
    bytes raise IdxError.mismatch, or for images call ``differ(path)`` when given."""
    (image_digest, size), (label_digest, label_size) = [
        (expected or {}).get(kind) or (None, None) for kind in ("images", "labels")]
    labels = read_idx(labels_path, "labels", label_size, label_digest)
    images = IdxImages(images_path, size, image_digest, differ)
    if len(images) != len(labels):
        raise IdxError(images_path, "has %d images but %s has %d labels" % (
            len(images), labels_path, len(labels)), "the two files must come from the same split")
    return images if stream else np.asarray(images), labels.astype(np.int32)


def digest_of(array, kind):
    """The SHA-256 of the idx bytes that hold ``array``: what :func:`file_digest` gives its file."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic, ndim = MAGIC[kind]
    sha = hashlib.sha256(struct.pack(">I%dI" % ndim, magic, *array.shape[:ndim]))
    sha.update(array.tobytes())
    return sha.hexdigest()
