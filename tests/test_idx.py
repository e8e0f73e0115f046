"""The idx reader: round trips, every validation message, and bounded memory for hostile files."""
import gzip
import os
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

from mxsoftmax import idx
from mxsoftmax.errors import InvalidInput

from conftest import random_splits, write_idx, write_split_dir


@pytest.mark.parametrize("gz, style", [(True, "-"), (False, ".")])
def test_folder_round_trips_gz_and_raw_in_both_naming_styles(tmp_path, gz, style):
    splits = random_splits()
    write_split_dir(tmp_path, splits, gz=gz, style=style)
    paths = idx.find_files(str(tmp_path))
    for split, (images, labels) in splits.items():
        for stream in (False, True):
            got = idx.read_split(paths[(split, "images")], paths[(split, "labels")], stream=stream)
            assert got[0].shape == (len(images), 28, 28, 1) and len(got[0]) == len(images)
            np.testing.assert_array_equal(np.asarray(got[0])[..., 0], images)
            np.testing.assert_array_equal(got[1], labels)
            assert got[1].dtype == np.int32


def test_gzip_is_told_by_content_not_by_name(tmp_path):
    images = np.arange(2 * 784).reshape(2, 28, 28) % 256
    raw_named_gz = tmp_path / "a-idx3-ubyte.gz"
    write_idx(tmp_path / "a-idx3-ubyte", images)
    os.rename(tmp_path / "a-idx3-ubyte", raw_named_gz)
    np.testing.assert_array_equal(idx.read_idx(str(raw_named_gz), "images"), images)


def _file(tmp_path, array=None, name="x-idx3-ubyte", **header):
    array = np.zeros((3, 28, 28), np.uint8) if array is None else array
    return write_idx(tmp_path / name, array, **header)


def _rewrite(path, change):
    raw = open(path, "rb").read()
    open(path, "wb").write(change(raw))
    return path


