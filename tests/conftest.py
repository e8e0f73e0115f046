"""Shared fixtures: idx files written by the tests, and a Fashion-MNIST subset from Debian's package."""
import gzip
import os
import struct
import zlib

import numpy as np
import pytest

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def write_idx(path, array, magic=None):
    """Write ``array`` (uint8) as an idx file, gzipped when ``path`` ends in .gz."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 2051 if array.ndim == 3 else 2049
    raw = struct.pack(">I", magic) + struct.pack(">%dI" % array.ndim, *array.shape) + array.tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(raw)
    return path


def write_split_dir(folder, splits, gz=True, style="-"):
    """Write {'train': (images, labels), 'test': ...} as four idx files in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    stems = {"train": "train", "test": "t10k"}
    for split, (images, labels) in splits.items():
        suffix = ".gz" if gz else ""
        write_idx(os.path.join(folder, "%s-images%sidx3-ubyte%s" % (stems[split], style, suffix)),
                  np.asarray(images).reshape(-1, 28, 28))
        write_idx(os.path.join(folder, "%s-labels%sidx1-ubyte%s" % (stems[split], style, suffix)),
                  labels)
    return folder


def random_splits(n_train=50, n_test=20, seed=0):
    """Small random MNIST-shaped splits: uint8 images (N, 28, 28), labels 0-9."""
    rng = np.random.RandomState(seed)
    return {split: (rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8),
                    rng.randint(0, 10, size=n).astype(np.uint8))
            for split, n in (("train", n_train), ("test", n_test))}


def png_header(width, height):
    """A PNG that declares ``width`` x ``height`` pixels and holds none: only the header is real."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.fixture(scope="session")
def fashion_splits():
    """Fashion-MNIST from Debian's dataset-fashion-mnist (installed by .ci/run), read once."""
    from mxsoftmax import sources
    assert os.path.isdir(FASHION_DIR), (
        "%s is missing: run 'apt-get install dataset-fashion-mnist' (.ci/run does)" % FASHION_DIR)
    return sources.load_splits("fashion-mnist")


@pytest.fixture(scope="session")
def fashion_subset(fashion_splits):
    """The first 6,000 training and 1,000 test examples, as numpy (images (N,28,28,1), labels)."""
    return {"train": tuple(a[:6000] for a in fashion_splits["train"]),
            "test": tuple(a[:1000] for a in fashion_splits["test"])}


@pytest.fixture(scope="session")
def fashion_subset_dir(tmp_path_factory, fashion_subset):
    """The subset written as a --data-dir folder of gzipped idx files."""
    folder = tmp_path_factory.mktemp("fashion-subset")
    return str(write_split_dir(folder, {k: (v[0], v[1]) for k, v in fashion_subset.items()}))
