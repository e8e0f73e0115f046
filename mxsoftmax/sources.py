"""Where the data comes from: your folder, the copy shipped with mxsoftmax, Debian's package,
gluon's cache, verified downloads.

What mxsoftmax ships, finds in Debian's package, caches or downloads is used only when the
SHA-256 of its idx bytes matches the catalogue. Files in a folder you name are validated by
structure and recognised by the same digests: label files of a known data set make the folder
that data set, so MNIST is never trained under Fashion-MNIST's class names or the reverse, and
images that differ from its published ones (a variant, such as MNIST-C) are used as given, said
in one line.
"""
import collections
import hashlib
import http.client
import os
import re
import socket
import ssl
import sys
import threading
from urllib.parse import urlsplit

import numpy as np
import requests
import urllib3
from mxnet import base
from mxnet.gluon.utils import _get_repo_url
from tqdm import tqdm

from . import catalog, idx
from .errors import (DatasetMismatch, FetchError, InvalidInput, InvalidType, NoData, reason,
                     translated)
from .files import CannotWrite, FolderLock, NotRegular, atomic_write, make_dirs, read_regular

try:
    from importlib.resources import files as _package_files
except ImportError:  # Python 3.8
    _package_files = None

TIMEOUT = (5, 30)  # seconds to connect, seconds between bytes
DEADLINE = (30, 50000)  # a whole transfer: 30 seconds, plus one for every 50 KB the file may take
# What a download may raise, each wrapping the one below (requests, urllib3, http.client, socket)
REQUEST_FAILURES = (requests.RequestException, urllib3.exceptions.HTTPError,
                    http.client.HTTPException, ValueError, UnicodeError)
VARIABLES = {  # the environment variables that name download sources, and what they hold
    "MXSOFTMAX_MIRRORS": "comma-separated http(s)://host/path/ URLs",
    "MXNET_GLUON_REPO": "the http(s)://host/path/ of a repository laid out as gluon's",
}

Data = collections.namedtuple("Data", "train test dataset origin")
Data.__doc__ = """Both splits as numpy arrays (images (N, 28, 28, 1) uint8, labels (N,) int32),
the data set's name and where the files were read."""


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


def shipped_dir(dataset):
    """The folder inside the installed mxsoftmax package that holds its copy of ``dataset``, or
    None when mxsoftmax ships none. Found through the package's resources, so an installed wheel
    finds its own copy as a source checkout does."""
    shipped = catalog.DATASETS[dataset]["shipped"]
    if not shipped:
        return None
    root = _package_files(__package__) if _package_files else os.path.dirname(__file__)
    return os.path.join(str(root), *shipped["folder"])


def shipped_ready(dataset, log):
    """:func:`shipped_dir` when its four files are the exact ``.gz`` bytes mxsoftmax shipped, else
    None; a copy that is damaged or incomplete (an edited or half-deleted install) is said in one
    line to ``log``, and the data comes from elsewhere."""
    folder = shipped_dir(dataset)
    if not folder:
        return None
    for key, (digest, size) in catalog.DATASETS[dataset]["shipped"]["files"].items():
        path = os.path.join(folder, idx.standard_name(*key))
        try:
            data = read_regular(path, size)
        except (OSError, NotRegular):
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            log("the %s copy shipped with mxsoftmax is damaged: %s is not the file it shipped "
                "(reinstall mxsoftmax to mend it); using gluon's cache or a download instead"
                % (catalog.DATASETS[dataset]["title"], path))
            return None
    return folder


def sources(dataset, mirrors=()):
    """Base URLs to try in order: the user's mirrors, MXNet's host, then the public mirrors.

    User mirrors come from ``mirrors`` and ``MXSOFTMAX_MIRRORS`` (comma-separated). MXNet's host
    honours ``MXNET_GLUON_REPO`` as gluon does. Every URL a user gave is checked here, once:
    one that cannot be fetched (empty, a line break, no host...) is InvalidInput naming the
    variable that holds it.
    """
    bases = [check_url(m) for m in mirrors]
    if "MXSOFTMAX_MIRRORS" in os.environ:
        bases += [check_url(m, "MXSOFTMAX_MIRRORS")
                  for m in os.environ["MXSOFTMAX_MIRRORS"].split(",")]
    if "MXNET_GLUON_REPO" in os.environ:
        check_url(os.environ["MXNET_GLUON_REPO"], "MXNET_GLUON_REPO")
    bases += [_get_repo_url() + "gluon/dataset/%s/" % dataset]
    bases += catalog.DATASETS[dataset]["mirrors"]
    return [b if b.endswith("/") else b + "/" for b in bases]


