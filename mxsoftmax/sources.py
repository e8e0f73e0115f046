"""Where the data comes from: your folder, Debian's package, gluon's cache, verified downloads.

Files from Debian, the cache or a download are used only when the SHA-256 of their idx bytes
matches the catalogue; files in a folder you name are validated by structure and recognised by
the same digests, so MNIST is never trained under Fashion-MNIST's class names or the reverse.
"""
import collections
import hashlib
import os
import re
import sys
from urllib.parse import urlsplit

import numpy as np
import requests
import urllib3
from mxnet import base
from mxnet.gluon.utils import _get_repo_url
from tqdm import tqdm

from . import catalog, idx
from .errors import InvalidInput, InvalidType
from .files import CannotWrite, FolderLock, atomic_write

TIMEOUT = (5, 30)  # seconds to connect, seconds between bytes
DIGEST = re.compile(r"[0-9a-f]{64}\Z")

Data = collections.namedtuple("Data", "train test dataset origin")
Data.__doc__ = """Both splits as numpy arrays (images (N, 28, 28, 1) uint8, labels (N,) int32),
the data set's name and where the files were read."""


class FetchError(Exception):
    """One download attempt failed; the message says why in a few words."""


class DatasetMismatch(InvalidInput):
    """A folder holds one known data set while another was asked for."""

    def __init__(self, folder, found, asked):
        super().__init__("%s holds %s (recognised by its checksums), not %s: ask for %s, or "
                         "for no data set in particular." % (folder, found, asked, found))
        self.folder, self.found, self.asked = folder, found, asked


class NoData(InvalidInput):
    """No verified copy of a data set is at hand and none could be downloaded."""

    def __init__(self, dataset, folder, bases):
        self.dataset, self.folder, self.bases = dataset, folder, [redact(b) for b in bases]
        super().__init__(self.explain("connect to the internet and try again, or use the four "
                                      "idx files you already have"))

    def with_ways(self, ways):
        """This error, its message ending with ``ways`` forward worded for where it is shown."""
        self.args = (self.explain(ways),)
        return self

    def explain(self, ways):
        """The message with ``ways`` forward worded for where it is shown (CLI, notebook...)."""
        return ("no verified %s data: %s does not hold the four files and none of the %d "
                "sources (%s) delivered them; %s." % (self.dataset, self.folder, len(self.bases),
                                                      ", ".join(self.bases), ways))


def fingerprint(data):
    """One SHA-256 of the four files' contents: two runs that have it trained on the same data.

    Streamed images use the digest their (complete) reading pass left; others are hashed here.
    """
    parts = []
    for images, labels in (data.train, data.test):
        streamed = isinstance(images, idx.IdxImages)
        if streamed and images.digest is None:
            np.asarray(images)  # one pass, which records the digest
        parts.append(images.digest if streamed else idx.digest_of(images[..., 0], "images"))
        parts.append(idx.digest_of(labels, "labels"))
    return hashlib.sha256(" ".join(parts).encode("ascii")).hexdigest()


def cache_dir(dataset):
    """Gluon's own cache folder for ``dataset``: ``$MXNET_HOME/datasets/<dataset>``."""
    return os.path.join(base.data_dir(), "datasets", dataset)


def debian_ready(dataset):
    """The folder of Debian's package for ``dataset`` when it is installed, else None."""
    folder = catalog.DATASETS[dataset]["debian_dir"]
    return folder if folder and os.path.isdir(folder) else None


def sources(dataset, mirrors=()):
    """Base URLs to try in order: the user's mirrors, MXNet's host, then the public mirrors.

    User mirrors come from ``mirrors`` and ``MXSOFTMAX_MIRRORS`` (comma-separated). MXNet's host
    honours ``MXNET_GLUON_REPO`` exactly as gluon does.
    """
    env = [m.strip() for m in os.environ.get("MXSOFTMAX_MIRRORS", "").split(",") if m.strip()]
    bases = list(mirrors) + env + [_get_repo_url() + "gluon/dataset/%s/" % dataset]
    bases += catalog.DATASETS[dataset]["mirrors"]
    return [b if b.endswith("/") else b + "/" for b in bases]


