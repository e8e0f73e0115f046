"""From arrays to batches: the tutorial's ``transform``, gluon datasets, and the two ways to batch.

Items look exactly like ``mx.gluon.data.vision.MNIST`` items -- a (28, 28, 1) uint8 image NDArray
and an int32 label -- so the tutorial's ``transform`` and ``DataLoader`` apply unchanged
(:class:`LiteralBatches`). :class:`SplitArrays` applies the same ``transform`` to a whole split
once and gathers each batch from one NDArray. Both visit the training examples of an epoch in
:func:`epoch_order`, a function of (seed, epoch) alone, and yield batches on ``ctx``, flattened to
(batch, 784).
"""
import numpy as np
from mxnet import gluon, nd

from .idx import IdxImages
from .settings import NUM_INPUTS

EVAL_BATCH_SIZE = 10000  # accuracy does not depend on it; large batches mean few operations


def transform(data, label):
    """The tutorial's per-item transform: image to float32 in [0, 1], label to float32."""
    return data.astype(np.float32) / 255, label.astype(np.float32)


def dataset(images, labels, transform_fn=transform):
    """A ``gluon.data`` dataset whose items match ``gluon.data.vision.MNIST`` (with ``transform``)."""
    data = gluon.data.ArrayDataset(nd.array(images, dtype=np.uint8), labels)
    return data.transform(transform_fn) if transform_fn is not None else data


def to_ndarrays(images, labels, ctx, chunk=256):
    """Apply the tutorial's ``transform`` to a whole split: (N, 784) float32 data, (N,) labels on ctx.

    The split goes through ``transform`` ``chunk`` images at a time into one preallocated array,
    so no full-size temporary is made beside the float32 result; images streamed from their
    file (:class:`mxsoftmax.idx.IdxImages`) are never held whole as uint8 either.
    """
    data = nd.empty((len(images), NUM_INPUTS), ctx=ctx, dtype=np.float32)
    chunks = (images.chunks(chunk) if isinstance(images, IdxImages) else
              (images[start:start + chunk] for start in range(0, len(images), chunk)))
    start, no_labels = 0, np.empty(0)
    for part in chunks:  # to the end: a streamed file is verified after its last chunk
        part, _ = transform(part, no_labels)  # on numpy: the same float32 division, no MXNet op
        # data[a:b] is a view of those rows: copy straight into it, no temporary NDArray
        data[start:start + len(part)]._sync_copyfrom(part.reshape((-1, NUM_INPUTS)))
        start += len(part)
    return data, nd.array(labels, ctx=ctx, dtype=np.float32)


def epoch_order(seed, epoch, n):
    """The training order of epoch ``epoch``: a permutation that depends on (seed, epoch) only."""
    return np.random.RandomState([seed, epoch]).permutation(n)


class LiteralBatches:
    """The tutorial's batches: ``DataLoader`` over MNIST-like items with the per-item ``transform``.

    The training order is handed to the ``DataLoader`` as its sampler, so no global random state
    is touched.
    """

    def __init__(self, splits, ctx, batch_size, seed):
        self.ctx, self.batch_size, self.seed = ctx, batch_size, seed
        self.mnist_train = dataset(*splits.train)
        self.mnist_test = dataset(*splits.test)
        self.num_train = len(self.mnist_train)
        self.test_data = gluon.data.DataLoader(self.mnist_test, batch_size, shuffle=False)
        self.train_eval_data = gluon.data.DataLoader(self.mnist_train, batch_size, shuffle=False)

    def num_batches(self):
        """Training batches per epoch."""
        return -(-self.num_train // self.batch_size)

    def train(self, epoch):
        """Training batches of ``epoch`` in :func:`epoch_order`."""
        order = epoch_order(self.seed, epoch, self.num_train).tolist()
        return self._on_ctx(gluon.data.DataLoader(self.mnist_train, self.batch_size, sampler=order))

    def test(self):
        """Test batches in file order."""
        return self._on_ctx(self.test_data)

    def train_eval(self):
        """Training batches in file order, for measuring training accuracy."""
        return self._on_ctx(self.train_eval_data)

    def _on_ctx(self, loader):
        for data, label in loader:
            yield data.as_in_context(self.ctx).reshape((-1, NUM_INPUTS)), label.as_in_context(self.ctx)


class SplitArrays:
    """Each split transformed once into NDArrays on ``ctx``; batches gathered with ``take``.

    ``train(epoch)`` gathers each shuffled batch from the unshuffled arrays, so no shuffled copy
    of the split is made; evaluation reads :data:`EVAL_BATCH_SIZE` rows at a time.
    """

    def __init__(self, splits, ctx, batch_size, seed):
        self.ctx, self.batch_size, self.seed = ctx, batch_size, seed
        self.train_arrays = to_ndarrays(*splits.train, ctx)
        self.test_arrays = to_ndarrays(*splits.test, ctx)
        self.num_train = self.train_arrays[0].shape[0]

    def num_batches(self):
        """Training batches per epoch."""
        return -(-self.num_train // self.batch_size)

    def order(self, epoch):
        """The row indices of ``epoch``'s training order, as an int64 NDArray on ``ctx``."""
        return nd.array(epoch_order(self.seed, epoch, self.num_train), ctx=self.ctx, dtype=np.int64)

    def batch_rows(self, epoch):
        """The row indices of each of ``epoch``'s training batches (int64 NDArrays on ``ctx``)."""
        index = self.order(epoch)
        for start in range(0, self.num_train, self.batch_size):
            yield index[start:start + self.batch_size]

    def train(self, epoch):
        """Training batches of ``epoch`` in :func:`epoch_order`."""
        data, label = self.train_arrays
        for rows in self.batch_rows(epoch):
            yield data.take(rows), label.take(rows)

    def test(self):
        """Test batches in file order."""
        return _slices(*self.test_arrays, EVAL_BATCH_SIZE)

    def train_eval(self):
        """Training batches in file order, for measuring training accuracy."""
        return _slices(*self.train_arrays, EVAL_BATCH_SIZE)


def _slices(data, label, size):
    for start in range(0, data.shape[0], size):
        yield data[start:start + size], label[start:start + size]