def check_url(url, variable=None):
    """``url`` without surrounding spaces if it is an http(s) URL with a usable host name;
    InvalidInput if not, naming the environment ``variable`` that held it, if any (a variable's
    line breaks are never trimmed away: they are refused)."""
    if not isinstance(url, str):
        raise InvalidType("a URL is text, not %s." % type(url).__name__)
    url = url.strip(" \t") if variable else url.strip()
    problem = _url_problem(url)
    if not problem:
        return url
    if not variable:
        raise InvalidInput("%s is not a usable URL (%s): give http(s)://host/path/."
                           % (_shown(url), problem))
    what = ("holds an empty URL" if not url else
            "holds %s, which is not a usable URL (%s)" % (_shown(url), problem))
    raise InvalidInput("%s %s: give %s, or unset it." % (variable, what, VARIABLES[variable]))


def _url_problem(url):
    """Why ``url`` cannot be fetched, in a few words that never quote its password, or None."""
    if not url:
        return "it is empty"
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
    """``url`` with its user part, if it has one, replaced by ``***``; any other text unchanged.

    Everything before the last ``@`` is masked, not only what ``urlsplit`` calls the password: a
    password holding ``/``, ``?`` or ``#`` unencoded would otherwise be taken for the path, and a
    URL without ``//`` has no user part for ``urlsplit`` at all. Without an ``@``, only a URL that
    starts with a scheme and whose port is not a number is masked (``http://user:pass`` cut short
    by a comma); text that is no URL, such as ``http(s)://host/path/``, is left as it is.
    """
    url = str(url)
    scheme, rest = re.match(r"(?s)\A([A-Za-z][A-Za-z0-9+.-]*:(?://?)?)?(.*)\Z", url).groups()
    scheme = scheme or ""
    if "@" in rest:
        return scheme + "***@" + rest.rsplit("@", 1)[1]
    if not scheme:
        return url
    authority, slash, path = re.match(r"(?s)([^/?#]*)(.?)(.*)", rest).groups()
    port = authority.rpartition("]")[2]  # an IPv6 address [::1] holds colons of its own
    if ":" in port and port.rsplit(":", 1)[1] and not port.rsplit(":", 1)[1].isdigit():
        return scheme + "***" + slash + path
    return url


def redact_text(text):
    """``text`` with :func:`redact` applied to each word that may hold a URL's user part."""
    def one(word):
        core = word.group(0).rstrip(".,;:")
        return redact(core) + word.group(0)[len(core):]
    return re.sub(r"[^\s'\"()]*(?::[^\s'\"()]*@|://)[^\s'\"()]*", one, str(text))


def _shown(url):
    """``url`` as it may be printed: redacted, its line breaks and control characters escaped."""
    return _printable(redact(url))