def check_url(url):
    """``url`` without surrounding spaces if it is an http(s) URL with a usable host name;
    InvalidInput if not."""
    if not isinstance(url, str):
        raise InvalidType("a URL is text, not %s." % type(url).__name__)
    url = url.strip()
    problem = _url_problem(url)
    if problem:
        raise InvalidInput("%s is not a usable URL (%s): give http(s)://host/path/."
                           % (redact(url), problem))
    return url


def check_source(url):
    """:func:`check_url` for a download source: a FetchError, so the next source is tried."""
    problem = _url_problem(url)
    if problem:
        raise FetchError("not a usable URL (%s)" % problem)
    return url


def _url_problem(url):
    """Why ``url`` cannot be fetched, in a few words that never quote its password, or None."""
    if not isinstance(url, str):
        return "a URL is text, not %s" % type(url).__name__
    if re.search(r"[\s\x00-\x1f\x7f]", url):
        return "it holds spaces or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "it cannot be parsed"
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not host:
        return "no host name"
    try:
        host.encode("idna")
    except UnicodeError:
        return "a part of the host name is empty or longer than 63 characters"
    try:
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return "the port is not a number from 0 to 65535 (or a password holds '/', '?' or '#')"
    return None


def redact(url):
    """``url`` with its user part, if any, replaced by ``***``, whatever its shape.

    Everything before the last ``@`` (after a scheme) is masked, not only what ``urlsplit`` calls
    the password: a password holding ``/``, ``?`` or ``#`` unencoded would otherwise be taken for
    the path, and a URL without ``//`` has no user part for ``urlsplit`` at all. Without an ``@``,
    a ``host:port`` whose port is not a number is a ``user:password`` cut short: masked too.
    """
    url = str(url)
    scheme, rest = re.match(r"(?s)\A([A-Za-z][A-Za-z0-9+.-]*:(?://?)?)?(.*)\Z", url).groups()
    scheme = scheme or ""
    if "@" in rest:
        return scheme + "***@" + rest.rsplit("@", 1)[1]
    authority, slash, path = rest.partition("/")
    if ":" in authority and not authority.rsplit(":", 1)[1].isdigit():
        return scheme + "***" + slash + path
    return url


def redact_text(text):
    """``text`` with :func:`redact` applied to each word that may hold a URL's user part."""
    def one(word):
        core = word.group(0).rstrip(".,;:")
        return redact(core) + word.group(0)[len(core):]
    return re.sub(r"[^\s'\"()]*(?::[^\s'\"()]*@|://)[^\s'\"()]*", one, str(text))


def fetch(url, folder, name, expected, timeout=TIMEOUT, progress=None):
    """Download ``url`` to ``folder/name`` only if its idx bytes match ``expected``.

    ``expected`` is (SHA-256 of the idx bytes, their size). The body goes to a temporary file
    in ``folder``, stops at the most bytes a gzip of that size can take, and is renamed into
    place only after verification. Raises FetchError when this source failed, WriteFailed or
    CannotWrite when the folder cannot take the file.
    """
    digest, size = expected
    limit = size + size // 1000 + 4096  # gzip of incompressible data grows by < 0.1%

    def write(tmp):
        with open(tmp, "wb") as out:
            _stream(url, out, limit, timeout, progress)
        found = _idx_digest(tmp, name, size)
        if found != digest:
            raise FetchError("checksum mismatch: expected SHA-256 %s of the idx bytes, got %s"
                             % (digest, found))
    atomic_write(os.path.join(folder, name), write)


def _idx_digest(path, name, size):
    """SHA-256 of the idx bytes of ``path`` (bounded by ``size``), or why it could not be read."""
    try:
        return idx.file_digest(path, "labels" if "labels" in name else "images", size)
    except idx.IdxError as err:
        return "an unreadable file (%s)" % str(err).replace(path, "it").split(": replace")[0]


