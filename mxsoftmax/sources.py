"""Where the data comes from: your folder, the copy shipped with mxsoftmax, Debian's package,
gluon's cache, downloads. All but your folder are used only when the SHA-256 of their idx bytes
matches the catalogue; your folder is recognised by the same digests (its label files)."""
import base64
import collections
import contextlib
import hashlib
import http.client
import io
import os
import re
import socket
import ssl
import sys
import time
from urllib.parse import unquote, urljoin, urlsplit

import numpy as np
from mxnet import base
from mxnet.gluon.utils import _get_repo_url
from tqdm import tqdm

from . import catalog, idx
from .errors import DatasetMismatch, FetchError, InvalidInput, InvalidValue, NoData, reason, translated
from .files import FolderLock, atomic_write, read_regular
from .validation import CONSTRAINTS, validate_params

CONNECT, POLL = 5, 0.5  # seconds: to connect; between two checks of a transfer without a byte
DEADLINE = (30, 50000)  # a whole transfer: 30 s, plus one for every 50 KB the file may take
MIN_RATE, RATE_WINDOW = 20000, 15  # bytes/s over the last 15 s, after the first 15 s
REDIRECTS = 5
VARIABLES = {"MXSOFTMAX_MIRRORS": "comma-separated http(s)://host/path/ URLs",
             "MXNET_GLUON_REPO": "the http(s)://host/path/ of a repository laid out as gluon's"}
# What a request may raise, most particular first: (kind, the cause in words, whether the source is dead)
CONNECT_FAILURES = (
    (ssl.SSLError, "TLS failed (%s)", True), (socket.gaierror, "cannot find the host (%s)", True),
    (TimeoutError, "timed out (connect %gs)" % CONNECT, True), (OSError, "cannot connect (%s)", True))
FAILURES = ((http.client.LineTooLong, "oversized header: a line of its answer is longer than the %d bytes "
             "http.client reads" % http.client._MAXLINE, True),
            (http.client.RemoteDisconnected, "it closed the connection without answering", True),
            (http.client.BadStatusLine, "its answer is not HTTP", True),
            (http.client.IncompleteRead, "truncated: the connection broke", False),
            (http.client.HTTPException, "oversized header: its answer has more than the %d header lines "
             "http.client reads" % http.client._MAXHEADERS, True),
            (OSError, "truncated: the connection broke (%s)", False),
            (ValueError, "its answer cannot be read (%s)", False))
HTML = ("text/html", "application/xhtml+xml")
DATASET = {"dataset": CONSTRAINTS["dataset"]}

Data = collections.namedtuple("Data", "train test dataset origin")
Data.__doc__ = """Both splits (images (N, 28, 28, 1) uint8, labels (N,) int32), the data set's name
and where the files were read."""


def fingerprint(data):
    """One SHA-256 of the four files' idx bytes: two runs that have it trained on the same data."""
    parts = []
    for images, labels in (data.train, data.test):
        streamed = isinstance(images, idx.IdxImages)
        if streamed and images.digest is None:
            np.asarray(images)  # one pass, which records the digest
        parts += [images.digest if streamed else idx.digest_of(images, "images"),
                  idx.digest_of(labels, "labels")]
    return hashlib.sha256(" ".join(parts).encode("ascii")).hexdigest()


def cache_dir(dataset):
    """Gluon's own cache folder for ``dataset``: ``$MXNET_HOME/datasets/<dataset>``."""
    return os.path.join(base.data_dir(), "datasets", dataset)


def debian_ready(dataset):
    """The folder of Debian's package for ``dataset`` when it is installed, else None."""
    folder = catalog.DATASETS[dataset]["debian_dir"]
    return folder if folder and os.path.isdir(folder) else None


def shipped_dir(dataset):
    """The folder of the copy of ``dataset`` inside the installed package, or None."""
    shipped = catalog.DATASETS[dataset]["shipped"]
    return shipped and os.path.join(os.path.dirname(__file__), *shipped["folder"])


