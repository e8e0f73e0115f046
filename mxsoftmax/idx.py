"""MNIST's idx files, gzipped or raw (told apart by content): their names and a bounded reader, which
checks the header, then reads and hashes exactly the bytes it promises into one preallocated array."""
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
    """Map (split, kind) to each idx file in ``folder``; one under two names must be the same twice."""
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
        if len(files) > 1 and len({file_digest(path, key[1]) for path in files}) > 1:  # a damaged one: said
            raise IdxError(files[0], "and %s both hold the %s file, with different contents" % (
                " and ".join(files[1:]), what), "keep the one you mean and move the other away")
        found[key] = files[0]
    return found


@contextlib.contextmanager
def _opened(path, kind, max_bytes=None):
    """One :class:`_Pass` over an idx file, which promises at most ``max_bytes`` idx bytes."""
    def unreadable(err):
        if isinstance(err, NotRegular):
            return IdxError(path, "is a folder" if os.path.isdir(path) else "is not a regular file",
                            "give the idx file itself")
        return IdxError(path, "cannot be read (%s)" % reason(err))
    with translated((OSError, EOFError, zlib.error), unreadable), open_regular(path) as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        yield _Pass(path, kind, gzip.GzipFile(fileobj=raw) if gzipped else raw,
                    os.fstat(raw.fileno()).st_size, gzipped, max_bytes)


class _Pass:
    """An idx file read once: its header checked (against the ``stored`` size of the file) before
    anything is allocated, then :meth:`fill` and :meth:`finish`, hashing the idx bytes."""

    def __init__(self, path, kind, stream, stored, gzipped, max_bytes):
        self.path, self.kind, self.stream, self.sha = path, kind, stream, hashlib.sha256()
        magic, ndim = MAGIC[kind]
        header = stream.read(4 + 4 * ndim)  # buffered: fewer bytes only at the end
        found = struct.unpack(">I", header[:4])[0] if len(header) >= 4 else magic
        if found != magic:
            raise IdxError(path, "has magic number %d, not %d as idx %s files do" % (found, magic, kind),
                           "check that it is the %s file and not damaged" % kind)
        if len(header) < 4 + 4 * ndim:
            raise IdxError(path, "is too short to be an idx %s file (%d bytes)" % (kind, len(header)))
        self.dims = struct.unpack(">%dI" % ndim, header[4:])
        if kind == "images" and self.dims[1:] != (28, 28):
            raise IdxError(path, "holds %dx%d images, not 28x28" % self.dims[1:],
                           "mxsoftmax needs MNIST-format 28x28 images")
        if not 1 <= self.dims[0] <= MAX_ITEMS:
            raise IdxError(path, "holds %d %s; an idx file here must hold 1 to %d"
                           % (self.dims[0], kind, MAX_ITEMS))
        self.sha.update(header)
        self.got, self.promised = len(header), len(header) + int(np.prod(self.dims))
        if max_bytes is not None and self.promised > max_bytes:
            raise IdxError(path, "promises %d bytes of %s, more than the %d this file has" % (
                self.promised, kind, max_bytes), "it is not the expected file")
        if not gzipped and self.promised != stored:
            raise self._length_error(stored)
        if gzipped and self.promised > stored * GZIP_MAX_RATIO:
            raise IdxError(path, "promises %d bytes of %s, more than its %d gzipped bytes can hold"
                           % (self.promised, kind, stored))

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
    """The (N, 28, 28, 1) images of an idx file, its header checked now, read in chunks when used.
    Each pass checks the rest (against ``expected``, else telling ``differ(path)``) and sets ``digest``."""

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
    """One idx file as a checked uint8 array: ``images`` (N, 28, 28) or ``labels`` (N,) 0-9."""
    return _read(path, kind, max_bytes, expected)[0]


def file_digest(path, kind, max_bytes=None):
    """The SHA-256 of the idx bytes of ``path``, read with every check of :func:`read_idx`."""
    return _read(path, kind, max_bytes)[1]


def _read(path, kind, max_bytes=None, expected=None):
    with _opened(path, kind, max_bytes) as one:
        array = one.fill(np.empty(one.dims, dtype=np.uint8))
        digest = one.finish()
    if expected and digest != expected:
        raise IdxError.mismatch(path, expected, digest)
    if kind == "labels" and array.max() > 9:
        raise IdxError(path, "has label %d; labels must be 0-9" % array.max())
    return array, digest


def read_split(images_path, labels_path, expected=None, stream=False, differ=None):
    """One split: images (N, 28, 28, 1) uint8 (an :class:`IdxImages` with ``stream``), labels (N,)
    int32; ``expected`` maps ``images`` and ``labels`` to a known file's (SHA-256, size)."""
    (image_digest, size), (label_digest, label_size) = [
        (expected or {}).get(kind) or (None, None) for kind in ("images", "labels")]
    labels = read_idx(labels_path, "labels", label_size, label_digest)
    images = IdxImages(images_path, size, image_digest, differ)
    if len(images) != len(labels):
        raise IdxError(images_path, "has %d images but %s has %d labels" % (
            len(images), labels_path, len(labels)), "the two files must come from the same split")
    return images if stream else np.asarray(images), labels.astype(np.int32)


def digest_of(array, kind):
    """The SHA-256 of the idx bytes that hold ``array`` (streamed images: of the file, read once)."""
    if isinstance(array, IdxImages):
        if array.digest is None:
            np.asarray(array)  # one pass, which records the digest
        return array.digest
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic, ndim = MAGIC[kind]
    sha = hashlib.sha256(struct.pack(">I%dI" % ndim, magic, *array.shape[:ndim]))
    sha.update(array.tobytes())
    return sha.hexdigest()