@pytest.mark.parametrize("case, fragment", [
    ("magic", "magic number 2049, not 2051"),
    ("size", "holds 14x28 images, not 28x28"),
    ("truncated", "its header promises"),
    ("padded", "its header promises"),
    ("short", "too short"),
    ("zero", "holds 0 images"),
    ("huge count", "holds 4294967295 images"),
    ("gzip truncated", "its header promises"),
    ("gzip damaged", "cannot be read"),
    ("gzip trailing data", "holds more than the"),
    ("gzip promises too much", "more than its"),
])
def test_image_file_validation_names_the_file_and_the_problem(tmp_path, case, fragment):
    images = np.zeros((3, 28, 28), np.uint8)
    if case == "magic":
        path = _file(tmp_path, magic=2049)
    elif case == "size":
        path = _file(tmp_path, np.zeros((3, 14, 28)))
    elif case in ("truncated", "padded", "short"):
        cut = {"truncated": lambda r: r[:-5], "padded": lambda r: r + b"\0", "short": lambda r: r[:6]}
        path = _rewrite(_file(tmp_path), cut[case])
    elif case == "zero":
        path = _file(tmp_path, np.zeros((0, 28, 28)))
    elif case == "huge count":
        path = _file(tmp_path, images, dims=(2 ** 32 - 1, 28, 28))
    elif case == "gzip truncated":
        path = _file(tmp_path, images[:1], name="x.gz", dims=(3, 28, 28))
    elif case == "gzip damaged":
        path = _rewrite(_file(tmp_path, np.arange(3 * 784).reshape(3, 28, 28) % 7, name="x.gz"),
                        lambda r: r[:len(r) // 2] + bytes([r[len(r) // 2] ^ 0xFF]) + r[len(r) // 2 + 1:])
    elif case == "gzip trailing data":
        path = _file(tmp_path, np.zeros((4, 28, 28)), name="x.gz", dims=(3, 28, 28))
    else:
        path = _file(tmp_path, images, name="x.gz", dims=(600000, 28, 28))
    with pytest.raises(idx.IdxError) as err:
        idx.read_idx(path, "images")
    assert str(err.value).startswith(path) and fragment in str(err.value)
    assert isinstance(err.value, InvalidInput) and isinstance(err.value, ValueError)


def test_labels_out_of_range_are_rejected(tmp_path):
    path = _file(tmp_path, np.array([1, 2, 10]), name="l-idx1-ubyte")
    with pytest.raises(idx.IdxError, match="has label 10; labels must be 0-9"):
        idx.read_idx(path, "labels")


def test_image_and_label_counts_must_agree(tmp_path):
    splits = random_splits()
    splits["test"] = (splits["test"][0], splits["test"][1][:-1])
    write_split_dir(tmp_path, splits)
    with pytest.raises(idx.IdxError, match="has 20 images but .* has 19 labels"):
        idx.read_split(*[str(tmp_path / n) for n in ("t10k-images-idx3-ubyte.gz",
                                                     "t10k-labels-idx1-ubyte.gz")])


def test_missing_file_and_missing_folder_are_named(tmp_path):
    write_split_dir(tmp_path, random_splits())
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(idx.IdxError, match="has no test-labels file"):
        idx.find_files(str(tmp_path))
    with pytest.raises(idx.IdxError, match="is not a folder"):
        idx.find_files(str(tmp_path / "nowhere"))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").mkdir()
    with pytest.raises(idx.IdxError, match="t10k-labels-idx1-ubyte.gz is a folder: the test-labels"):
        idx.find_files(str(tmp_path))
    os.rmdir(tmp_path / "t10k-labels-idx1-ubyte.gz")
    # Kaggle's layout: a folder of that name beside the file in the other naming style.
    (tmp_path / "t10k-labels-idx1-ubyte").mkdir()
    os.rename(tmp_path / "t10k-labels-idx1-ubyte", tmp_path / "t10k-labels-idx1-ubyte.gz")
    write_idx(tmp_path / "t10k-labels.idx1-ubyte", random_splits()["test"][1])
    assert idx.find_files(str(tmp_path))[("test", "labels")].endswith("t10k-labels.idx1-ubyte")
    os.remove(tmp_path / "t10k-labels.idx1-ubyte")
    os.rmdir(tmp_path / "t10k-labels-idx1-ubyte.gz")
    os.symlink(tmp_path / "gone", tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(idx.IdxError, match="is a link to nothing"):
        idx.find_files(str(tmp_path))


def test_a_cap_on_the_promised_size_refuses_before_reading(tmp_path):
    path = _file(tmp_path, np.zeros((3, 28, 28)))
    with pytest.raises(idx.IdxError, match="promises 2368 bytes of images, more than the 1000"):
        idx.read_idx(path, "images", max_bytes=1000)


BOMB = textwrap.dedent("""
    import resource, sys
    from mxsoftmax import idx
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        idx.read_idx(sys.argv[1], "images")
        print("accepted")
    except idx.IdxError as err:
        print("refused", err)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
""")


def test_a_gzip_bomb_costs_no_more_memory_than_its_header_promises(tmp_path):
    # A real MNIST header (10,000 images, 7.8 MB) followed by 256 MiB of zeros: 1 MB of gzip.
    path = str(tmp_path / "bomb-idx3-ubyte.gz")
    header = (2051).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (10000, 28, 28))
    with open(path, "wb") as raw:
        z = zlib.compressobj(1, zlib.DEFLATED, 31)
        raw.write(z.compress(header))
        block = bytes(1 << 24)
        for _ in range(16):
            raw.write(z.compress(block))
        raw.write(z.flush())
    assert os.path.getsize(path) < 4 << 20 and gzip.open(path).read(16) == header
    out = subprocess.run([sys.executable, "-c", BOMB, path], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0].startswith("refused %s holds more than the 7840016 bytes" % path), out
    assert int(out[1]) < 40, "the bomb cost %s MiB" % out[1]  # the 7.5 MiB array, not 256


def test_streamed_images_are_checked_when_read(tmp_path):
    images = np.arange(5 * 784).reshape(5, 28, 28) % 251
    path = write_idx(tmp_path / "i-idx3-ubyte.gz", images)
    digest = idx.file_digest(path, "images")
    streamed = idx.IdxImages(path, expected=digest)
    parts = [p.copy() for p in streamed.chunks(2)]
    assert [len(p) for p in parts] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(parts)[..., 0], images)
    wrong = idx.IdxImages(path, expected="0" * 64)
    with pytest.raises(idx.IdxError, match="does not match its known checksum"):
        list(wrong.chunks(2))
    with pytest.raises(idx.IdxError, match="does not match its known checksum"):
        np.asarray(wrong)
    padded = write_idx(tmp_path / "p-idx3-ubyte.gz", np.zeros((6, 28, 28)), dims=(5, 28, 28))
    lazy = idx.IdxImages(padded)  # the header is fine; the trailing image shows when read
    with pytest.raises(idx.IdxError, match="holds more than the"):
        list(lazy.chunks(2))
    with pytest.raises(idx.IdxError, match="magic number"):
        idx.IdxImages(write_idx(tmp_path / "l-idx1-ubyte", np.zeros(3)))


def test_known_files_must_match_their_digest(tmp_path):
    splits = random_splits()
    write_split_dir(tmp_path, splits)
    paths = [str(tmp_path / n) for n in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]
    good = {"images": (idx.file_digest(paths[0], "images"), 10 ** 6),
            "labels": (idx.file_digest(paths[1], "labels"), 10 ** 6)}
    idx.read_split(*paths, expected=good)
    for kind in ("images", "labels"):
        bad = dict(good, **{kind: ("f" * 64, 10 ** 6)})
        with pytest.raises(idx.IdxError, match="expected SHA-256 f{64} of its idx bytes"):
            idx.read_split(*paths, expected=bad)


def test_one_file_under_two_names_is_used_only_if_both_hold_the_same_bytes(tmp_path):
    splits = random_splits()
    write_split_dir(tmp_path, splits)
    raw = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(raw, splits["test"][0])  # the same images, not gzipped, beside the .gz
    np.testing.assert_array_equal(
        idx.read_idx(idx.find_files(str(tmp_path))[("test", "images")], "images"), splits["test"][0])
    write_idx(raw, splits["test"][0][::-1])  # other images under the raw name
    with pytest.raises(idx.IdxError) as err:
        idx.find_files(str(tmp_path))
    assert str(err.value) == (
        "%s and %s both hold the test-images file, with different contents: keep the one you mean "
        "and move the other away." % (tmp_path / "t10k-images-idx3-ubyte.gz", raw))
    raw.write_bytes(b"\x1f\x8b damaged")  # a damaged copy is named with its damage, not as a rival
    with pytest.raises(idx.IdxError) as err:
        idx.find_files(str(tmp_path))
    assert err.value.path == str(raw) and "different contents" not in str(err.value)
    assert str(err.value).endswith(": replace it with an intact copy.")


def test_errors_carry_the_file_and_the_problem_as_fields(tmp_path):
    path = _file(tmp_path, np.zeros((1, 28, 28)), name="x.gz", dims=(3, 28, 28))  # truncated gzip
    with pytest.raises(idx.IdxError) as err:
        idx.read_idx(path, "images")
    assert err.value.path == path and str(err.value) == "%s %s: %s." % (
        path, err.value.problem, err.value.advice)
    assert err.value.problem == "is 800 bytes but its header promises 2368 (3 images); the file " \
                                "is truncated or padded"
    good = _file(tmp_path, np.zeros((3, 28, 28)), name="g-idx3-ubyte")
    with pytest.raises(idx.IdxError) as err:
        idx.read_split(good, write_idx(tmp_path / "l-idx1-ubyte", np.zeros(3)),
                       {"images": ("0" * 64, 10 ** 6)})
    assert (err.value.path, err.value.expected) == (good, "0" * 64)
    assert err.value.found == idx.file_digest(good, "images")
