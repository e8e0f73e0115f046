"""The draw server: ``GET /`` is a page to draw on, ``POST /predict`` classifies the drawing.

Standard library only (``http.server.ThreadingHTTPServer``). Safe by default:

- **only this machine's pages**: a request whose ``Host`` is not an address of this server
  (127.0.0.1, localhost or [::1], the host it was started with, or the address the connection
  came to, each with the port) is refused with ``421``, which defeats DNS rebinding; ``POST
  /predict`` must be same-origin (an ``Origin`` other than ``http://`` + the Host, or a
  ``Sec-Fetch-Site`` other than ``same-origin``/``none``, is ``403``; a client that sends neither,
  such as curl, is a program on this machine and is served) and must carry the picture as
  ``application/octet-stream`` or ``image/*``: the CORS-simple types a page may send to any site
  without asking (``text/plain``, forms) are ``415``;
- only the files in :data:`STATIC` are served, looked up by exact path (nothing is joined to a
  folder, so ``..`` cannot reach other files); everything else is ``404``;
- a ``POST`` body is refused from its ``Content-Length`` before it is read (missing ``411``,
  not a number ``400``, over :data:`MAX_BODY` ``413``);
- slow clients cannot starve the others: a request may keep the server waiting on its client for
  :data:`WAIT` seconds in all (its head, its body, the reading of the answer), a connection lasts
  :data:`DEADLINE` seconds at most, and when all :data:`MAX_CONNECTIONS` are taken a new one
  takes the place of the connection that has kept the server waiting longest;
- pictures are decoded outside any lock (at most :data:`DECODERS` at once, which bounds memory),
  through :func:`images.load_image` like ``python -m mxsoftmax.predict``; one it refuses is a
  ``400``; any other failure is a ``500``: the server goes on. Only the model's forward pass is
  done one request at a time (a lock): MXNet's imperative API is not meant to be driven from
  several Python threads at once;
- every answer, errors included (as ``{"error": "..."}``, also for request lines that are not
  HTTP), has a status line, a charset, ``nosniff`` and a Content-Security-Policy that allows only
  this server's own script and style files.
"""
import contextlib
import html
import ipaddress
import json
import os
import re
import socket
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np

from . import catalog
from .classify import classify, evidence
from .errors import InvalidInput
from .images import load_image
from .runs import check_run
from .validation import validate

MAX_BODY = 2 ** 20     # bytes; a 280x280 canvas PNG is a few KiB
READ_TIMEOUT = 10      # seconds one socket read or write may wait
WAIT = 10              # seconds one request may keep the server waiting on its client in all
DEADLINE = 60          # seconds one connection may last in all
MAX_CONNECTIONS = 64   # connections served at once (each holds a thread)
DECODERS = 4           # pictures decoded at once: a few, so one slow picture does not stall others
BODY_TYPES = "application/octet-stream or image/* (such as image/png)"
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC = {  # URL path -> (file in mxsoftmax/static, Content-Type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/draw.css": ("draw.css", "text/css; charset=utf-8"),
    "/canvas.js": ("canvas.js", "text/javascript; charset=utf-8"),
    "/draw.js": ("draw.js", "text/javascript; charset=utf-8"),
}
MARKER = re.compile(r"\{\{(\w+)\}\}")  # {{name}} in index.html, filled in once by page()
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def views(result, image, W, b, class_names):
    """Add the page's views to :func:`classify.classify`'s ``result`` for the 28x28 ``image``.

    ``bias`` (the ten ``b[k]``), ``seen`` (the 28x28 input, ints 0-255) and ``evidence``: for each
    top-3 class its ``label``, ``name``, ``votes`` (the sum of its map), ``bias``, ``score``
    (votes + bias, as the model computed it) and ``map`` (28x28 pixel votes,
    :func:`classify.evidence`); ``evidence_scale`` is one colour scale for the three maps: the
    98th percentile of the absolute votes of inked pixels (the largest few would leave the rest
    too pale to see; they saturate instead). ``W`` and ``b`` are numpy arrays. Returns ``result``.
    """
    labels = [top["label"] for top in result["top3"]]
    maps = evidence(image, W, labels)
    result["bias"] = [float(v) for v in b]
    result["seen"] = image.tolist()
    result["evidence"] = [{"label": k, "name": class_names[k], "votes": float(m.sum()),
                           "bias": float(b[k]), "score": result["scores"][k],
                           "map": np.round(m, 5).tolist()} for k, m in zip(labels, maps)]
    votes = np.abs(maps[:, image > 0])
    result["evidence_scale"] = float(np.percentile(votes, 98)) if votes.size else 1.0
    return result


