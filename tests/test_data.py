"""The idx reader, its validation messages, and MNIST-like items and batches."""
import gzip
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from mxsoftmax import UsageError
from mxsoftmax.data import (Loaders, batches, dataset, epoch_order, find_files, read_dir,
                            read_idx, to_ndarrays, transform)

from conftest import random_splits, write_idx, write_split_dir


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("style", ["-", "."])
def test_read_dir_round_trips_gz_and_raw_in_both_naming_styles(tmp_path, gz, style):
    splits = random_splits()
    write_split_dir(tmp_path, splits, gz=gz, style=style)
    got = read_dir(str(tmp_path))
    for split, (images, labels) in splits.items():
        assert got[split][0].shape == (len(images), 28, 28, 1)
        np.testing.assert_array_equal(got[split][0][..., 0], images)
        np.testing.assert_array_equal(got[split][1], labels)
        assert got[split][1].dtype == np.int32


def _one_file(tmp_path, array, name="x-idx3-ubyte", magic=None):
    return str(write_idx(tmp_path / name, array, magic))


@pytest.mark.parametrize("case, fragment", [
    ("magic", "magic number 2049, not 2051"),
    ("size", "holds 14x28 images, not 28x28"),
    ("truncated", "its header promises"),
    ("padded", "its header promises"),
    ("short", "too short"),
    ("gzip", "cannot be read"),
])
def test_image_file_validation_names_file_and_problem(tmp_path, case, fragment):
    images = np.zeros((3, 28, 28), np.uint8)
    if case == "magic":
        path = _one_file(tmp_path, images, magic=2049)
    elif case == "size":
        path = _one_file(tmp_path, np.zeros((3, 14, 28)))
    elif case in ("truncated", "padded", "short"):
        path = _one_file(tmp_path, images)
        raw = open(path, "rb").read()
        raw = {"truncated": raw[:-5], "padded": raw + b"\0", "short": raw[:6]}[case]
        open(path, "wb").write(raw)
    else:
        path = str(write_idx(tmp_path / "x-idx3-ubyte.gz", images))
        raw = open(path, "rb").read()
        open(path, "wb").write(raw[:len(raw) // 2])
    with pytest.raises(UsageError) as err:
        read_idx(path, "images")
    assert path in str(err.value) and fragment in str(err.value)


def test_labels_out_of_range_are_rejected(tmp_path):
    path = _one_file(tmp_path, np.array([1, 2, 10]), name="l-idx1-ubyte")
    with pytest.raises(UsageError, match="has label 10; labels must be 0-9"):
        read_idx(path, "labels")


def test_image_and_label_counts_must_agree(tmp_path):
    splits = random_splits()
    splits["test"] = (splits["test"][0], splits["test"][1][:-1])
    write_split_dir(tmp_path, splits)
    with pytest.raises(UsageError, match="has 20 images but .* has 19 labels"):
        read_dir(str(tmp_path))


def test_missing_file_and_missing_folder_are_named(tmp_path):
    write_split_dir(tmp_path, random_splits())
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(UsageError, match="has no test-labels file"):
        find_files(str(tmp_path))
    with pytest.raises(UsageError, match="is not a folder"):
        find_files(str(tmp_path / "nowhere"))


def test_items_look_like_gluon_mnist_items():
    images, labels = random_splits()["train"]
    ds = dataset(images[..., None], labels.astype(np.int32), transform_fn=None)
    image, label = ds[3]
    assert isinstance(image, mx.nd.NDArray) and image.shape == (28, 28, 1)
    assert image.dtype == np.uint8 and isinstance(label, np.int32)
    data, label = dataset(images[..., None], labels.astype(np.int32))[3]
    np.testing.assert_allclose(data.asnumpy()[..., 0], images[3] / 255., rtol=1e-6)
    assert label == np.float32(labels[3])


def test_whole_split_transform_equals_per_item_transform():
    images, labels = random_splits()["train"]
    X, Y = to_ndarrays(images[..., None], labels.astype(np.int32), mx.cpu())
    for i in (0, 17, 49):
        x, y = transform(mx.nd.array(images[i][..., None], dtype=np.uint8), labels[i])
        np.testing.assert_array_equal(X[i].asnumpy(), x.reshape((-1,)).asnumpy())
        assert Y[i].asscalar() == y


def test_epoch_order_is_what_dataloader_shuffle_draws():
    order = epoch_order(7, 3, 50)
    np.random.seed([7, 3])
    loader = gluon.data.DataLoader(gluon.data.ArrayDataset(np.arange(50)), 50, shuffle=True)
    np.testing.assert_array_equal(next(iter(loader)).asnumpy(), order)
    assert not np.array_equal(order, epoch_order(7, 4, 50))
    assert sorted(order) == list(range(50))


def test_batches_slice_in_order_and_cover_everything():
    data = mx.nd.arange(10).reshape((10, 1))
    got = [d.asnumpy().ravel().tolist() for d, _ in batches(data, mx.nd.arange(10), 4,
                                                             order=np.arange(10)[::-1])]
    assert got == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]


@pytest.mark.parametrize("loader", ["fast", "gluon"])
def test_loaders_give_the_same_batches_both_ways(loader):
    splits = {k: (v[0][..., None], v[1].astype(np.int32)) for k, v in random_splits().items()}
    ref = Loaders(splits, mx.cpu(), 8, seed=1, loader="fast")
    got = Loaders(splits, mx.cpu(), 8, seed=1, loader=loader)
    for (a, la), (b, lb) in zip(ref.train(2), got.train(2)):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
        np.testing.assert_array_equal(la.asnumpy(), lb.asnumpy())
    assert got.num_batches() == 7


def test_gzip_reader_reads_what_gzip_wrote(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    path = tmp_path / "l-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + labels.tobytes())
    np.testing.assert_array_equal(read_idx(str(path), "labels"), labels)
