"""Arrays to batches: items like gluon's MNIST, the whole-split transform, the epoch order."""
import mxnet as mx
import numpy as np
from mxnet import gluon

from mxsoftmax.batches import dataset, epoch_order, to_ndarrays, transform

from conftest import random_splits


def test_items_look_like_gluon_mnist_items():
    images, labels = random_splits()["train"]
    ds = dataset(images[..., None], labels.astype(np.int32), transform_fn=None)
    image, label = ds[3]
    assert isinstance(image, mx.nd.NDArray) and image.shape == (28, 28, 1)
    assert image.dtype == np.uint8 and isinstance(label, np.int32)
    data, label = dataset(images[..., None], labels.astype(np.int32))[3]
    assert data.dtype == np.float32 and data.shape == (28, 28, 1)
    np.testing.assert_allclose(data.asnumpy()[..., 0], images[3] / 255., rtol=1e-6)
    assert label == np.float32(labels[3])


def test_whole_split_transform_equals_per_item_transform_for_any_chunk():
    images, labels = random_splits(n_train=50)["train"]
    for chunk in (7, 50, 1000):  # 50 = 7 * 7 + 1: the last chunk holds one image
        X, Y = to_ndarrays(images[..., None], labels.astype(np.int32), mx.cpu(), chunk=chunk)
        assert X.shape == (50, 784) and Y.shape == (50,)
        for i in range(50):
            x, y = transform(mx.nd.array(images[i][..., None], dtype=np.uint8), labels[i])
            assert np.array_equal(X[i].asnumpy(), x.reshape((-1,)).asnumpy())
            assert Y[i].asscalar() == y


def test_epoch_order_is_a_permutation_fixed_by_seed_and_epoch():
    order = epoch_order(7, 3, 50)
    assert sorted(order) == list(range(50))
    assert np.array_equal(order, epoch_order(7, 3, 50))
    assert not np.array_equal(order, epoch_order(7, 4, 50))
    assert not np.array_equal(order, epoch_order(8, 3, 50))
    state = np.random.get_state()[1].copy()
    epoch_order(1, 1, 10)
    assert np.array_equal(state, np.random.get_state()[1])  # numpy's global state untouched
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(np.arange(50)), 50, sampler=order.tolist())
    assert np.array_equal(next(iter(loader)).asnumpy(), order)