def page(run):
    """``index.html`` with the run's path, dataset and class names filled in, HTML-escaped, and
    ``views.html`` (the input and evidence maps, shared with the exported page) as it is.

    One pass over the template: a value is inserted once and never read again, so a run path such
    as ``runs/{{classes}}`` shows as written.
    """
    entry = catalog.DATASETS[run.dataset]
    values = {"run": str(run.path), "dataset": entry["title"], "thing": entry["thing"],
              "classes": json.dumps(run.class_names)}
    values = {name: html.escape(value, quote=True) for name, value in values.items()}
    values["views"] = _static("views.html").decode("utf-8").rstrip("\n")
    text = _static("index.html").decode("utf-8")
    return MARKER.sub(lambda m: values[m.group(1)], text).encode("utf-8")


def _static(name):
    with open(os.path.join(STATIC_DIR, name), "rb") as f:
        return f.read()


def host_name(address):
    """``address`` as it appears in a ``Host`` header: lower case, IPv6 in brackets, an IPv4
    address that arrived on an IPv6 socket (``::ffff:a.b.c.d``) as IPv4."""
    address = address.strip().lower()
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return "[%s]" % ip if ip.version == 6 else str(ip)


def cut(sock):
    """End a connection at once: a read blocked on it returns, the client sees it closed."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Connection:
    """When a connection was accepted, and since when it keeps the server waiting on its client
    (None while the server works for it)."""

    __slots__ = ("born", "since")

    def __init__(self, now):
        self.born = self.since = now


class DrawServer(ThreadingHTTPServer):
    """Serves the page and ``/predict`` for one loaded :class:`runs.Run` on ``ctx``.

    ``read_timeout``, ``wait`` and ``deadline`` are :data:`READ_TIMEOUT`, :data:`WAIT` and
    :data:`DEADLINE`; the last two are enforced by :meth:`serve_forever`'s loop (every
    ``poll_interval``).
    """

    daemon_threads = True
    block_on_close = False  # Ctrl-C stops at once, whatever a slow client is still doing
    max_connections = MAX_CONNECTIONS
    request_queue_size = 128  # listen backlog: a burst of connections waits, not SYN retries (1 s)

    def __init__(self, address, run, ctx, read_timeout=READ_TIMEOUT, deadline=DEADLINE, wait=WAIT):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        validate(ctx=ctx)
        self.run, self.ctx, self.host = check_run(run), ctx, address[0]
        self.W, self.b = (p.asnumpy() for p in self.run.params)  # for the views, outside the lock
        self.read_timeout, self.deadline, self.wait = read_timeout, deadline, wait
        self.lock = threading.Lock()  # the forward pass only
        self.decoders = threading.BoundedSemaphore(DECODERS)
        self.books = threading.Lock()  # guards self.open
        self.open = {}  # socket -> Connection, for the connections being served
        self.threads = threading.BoundedSemaphore(2 * self.max_connections)  # served or ending
        self.files = {path: (page(run) if name == "index.html" else _static(name), content_type)
                      for path, (name, content_type) in STATIC.items()}
        super().__init__(address, Handler)

    def answer(self, body):
        """The ``/predict`` JSON for image bytes: :func:`classify.classify`'s dict plus
        :func:`views`. Decoding runs outside the model's lock; only the forward pass is in it.
        Raises :class:`errors.InvalidInput` for bytes that are not a usable picture."""
        with self.decoders:
            image = load_image(body, "auto", self.run.dataset, name="the request body")
        with self.lock:
            result = classify(image, self.run.params, self.run.class_names, self.ctx)
        return views(result, image, self.W, self.b, self.run.class_names)

    def host_names(self, sock):
        """The ``Host`` values this server answers on connection ``sock``: 127.0.0.1, localhost,
        [::1], the host it was started with and the address ``sock`` came to, with the port
        (and without it on port 80, as browsers send it)."""
        port = self.server_address[1]
        names = {"127.0.0.1", "localhost", "[::1]", host_name(self.host)}
        with contextlib.suppress(OSError):
            names.add(host_name(sock.getsockname()[0]))
        names.discard("")  # "" listens everywhere: it is no name
        return {"%s:%d" % (name, port) for name in names} | (names if port == 80 else set())

    poll = None  # called between requests (at least every poll_interval); it may raise to stop

    def service_actions(self):
        """Cut the connections past their deadlines, then run :attr:`poll`: how a signal stops the
        server. Raised from a signal handler instead, an exception could land inside a request's
        handling, which logs it and serves on."""
        super().service_actions()
        self.reap()
        if self.poll:
            self.poll()

    def reap(self):
        """Cut each connection older than ``deadline`` or waiting on its client over ``wait``."""
        now = time.monotonic()
        with self.books:
            for sock, conn in list(self.open.items()):
                if now - conn.born > self.deadline or (conn.since is not None
                                                       and now - conn.since > self.wait):
                    del self.open[sock]
                    cut(sock)

    def process_request(self, request, client_address):
        """Serve the connection in a thread; when all places are taken, it takes the place of the
        one that has kept the server waiting longest, or is closed at once if all are working."""
        if not self.threads.acquire(blocking=False):
            return self.shutdown_request(request)
        if not self._admit(request):
            self.threads.release()
            return self.shutdown_request(request)
        super().process_request(request, client_address)

    def _admit(self, request):
        """Book a place for ``request``, cutting the longest-waiting connection if need be; False
        when every place is taken by a connection the server is working for."""
        with self.books:
            if len(self.open) >= self.max_connections:
                waiting = [(conn.since, id(sock), sock) for sock, conn in self.open.items()
                           if conn.since is not None]
                if not waiting:
                    return False
                victim = min(waiting)[2]
                del self.open[victim]
                cut(victim)
            self.open[request] = Connection(time.monotonic())
            return True

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.threads.release()

    def shutdown_request(self, request):
        """Forget the connection before closing it, so that :meth:`reap` never cuts a closed one."""
        with self.books:
            self.open.pop(request, None)
        super().shutdown_request(request)

    def serves(self, sock):
        """False once ``sock`` was cut (deadline, or its place taken)."""
        with self.books:
            return sock in self.open

    @contextlib.contextmanager
    def working(self, sock):
        """While the server works for ``sock`` its wait does not count; it starts again after."""
        self._since(sock, None)
        try:
            yield
        finally:
            self._since(sock, time.monotonic())

    def _since(self, sock, value):
        with self.books:
            if sock in self.open:
                self.open[sock].since = value

    def handle_error(self, request, client_address):
        """A client that hung up or timed out is not worth a traceback; anything else is."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server_version = "mxsoftmax-draw"
    sys_version = ""
    default_request_version = "HTTP/1.0"  # so that even a garbled request line gets a status line

    def setup(self):
        self.timeout = self.server.read_timeout  # StreamRequestHandler sets it on the socket
        super().setup()

    def parse_request(self):
        """http.server's parsing, then: a request line without an HTTP version is a 400 and a
        ``Host`` that is not this server a 421; a connection cut meanwhile is dropped."""
        if not super().parse_request():
            return False
        if not self.server.serves(self.connection):
            self.close_connection = True
            return False
        if len(self.requestline.split()) != 3:
            self.send_error(400, "the request line has no HTTP version: this server speaks "
                                 "HTTP/1.0 and HTTP/1.1.")
            return False
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0].strip().lower() not in self.server.host_names(self.connection):
            self.send_json(421, {"error": "this server answers requests for http://127.0.0.1:%d/ "
                                          "(or localhost, or the --host it was started with), "
                                          "not for Host %s: open the page by one of those addresses."
                                          % (self.server.server_address[1],
                                             "%r" % hosts[0][:100] if len(hosts) == 1
                                             else "headers: %d of them" % len(hosts))})
            return False
        return True

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/predict":
            return self.send_json(405, {"error": "/predict takes the drawing as a POST."},
                                  {"Allow": "POST"})
        found = self.server.files.get(path)
        if found is None:
            return self.send_json(404, {"error": "%s is not here: this server has only /, "
                                                 "/draw.css, /canvas.js, /draw.js and POST /predict."
                                                 % path})
        self.send_body(200, *found)

    do_HEAD = do_GET  # the same status and headers; send_body leaves the body out

    def do_POST(self):
        if urlsplit(self.path).path != "/predict":
            return self.refuse(404, "POST goes to /predict only.")
        problem = self.cross_origin()
        if problem:
            return self.refuse(403, problem)
        types = self.headers.get_all("Content-Type") or []
        kind = self.headers.get_content_type()  # text/plain when missing or unreadable
        if len(types) != 1 or not (kind == "application/octet-stream" or kind.startswith("image/")):
            return self.refuse(415, "send the picture as %s, not as %s." % (
                BODY_TYPES, "%r" % types[0][:100] if len(types) == 1
                else "a request without a Content-Type" if not types else "several types"))
        if not self.headers.get_all("Content-Length"):
            return self.send_json(411, {"error": "the request has no Content-Length: send the "
                                                 "image bytes as the body with their length."})
        length = self.declared_length()
        if length is None:
            return self.send_json(400, {"error": "the Content-Length is not one whole number."})
        if length > MAX_BODY:
            return self.refuse(413, "the image is %d bytes; at most %d MiB are accepted."
                                    % (length, MAX_BODY // 2 ** 20))
        try:
            body = self.rfile.read(length)
        except socket.timeout:  # TimeoutError since Python 3.10
            return self.send_json(408, {"error": "the body did not arrive in time."})
        if len(body) < length:
            return self.send_json(400, {"error": "the body is shorter than its Content-Length."})
        try:
            with self.server.working(self.connection):
                result = self.server.answer(body)
        except InvalidInput as err:
            return self.send_json(400, {"error": str(err)})
        except Exception as err:  # the server must go on; the traceback goes to the terminal
            self.log_error("while classifying: %r", err)
            traceback.print_exc()
            return self.send_json(500, {"error": "the server failed on this image (%s)."
                                                 % type(err).__name__})
        self.send_json(200, result)

    def cross_origin(self):
        """Why this POST is not from this server's own page, or None if it is (or from a program
        that sends no ``Origin`` and no ``Sec-Fetch-Site``, which browsers always send)."""
        site = (self.headers.get("Sec-Fetch-Site") or "same-origin").strip().lower()
        if site not in ("same-origin", "none"):
            return "/predict answers this server's own page only, not a %s request." % site[:40]
        origins = self.headers.get_all("Origin")
        own = "http://" + self.headers["Host"].strip().lower()
        if origins is not None and [o.strip().lower() for o in origins] != [own]:
            return ("/predict answers this server's own page (%s) only, not a request from %s."
                    % (own, "%r" % origins[0][:100] if len(origins) == 1 else "several origins"))
        return None

    def declared_length(self):
        """The one whole-number ``Content-Length``, or None."""
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) == 1 and re.fullmatch(r"[0-9]{1,20}", lengths[0].strip()):
            return int(lengths[0])
        return None

    def refuse(self, code, error):
        """Refuse a POST before its body is read, then drop the body so the client sees the answer."""
        self.send_json(code, {"error": error})
        self._drain(self.declared_length() or 0)

    def _drain(self, length, limit=4 * MAX_BODY, seconds=2):
        """Read and drop what the client still sends of a refused body (``limit`` bytes and
        ``seconds`` at most), so that it can read the answer: closing a socket that holds unread
        bytes resets the connection, and browsers then show a network error instead of the 413."""
        end = time.monotonic() + seconds
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)  # the answer is complete: the client may go
            self.connection.settimeout(seconds)
            while length > 0 and limit > 0 and time.monotonic() < end:
                chunk = self.rfile.read1(min(2 ** 16, length, limit))
                if not chunk:
                    break
                length, limit = length - len(chunk), limit - len(chunk)
        except OSError:
            pass

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (bad request line, unknown method, ...) as JSON too; none to a
        connection that was cut (its request line or head came in pieces)."""
        self.close_connection = True
        if not self.server.serves(self.connection):
            return
        self.send_json(code, {"error": message or HTTPStatus(code).phrase})

    def send_json(self, code, obj, headers=None):
        if code >= 400:
            self.close_connection = True  # a refused body may still be unread
        self.send_body(code, json.dumps(obj, allow_nan=False).encode("utf-8"),
                       "application/json; charset=utf-8", headers)

    def send_body(self, code, body, content_type, headers=None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in dict(HEADERS, **(headers or {})).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_error(self, format, *args):  # noqa: A002 (http.server's signature)
        """An idle connection timing out is normal (browsers keep them open): no line for it."""
        if not format.startswith("Request timed out"):
            super().log_error(format, *args)

    def log_request(self, code="-", size="-"):
        """Log refused requests only: a drawing sends one prediction every few strokes."""
        if isinstance(code, int) and code >= 400:
            super().log_request(code, size)