def _stream(url, out, limit, timeout, progress):
    """Copy the body of ``url`` into ``out`` as sent (no content decoding), at most ``limit``."""
    try:
        with requests.get(url, stream=True, timeout=timeout,
                          headers={"Accept-Encoding": "identity"}) as r:
            if r.status_code != 200:
                raise FetchError("HTTP %d %s" % (r.status_code, r.reason or ""))
            total = _content_length(r.headers.get("Content-Length"))
            if total is not None and total < 0:
                raise FetchError("it sent a negative Content-Length (%d)" % total)
            if total is not None and total > limit:
                raise FetchError("it announces %d bytes, more than the %d this file can take"
                                 % (total, limit))
            got = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                      leave=False, disable=not _show_progress(progress), file=sys.stderr) as bar:
                for chunk in r.raw.stream(1 << 16, decode_content=False):
                    got += len(chunk)
                    if got > limit:
                        raise FetchError("it sent more than the %d bytes this file can take"
                                         % limit)
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and got < total:
                raise FetchError("truncated: got %d of %d bytes" % (got, total))
            if total is not None and got > total:
                raise FetchError("it sent %d bytes where its Content-Length said %d"
                                 % (got, total))
    except requests.Timeout:
        raise FetchError("timed out (connect %gs, read %gs)" % timeout) from None
    except requests.ConnectionError as err:
        raise FetchError("cannot connect (%s)" % _short(err)) from None
    except urllib3.exceptions.ProtocolError as err:  # reading the raw stream
        raise FetchError("truncated: the connection broke (%s)" % _short(err)) from None
    except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError,
            UnicodeError) as err:
        raise FetchError("request failed (%s)" % _short(err)) from None


def _content_length(value):
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def download(dataset, mirrors=(), folder=None, timeout=TIMEOUT, log=None, progress=None):
    """Make sure ``folder`` (default gluon's cache) holds the four verified files of ``dataset``.

    All four are checked before anything is written, and nothing is written when all are there.
    Each missing file is fetched from :func:`sources` in order; every failed attempt is logged in
    one line, and a source that cannot be reached is not asked again for later files. In gluon's
    cache a damaged file is replaced; in a folder of yours nothing that is not the expected file is
    (CannotWrite says what is there). Returns the folder; raises NoData naming what was tried.
    """
    files = catalog.DATASETS[check_dataset(dataset)]["files"]
    managed = not folder
    folder = str(folder or cache_dir(dataset))
    hint = ("set MXNET_HOME to a folder you can write to (gluon's cache is $MXNET_HOME/datasets)"
            if managed else "choose a folder you can write to")
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise CannotWrite("%s cannot hold the data (a file is in the way): %s." % (folder, hint))
    if not _missing(folder, files, managed):
        return folder
    log = log or (lambda line: print(redact_text(line), file=sys.stderr))
    bases, dead = sources(dataset, mirrors), set()
    lock = FolderLock(folder)
    try:
        lock.acquire()
    except CannotWrite as err:
        raise CannotWrite("%s: %s." % (str(err).split(": choose")[0], hint)) from None
    fetched = False
    try:
        lock.sweep({idx.standard_name(*key) for key in files}.__contains__)
        for key in _missing(folder, files, managed):  # again, under the lock
            _fetch_one(folder, key, files[key], bases, dead, timeout, log, progress, dataset)
            fetched = True
    finally:
        lock.release(discard=not fetched)
    return folder


def _missing(folder, files, replace_damaged):
    """The keys of the files ``folder`` lacks. Refuses (CannotWrite) what must not be replaced:
    a complete idx file of other data under any accepted name, or, unless ``replace_damaged``,
    anything under the standard name that is not the expected file."""
    missing = []
    for key, expected in files.items():
        have = False
        for name in idx.candidate_names(*key):
            path = os.path.join(folder, name)
            if not os.path.lexists(path):
                continue
            found = _idx_digest(path, name, None)  # a complete file of another size is other data
            if found == expected[0]:
                have = have or name == idx.standard_name(*key)
            elif DIGEST.match(found) or (name == idx.standard_name(*key) and not replace_damaged):
                owner = next((n for n, entry in catalog.DATASETS.items()
                              if entry["files"][key][0] == found), None)
                raise CannotWrite("%s already holds %s (%s): move it away or choose another "
                                  "folder, so that it is not replaced." % (
                                      folder, name, "%s's data" % owner if owner else
                                      "other idx data" if DIGEST.match(found) else
                                      "not the expected file"))
        if not have:
            missing.append(key)
    return missing