def _printable(text):
    """``text`` with every character that is not printable (a line break, an escape sequence, a
    byte that was not UTF-8) written as its Python escape."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text))


def fetch(url, folder, key, expected, timeout=TIMEOUT, progress=None, deadline=DEADLINE):
    """Download ``url`` to the standard name of file ``key`` in ``folder`` only if its idx bytes
    match ``expected``.

    ``expected`` is (SHA-256 of the idx bytes, their size). The body goes to a temporary file
    in ``folder``, stops at the most bytes a gzip of that size can take, and is renamed into
    place only after verification. The whole transfer must end within ``deadline`` (seconds,
    plus one per bytes-per-second of the most it may take). Raises FetchError when this source
    failed, WriteFailed or CannotWrite when the folder cannot take the file.
    """
    digest, size = expected
    limit = size + size // 1000 + 4096  # gzip of incompressible data grows by < 0.1%

    def write(tmp):
        with open(tmp, "wb") as out:
            _stream_within(deadline[0] + limit / deadline[1], url, out, limit, timeout, progress)
        with translated(idx.IdxError, lambda err: FetchError("the file it sent %s" % err.problem)):
            found = idx.file_digest(tmp, key[1], size)
        if found != digest:
            raise FetchError("checksum mismatch: expected SHA-256 %s of the idx bytes, got %s"
                             % (digest, found))
    atomic_write(os.path.join(folder, idx.standard_name(*key)), write)


def _stream_within(seconds, url, out, limit, timeout, progress):
    """:func:`_stream`, given up after ``seconds`` (FetchError): it runs in a thread of its own,
    so no server can hold it longer, however slowly it sends its header or its body."""
    stop, failed = threading.Event(), []

    def work():
        try:
            _stream(url, out, limit, timeout, progress, stop)
        except BaseException as err:  # handed to the waiting thread, which raises it
            failed.append(err)
    worker = threading.Thread(target=work, name="mxsoftmax download", daemon=True)
    worker.start()
    try:
        worker.join(seconds)
    finally:
        stop.set()  # the worker stops at its next chunk, if it is still reading
    if worker.is_alive():
        raise FetchError("too slow: not done after %.3g s, the most this file may take" % seconds,
                         dead=True)
    if failed:
        raise failed[0]


def _stream(url, out, limit, timeout, progress, stop):
    """Copy the body of ``url`` into ``out`` as sent (no content decoding), at most ``limit``
    bytes, until ``stop`` is set. Raises FetchError naming the cause of a failure."""
    with translated(REQUEST_FAILURES, lambda err: _failure(err, timeout)):
        with requests.get(url, stream=True, timeout=timeout,
                          headers={"Accept-Encoding": "identity"}) as r:
            total = _check_answer(r, limit)
            read = getattr(r.raw, "read1", None) or r.raw.read  # read1: whatever has arrived
            got = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                      leave=False, disable=not _show_progress(progress), file=sys.stderr) as bar:
                while not stop.is_set():
                    chunk = read(1 << 16, decode_content=False)
                    if not chunk:
                        break
                    if not got and chunk.lstrip()[:1] == b"<":
                        raise FetchError("it sent a web page (text starting with '<') instead "
                                         "of the file: is this the folder holding the files?")
                    got += len(chunk)
                    if got > limit:
                        raise FetchError("it sent more than the %d bytes this file can take"
                                         % limit)
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and got < total and not stop.is_set():
                raise FetchError("truncated: got %d of %d bytes" % (got, total))
            if total is not None and got > total:
                raise FetchError("it sent %d bytes where its Content-Length said %d"
                                 % (got, total))


def _check_answer(r, limit):
    """The Content-Length of the answer ``r`` (None if it has none) after checking that it can
    be the file: status 200, not an HTML page, no more than ``limit`` bytes announced."""
    if r.status_code != 200:
        raise FetchError("HTTP %d %s" % (r.status_code, _plain(r.reason or "")))
    kind = r.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        raise FetchError("it sent an HTML page (Content-Type %s) instead of the file: is this the "
                         "folder holding the files?" % kind)
    try:
        total = int(r.headers["Content-Length"])
    except (KeyError, ValueError):
        return None
    if total < 0:
        raise FetchError("it sent a negative Content-Length (%d)" % total)
    if total > limit:
        raise FetchError("it announces %d bytes, more than the %d this file can take"
                         % (total, limit))
    return total


def _failure(err, timeout):
    """The FetchError for a request that failed with ``err`` (one of :data:`REQUEST_FAILURES`),
    naming the true cause from the exceptions it wraps (requests wraps urllib3's, which wrap
    http.client's and the socket's); ``timeout`` is the request's (connect, read) seconds."""
    if isinstance(err, requests.Timeout):
        return FetchError("timed out (connect %gs, read %gs)" % timeout, dead=True)
    causes = _causes(err)

    def first(kind):
        return next((cause for cause in causes if isinstance(cause, kind)), None)
    if first(http.client.LineTooLong):
        return FetchError("oversized header: a line of its answer is longer than the %d bytes "
                          "http.client reads" % http.client._MAXLINE, dead=True)
    if any(type(cause) is http.client.HTTPException for cause in causes):  # "got more than 100"
        return FetchError("oversized header: its answer has more than the %d header lines "
                          "http.client reads" % http.client._MAXHEADERS, dead=True)
    if first(http.client.RemoteDisconnected):
        return FetchError("it closed the connection without answering", dead=True)
    if first(http.client.BadStatusLine):
        return FetchError("its answer is not HTTP", dead=True)
    if first(requests.TooManyRedirects):
        return FetchError("too many redirects", dead=True)
    tls = first(ssl.SSLError)
    if tls:
        return FetchError("TLS failed (%s)" % _plain(getattr(tls, "verify_message", None)
                                                     or tls.reason or reason(tls)), dead=True)
    if first(socket.gaierror):
        return FetchError("cannot find the host (%s)" % reason(first(socket.gaierror)), dead=True)
    os_error = next((c for c in causes if isinstance(c, OSError) and c.errno), None)
    if isinstance(err, urllib3.exceptions.HTTPError):  # while reading the body
        return FetchError("truncated: the connection broke (%s)"
                          % (reason(os_error) if os_error else type(causes[-1]).__name__))
    if isinstance(err, requests.ConnectionError):
        return FetchError("cannot connect (%s)" % (reason(os_error) if os_error else
                                                   type(causes[-1]).__name__), dead=True)
    return FetchError("request failed (%s: %s)" % (type(err).__name__, _plain(reason(err))))


