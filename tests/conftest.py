"""Shared fixtures: idx files written by the tests, a Fashion-MNIST subset from Debian's package, a run
trained on it, and headless Chromium for the pages' browser tests."""
import contextlib
import gzip
import os
import shutil
import struct
import tempfile
import zlib

import numpy as np
import pytest

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def write_idx(path, array, magic=None, dims=None):
    """Write ``array`` (uint8) as an idx file, gzipped when ``path`` ends in .gz.

    ``magic`` and ``dims`` override the header, to write files that lie about their contents.
    """
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 2051 if array.ndim == 3 else 2049
    dims = array.shape if dims is None else dims
    raw = struct.pack(">I", magic) + struct.pack(">%dI" % len(dims), *dims) + array.tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(raw)
    return str(path)


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
    return str(folder)


def random_splits(n_train=50, n_test=20, seed=0):
    """Small random MNIST-shaped splits: uint8 images (N, 28, 28), labels 0-9."""
    rng = np.random.RandomState(seed)
    return {split: (rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8),
                    rng.randint(0, 10, size=n).astype(np.uint8))
            for split, n in (("train", n_train), ("test", n_test))}


def as_data(splits, dataset="mnist"):
    """``random_splits`` as the :class:`mxsoftmax.sources.Data` that ``load_splits`` returns."""
    from mxsoftmax.sources import Data
    pair = {k: (np.asarray(v[0]).reshape(-1, 28, 28, 1), np.asarray(v[1]).astype(np.int32))
            for k, v in splits.items()}
    return Data(pair["train"], pair["test"], dataset, None)


def png_header(width, height):
    """A PNG that declares ``width`` x ``height`` pixels and holds none: only the header is real."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.fixture(scope="session")
def fashion():
    """Fashion-MNIST from Debian's dataset-fashion-mnist (installed by .ci/setup), read once."""
    if not os.path.isdir(FASHION_DIR):
        pytest.skip("%s is missing: run 'apt-get install dataset-fashion-mnist' (.ci/setup does)"
                    % FASHION_DIR)
    from mxsoftmax import sources
    return sources.load_splits("fashion-mnist")


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST: the copy that ships with mxsoftmax, verified as it is read."""
    from mxsoftmax import sources
    return sources.load_splits("mnist")


@pytest.fixture(scope="session")
def fashion_subset(fashion):
    """The first 6,000 training and 1,000 test examples of Fashion-MNIST (a ``Data``)."""
    return fashion._replace(train=tuple(a[:6000] for a in fashion.train),
                            test=tuple(a[:1000] for a in fashion.test), origin=None)


@pytest.fixture(scope="session")
def fashion_subset_dir(tmp_path_factory, fashion_subset):
    """The subset written as a --data-dir folder of gzipped idx files."""
    folder = tmp_path_factory.mktemp("fashion-subset")
    return write_split_dir(folder, {"train": fashion_subset.train, "test": fashion_subset.test})


@pytest.fixture(scope="session")
def fashion_small_dir(tmp_path_factory, fashion_subset):
    """1,500 training and 500 test examples as a --data-dir folder: for runs through the
    tutorial's literal loop, whose cost grows with every example."""
    folder = tmp_path_factory.mktemp("fashion-small")
    return write_split_dir(folder, {"train": tuple(a[:1500] for a in fashion_subset.train),
                                    "test": tuple(a[:500] for a in fashion_subset.test)})


@pytest.fixture(scope="module")
def run_dir(fashion_subset_dir, tmp_path_factory):
    """A run trained for 2 epochs on the Fashion-MNIST subset, once for each test module."""
    from mxsoftmax import train
    out = str(tmp_path_factory.mktemp("run") / "run")
    assert train.main(["--dataset", "fashion-mnist", "--data-dir", fashion_subset_dir,
                       "--epochs", "2", "--quiet", "--no-pictures", "--out", out]) == 0
    return out


def request(port, method, path, body=None, headers=None, timeout=10):
    """One HTTP request to 127.0.0.1:``port`` (a draw server); returns (status, headers, body)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def chromium():
    """Selenium driving Debian's chromium through its chromedriver, offline, in a fresh profile."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail("%s missing: the browser test needs Debian's chromium and chromium-driver "
                    "(bash .ci/setup installs them)" % " and ".join(missing))
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install -e '.[test]' (bash .ci/setup does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900", "--user-data-dir=" + tempfile.mkdtemp(prefix="chromium-")):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def driver():
    """One headless Chromium for each test module that asks for it; its profile is removed after."""
    driver = chromium()
    yield driver
    profile = driver.capabilities.get("chrome", {}).get("userDataDir")
    driver.quit()
    if profile:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(autouse=True)
def default_signal_handlers():
    """A command that received a signal ignores further ones while it ends; in this process the
    next test (and the subprocesses it starts) gets Python's own handlers back."""
    import signal
    yield
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def rng():
    """Each test draws from its own seeded generator, whatever runs before it (or beside it)."""
    return np.random.RandomState(42)


def np_softmax(z):
    """Softmax of each row in numpy: the reference the model is compared with."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def one_hot(labels, n=10):
    return np.eye(n)[labels]


@contextlib.contextmanager
def held(folder):
    """The folder's lock, held by this process as another command would hold it."""
    from mxsoftmax import files
    lock = files.FolderLock(folder)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


def train(argv, capsys=None):
    """Run the train CLI in-process; returns (exit code, stdout, stderr)."""
    from mxsoftmax import train as train_cli
    code = train_cli.main(["--quiet"] + argv + (["--no-pictures"] if "--out" in argv else []))
    out = capsys.readouterr() if capsys else None
    return (code, out.out, out.err) if capsys else code


@pytest.fixture
def cli(capsys):
    """The one way the tests run a command line in-process:
    ``cli("train", "--epochs", "1")`` returns ``(exit code, stdout, stderr)``."""
    import importlib

    def run(command, *argv):
        main = importlib.import_module("mxsoftmax." + command).main
        try:
            code = main([str(a) for a in argv])
        except SystemExit as stop:
            code = stop.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run