def shipped_ready(dataset, log):
    """:func:`shipped_dir` when its files are the shipped ``.gz`` bytes (or other gzips of the same
    idx bytes), else None, said in one line to ``log``: the data then comes from elsewhere."""
    folder, entry = shipped_dir(dataset), catalog.DATASETS[dataset]
    for key, (digest, size) in (entry["shipped"]["files"].items() if folder else ()):
        path, same = os.path.join(folder, idx.standard_name(*key)), False
        with contextlib.suppress(OSError, idx.IdxError):
            same = hashlib.sha256(read_regular(path, size) or b"").hexdigest() == digest \
                or idx.file_digest(path, key[1], entry["files"][key][1]) == entry["files"][key][0]
        if not same:
            log("the %s copy shipped with mxsoftmax is damaged: %s is not the file it shipped (reinstall "
                "mxsoftmax to mend it); using gluon's cache or a download instead" % (entry["title"], path))
            return None
    return folder


# ---------------------------------------------------------------------------- URLs and passwords

def sources(dataset, mirrors=()):
    """Base URLs to try in order: ``mirrors``, ``MXSOFTMAX_MIRRORS``, MXNet's host (which honours
    ``MXNET_GLUON_REPO``), the public mirrors. A URL that cannot be used is InvalidInput, once."""
    bases = [check_url(m) for m in mirrors]
    if "MXSOFTMAX_MIRRORS" in os.environ:
        bases += [check_url(m, "MXSOFTMAX_MIRRORS") for m in os.environ["MXSOFTMAX_MIRRORS"].split(",")]
    if "MXNET_GLUON_REPO" in os.environ:
        check_url(os.environ["MXNET_GLUON_REPO"], "MXNET_GLUON_REPO")
    bases += [_get_repo_url() + "gluon/dataset/%s/" % dataset, *catalog.DATASETS[dataset]["mirrors"]]
    return [b if b.endswith("/") else b + "/" for b in bases]


def check_url(url, variable=None):
    """``url`` trimmed if it is an http(s) URL with a usable host; else InvalidInput naming the
    environment ``variable`` that held it, if any (whose line breaks are refused, not trimmed)."""
    if not isinstance(url, str):
        raise InvalidValue(param=variable or "mirror", value=url, expected="a URL (text)",
                           shown=type(url).__name__)
    url = url.strip(" \t") if variable else url.strip()
    problem = _url_problem(url)
    if problem and not variable:
        raise InvalidInput("%s is not a usable URL (%s): give http(s)://host/path/." % (_shown(url), problem))
    if problem:
        holds = "holds %s, which is not a usable URL (%s)" % (_shown(url), problem) if url \
            else "holds an empty URL"
        raise InvalidInput("%s %s: give %s, or unset it." % (variable, holds, VARIABLES[variable]))
    return url


def _url_problem(url):
    """Why ``url`` cannot be fetched, in words that never quote its password, or None."""
    if not url or re.search(r"[\s\x00-\x1f\x7f]", url):
        return "it holds spaces or control characters" if url else "it is empty"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "its host is not a valid [IPv6] address (or a password holds '[' or ']')"
    try:
        (parts.hostname or "").encode("idna")
        parts.port  # noqa: B018 (raises ValueError when it is not a number)
    except UnicodeError:
        return "a part of the host name is empty or longer than 63 characters"
    except ValueError:
        return "the port is not a number from 0 to 65535 (or a password holds '/', '?' or '#')"
    return ("the scheme must be http or https" if parts.scheme not in ("http", "https")
            else None if parts.hostname else "no host name")


def redact(url):
    """``url`` with everything before its last ``@`` masked (``***``), not only what ``urlsplit``
    calls a password. Without an ``@``, a URL whose port is not a number is masked after its scheme
    (``http://user:pass`` cut short by a comma); other text is left as it is."""
    url = str(url)
    scheme, rest = re.match(r"(?s)\A([A-Za-z][A-Za-z0-9+.-]*:(?://?)?)?(.*)\Z", url).groups()
    if "@" in rest:
        return (scheme or "") + "***@" + rest.rsplit("@", 1)[1]
    authority, slash, path = re.match(r"(?s)([^/?#]*)(.?)(.*)", rest).groups()
    port = authority.rpartition("]")[2].rpartition(":")  # an IPv6 address [::1] holds colons of its own
    return scheme + "***" + slash + path if scheme and port[1] and port[2] and not port[2].isdigit() else url


