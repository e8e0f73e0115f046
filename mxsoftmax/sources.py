"""Where the data comes from: your folder (recognised by its label files' SHA-256), else the copy
shipped with mxsoftmax, Debian's package, gluon's cache or a download, each verified by SHA-256."""
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

Data = collections.namedtuple("Data", "train test dataset origin")
Data.__doc__ = "Both splits (images (N, 28, 28, 1) uint8, labels (N,) int32), the data set, the folder read."


def fingerprint(data):
    """One SHA-256 of the four files' idx bytes: two runs that have it trained on the same data."""
    parts = [idx.digest_of(array, kind) for split in (data.train, data.test)
             for array, kind in zip(split, ("images", "labels"))]
    return hashlib.sha256(" ".join(parts).encode("ascii")).hexdigest()


def debian_ready(dataset):
    """The folder of Debian's package for ``dataset`` when it is installed, else None."""
    folder = catalog.DATASETS[dataset]["debian_dir"]
    return folder if folder and os.path.isdir(folder) else None


def shipped_dir(dataset):
    """The folder of the copy of ``dataset`` inside the installed package, or None."""
    shipped = catalog.DATASETS[dataset]["shipped"]
    return shipped and os.path.join(os.path.dirname(__file__), *shipped["folder"])


def shipped_ready(dataset, log):
    """:func:`shipped_dir` if its files are intact (as shipped, or the same idx bytes), else None, said."""
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


def sources(dataset, mirrors=()):
    """Base URLs to try: ``mirrors``, ``MXSOFTMAX_MIRRORS``, MXNet's (``MXNET_GLUON_REPO``), public ones."""
    bases = [check_url(m) for m in mirrors]
    if "MXSOFTMAX_MIRRORS" in os.environ:
        bases += [check_url(m, "MXSOFTMAX_MIRRORS") for m in os.environ["MXSOFTMAX_MIRRORS"].split(",")]
    if "MXNET_GLUON_REPO" in os.environ:
        check_url(os.environ["MXNET_GLUON_REPO"], "MXNET_GLUON_REPO")
    bases += [_get_repo_url() + "gluon/dataset/%s/" % dataset, *catalog.DATASETS[dataset]["mirrors"]]
    return [b if b.endswith("/") else b + "/" for b in bases]