def _fetch_one(folder, key, expected, bases, dead, timeout, log, progress, dataset):
    """Fetch the file ``key`` from the first of ``bases`` that delivers it; NoData if none does."""
    name = idx.standard_name(*key)
    for base_url in bases:
        if base_url in dead:
            continue
        try:
            fetch(check_source(base_url) + name, folder, name, expected, timeout, progress)
            log("downloaded %s from %s" % (name, redact(base_url)))
            return
        except FetchError as err:
            log("could not use %s%s: %s" % (redact(base_url), name, err))
            if str(err).startswith(("cannot connect", "timed out", "not a usable URL")):
                dead.add(base_url)
    raise NoData(dataset, folder, bases)


def check_dataset(dataset):
    """``dataset`` if the catalogue knows it; InvalidInput naming the known ones if not."""
    if not isinstance(dataset, str) or dataset not in catalog.DATASETS:
        raise InvalidInput("%r is not a known data set: use one of %s."
                           % (dataset, ", ".join(catalog.NAMES)))
    return dataset


def read_verified(folder, dataset, stream=False):
    """Both splits from the standard-named files in ``folder``, each matched to the catalogue.

    With ``stream``, the training images are read (and verified) when they are used.
    """
    files = catalog.DATASETS[dataset]["files"]
    paths = {key: os.path.join(folder, idx.standard_name(*key)) for key in files}
    for path in paths.values():
        if not os.path.isfile(path):
            raise idx.IdxError("%s is missing." % path)
    return _read(paths, files, stream, dataset, folder)


def read_dir(data_dir, dataset=None, stream=False):
    """Both splits from the idx files in ``data_dir``, validated by structure.

    Label files that match a known data set's make the folder that data set (its images must
    then match too): asking for another raises DatasetMismatch. Unknown files are ``dataset``,
    or MNIST-style digits 0-9 when it is None.
    """
    paths = idx.find_files(data_dir)
    known = {split: catalog.identify(split, "labels", idx.file_digest(paths[(split, "labels")],
                                                                      "labels"))
             for split in idx.SPLITS}
    if len(set(known.values())) > 1:
        raise InvalidInput("%s mixes the files of different data sets (train: %s, test: %s): put "
                           "the four files of one data set together." % (
                               data_dir, known["train"] or "unknown", known["test"] or "unknown"))
    found = known["train"]
    if dataset and found and found != dataset:
        raise DatasetMismatch(data_dir, found, dataset)
    expected = catalog.DATASETS[found]["files"] if found else {}
    return _read(paths, expected, stream, found or dataset or "mnist", data_dir)


def _read(paths, expected, stream, dataset, origin):
    """The :class:`Data` of the four ``paths``, checked against ``expected`` (SHA-256, size)."""
    splits = {split: idx.read_split(
        paths[(split, "images")], paths[(split, "labels")],
        {kind: expected.get((split, kind)) for kind in ("images", "labels")},
        stream=stream and split == "train") for split in idx.SPLITS}
    return Data(splits["train"], splits["test"], dataset, origin)


def load_splits(dataset=None, data_dir=None, mirrors=(), log=None, progress=None, stream=False):
    """The train and test splits, from the first place that has them (a :class:`Data`).

    ``data_dir`` wins (see :func:`read_dir`). Otherwise ``dataset`` (default MNIST) comes from
    Debian's package when it has one, else from gluon's cache, downloading what is missing.
    With ``stream``, the training images are an :class:`idx.IdxImages`, read when used.
    """
    if dataset is not None:
        check_dataset(dataset)
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise InvalidType("load_splits takes data_dir as a path, not %s." % type(data_dir).__name__)
    if data_dir:
        return read_dir(data_dir, dataset, stream)
    dataset = dataset or "mnist"
    debian = debian_ready(dataset)
    if debian:
        return read_verified(debian, dataset, stream)
    try:
        return read_verified(cache_dir(dataset), dataset, stream)
    except idx.IdxError:
        pass  # a file is missing, damaged or unknown: download() replaces what is needed
    return read_verified(download(dataset, mirrors, log=log, progress=progress), dataset, stream)


def _show_progress(progress):
    return sys.stderr.isatty() if progress is None else progress


def _short(err):
    """The useful tail of a requests error, e.g. '[Errno 111] Connection refused'."""
    text = str(err)
    found = re.search(r"\[Errno [^\]]+\][^)'\"]*", text)
    if found:
        return found.group(0).strip()
    return text if len(text) < 120 else text[:117] + "..."
