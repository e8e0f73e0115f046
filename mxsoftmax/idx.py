"""The idx file format of MNIST: file names, and a bounded, validating reader (gzipped or raw).

The header is read and checked first; then exactly the bytes it promises are read into one
preallocated array, in chunks, and one byte more to detect trailing data. So a file never costs
more memory than the array it describes, however large it inflates to, and a header that
promises more than its file can hold is refused before anything is allocated.
"""
import contextlib
import gzip
import hashlib
import os
import struct
import zlib

import numpy as np

from .errors import ChecksumMismatch, IdxError, reason, translated
from .files import NotRegular, open_regular

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # 0x0803: uint8, 3 dimensions; 0x0801: uint8, 1 dimension
ROWS = COLS = 28
MAX_ITEMS = 1000000  # per file: 784 MB of images, 3 GB as float32
GZIP_MAX_RATIO = 1032  # deflate cannot inflate one byte into more than 1032
CHUNK = 1 << 20
UNREADABLE = (OSError, EOFError, zlib.error)  # what reading a file or a damaged gzip raises
# (split, kind) -> the idx name stem; files may be gzipped and may use '.idx' instead of '-idx'.
FILES = {
    ("train", "images"): ("train-images", "idx3-ubyte"),
    ("train", "labels"): ("train-labels", "idx1-ubyte"),
    ("test", "images"): ("t10k-images", "idx3-ubyte"),
    ("test", "labels"): ("t10k-labels", "idx1-ubyte"),
}
SPLITS = ("train", "test")



def standard_name(split, kind):
    """The canonical gzipped file name, e.g. ``train-images-idx3-ubyte.gz``."""
    stem, suffix = FILES[(split, kind)]
    return "%s-%s.gz" % (stem, suffix)


def candidate_names(split, kind):
    """Every file name accepted for one file: both naming styles, gzipped or raw."""
    stem, suffix = FILES[(split, kind)]
    names = ["%s-%s" % (stem, suffix), "%s.%s" % (stem, suffix)]
    return [n + ".gz" for n in names] + names


def find_files(folder):
    """Map (split, kind) to the path of each of the four idx files in ``folder``.

    A file may be there under two names (say ``t10k-labels-idx1-ubyte`` and its ``.gz``): the
    copies are used only if they hold the same idx bytes, so neither is picked silently.
    """
    if not os.path.isdir(folder):
        raise IdxError(folder, "is not a folder",
                       "give a folder holding the four MNIST-format idx files")
    found = {}
    for key in FILES:
        paths = [os.path.join(folder, name) for name in candidate_names(*key)]
        files = [path for path in paths if os.path.isfile(path)]
        odd = [path for path in paths if os.path.lexists(path)]
        if len(files) > 1:
            _same_contents(files, key)
        if files:
            found[key] = files[0]
        elif odd:  # a name that is taken, by something that cannot be read as a file
            what = ("a folder" if os.path.isdir(odd[0]) else "a link to nothing"
                    if not os.path.exists(odd[0]) else "not a regular file")
            raise IdxError(odd[0], "is %s" % what, "the %s file must be a regular file; move it "
                                                   "away or replace it" % "-".join(key))
        else:
            raise IdxError(folder, "has no %s file (looked for %s)" % ("-".join(key), " or ".join(
                name + "[.gz]" for name in candidate_names(*key)[2:])),
                "put the four MNIST-format idx files there")
    return found


def _same_contents(paths, key):
    """Refuse (IdxError) copies of one file under several names unless their idx bytes agree."""
    digests = set()
    for path in paths:
        try:
            digests.add(file_digest(path, key[1]))
        except IdxError:
            digests.add(path)  # a damaged copy agrees with nothing
    if len(digests) > 1:
        raise IdxError(paths[0], "and %s both hold the %s file, with different contents"
                       % (" and ".join(paths[1:]), "-".join(key)),
                       "keep the one you mean and move the other away")


def read_idx(path, kind, max_bytes=None, digest=None):
    """Read one idx file (gzipped or raw, told apart by content) into a validated uint8 array.

    ``kind`` is ``images`` (magic 2051, N x 28 x 28) or ``labels`` (magic 2049, N, values 0-9).
    ``max_bytes`` caps the idx size (header included) that the file may promise; ``digest``, a
    hashlib object, is fed every idx byte read, so a caller can verify the file in the same pass.
    """
    with _Reader(path, kind, max_bytes, digest) as reader:
        array = np.empty(reader.body, dtype=np.uint8)
        reader.fill(array)
        reader.finish()
    if isinstance(digest, _Verifier):
        digest.check()
    if kind == "labels" and array.max() > 9:
        raise IdxError(path, "has label %d; labels must be 0-9" % array.max())
    return array.reshape(reader.dims)


