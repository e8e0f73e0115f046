"""Where the data comes from: local folders, gluon's cache, Debian's package, verified downloads.

Every downloaded or cached file is checked against the checksums known for it before it is used.
The same images exist as different ``.gz`` byte streams (gluon's host, the original MNIST files,
Debian's repack), so each file keeps several known checksums and a match with any one is enough:
SHA-1 and MD5 of the ``.gz`` bytes, or SHA-256 of the decompressed idx bytes.
"""
import gzip
import hashlib
import os
import re
import sys
import zlib

import requests
from mxnet import base
from mxnet.gluon.utils import _get_repo_url
from tqdm import tqdm

from . import UsageError
from .files import atomic_write
from .data import FILES, read_dir, read_split, standard_name

DEBIAN_DIRS = {"fashion-mnist": "/usr/share/datasets/fashion-mnist"}
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
# (algorithm, hex digest, over): over "gz" hashes the file as stored, "idx" the decompressed bytes.
KNOWN = {
    "mnist": {
        "train-images-idx3-ubyte.gz": [
            ("sha1", "6c95f4b05d2bf285e1bfb0e7960c31bd3b3f8a7d", "gz"),  # gluon's copy
            ("md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "gz")],  # the original file
        "train-labels-idx1-ubyte.gz": [
            ("sha1", "2a80914081dc54586dbdf242f9805a6b8d2a15fc", "gz"),
            ("md5", "d53e105ee54ea40749a09fcbcd1e9432", "gz")],
        "t10k-images-idx3-ubyte.gz": [
            ("sha1", "c3a25af1f52dad7f726cce8cacb138654b760d48", "gz"),
            ("md5", "9fb629c4189551a2d022fa330f9573f3", "gz")],
        "t10k-labels-idx1-ubyte.gz": [
            ("sha1", "763e7fa3757d93b0cdec073cef058b2004252c17", "gz"),
            ("md5", "ec29112dd5afa0611ce80d1b7f02629c", "gz")],
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": [
            ("sha1", "0cf37b0d40ed5169c6b3aba31069a9770ac9043d", "gz"),
            ("sha256", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", "idx")],
        "train-labels-idx1-ubyte.gz": [
            ("sha1", "236021d52f1e40852b06a4c3008d8de8aef1e40b", "gz"),
            ("sha256", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", "idx")],
        "t10k-images-idx3-ubyte.gz": [
            ("sha1", "626ed6a7c06dd17c0eec72fa3be1740f146a2863", "gz"),
            ("sha256", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", "idx")],
        "t10k-labels-idx1-ubyte.gz": [
            ("sha1", "17f9ab60e7257a1620f4ad76bbbaf857c3920701", "gz"),
            ("sha256", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", "idx")],
    },
}
TIMEOUT = (5, 30)  # seconds to connect, seconds between bytes


class FetchError(Exception):
    """One download attempt failed; the message says why in a few words."""


def cache_dir(dataset):
    """Gluon's own cache folder for ``dataset``: ``$MXNET_HOME/datasets/<dataset>``."""
    return os.path.join(base.data_dir(), "datasets", dataset)


def sources(dataset, mirrors=()):
    """Base URLs to try in order: the user's mirrors, MXNet's host, then the public mirrors.

    User mirrors come from ``mirrors`` (``--mirror``) and ``MXSOFTMAX_MIRRORS`` (comma-separated).
    MXNet's host honours ``MXNET_GLUON_REPO`` exactly as gluon does.
    """
    env = [m.strip() for m in os.environ.get("MXSOFTMAX_MIRRORS", "").split(",") if m.strip()]
    bases = list(mirrors) + env + [_get_repo_url() + "gluon/dataset/%s/" % dataset]
    bases += MIRRORS[dataset]
    return [b if b.endswith("/") else b + "/" for b in bases]


def digests(path):
    """All digests the checksum table may name for ``path``, and the decompressed bytes.

    Returns ``({(algorithm, over): hex}, idx_bytes)``; ``idx_bytes`` is None for a file that is
    not a gzip stream (it can still match nothing, which is reported).
    """
    with open(path, "rb") as f:
        stored = f.read()
    found = {(algo, "gz"): hashlib.new(algo, stored).hexdigest() for algo in ("sha1", "md5")}
    try:
        raw = gzip.decompress(stored)
    except (OSError, EOFError, zlib.error):
        return found, None
    found[("sha256", "idx")] = hashlib.sha256(raw).hexdigest()
    return found, raw


def matches(path, known):
    """True when ``path`` matches any of the ``known`` checksums [(algorithm, hex, over)]."""
    return _matches(digests(path)[0], known)


def _matches(found, known):
    return any(found.get((algo, over)) == digest for algo, digest, over in known)


def verified_bytes(path, known):
    """The decompressed idx bytes of ``path`` once it matched ``known``; UsageError if it did not."""
    if not os.path.isfile(path):
        raise UsageError("%s is missing: reinstall the package that provides %s, or pass "
                         "--data-dir DIR." % (path, os.path.dirname(path)))
    found, raw = digests(path)
    if not _matches(found, known) or raw is None:
        raise UsageError("%s does not match its known checksums (%s): reinstall it, or pass "
                         "--data-dir DIR to use your own files."
                         % (path, _mismatch(found, known)))
    return raw


def _mismatch(found, known):
    """'checksum mismatch: expected ...; got ...' for digests that matched none of ``known``."""
    expected = ", ".join("%s %s" % (algo, digest) for algo, digest, _ in known)
    actual = ", ".join("%s %s" % (algo, found.get((algo, over), "(not gzip)"))
                       for algo, _, over in known)
    return "checksum mismatch: expected %s; got %s" % (expected, actual)


def fetch(url, folder, name, known, timeout=TIMEOUT, progress=None):
    """Download ``url`` to ``folder/name`` only if it matches ``known``; raise FetchError if not.

    The bytes go to a temporary file in ``folder`` that is renamed into place after
    verification, so an interrupted or bad download never leaves a complete-looking file.
    """
    def write(tmp):
        with open(tmp, "wb") as out:
            _stream(url, out, timeout, progress)
        found, _ = digests(tmp)
        if not _matches(found, known):
            raise FetchError(_mismatch(found, known))
    os.makedirs(folder, exist_ok=True)
    atomic_write(os.path.join(folder, name), write)


def _stream(url, out, timeout, progress):
    """Copy the body of ``url`` into ``out``, checking status, timeouts and the promised length."""
    try:
        with requests.get(url, stream=True, timeout=timeout) as r:
            if r.status_code != 200:
                raise FetchError("HTTP %d %s" % (r.status_code, r.reason or ""))
            total = int(r.headers.get("Content-Length") or 0) or None
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                       leave=False, disable=not _show_progress(progress), file=sys.stderr)
            got = 0
            with bar:
                for chunk in r.iter_content(chunk_size=1 << 16):
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            if total is not None and got != total:
                raise FetchError("truncated: got %d of %d bytes" % (got, total))
    except requests.Timeout:
        raise FetchError("timed out (connect %gs, read %gs)" % timeout) from None
    except requests.ConnectionError as err:
        raise FetchError("cannot connect (%s)" % _short(err)) from None
    except requests.RequestException as err:
        raise FetchError("request failed (%s)" % _short(err)) from None


def download(dataset, mirrors=(), folder=None, known=None, timeout=TIMEOUT, log=None,
             progress=None):
    """Make sure ``folder`` (default gluon's cache) holds the four verified files of ``dataset``.

    Each missing or unverified file is fetched from :func:`sources` in order; every failed attempt
    is logged in one line. A source that cannot be reached is not asked again for later files.
    Returns the folder; raises UsageError naming what was tried when a file cannot be had.
    """
    folder = folder or cache_dir(dataset)
    known = KNOWN[dataset] if known is None else known
    log = log or (lambda line: print(line, file=sys.stderr))
    bases, dead = sources(dataset, mirrors), set()
    for key in FILES:
        name = standard_name(*key)
        path = os.path.join(folder, name)
        if os.path.isfile(path) and matches(path, known[name]):
            continue
        for base_url in bases:
            if base_url in dead:
                continue
            try:
                fetch(base_url + name, folder, name, known[name], timeout, progress)
                log("downloaded %s from %s" % (name, base_url))
                break
            except FetchError as err:
                log("could not use %s%s: %s" % (base_url, name, err))
                if str(err).startswith(("cannot connect", "timed out")):
                    dead.add(base_url)
        else:
            raise UsageError(no_data_message(dataset, folder, bases))
    return folder


def no_data_message(dataset, folder, bases):
    """The one sentence for 'no data and no download': where we looked and three ways forward."""
    return ("no verified %s data: %s does not hold the four files and none of the %d sources "
            "(%s) delivered them; connect to the internet and run again, or pass --data-dir DIR "
            "with the four MNIST-format idx files, or run 'apt-get install dataset-fashion-mnist' "
            "and use --dataset fashion-mnist" % (dataset, folder, len(bases), ", ".join(bases)))


def load_splits(dataset="mnist", data_dir=None, mirrors=(), log=None, progress=None):
    """The train and test splits of ``dataset`` as numpy arrays, from the first place that has them.

    ``data_dir`` wins (validated structurally; a user's own files need no known checksum). For
    Fashion-MNIST, Debian's package is next, verified by decompressed SHA-256. Otherwise gluon's
    cache, downloading into it what is missing.
    """
    if data_dir:
        return read_dir(data_dir)
    debian = DEBIAN_DIRS.get(dataset)
    if debian and os.path.isdir(debian):
        return read_verified(debian, KNOWN[dataset])
    try:
        return read_verified(cache_dir(dataset), KNOWN[dataset])  # one hashing pass when cached
    except UsageError:
        pass  # a file is missing or matches nothing: download() fetches what is needed
    return read_verified(download(dataset, mirrors, log=log, progress=progress), KNOWN[dataset])


def read_verified(folder, known):
    """Read the four standard-named files in ``folder``, each checked against ``known`` first."""
    def read(path):
        return verified_bytes(path, known[os.path.basename(path)])
    return {split: read_split(os.path.join(folder, standard_name(split, "images")),
                              os.path.join(folder, standard_name(split, "labels")), read)
            for split in ("train", "test")}


def _show_progress(progress):
    return sys.stderr.isatty() if progress is None else progress


def _short(err):
    """The useful tail of a requests error, e.g. '[Errno 111] Connection refused'."""
    text = str(err)
    found = re.search(r"\[Errno [^\]]+\][^)'\"]*", text)
    if found:
        return found.group(0).strip()
    return text if len(text) < 120 else text[:117] + "..."
