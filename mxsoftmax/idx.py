"""The idx file format of MNIST: file names, and a bounded, validating reader (gzipped or raw).

The header is read and checked first; then exactly the bytes it promises are read into one
preallocated array, in chunks, and one byte more to detect trailing data. So a file never costs
more memory than the array it describes, however large it inflates to, and a header that
promises more than its file can hold is refused before anything is allocated.
"""
import gzip
import hashlib
import os
import struct
import zlib

import numpy as np

from .errors import InvalidInput, reason

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # 0x0803: uint8, 3 dimensions; 0x0801: uint8, 1 dimension
ROWS = COLS = 28
MAX_ITEMS = 1000000  # per file: 784 MB of images, 3 GB as float32
GZIP_MAX_RATIO = 1032  # deflate cannot inflate one byte into more than 1032
CHUNK = 1 << 20
# (split, kind) -> the idx name stem; files may be gzipped and may use '.idx' instead of '-idx'.
FILES = {
    ("train", "images"): ("train-images", "idx3-ubyte"),
    ("train", "labels"): ("train-labels", "idx1-ubyte"),
    ("test", "images"): ("t10k-images", "idx3-ubyte"),
    ("test", "labels"): ("t10k-labels", "idx1-ubyte"),
}
SPLITS = ("train", "test")


class IdxError(InvalidInput):
    """An idx file that is missing, damaged, or not what its header says."""


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
    """Map (split, kind) to the path of each of the four idx files in ``folder``."""
    if not os.path.isdir(folder):
        raise IdxError("%s is not a folder: give a folder holding the four MNIST-format idx "
                       "files." % folder)
    found = {}
    for key in FILES:
        for name in candidate_names(*key):
            if os.path.isfile(os.path.join(folder, name)):
                found[key] = os.path.join(folder, name)
                break
        else:
            raise IdxError("%s has no %s file (looked for %s): put the four MNIST-format idx "
                           "files there." % (folder, "-".join(key), " or ".join(
                               name + "[.gz]" for name in candidate_names(*key)[2:])))
    return found


def read_idx(path, kind, max_bytes=None, digest=None):
    """Read one idx file (gzipped or raw, told apart by content) into a validated uint8 array.

    ``kind`` is ``images`` (magic 2051, N x 28 x 28) or ``labels`` (magic 2049, N, values 0-9).
    ``max_bytes`` caps the idx size (header included) that the file may promise; ``digest``, a
    hashlib object, is fed every idx byte read, so a caller can verify the file in the same pass.
    """
    try:
        with open(path, "rb") as raw:
            stored = os.fstat(raw.fileno()).st_size
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
            array = _read_body(stream, path, kind, stored, gzipped, max_bytes, digest)
    except (OSError, EOFError, zlib.error) as err:
        raise IdxError("%s cannot be read (%s): replace it with an intact copy."
                       % (path, reason(err))) from None
    if kind == "labels" and array.max() > 9:
        raise IdxError("%s has label %d; labels must be 0-9: replace it with an intact copy."
                       % (path, array.max()))
    return array


def _read_body(stream, path, kind, stored, gzipped, max_bytes, digest):
    """Check the header, then read exactly the promised bytes (see :func:`read_idx`)."""
    digest = digest if digest is not None else _NoDigest()
    magic, ndim = (IMAGE_MAGIC, 3) if kind == "images" else (LABEL_MAGIC, 1)
    header = _read_exactly(stream, 4 + 4 * ndim)
    if len(header) >= 4 and struct.unpack(">I", header[:4])[0] != magic:
        raise IdxError("%s has magic number %d, not %d as idx %s files do: check that it is the "
                       "%s file and not damaged." % (path, struct.unpack(">I", header[:4])[0],
                                                     magic, kind, kind))
    if len(header) < 4 + 4 * ndim:
        raise IdxError("%s is too short to be an idx %s file (%d bytes): replace it with an "
                       "intact copy." % (path, kind, len(header)))
    digest.update(header)
    dims = struct.unpack(">%dI" % ndim, header[4:])
    if kind == "images" and dims[1:] != (ROWS, COLS):
        raise IdxError("%s holds %dx%d images, not 28x28: mxsoftmax needs MNIST-format 28x28 "
                       "images." % (path, dims[1], dims[2]))
    if not 1 <= dims[0] <= MAX_ITEMS:
        raise IdxError("%s holds %d %s; an idx file here must hold 1 to %d: replace it with an "
                       "intact copy." % (path, dims[0], kind, MAX_ITEMS))
    body = int(np.prod(dims))
    promised = len(header) + body
    if max_bytes is not None and promised > max_bytes:
        raise IdxError("%s promises %d bytes of %s, more than the %d this file has: it is not "
                       "the expected file." % (path, promised, kind, max_bytes))
    if not gzipped and promised != stored:
        raise IdxError(_length_message(path, stored, promised, dims[0], kind))
    if gzipped and promised > stored * GZIP_MAX_RATIO:
        raise IdxError("%s promises %d bytes of %s, more than its %d gzipped bytes can hold: "
                       "replace it with an intact copy." % (path, promised, kind, stored))
    array = np.empty(body, dtype=np.uint8)
    view, got = memoryview(array), 0
    while got < body:
        n = stream.readinto(view[got:got + CHUNK])
        if not n:
            raise IdxError(_length_message(path, len(header) + got, promised, dims[0], kind))
        digest.update(view[got:got + n])
        got += n
    if stream.read(1):
        raise IdxError("%s holds more than the %d bytes its header promises (%d %s): the file "
                       "is padded or damaged; replace it with an intact copy."
                       % (path, promised, dims[0], kind))
    return array.reshape(dims)


def _length_message(path, actual, promised, count, kind):
    return ("%s is %d bytes but its header promises %d (%d %s): the file is truncated or "
            "padded; replace it with an intact copy." % (path, actual, promised, count, kind))


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


def read_split(images_path, labels_path, sizes=None, digests=None):
    """One split: images (N, 28, 28, 1) uint8 and labels (N,) int32, with matching counts.

    ``sizes`` maps ``images``/``labels`` to the largest idx size accepted for each file;
    ``digests`` (a dict) receives each file's SHA-256 hex digest under ``images``/``labels``.
    """
    arrays = {}
    for kind, path in (("images", images_path), ("labels", labels_path)):
        sha = hashlib.sha256()
        arrays[kind] = read_idx(path, kind, (sizes or {}).get(kind), sha)
        if digests is not None:
            digests[kind] = sha.hexdigest()
    images, labels = arrays["images"], arrays["labels"]
    if len(images) != len(labels):
        raise IdxError("%s has %d images but %s has %d labels: the two files must come from the "
                       "same split." % (images_path, len(images), labels_path, len(labels)))
    return images[..., np.newaxis], labels.astype(np.int32)


def read_folder(paths, sizes=None):
    """Read the four files ``{(split, kind): path}``; returns (splits, {(split, kind): sha256})."""
    splits, digests = {}, {}
    for split in SPLITS:
        found = {}
        splits[split] = read_split(paths[(split, "images")], paths[(split, "labels")],
                                   {kind: (sizes or {}).get((split, kind)) for kind in
                                    ("images", "labels")}, found)
        digests.update({(split, kind): digest for kind, digest in found.items()})
    return splits, digests
