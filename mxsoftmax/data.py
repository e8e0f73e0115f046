"""Data: the idx reader, MNIST-style datasets, the tutorial's ``transform`` and batch iterators.

Items look exactly like ``mx.gluon.data.vision.MNIST`` items -- a (28, 28, 1) uint8 image NDArray
and an int32 label -- so the tutorial's ``transform`` and ``DataLoader`` apply unchanged. The
fast path (:func:`to_ndarrays`, :func:`batches`) applies the same ``transform`` to a whole split
at once and slices batches out of one NDArray.
"""
import gzip
import os
import struct
import zlib

import numpy as np
from mxnet import gluon, nd

from . import UsageError

NUM_INPUTS = 784
NUM_OUTPUTS = 10
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
EVAL_BATCH_SIZE = 10000  # accuracy does not depend on it; large batches mean few operations
# (split, kind) -> the idx name stem; files may be gzipped and may use '.idx' instead of '-idx'.
FILES = {
    ("train", "images"): ("train-images", "idx3-ubyte"),
    ("train", "labels"): ("train-labels", "idx1-ubyte"),
    ("test", "images"): ("t10k-images", "idx3-ubyte"),
    ("test", "labels"): ("t10k-labels", "idx1-ubyte"),
}
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
}


def transform(data, label):
    """The tutorial's per-item transform: image to float32 in [0, 1], label to float32."""
    return data.astype(np.float32) / 255, label.astype(np.float32)


def standard_name(split, kind):
    """The canonical gzipped file name, e.g. ``train-images-idx3-ubyte.gz``."""
    stem, suffix = FILES[(split, kind)]
    return "%s-%s.gz" % (stem, suffix)


def candidate_names(split, kind):
    """Every file name accepted for one file: both naming styles, gzipped or raw."""
    stem, suffix = FILES[(split, kind)]
    names = ["%s-%s" % (stem, suffix), "%s.%s" % (stem, suffix)]
    return [n + ".gz" for n in names] + names


def find_files(data_dir):
    """Map (split, kind) to the path of each of the four idx files in ``data_dir``.

    Raises UsageError naming the folder and the first file it cannot find.
    """
    if not os.path.isdir(data_dir):
        raise UsageError("--data-dir %s is not a folder: give a folder holding the four "
                         "MNIST-format idx files." % data_dir)
    found = {}
    for key in FILES:
        for name in candidate_names(*key):
            if os.path.isfile(os.path.join(data_dir, name)):
                found[key] = os.path.join(data_dir, name)
                break
        else:
            raise UsageError("%s has no %s file (looked for %s): put the four MNIST-format idx "
                             "files there." % (data_dir, "-".join(key), " or ".join(
                                 name + "[.gz]" for name in candidate_names(*key)[2:])))
    return found


def read_bytes(path):
    """Return the idx bytes of ``path``, decompressing ``.gz``; UsageError if it cannot be read."""
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise UsageError("%s cannot be read (%s): replace it with an intact copy."
                         % (path, _reason(err))) from None


def parse_idx(raw, path, kind):
    """Parse idx bytes into a uint8 array, checking magic, shape, length and label range.

    ``kind`` is ``images`` (magic 2051, N x 28 x 28) or ``labels`` (magic 2049, N, values 0-9).
    """
    magic, ndim = (IMAGE_MAGIC, 3) if kind == "images" else (LABEL_MAGIC, 1)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UsageError("%s is too short to be an idx %s file (%d bytes): replace it with an "
                         "intact copy." % (path, kind, len(raw)))
    found = struct.unpack(">I", raw[:4])[0]
    if found != magic:
        raise UsageError("%s has magic number %d, not %d as idx %s files do: check that it is "
                         "the %s file and not damaged." % (path, found, magic, kind, kind))
    dims = struct.unpack(">%dI" % ndim, raw[4:header])
    if kind == "images" and dims[1:] != (28, 28):
        raise UsageError("%s holds %dx%d images, not 28x28: mxsoftmax needs MNIST-format "
                         "28x28 images." % (path, dims[1], dims[2]))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise UsageError("%s is %d bytes but its header promises %d (%d %s): the file is "
                         "truncated or padded; replace it with an intact copy."
                         % (path, len(raw), expected, dims[0], kind))
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    if kind == "labels" and array.size and array.max() > 9:
        raise UsageError("%s has label %d; labels must be 0-9: replace it with an intact copy."
                         % (path, array.max()))
    return array


def read_idx(path, kind):
    """Read one idx file (gz or raw) into a uint8 array, validated; see :func:`parse_idx`."""
    return parse_idx(read_bytes(path), path, kind)


def read_split(images_path, labels_path, read=read_bytes):
    """Read one split's images (N, 28, 28, 1) and int32 labels (N,), checking the counts match.

    ``read(path)`` returns a file's idx bytes; the default decompresses ``.gz`` files.
    """
    images = parse_idx(read(images_path), images_path, "images")
    labels = parse_idx(read(labels_path), labels_path, "labels")
    if len(images) != len(labels):
        raise UsageError("%s has %d images but %s has %d labels: the two files must come from "
                         "the same split." % (images_path, len(images), labels_path, len(labels)))
    return images[..., np.newaxis], labels.astype(np.int32)


def read_dir(data_dir):
    """Read the four idx files in ``data_dir``: ``{'train': (images, labels), 'test': (...)}``."""
    paths = find_files(data_dir)
    return {split: read_split(paths[(split, "images")], paths[(split, "labels")])
            for split in ("train", "test")}