def check_url(url, variable=None):
    """``url`` trimmed if it is a usable http(s) URL, else InvalidInput naming the ``variable`` holding it."""
    if not isinstance(url, str):
        raise InvalidValue(param="mirror", value=url, expected="a URL (text)", shown=type(url).__name__)
    url = url.strip(" \t") if variable else url.strip()  # a variable's line breaks are refused
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
    """``url`` masked (``***``) up to its last ``@``, or without one after its scheme when its port is
    not a number (``http://user:pass`` cut short by a comma); other text is left as it is."""
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
    """``text`` as it may be printed: redacted, unprintable characters escaped, at most ``most`` long
    (a URL you gave is shown whole, so that its problem can be found; what a server sent is cut)."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in redact(text))
    return text if not most or len(text) <= most else text[:most - 3] + "..."


class _Watched(io.RawIOBase):
    """A transfer's sockets as http.client reads them, headers too, checked after each read and each
    :data:`POLL` without one: the source is dead past :data:`DEADLINE` or under :data:`MIN_RATE`."""

    def __init__(self, limit):
        self.start, self.got, self.sock = time.monotonic(), 0, None
        self.seconds = DEADLINE[0] + limit / DEADLINE[1]
        self.samples = collections.deque([(self.start, 0)])  # (time, bytes so far) over the last window

    def makefile(self, _mode):
        return io.BufferedReader(self, 1 << 16)

    def readable(self):
        return True

    def readinto(self, buffer):
        n = None
        while n is None:
            with contextlib.suppress(TimeoutError):
                n = self.sock.recv_into(buffer)
            now, self.got = time.monotonic(), self.got + (n or 0)
            self.samples.append((now, self.got))
            while self.samples[1][0] <= now - RATE_WINDOW:
                self.samples.popleft()
            then, before = self.samples[0]
            if now - self.start > self.seconds:
                raise FetchError("too slow: not done after %.3g s, the most this file may take"
                                 % self.seconds, dead=True)
            if now - self.start >= RATE_WINDOW and self.got - before < MIN_RATE * (now - then):
                raise FetchError("timed out (no byte for %g s)" % RATE_WINDOW if self.got == before else
                                 "too slow: under %d KB/s for %g s" % (MIN_RATE // 1000, RATE_WINDOW),
                                 dead=True)
        return n

    def close(self):
        """Nothing: http.client closes the connection while it reads; :func:`_stream` closes sockets."""


def _stream(url, limit, progress):
    """Yield the body of ``url`` as sent, at most ``limit`` bytes, following redirects; else FetchError."""
    watched = _Watched(limit)
    with contextlib.ExitStack() as opened, translated(Exception, lambda err: _failure(err, FAILURES)):
        for _ in range(REDIRECTS + 1):
            opened.close()  # the connection of the answer that redirected here
            parts = urlsplit(url)
            conn = opened.enter_context(contextlib.closing(
                (http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection)(
                    parts.hostname, parts.port, timeout=CONNECT)))
            with translated(OSError, lambda err: _failure(err, CONNECT_FAILURES)):
                conn.connect()
            opened.callback(conn.sock.close)  # http.client leaves it open while the answer is read
            headers = {"Accept-Encoding": "identity"}
            if parts.username is not None:
                user = "%s:%s" % (unquote(parts.username), unquote(parts.password or ""))
                headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
            conn.request("GET", (parts.path or "/") + ("?" + parts.query if parts.query else ""),
                         headers=headers)
            watched.sock, conn.sock = conn.sock, watched
            watched.sock.settimeout(POLL)
            answer = conn.getresponse()
            if answer.status not in (301, 302, 303, 307, 308):
                break
            url = urljoin(url, answer.getheader("Location") or "")
            if _url_problem(url):
                raise FetchError("it redirects to %s, which cannot be fetched" % _shown(url, 120))
        else:
            raise FetchError("too many redirects", dead=True)
        kind = (answer.getheader("Content-Type") or "").partition(";")[0].strip().lower()
        html, total, got = kind in ("text/html", "application/xhtml+xml"), answer.length, 0
        if answer.status != 200 or html or (total or 0) > limit:
            raise FetchError("HTTP %d %s" % (answer.status, _shown(answer.reason or "", 120))
                             if answer.status != 200 else "it sent an HTML page (Content-Type %s) instead of "
                             "the file: is this the folder holding the files?" % kind if html else
                             "it announces %d bytes, more than the %d this file can take" % (total, limit))
        with tqdm(total=total, unit="B", unit_scale=True, leave=False, disable=not progress,
                  file=sys.stderr) as bar:
            while chunk := answer.read1(1 << 16):
                if not got and chunk.lstrip()[:1] == b"<":
                    raise FetchError("it sent a web page (text starting with '<') instead of the file: is "
                                     "this the folder holding the files?")
                got += len(chunk)
                if got > limit:
                    raise FetchError("it sent more than the %d bytes this file can take" % limit)
                bar.update(len(chunk))
                yield chunk
        if total is not None and got < total:
            raise FetchError("truncated: got %d of %d bytes" % (got, total))


def _failure(err, table):
    """The FetchError for ``err`` named by its kind in ``table``; None (it passes) for another kind."""
    for kind, words, dead in table:
        if isinstance(err, kind):
            why = getattr(err, "verify_message", None) or getattr(err, "reason", None) or reason(err)
            return FetchError(words % _shown(why, 120) if "%s" in words else words, dead=dead)


def fetch(url, folder, key, expected, progress=False):
    """Download ``url`` into ``folder`` as file ``key``, kept if its idx bytes match ``expected``."""
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


@validate_params({"dataset": CONSTRAINTS["dataset"]})
def download(dataset, mirrors=(), folder=None, log=None, progress=None):
    """``folder`` (default gluon's cache) once it holds the four verified files of ``dataset``."""
    files, managed = catalog.DATASETS[dataset]["files"], not folder
    folder = str(folder or os.path.join(base.data_dir(), "datasets", dataset))  # gluon's cache
    if not list(_missing(folder, files, managed)):
        return folder
    log, bases, dead = log or _stderr, sources(dataset, mirrors), set()
    lock = FolderLock(folder, advice="set MXNET_HOME to a folder you can write to (gluon's cache "
                      "is $MXNET_HOME/datasets)" if managed else "choose a folder you can write to")
    lock.acquire()
    try:
        lock.sweep({idx.standard_name(*key) for key in files}.__contains__)
        for key in list(_missing(folder, files, managed)):  # again, under the lock
            name = idx.standard_name(*key)
            for base_url in [b for b in bases if b not in dead]:
                try:
                    fetch(base_url + name, folder, key, files[key],
                          sys.stderr.isatty() if progress is None else progress)
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
    """Yield the keys of the files ``folder`` lacks: gluon's cache (``managed``) under their standard
    name (a damaged one is replaced), yours under any accepted name (anything else there refused)."""
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
            yield key


@validate_params({"dataset": CONSTRAINTS["dataset"]})
def read_verified(folder, dataset, stream=False):
    """Both splits from the standard-named files in ``folder``, each matched to the catalogue."""
    files = catalog.DATASETS[dataset]["files"]
    paths = {key: os.path.join(folder, idx.standard_name(*key)) for key in files}
    return _read(paths, files, stream, dataset, folder)


@validate_params({"dataset": CONSTRAINTS["dataset_or_none"]})
def read_dir(data_dir, dataset=None, stream=False, log=None):
    """Both splits from the idx files in ``data_dir``: a known data set's labels make it that one
    (its images may differ, said in one line to ``log``); unknown files are ``dataset`` or MNIST."""
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

    def differ(_path):  # found's images differ: one line for the folder, whichever split shows it first
        names = catalog.class_names(found)
        classes = "0-9" if names == list(catalog.DIGITS) else ", ".join(names)
        if not said:
            said.append((log or _stderr)("%s: images differ from %s's published files; using them as given, "
                                         "classes %s" % (data_dir, catalog.DATASETS[found]["title"],
                                                         classes)))
    return _read(paths, catalog.DATASETS[found]["files"] if found else {}, stream,
                 found or dataset or "mnist", data_dir, differ)


def _read(paths, expected, stream, dataset, origin, differ=None):
    train, test = [idx.read_split(paths[(split, "images")], paths[(split, "labels")],
                                  {kind: expected.get((split, kind)) for kind in ("images", "labels")},
                                  stream and split == "train", differ) for split in idx.SPLITS]
    return Data(train, test, dataset, origin)


@validate_params({"dataset": CONSTRAINTS["dataset_or_none"], "data_dir": CONSTRAINTS["data_dir"]})
def load_splits(dataset=None, data_dir=None, mirrors=(), log=None, progress=None, stream=False):
    """The :class:`Data` from the first place that has it: ``data_dir``, else Debian's package or the
    shipped copy, else gluon's cache, downloading what is missing (lines said on the way to ``log``)."""
    log, dataset = log or _stderr, dataset or ("mnist" if not data_dir else None)
    if data_dir:
        return read_dir(data_dir, dataset, stream, log)
    ready = debian_ready(dataset) or shipped_ready(dataset, log)
    if ready:
        return read_verified(ready, dataset, stream)
    with contextlib.suppress(idx.IdxError):  # gluon's cache; missing or damaged: download() replaces it
        return read_verified(os.path.join(base.data_dir(), "datasets", dataset), dataset, stream)
    return read_verified(download(dataset, mirrors, log=log, progress=progress), dataset, stream)


def _stderr(line):
    """Say ``line`` on standard error, never with a password."""
    print(redact_text(line), file=sys.stderr)