def redact_text(text):
    """``text`` with :func:`redact` applied to each word that may hold a URL's user part."""
    def one(word):
        core = word.group(0).rstrip(".,;:")
        return redact(core) + word.group(0)[len(core):]
    return re.sub(r"[^\s'\"()]*(?::[^\s'\"()]*@|://)[^\s'\"()]*", one, str(text))


def _shown(text, most=None):
    """``text`` as it may be printed: redacted, unprintable characters escaped, at most ``most`` long."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in redact(text))
    return text if not most or len(text) <= most else text[:most - 3] + "..."


# ---------------------------------------------------------------------------- downloads

class _Watched(io.RawIOBase):
    """A transfer's socket as http.client reads it, headers too, under the transfer's one deadline,
    checked after each read and each :data:`POLL` without one: the source is dead (FetchError) when
    the transfer passes :data:`DEADLINE` or averages under :data:`MIN_RATE` over the last
    :data:`RATE_WINDOW` seconds after its first (timed out when no byte came)."""

    def __init__(self, limit):
        self.start, self.got, self.sock = time.monotonic(), 0, None
        self.seconds = DEADLINE[0] + limit / DEADLINE[1]
        self.samples = collections.deque([(self.start, 0)])  # (time, bytes so far) over the last window

    def watch(self, conn):
        """Read the answer on ``conn`` (its request sent) through this watch."""
        self.sock, conn.sock = conn.sock, self
        self.sock.settimeout(POLL)

    def makefile(self, _mode):
        return io.BufferedReader(self, 1 << 16)

    def readable(self):
        return True

    def readinto(self, buffer):
        while True:
            with contextlib.suppress(TimeoutError):
                n = self.sock.recv_into(buffer)
                self.check(n)
                return n
            self.check(0)

    def check(self, n):
        now = time.monotonic()
        self.got += n
        self.samples.append((now, self.got))
        while self.samples[1][0] <= now - RATE_WINDOW:
            self.samples.popleft()
        then, before = self.samples[0]
        if now - self.start > self.seconds:
            raise FetchError("too slow: not done after %.3g s, the most this file may take" % self.seconds,
                             dead=True)
        if now - self.start >= RATE_WINDOW and self.got - before < MIN_RATE * (now - then):
            raise FetchError("timed out (no byte for %g s)" % RATE_WINDOW if self.got == before else
                             "too slow: under %d KB/s for %g s" % (MIN_RATE // 1000, RATE_WINDOW), dead=True)

    def close(self):
        """Nothing: http.client closes its connection while it reads the answer; :func:`_stream`
        closes the socket."""


def _stream(url, limit, progress):
    """Yield the body of ``url`` as sent (no content decoding) in chunks, at most ``limit`` bytes,
    following redirects; FetchError naming the cause of a failure."""
    watched = _Watched(limit)
    for _ in range(REDIRECTS + 1):
        parts = urlsplit(url)
        conn = (http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection)(
            parts.hostname, parts.port, timeout=CONNECT)
        headers = {"Accept-Encoding": "identity"}
        if parts.username is not None:
            user = "%s:%s" % (unquote(parts.username), unquote(parts.password or ""))
            headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
        try:
            with translated(tuple(kind for kind, *_ in FAILURES), lambda err: _failure(err, FAILURES)):
                with translated(OSError, lambda err: _failure(err, CONNECT_FAILURES)):
                    conn.connect()
                conn.request("GET", (parts.path or "/") + ("?" + parts.query if parts.query else ""),
                             headers=headers)
                watched.watch(conn)
                answer = conn.getresponse()
                redirect = answer.status in (301, 302, 303, 307, 308)
                url = redirect and urljoin(url, answer.getheader("Location") or "")
                if url and _url_problem(url):
                    raise FetchError("it redirects to %s, which cannot be fetched" % _shown(url, 120))
                if not url:
                    return (yield from _body(answer, limit, progress))
        finally:
            conn.close()
            if watched.sock:
                watched.sock.close()
    raise FetchError("too many redirects", dead=True)


def _body(answer, limit, progress):
    """Yield the body of ``answer`` in chunks, after checking that it can be the file."""
    kind = (answer.getheader("Content-Type") or "").partition(";")[0].strip().lower()
    total, got = answer.length, 0
    if answer.status != 200 or kind in HTML or (total or 0) > limit:
        raise FetchError("HTTP %d %s" % (answer.status, _shown(answer.reason or "", 120))
                         if answer.status != 200 else "it sent an HTML page (Content-Type %s) instead of the "
                         "file: is this the folder holding the files?" % kind if kind in HTML else
                         "it announces %d bytes, more than the %d this file can take" % (total, limit))
    with tqdm(total=total, unit="B", unit_scale=True, leave=False, disable=not progress,
              file=sys.stderr) as bar:
        while chunk := answer.read1(1 << 16):
            if not got and chunk.lstrip()[:1] == b"<":
                raise FetchError("it sent a web page (text starting with '<') instead of the file: is this "
                                 "the folder holding the files?")
            got += len(chunk)
            if got > limit:
                raise FetchError("it sent more than the %d bytes this file can take" % limit)
            bar.update(len(chunk))
            yield chunk
    if total is not None and got < total:
        raise FetchError("truncated: got %d of %d bytes" % (got, total))


def _failure(err, table):
    """The FetchError for ``err``, named by its kind in ``table``."""
    words, dead = next((words, dead) for kind, words, dead in table if isinstance(err, kind))
    why = getattr(err, "verify_message", None) or getattr(err, "reason", None) or reason(err)
    return FetchError(words % _shown(why, 120) if "%s" in words else words, dead=dead)


def fetch(url, folder, key, expected, progress=False):
    """Download ``url`` to the standard name of file ``key`` in ``folder``, kept only if its idx
    bytes match ``expected`` (SHA-256, size); the body goes to a temporary file there, bounded by
    the most bytes a gzip of that size can take. FetchError when this source failed; WriteFailed
    or InvalidInput when the folder cannot take the file."""
    digest, size = expected

    def write(tmp):
        with open(tmp, "wb") as out:
            for chunk in _stream(url, size + size // 1000 + 4096, progress):  # gzip grows data by < 0.1%
                out.write(chunk)
        with translated(idx.IdxError, lambda err: FetchError("the file it sent %s" % err.problem)):
            found = idx.file_digest(tmp, key[1], size)
        if found != digest:
            raise FetchError("checksum mismatch: expected SHA-256 %s of the idx bytes, got %s"
                             % (digest, found))
    atomic_write(os.path.join(folder, idx.standard_name(*key)), write)


@validate_params(DATASET)
def download(dataset, mirrors=(), folder=None, log=None, progress=None):
    """Make sure ``folder`` (default gluon's cache) holds the four verified files of ``dataset``
    (in yours under any accepted name), and return it. Each missing file comes from the first of
    :func:`sources` that delivers it, inside the folder's lock, each failure said in one line to
    ``log``; a dead source is not asked again. NoData names what was tried."""
    files, managed = catalog.DATASETS[dataset]["files"], not folder
    folder = str(folder or cache_dir(dataset))
    if not _missing(folder, files, managed):
        return folder
    log, bases, dead = log or _stderr, sources(dataset, mirrors), set()
    progress = sys.stderr.isatty() if progress is None else progress
    lock = FolderLock(folder, advice="set MXNET_HOME to a folder you can write to (gluon's cache "
                      "is $MXNET_HOME/datasets)" if managed else "choose a folder you can write to")
    try:
        lock.acquire()
        lock.sweep({idx.standard_name(*key) for key in files}.__contains__)
        for key in _missing(folder, files, managed):  # again, under the lock
            name = idx.standard_name(*key)
            for base_url in [b for b in bases if b not in dead]:
                try:
                    fetch(base_url + name, folder, key, files[key], progress)
                    log("downloaded %s from %s" % (name, redact(base_url)))
                    break
                except FetchError as err:
                    log("could not use %s%s: %s" % (redact(base_url), name, err.reason))
                    dead.update([base_url] if err.dead else [])
            else:
                raise NoData(dataset, folder, [redact(b) for b in bases])
    finally:
        lock.release(discard=True)
    return folder


def _missing(folder, files, managed):
    """The keys of the files ``folder`` lacks: in gluon's cache (``managed``) under their standard
    name, a damaged one to be replaced; in yours under any name :func:`idx.find_files` accepts,
    anything else there refused (InvalidInput), as is complete idx data of another kind in either."""
    missing = []
    for key, (digest, _size) in files.items():
        for name in [idx.standard_name(*key)] if managed else idx.candidate_names(*key):
            path, found = os.path.join(folder, name), None
            with contextlib.suppress(idx.IdxError):
                found = os.path.lexists(path) and idx.file_digest(path, key[1])
            if found == digest:
                break
            if found or not managed and os.path.lexists(path):
                owner = found and catalog.identify(*key, found)
                what = "%s's data" % owner if owner else "other idx data" if found \
                    else "not the expected file"
                raise InvalidInput("%s already holds %s (%s): move it away or choose another folder, so that "
                                   "it is not replaced." % (folder, name, what), path=folder)
        else:
            missing.append(key)
    return missing


# ---------------------------------------------------------------------------- reading

@validate_params(DATASET)
def read_verified(folder, dataset, stream=False):
    """Both splits from the standard-named files in ``folder``, each matched to the catalogue;
    with ``stream``, the training images are read (and verified) when used."""
    files = catalog.DATASETS[dataset]["files"]
    paths = {key: os.path.join(folder, idx.standard_name(*key)) for key in files}
    return _read(paths, files, stream, dataset, folder)


@validate_params({"dataset": CONSTRAINTS["dataset_or_none"]})
def read_dir(data_dir, dataset=None, stream=False, log=None):
    """Both splits from the idx files in ``data_dir``. Label files of a known data set make it that
    data set (asking for another is DatasetMismatch), and images that differ from its published
    ones are used as given, said in one line to ``log``. Unknown files are ``dataset`` or MNIST."""
    paths = idx.find_files(data_dir)
    known = {split: catalog.identify(split, "labels", idx.file_digest(paths[(split, "labels")], "labels"))
             for split in idx.SPLITS}
    if len(set(known.values())) > 1:
        raise InvalidInput("%s mixes the files of different data sets (train: %s, test: %s): put the four "
                           "files of one data set together." % (data_dir, known["train"] or "unknown",
                                                                known["test"] or "unknown"))
    found, said = known["train"], []
    if dataset and found and found != dataset:
        raise DatasetMismatch(data_dir, found, dataset)
    if not found:
        return _read(paths, {}, stream, dataset or "mnist", data_dir)

    def differ(_path):
        if not said:  # one line for the folder, whichever split shows it first
            said.append((log or _stderr)("%s: images differ from %s's published files; using them as given, "
                                         "classes %s" % (data_dir, catalog.DATASETS[found]["title"],
                                                         catalog.classes_text(found))))
    return _read(paths, catalog.DATASETS[found]["files"], stream, found, data_dir, differ)


def _read(paths, expected, stream, dataset, origin, differ=None):
    """The :class:`Data` of the four ``paths``, checked against ``expected`` (see :func:`idx.read_split`)."""
    train, test = [idx.read_split(paths[(split, "images")], paths[(split, "labels")],
                                  {kind: expected.get((split, kind)) for kind in ("images", "labels")},
                                  stream and split == "train", differ) for split in idx.SPLITS]
    return Data(train, test, dataset, origin)


@validate_params({"dataset": CONSTRAINTS["dataset_or_none"], "data_dir": CONSTRAINTS["data_dir"]})
def load_splits(dataset=None, data_dir=None, mirrors=(), log=None, progress=None, stream=False):
    """The train and test splits (a :class:`Data`) from the first place that has them: ``data_dir``
    (see :func:`read_dir`); else ``dataset`` (default MNIST) from Debian's package or the shipped
    copy, else from gluon's cache, downloading what is missing. ``log`` takes the lines said on the
    way (default: standard error); with ``stream`` the training images are an :class:`idx.IdxImages`."""
    log, dataset = log or _stderr, dataset or ("mnist" if not data_dir else None)
    if data_dir:
        return read_dir(data_dir, dataset, stream, log)
    ready = debian_ready(dataset) or shipped_ready(dataset, log)
    if ready:
        return read_verified(ready, dataset, stream)
    with contextlib.suppress(idx.IdxError):  # missing or damaged: download() replaces it
        return read_verified(cache_dir(dataset), dataset, stream)
    return read_verified(download(dataset, mirrors, log=log, progress=progress), dataset, stream)


def _stderr(line):
    """Say ``line`` on standard error, never with a password."""
    print(redact_text(line), file=sys.stderr)