def dataset(images, labels, transform_fn=transform):
    """A ``gluon.data`` dataset whose items match ``gluon.data.vision.MNIST`` (with ``transform``)."""
    data = gluon.data.ArrayDataset(nd.array(images, dtype=np.uint8), labels)
    return data.transform(transform_fn) if transform_fn is not None else data


def to_ndarrays(images, labels, ctx, chunk=1000):
    """Apply the tutorial's ``transform`` to a whole split: (N, 784) float32 data, (N,) labels on ctx.

    The split goes through ``transform`` ``chunk`` images at a time into one preallocated array,
    so no full-size temporary is made beside the float32 result.
    """
    data = nd.empty((len(images), NUM_INPUTS), ctx=ctx, dtype=np.float32)
    for start in range(0, len(images), chunk):
        part, _ = transform(nd.array(images[start:start + chunk], ctx=ctx, dtype=np.uint8), labels)
        data[start:start + chunk] = part.reshape((-1, NUM_INPUTS))
    return data, nd.array(labels, ctx=ctx, dtype=np.float32)


def epoch_order(seed, epoch, n):
    """The training order of epoch ``epoch``: a permutation that depends on (seed, epoch) only.

    It equals what ``DataLoader(shuffle=True)`` draws after ``np.random.seed([seed, epoch])``,
    so the literal and the fast paths visit batches in the same order.
    """
    return np.random.RandomState([seed, epoch]).permutation(n)


def batches(data, label, batch_size, order=None):
    """Yield (data, label) batches of NDArrays, in ``order`` (an index array) when given.

    Each shuffled batch is gathered with ``take`` from the unshuffled arrays, so no shuffled
    copy of the whole split is ever made.
    """
    index = None if order is None else nd.array(order, ctx=data.context, dtype=np.int64)
    for start in range(0, data.shape[0], batch_size):
        if index is None:
            yield data[start:start + batch_size], label[start:start + batch_size]
        else:
            rows = index[start:start + batch_size]
            yield data.take(rows), label.take(rows)


def _reason(err):
    return str(err) or type(err).__name__


class Loaders:
    """The three iterators a run needs, built the literal (gluon) or the fast way.

    ``loader="gluon"`` is the tutorial's ``DataLoader`` with its per-item ``transform``;
    ``loader="fast"`` transforms each split once with :func:`to_ndarrays` and uses :func:`batches`.

    ``train(epoch)`` yields that epoch's training batches in :func:`epoch_order`;
    ``test()`` and ``train_eval()`` yield batches for ``evaluate_accuracy``. Every batch is
    already on ``ctx`` and flattened to (batch, 784).
    """

    def __init__(self, splits, ctx, batch_size, seed, loader="fast"):
        self.ctx, self.batch_size, self.seed, self.loader = ctx, batch_size, seed, loader
        self.num_train = len(splits["train"][1])
        if loader == "gluon":
            mnist_train = dataset(*splits["train"])
            mnist_test = dataset(*splits["test"])
            self.train_data = gluon.data.DataLoader(mnist_train, batch_size, shuffle=True)
            self.test_data = gluon.data.DataLoader(mnist_test, batch_size, shuffle=False)
        else:
            self.arrays = {split: to_ndarrays(*splits[split], ctx) for split in ("train", "test")}

    def num_batches(self):
        """Training batches per epoch."""
        return -(-self.num_train // self.batch_size)

    def train(self, epoch):
        """Training batches of ``epoch``, shuffled by (seed, epoch)."""
        if self.loader == "gluon":
            np.random.seed([self.seed, epoch])  # the RandomSampler inside DataLoader draws from it
            return self._on_ctx(self.train_data)
        return batches(*self.arrays["train"], self.batch_size,
                       epoch_order(self.seed, epoch, self.num_train))

    def test(self):
        """Test batches in file order."""
        if self.loader == "gluon":
            return self._on_ctx(self.test_data)
        return batches(*self.arrays["test"], EVAL_BATCH_SIZE)

    def train_eval(self):
        """Training batches for measuring training accuracy (order does not matter)."""
        if self.loader == "gluon":
            return self._on_ctx(self.train_data)
        return batches(*self.arrays["train"], EVAL_BATCH_SIZE)

    def _on_ctx(self, loader):
        for data, label in loader:
            yield data.as_in_context(self.ctx).reshape((-1, NUM_INPUTS)), label.as_in_context(self.ctx)


def main(argv=None):
    """``python -m mxsoftmax.data download``: fetch and verify a data set into gluon's cache."""
    import argparse
    import sys

    from . import sources  # imported here: sources builds on this module
    parser = argparse.ArgumentParser(prog="python -m mxsoftmax.data",
                                     description="Download and verify MNIST or Fashion-MNIST.")
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("download", help="fetch the four files into gluon's cache")
    get.add_argument("--dataset", choices=sorted(CLASS_NAMES), default="mnist")
    get.add_argument("--mirror", action="append", default=[], metavar="URL",
                     help="base URL to try first (repeatable; also MXSOFTMAX_MIRRORS)")
    get.add_argument("--dir", help="folder to save into (default: gluon's cache)")
    args = parser.parse_args(argv)
    try:
        folder = sources.download(args.dataset, args.mirror, folder=args.dir)
    except UsageError as err:
        print("%s: error: %s" % (parser.prog, err), file=sys.stderr)
        return 2
    print("%s: the four verified %s files are in %s" % (parser.prog, args.dataset, folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
