"""The draw server: ``GET /`` is a page to draw on, ``POST /predict`` classifies the drawing.

Standard library only (``http.server.ThreadingHTTPServer``). Safe by default:

- only the files in :data:`STATIC` are served, looked up by exact path (nothing is joined to a
  folder, so ``..`` cannot reach other files); everything else is ``404``;
- a ``POST`` body is refused from its ``Content-Length`` before it is read (missing ``411``,
  not a number ``400``, over :data:`MAX_BODY` ``413``); each socket read times out and a whole
  connection is cut after a deadline, so a slow client cannot hold a thread;
- the image goes through :func:`images.load_image` like ``python -m mxsoftmax.predict``, and a
  picture it refuses is a ``400``; any other failure is a ``500``: the server goes on;
- every answer, errors included (as ``{"error": "..."}``), carries a charset, ``nosniff`` and a
  Content-Security-Policy that allows only this server's own script and style files.

Images are classified one at a time (a lock): MXNet's imperative API is not meant to be driven
from several Python threads at once, and it bounds the memory that decoding can take.
"""
import html
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

import mxnet as mx
import numpy as np

from . import catalog
from .classify import classify, evidence
from .errors import InvalidInput, InvalidType
from .images import load_image
from .runs import check_run

MAX_BODY = 2 ** 20  # bytes; a 280x280 canvas PNG is a few KiB
READ_TIMEOUT = 10   # seconds one socket read may wait
DEADLINE = 60       # seconds one connection may last in all
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC = {  # URL path -> (file in mxsoftmax/static, Content-Type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/draw.css": ("draw.css", "text/css; charset=utf-8"),
    "/draw.js": ("draw.js", "text/javascript; charset=utf-8"),
}
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


def answer(body, run, ctx):
    """The ``/predict`` JSON for image bytes: :func:`classify.classify`'s dict plus the view's data.

    Adds ``seen`` (the 28x28 input, ints 0-255) and ``evidence``: for each top-3 class its label,
    name, logit and ``map`` (28x28 pixel votes, :func:`classify.evidence`), and ``evidence_scale``,
    one colour scale for the three maps: the 98th percentile of the absolute votes of inked pixels
    (the largest few would leave the rest too pale to see; they saturate instead).
    Raises :class:`errors.InvalidInput` for bytes that are not a usable picture.
    """
    image = load_image(body, "auto", run.dataset, name="the request body")
    result = classify(image, run.params, run.class_names, ctx)
    labels = [top["label"] for top in result["top3"]]
    maps = evidence(image, run.params[0], labels)
    bias = run.params[1].asnumpy()
    result["seen"] = image.tolist()
    result["evidence"] = [{"label": k, "name": run.class_names[k], "logit": float(m.sum() + bias[k]),
                           "map": np.round(m, 5).tolist()} for k, m in zip(labels, maps)]
    votes = np.abs(maps[:, image > 0])
    result["evidence_scale"] = float(np.percentile(votes, 98)) if votes.size else 1.0
    return result


def page(run):
    """``index.html`` with the run's path, dataset and class names filled in (HTML-escaped)."""
    entry = catalog.DATASETS[run.dataset]
    dataset, thing = entry["title"], entry["thing"]
    text = _static("index.html").decode("utf-8")
    for key, value in (("run", str(run.path)), ("dataset", dataset), ("thing", thing),
                       ("classes", json.dumps(run.class_names))):
        text = text.replace("{{%s}}" % key, html.escape(value, quote=True))
    return text.encode("utf-8")


def _static(name):
    with open(os.path.join(STATIC_DIR, name), "rb") as f:
        return f.read()


class DrawServer(ThreadingHTTPServer):
    """Serves the page and ``/predict`` for one loaded :class:`runs.Run` on ``ctx``."""

    daemon_threads = True
    block_on_close = False  # Ctrl-C stops at once, whatever a slow client is still doing
    max_connections = 64  # each holds a thread (and a timer) until its deadline

    def __init__(self, address, run, ctx, read_timeout=READ_TIMEOUT, deadline=DEADLINE):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        if not isinstance(ctx, mx.Context):
            raise InvalidType("the draw server takes an mx.Context such as mx.cpu(), not %s."
                              % type(ctx).__name__)
        self.run, self.ctx = check_run(run), ctx
        self.read_timeout, self.deadline = read_timeout, deadline
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(self.max_connections)
        self.files = {path: (page(run) if name == "index.html" else _static(name), content_type)
                      for path, (name, content_type) in STATIC.items()}
        super().__init__(address, Handler)

    poll = None  # called between requests (at least every poll_interval); it may raise to stop

    def service_actions(self):
        """Run :attr:`poll`: how a signal stops the server. Raised from a signal handler instead,
        an exception could land inside a request's handling, which logs it and serves on."""
        super().service_actions()
        if self.poll:
            self.poll()

    def process_request(self, request, client_address):
        """Serve the connection in a thread, or close it at once when all slots are taken."""
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        """A client that hung up or timed out is not worth a traceback; anything else is."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server_version = "mxsoftmax-draw"
    sys_version = ""

    def setup(self):
        self.timeout = self.server.read_timeout  # StreamRequestHandler sets it on the socket
        super().setup()
        self.cutoff = threading.Timer(self.server.deadline, self._cut)
        self.cutoff.daemon = True
        self.cutoff.start()

    def finish(self):
        self.cutoff.cancel()
        super().finish()

    def _cut(self):
        """End a connection that outlived the deadline: its blocked read returns at once."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        found = self.server.files.get(urlsplit(self.path).path)
        if urlsplit(self.path).path == "/predict":
            return self.send_json(405, {"error": "/predict takes the drawing as a POST."},
                                  {"Allow": "POST"})
        if found is None:
            return self.send_json(404, {"error": "%s is not here: this server has only /, "
                                                 "/draw.css, /draw.js and POST /predict."
                                                 % urlsplit(self.path).path})
        self.send_body(200, *found)

    do_HEAD = do_GET  # the same status and headers; send_body leaves the body out

    def do_POST(self):
        if urlsplit(self.path).path != "/predict":
            return self.send_json(404, {"error": "POST goes to /predict only."})
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths:
            return self.send_json(411, {"error": "the request has no Content-Length: send the "
                                                 "image bytes as the body with their length."})
        if len(lengths) > 1 or not re.fullmatch(r"[0-9]{1,20}", lengths[0].strip()):
            return self.send_json(400, {"error": "the Content-Length is not one whole number."})
        length = int(lengths[0])
        if length > MAX_BODY:
            self.send_json(413, {"error": "the image is %d bytes; at most %d MiB are accepted."
                                          % (length, MAX_BODY // 2 ** 20)})
            return self._drain(length)
        try:
            body = self.rfile.read(length)
        except socket.timeout:  # TimeoutError since Python 3.10
            return self.send_json(408, {"error": "the body did not arrive in time."})
        if len(body) < length:
            return self.send_json(400, {"error": "the body is shorter than its Content-Length."})
        try:
            with self.server.lock:
                result = answer(body, self.server.run, self.server.ctx)
        except InvalidInput as err:
            return self.send_json(400, {"error": str(err)})
        except Exception as err:  # the server must go on; the traceback goes to the terminal
            self.log_error("while classifying: %r", err)
            traceback.print_exc()
            return self.send_json(500, {"error": "the server failed on this image (%s)."
                                                 % type(err).__name__})
        self.send_json(200, result)

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
        """http.server's own errors (bad request line, unknown method, ...) as JSON too."""
        self.close_connection = True
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