def _causes(err):
    """``err`` and every exception it wraps (arguments, ``reason``, cause, context), outer ones
    first: the facts a failure carries, found without reading its message."""
    found, queue = [], [err]
    while queue:
        cause = queue.pop(0)
        if any(cause is seen for seen in found):
            continue
        found.append(cause)
        queue += [inner for inner in cause.args + (getattr(cause, "reason", None),
                                                   cause.__cause__, cause.__context__)
                  if isinstance(inner, BaseException)]
    return found


def _plain(text, most=120):
    """Text a server sent, safe to print: control characters escaped, at most ``most`` long."""
    text = _printable(text)
    return text if len(text) <= most else text[:most - 3] + "..."


def download(dataset, mirrors=(), folder=None, timeout=TIMEOUT, log=None, progress=None,
             deadline=DEADLINE):
    """Make sure ``folder`` (default gluon's cache) holds the four verified files of ``dataset``.

    All four are checked before anything is written, and nothing is written when all are there
    (in a folder of yours, under any accepted name, raw or gzipped). Each missing file is
    fetched from :func:`sources` in order, within ``timeout`` and ``deadline`` (see
    :func:`fetch`); every failed attempt is logged in one line, and a source that cannot serve
    at all is not asked again for later files. In gluon's cache a damaged file is replaced; in a
    folder of yours nothing that is not the expected file is (CannotWrite says what is there).
    The folder is locked while files are written, and left without the lock file. Returns the
    folder; raises NoData naming what was tried.
    """
    files = catalog.DATASETS[check_dataset(dataset)]["files"]
    managed = not folder
    folder = str(folder or cache_dir(dataset))
    if not _missing(folder, files, managed):
        return folder
    log = log or _stderr
    bases, dead = sources(dataset, mirrors), set()
    created, lock = [], FolderLock(folder)
    try:
        created = _make_folder(folder, managed)
        lock.acquire()
        lock.sweep({idx.standard_name(*key) for key in files}.__contains__)
        for key in _missing(folder, files, managed):  # again, under the lock
            _fetch_one(dataset, folder, key, bases, dead, log,
                       dict(timeout=timeout, progress=progress, deadline=deadline))
    finally:
        lock.release(discard=True)
        for made in reversed(created):  # folders made for nothing go again
            if os.path.isdir(made) and not os.listdir(made):
                os.rmdir(made)
    return folder