class IdxImages:
    """The images of an idx file, checked by header now and read in chunks when they are used.

    A split of 60,000 images is 47 MB of uint8: :func:`mxsoftmax.batches.to_ndarrays` streams them
    through :meth:`chunks` into float32 without ever holding them whole. The rest of the
    validation (length, trailing data, gzip CRC and, with ``expected``, the SHA-256 of the idx
    bytes) happens as the file is read: a damaged file raises IdxError at the end of that pass,
    and other idx bytes than ``expected`` raise ChecksumMismatch, or call ``differ(path)`` when it
    is given (a variant of a known data set, used as given). ``np.asarray(images)`` reads them
    all, as (N, 28, 28, 1).
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, path, max_bytes=None, expected=None, differ=None):
        with _Reader(path, "images", max_bytes) as reader:
            self.shape = reader.dims + (1,)
        self.path, self.max_bytes, self.expected, self.differ = path, max_bytes, expected, differ
        self.digest = None  # the SHA-256 of its idx bytes, once a pass has read them all

    def __len__(self):
        return self.shape[0]

    def chunks(self, n):
        """Yield the images ``n`` at a time as (k, 28, 28, 1) uint8 arrays.

        Each chunk is a view of one reused buffer, valid until the next is yielded.
        """
        verifier = _Verifier(self.path, self.expected, self.differ)
        with _Reader(self.path, "images", self.max_bytes, verifier) as reader:
            buffer = np.empty(n * ROWS * COLS, dtype=np.uint8)
            for start in range(0, len(self), n):
                part = buffer[:min(n, len(self) - start) * ROWS * COLS]
                reader.fill(part)
                yield part.reshape((-1,) + self.shape[1:])
            reader.finish()
        verifier.check()
        self.digest = verifier.sha.hexdigest()

    def __array__(self, dtype=None):
        array = np.empty(self.shape, dtype=np.uint8)
        start = 0
        for part in self.chunks(4096):
            array[start:start + len(part)] = part
            start += len(part)
        return array if dtype is None else array.astype(dtype)


class _Reader:
    """One pass over an idx file: the header checked on entry, then the body read in place."""

    def __init__(self, path, kind, max_bytes=None, digest=None):
        self.path, self.kind, self.max_bytes = path, kind, max_bytes
        self.digest = digest if digest is not None else _NoDigest()
        self.got = 0

    def __enter__(self):
        with translated(UNREADABLE, self._unreadable), contextlib.ExitStack() as unless_read:
            self.raw = open_regular(self.path)
            unless_read.callback(self.raw.close)
            stored = os.fstat(self.raw.fileno()).st_size
            gzipped = self.raw.read(2) == b"\x1f\x8b"
            self.raw.seek(0)
            self.stream = gzip.GzipFile(fileobj=self.raw, mode="rb") if gzipped else self.raw
            self._header(stored, gzipped)
            unless_read.pop_all()
        return self

    def __exit__(self, *exc):
        self.raw.close()

    def _unreadable(self, err):
        """The IdxError for ``err``, one of :data:`UNREADABLE`: a path that is not a regular
        file (NotRegular), or a file that cannot be opened or read."""
        if isinstance(err, NotRegular):
            return IdxError(self.path, "is a folder" if os.path.isdir(self.path)
                            else "is not a regular file", "give the idx file itself")
        return IdxError(self.path, "cannot be read (%s)" % reason(err))

    def _header(self, stored, gzipped):
        """Read and check magic, dimensions and the size they promise, before any allocation."""
        path, kind = self.path, self.kind
        magic, ndim = (IMAGE_MAGIC, 3) if kind == "images" else (LABEL_MAGIC, 1)
        header = _read_exactly(self.stream, 4 + 4 * ndim)
        if len(header) >= 4 and struct.unpack(">I", header[:4])[0] != magic:
            raise IdxError(path, "has magic number %d, not %d as idx %s files do" % (
                struct.unpack(">I", header[:4])[0], magic, kind),
                "check that it is the %s file and not damaged" % kind)
        if len(header) < 4 + 4 * ndim:
            raise IdxError(path, "is too short to be an idx %s file (%d bytes)"
                           % (kind, len(header)))
        self.digest.update(header)
        dims = struct.unpack(">%dI" % ndim, header[4:])
        if kind == "images" and dims[1:] != (ROWS, COLS):
            raise IdxError(path, "holds %dx%d images, not 28x28" % (dims[1], dims[2]),
                           "mxsoftmax needs MNIST-format 28x28 images")
        if not 1 <= dims[0] <= MAX_ITEMS:
            raise IdxError(path, "holds %d %s; an idx file here must hold 1 to %d"
                           % (dims[0], kind, MAX_ITEMS))
        self.dims, self.header = dims, header
        self.body = int(np.prod(dims))
        self.promised = len(header) + self.body
        if self.max_bytes is not None and self.promised > self.max_bytes:
            raise IdxError(path, "promises %d bytes of %s, more than the %d this file has"
                           % (self.promised, kind, self.max_bytes), "it is not the expected file")
        if not gzipped and self.promised != stored:
            raise _length_error(path, stored, self.promised, dims[0], kind)
        if gzipped and self.promised > stored * GZIP_MAX_RATIO:
            raise IdxError(path, "promises %d bytes of %s, more than its %d gzipped bytes can hold"
                           % (self.promised, kind, stored))

    def fill(self, array):
        """Read the next ``array.size`` bytes of the body into ``array``; IdxError if they end."""
        view, done = memoryview(array).cast("B"), 0
        with translated(UNREADABLE, self._unreadable):
            while done < len(view):
                n = self.stream.readinto(view[done:done + CHUNK])
                if not n:
                    raise _length_error(self.path, len(self.header) + self.got + done,
                                        self.promised, self.dims[0], self.kind)
                self.digest.update(view[done:done + n])
                done += n
        self.got += done

    def finish(self):
        """Check that nothing follows the promised bytes (this also checks the gzip CRC)."""
        with translated(UNREADABLE, self._unreadable):
            extra = self.stream.read(1)
        if extra:
            raise IdxError(self.path, "holds more than the %d bytes its header promises (%d %s); "
                           "the file is padded or damaged" % (self.promised, self.dims[0], self.kind))


def _length_error(path, actual, promised, count, kind):
    return IdxError(path, "is %d bytes but its header promises %d (%d %s); the file is truncated "
                          "or padded" % (actual, promised, count, kind))


def _read_exactly(stream, n):
    """Up to ``n`` bytes: fewer only at the end of the stream."""
    data = b""
    while len(data) < n:
        part = stream.read(n - len(data))
        if not part:
            break
        data += part
    return data


class _NoDigest:
    def update(self, _data):
        pass


def read_split(images_path, labels_path, expected=None, stream=False, differ=None):
    """One split: images (N, 28, 28, 1) uint8 and labels (N,) int32, with matching counts.

    ``expected`` maps ``images``/``labels`` to the (SHA-256, size) a known file must have; a
    file that differs raises ChecksumMismatch, except images when ``differ`` is given: it is
    called with their path instead, and they are used as they are. With ``stream`` the images
    are an :class:`IdxImages`, read (and verified) when they are used.
    """
    expected = expected or {}
    digest, size = expected.get("labels") or (None, None)
    labels = read_idx(labels_path, "labels", size, _Verifier(labels_path, digest))
    digest, size = expected.get("images") or (None, None)
    images = IdxImages(images_path, size, digest, differ)  # the header alone: compare counts
    if len(images) != len(labels):
        raise IdxError(images_path, "has %d images but %s has %d labels" % (
            len(images), labels_path, len(labels)), "the two files must come from the same split")
    if not stream:
        images = read_idx(images_path, "images", size,
                          _Verifier(images_path, digest, differ))[..., None]
    return images, labels.astype(np.int32)


def digest_of(array, kind):
    """The SHA-256 of the idx bytes that hold ``array``: what :func:`file_digest` gives its file."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    dims = array.shape[:3] if kind == "images" else array.shape[:1]
    magic = IMAGE_MAGIC if kind == "images" else LABEL_MAGIC
    sha = hashlib.sha256(struct.pack(">I%dI" % len(dims), magic, *dims))
    sha.update(array.tobytes())
    return sha.hexdigest()


def file_digest(path, kind, max_bytes=None):
    """The SHA-256 of the idx bytes of ``path``, reading it with every check of :func:`read_idx`."""
    sha = hashlib.sha256()
    read_idx(path, kind, max_bytes, sha)
    return sha.hexdigest()


class _Verifier:
    """A digest that checks itself: ``update`` as hashlib's; :meth:`check` raises on a mismatch,
    or calls ``differ(path)`` when it is given."""

    def __init__(self, path, expected, differ=None):
        self.path, self.expected, self.differ = path, expected, differ
        self.sha = hashlib.sha256()

    def update(self, data):
        self.sha.update(data)

    def check(self):
        if self.expected and self.sha.hexdigest() != self.expected:
            if self.differ:
                return self.differ(self.path)
            raise ChecksumMismatch(self.path, self.expected, self.sha.hexdigest())
