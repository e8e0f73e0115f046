"""From arrays to batches: the tutorial's ``transform`` and ``DataLoader`` (:class:`LiteralBatches`), or
each split transformed once (:class:`SplitArrays`). Both yield (batch, 784) batches on ``ctx``:
``train(epoch)`` in :func:`epoch_order`, ``test()`` and ``train_eval()`` (training accuracy) in file order."""
import numpy as np
from mxnet import gluon, nd

from .idx import IdxImages
from .settings import NUM_INPUTS

EVAL_BATCH_SIZE = 10000  # accuracy does not depend on it; large batches mean few operations


# Defined in "The MNIST dataset"
def transform(data, label):
    """The tutorial's per-item transform: image to float32 in [0, 1], label to float32."""
    return data.astype(np.float32) / 255, label.astype(np.float32)


def dataset(images, labels, transform_fn=transform):
    """A ``gluon.data`` dataset whose items match ``gluon.data.vision.MNIST`` (with ``transform``)."""
    data = gluon.data.ArrayDataset(nd.array(images, dtype=np.uint8), labels)
    return data.transform(transform_fn) if transform_fn is not None else data


def to_ndarrays(images, labels, ctx, chunk=256):
    """A whole split through ``transform``, ``chunk`` images at a time into one (N, 784) float32
    NDArray on ``ctx`` (no full-size temporary; a streamed file never held whole), labels (N,)."""
    data, start = nd.empty((len(images), NUM_INPUTS), ctx=ctx, dtype=np.float32), 0
    chunks = images.chunks(chunk) if isinstance(images, IdxImages) else \
        (images[i:i + chunk] for i in range(0, len(images), chunk))
    for part in chunks:  # to the end: a streamed file is verified after its last chunk
        rows = transform(part, np.empty(0))[0].reshape((-1, NUM_INPUTS))  # in numpy: the same division
        data[start:start + len(part)]._sync_copyfrom(rows)  # straight into the view of those rows
        start += len(part)
    return data, nd.array(labels, ctx=ctx, dtype=np.float32)


def epoch_order(seed, epoch, n):
    """The training order of epoch ``epoch``: a permutation that depends on (seed, epoch) only."""
    return np.random.RandomState([seed, epoch]).permutation(n)


class _Batches:
    def __init__(self, splits, ctx, batch_size, seed):
        self.ctx, self.batch_size, self.seed = ctx, batch_size, seed
        self.num_train = len(splits.train[1])

    def num_batches(self):
        """Training batches per epoch."""
        return -(-self.num_train // self.batch_size)


class LiteralBatches(_Batches):
    """The tutorial's batches: ``DataLoader`` over MNIST-like items with the per-item ``transform``,
    the epoch's order given as its sampler (no global random state is touched)."""

    def __init__(self, splits, ctx, batch_size, seed):
        super().__init__(splits, ctx, batch_size, seed)
        self.mnist_train, self.mnist_test = dataset(*splits.train), dataset(*splits.test)

    def train(self, epoch):
        return self._on_ctx(self.mnist_train, epoch_order(self.seed, epoch, self.num_train).tolist())

    def test(self):
        return self._on_ctx(self.mnist_test)

    def train_eval(self):
        return self._on_ctx(self.mnist_train)

    def _on_ctx(self, items, order=None):
        for data, label in gluon.data.DataLoader(items, self.batch_size, sampler=order):
            yield data.as_in_context(self.ctx).reshape((-1, NUM_INPUTS)), label.as_in_context(self.ctx)


class SplitArrays(_Batches):
    """Each split transformed once into NDArrays on ``ctx``; each training batch gathered from the
    unshuffled arrays with ``take``, evaluation :data:`EVAL_BATCH_SIZE` rows at a time."""

    def __init__(self, splits, ctx, batch_size, seed):
        super().__init__(splits, ctx, batch_size, seed)
        self.train_arrays, self.test_arrays = to_ndarrays(*splits.train, ctx), to_ndarrays(*splits.test, ctx)

    def batch_rows(self, epoch):
        """The row indices of each of ``epoch``'s training batches (int64 NDArrays on ``ctx``)."""
        index = nd.array(epoch_order(self.seed, epoch, self.num_train), ctx=self.ctx, dtype=np.int64)
        return (index[start:start + self.batch_size] for start in range(0, self.num_train, self.batch_size))

    def train(self, epoch):
        data, label = self.train_arrays
        return ((data.take(rows), label.take(rows)) for rows in self.batch_rows(epoch))

    def test(self):
        return _slices(*self.test_arrays)

    def train_eval(self):
        return _slices(*self.train_arrays)


def _slices(data, label, size=EVAL_BATCH_SIZE):
    return ((data[i:i + size], label[i:i + size]) for i in range(0, data.shape[0], size))