def _make_folder(folder, managed):
    """Create ``folder`` (and its parents) if needed; the folders made, outermost first.
    CannotWrite says how to choose another: MXNET_HOME for gluon's cache, else another folder."""
    hint = ("set MXNET_HOME to a folder you can write to (gluon's cache is $MXNET_HOME/datasets)"
            if managed else "choose a folder you can write to")
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise CannotWrite("%s cannot hold the data (a file is in the way): %s." % (folder, hint), path=folder)
    with translated(OSError, lambda err: CannotWrite("%s cannot be used (%s): %s."
                                                     % (folder, reason(err), hint), path=folder)):
        created = make_dirs(folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CannotWrite("%s cannot be used (it is not writable): %s." % (folder, hint), path=folder)
    return created


def _missing(folder, files, managed):
    """The keys of the files ``folder`` lacks. In gluon's cache (``managed``) a file counts under
    its standard name and a damaged one is to be replaced; in a folder of yours under any name
    :func:`idx.find_files` accepts, and anything there that is not the expected file is refused
    (CannotWrite), as is complete idx data of another kind in either."""
    missing = []
    for key, (digest, _size) in files.items():
        have = False
        for name in [idx.standard_name(*key)] if managed else idx.candidate_names(*key):
            path = os.path.join(folder, name)
            if not os.path.lexists(path):
                continue
            try:
                found = idx.file_digest(path, key[1])  # complete idx bytes of any size
            except idx.IdxError:
                found = None  # damaged, or not a file
            if found == digest:
                have = True
            elif found or not managed:
                owner = found and catalog.identify(*key, found)
                raise CannotWrite("%s already holds %s (%s): move it away or choose another "
                                  "folder, so that it is not replaced." % (
                                      folder, name, "%s's data" % owner if owner else
                                      "other idx data" if found else "not the expected file"), path=folder)
        if not have:
            missing.append(key)
    return missing


def _fetch_one(dataset, folder, key, bases, dead, log, how):
    """Fetch the file ``key`` of ``dataset`` from the first of ``bases`` that delivers it; NoData
    if none does.
    A source that fails as a whole is added to ``dead``; ``how`` holds :func:`fetch`'s options."""
    name = idx.standard_name(*key)
    for base_url in bases:
        if base_url in dead:
            continue
        try:
            fetch(base_url + name, folder, key, catalog.DATASETS[dataset]["files"][key], **how)
            log("downloaded %s from %s" % (name, redact(base_url)))
            return
        except FetchError as err:
            log("could not use %s%s: %s" % (redact(base_url), name, err.reason))
            if err.dead:
                dead.add(base_url)
    raise NoData(dataset, folder, [redact(b) for b in bases])


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
            raise idx.IdxError(path, "is missing")
    return _read(paths, files, stream, dataset, folder)


def read_dir(data_dir, dataset=None, stream=False, log=None):
    """Both splits from the idx files in ``data_dir``, validated by structure.

    Label files that match a known data set's make the folder that data set: asking for another
    raises DatasetMismatch, and images that differ from its published ones (a variant) are used
    as they are, said in one line to ``log`` (default: standard error) when that shows. Unknown
    files are ``dataset``, or MNIST-style digits 0-9 when it is None.
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
    if not found:
        return _read(paths, {}, stream, dataset or "mnist", data_dir)
    said = []

    def differ(_path):
        if not said:  # one line for the folder, whichever split shows it first
            said.append(True)
            (log or _stderr)("%s: images differ from %s's published files; using them as given, "
                             "classes %s" % (data_dir, catalog.DATASETS[found]["title"],
                                             catalog.classes_text(found)))
    return _read(paths, catalog.DATASETS[found]["files"], stream, found, data_dir, differ)


def _read(paths, expected, stream, dataset, origin, differ=None):
    """The :class:`Data` of the four ``paths``, checked against ``expected`` (SHA-256, size);
    images that differ call ``differ`` when it is given (see :func:`idx.read_split`)."""
    splits = {split: idx.read_split(
        paths[(split, "images")], paths[(split, "labels")],
        {kind: expected.get((split, kind)) for kind in ("images", "labels")},
        stream=stream and split == "train", differ=differ) for split in idx.SPLITS}
    return Data(splits["train"], splits["test"], dataset, origin)


def load_splits(dataset=None, data_dir=None, mirrors=(), log=None, progress=None, stream=False):
    """The train and test splits, from the first place that has them (a :class:`Data`).

    ``data_dir`` wins (see :func:`read_dir`). Otherwise ``dataset`` (default MNIST) comes from
    Debian's package or the copy shipped with mxsoftmax when it has one, else from gluon's
    cache, downloading what is missing. ``log`` takes the lines said on the way (a variant, a
    damaged install, each download); by default they go to standard error. With ``stream``, the
    training images are an :class:`idx.IdxImages`, read when used.
    """
    if dataset is not None:
        check_dataset(dataset)
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise InvalidType("load_splits takes data_dir as a path, not %s." % type(data_dir).__name__)
    log = log or _stderr
    if data_dir:
        return read_dir(data_dir, dataset, stream, log)
    dataset = dataset or "mnist"
    ready = debian_ready(dataset) or shipped_ready(dataset, log)
    if ready:
        return read_verified(ready, dataset, stream)
    try:
        return read_verified(cache_dir(dataset), dataset, stream)
    except idx.IdxError:
        pass  # a file is missing, damaged or unknown: download() replaces what is needed
    return read_verified(download(dataset, mirrors, log=log, progress=progress), dataset, stream)


def _stderr(line):
    """Say ``line`` on standard error, never with a password."""
    print(redact_text(line), file=sys.stderr)


def _show_progress(progress):
    return sys.stderr.isatty() if progress is None else progress
