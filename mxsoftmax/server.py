"""The draw server: ``GET /`` is a page to draw on, ``POST /predict`` classifies the drawing. Its guarantees
are README's "Drawing": a ``Host`` that is not this server is 421, a POST from another page 403, of no
picture 415; slow clients are bounded; every answer has :data:`HEADERS`."""
import contextlib
import ipaddress
import json
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np

from . import catalog
from .classify import classify, evidence
from .errors import InvalidInput
from .formats import fill, static, text
from .images import load_image
from .validation import CONSTRAINTS as C, validate_params

MAX_BODY = 2 ** 20     # bytes; a 280x280 canvas PNG is a few KiB
DECODERS = 4           # pictures decoded at once: bounds memory; one slow picture stalls no other
STATIC = {"/": ("index.html", "text/html"), "/draw.css": ("draw.css", "text/css"),
          "/canvas.js": ("canvas.js", "text/javascript"), "/draw.js": ("draw.js", "text/javascript")}
HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
           "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src "
                                      "'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                                      "frame-ancestors 'none'",
           "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-store"}


def host_name(address):
    """``address`` as a ``Host`` header spells it: lower case, IPv6 in brackets, IPv4-mapped IPv6 as IPv4."""
    address = address.strip().lower()
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return "[%s]" % ip if ip.version == 6 else str(ip)


def _one(values, none, several):
    """The one value of a header as a message shows it (short), else what is wrong with them."""
    return "%r" % values[0][:100] if len(values) == 1 else several if values else none


class DrawServer(ThreadingHTTPServer):
    """Serves the page and ``/predict`` for one :class:`runs.Run` on ``ctx``."""
    daemon_threads = True
    block_on_close = False  # Ctrl-C stops at once, whatever a slow client is still doing
    request_queue_size = 128  # listen backlog: a burst of connections waits, not SYN retries (1 s)
    max_connections = 64  # connections served at once (each holds a thread)
    read_timeout = 10  # seconds one socket read or write may wait
    wait = 10  # seconds one request may keep the server waiting on its client in all
    deadline = 60  # seconds one connection may last in all
    poll = None  # called between requests; it may raise to stop the server (a signal recorded)

    @validate_params({"run": C["run"], "ctx": C["ctx"]})
    def __init__(self, address, run, ctx):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.run, self.ctx, self.host = run, ctx, address[0]
        self.W, self.b = (p.asnumpy() for p in run.params)  # for the views, outside the lock
        self.lock, self.decoders = threading.Lock(), threading.BoundedSemaphore(DECODERS)
        self.books, self.open = threading.Lock(), {}  # socket -> [born, waiting since or None]
        self.threads = threading.BoundedSemaphore(2 * self.max_connections)  # served or ending
        entry = catalog.DATASETS[run.dataset]  # the page shows the run's path, data set and classes
        index = fill("index.html", run=text(run.path), dataset=text(entry["title"]),
                     thing=text(entry["thing"]), classes=text(json.dumps(run.class_names)))
        self.files = {path: (index if name == "index.html" else static(name).encode("utf-8"),
                             kind + "; charset=utf-8") for path, (name, kind) in STATIC.items()}
        super().__init__(address, Handler)

    def answer(self, body):
        """The ``/predict`` JSON for image bytes: :func:`.classify`'s, ``seen``, ``bias``, ``evidence``."""
        with self.decoders:
            image = load_image(body, "auto", self.run.dataset, name="the request body")
        with self.lock:  # MXNet's imperative API is not meant for several threads at once
            result = classify(image, self.run.params, self.run.class_names, self.ctx)
        maps = evidence(image, self.W, [top["label"] for top in result["top3"]])
        votes = np.abs(maps[:, image > 0])  # one colour scale for the maps, where a few pixels saturate
        return dict(result, bias=self.b.tolist(), seen=image.tolist(), evidence=[
            dict(top, votes=float(m.sum()), bias=float(self.b[top["label"]]), map=np.round(m, 5).tolist())
            for top, m in zip(result["top3"], maps)],
            evidence_scale=float(np.percentile(votes, 98)) if votes.size else 1.0)

    def host_names(self, sock):
        """The ``Host`` values answered on ``sock``: loopback, the host given and the address ``sock`` came
        to, with the port (also without it on port 80, as browsers send it)."""
        port = self.server_address[1]
        names = {"127.0.0.1", "localhost", "[::1]", host_name(self.host)}
        with contextlib.suppress(OSError):
            names.add(host_name(sock.getsockname()[0]))
        names.discard("")  # "" listens everywhere: it is no name
        return {"%s:%d" % (name, port) for name in names} | (names if port == 80 else set())

    def service_actions(self):
        """Cut connections past ``deadline`` or waiting over ``wait``; run :attr:`poll` between requests."""
        now = time.monotonic()
        with self.books:
            for sock, (born, since) in list(self.open.items()):
                if now - born > self.deadline or since is not None and now - since > self.wait:
                    self._cut(sock)
        if self.poll:
            self.poll()

    def _cut(self, sock):
        """End a connection at once (under ``books``): a read blocked on it returns."""
        del self.open[sock]
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def process_request(self, request, client_address):
        """Serve the connection in a thread if a thread and a place are free, the place of the one that
        has kept the server waiting longest when all are taken; else close it."""
        with self.books:
            waiting = [sock for sock, (_, since) in self.open.items() if since is not None]
            full = len(self.open) >= self.max_connections
            if (waiting or not full) and self.threads.acquire(blocking=False):
                if full:
                    self._cut(min(waiting, key=lambda sock: self.open[sock][1]))
                self.open[request] = [time.monotonic()] * 2
                return super().process_request(request, client_address)
        self.shutdown_request(request)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.threads.release()

    def shutdown_request(self, request):
        """Forget the connection before closing it, so that a closed one is never cut."""
        with self.books:
            self.open.pop(request, None)
        super().shutdown_request(request)

    def since(self, sock, value):
        """``sock`` keeps the server waiting since ``value`` (None: the server works for it)."""
        with self.books:
            if sock in self.open:
                self.open[sock][1] = value

    def handle_error(self, request, client_address):
        """A client that hung up or timed out is not worth a traceback; anything else is."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """One connection of :class:`DrawServer`: every refusal is :meth:`send_error`'s JSON."""
    server_version, sys_version = "mxsoftmax-draw", ""
    default_request_version = "HTTP/1.0"  # so that even a garbled request line gets a status line
    timeout = property(lambda self: self.server.read_timeout)  # each socket operation's bound

    def parse_request(self):
        """http.server's, then: nothing for a cut connection, no HTTP version 400, a foreign ``Host`` 421."""
        if not (super().parse_request() and self.connection in self.server.open):
            return False  # a cut connection's next read ends it
        if len(self.requestline.split()) != 3:  # HTTP/0.9: no headers (Python 3.14: a dict)
            return self.send_error(400, "the request line has no HTTP version: this server speaks HTTP/1.0 "
                                        "and HTTP/1.1.")
        hosts = self.headers.get_all("Host") or []
        if len(hosts) == 1 and hosts[0].strip().lower() in self.server.host_names(self.connection):
            return True
        shown = _one(hosts, "headers: 0 of them", "headers: %d of them" % len(hosts))
        return self.send_error(421, "this server answers requests for http://127.0.0.1:%d/ (or localhost, or "
                                    "the --host it was started with), not for Host %s: open the page by one "
                                    "of those addresses." % (self.server.server_address[1], shown))

    def do_GET(self):
        """One of :data:`STATIC`, by exact path."""
        path = urlsplit(self.path).path
        if path == "/predict":
            return self.send(405, {"error": "/predict takes the drawing as a POST."}, Allow="POST")
        if path not in self.server.files:
            return self.send_error(404, "%s is not here: this server has only %s and POST /predict."
                                   % (path, ", ".join(STATIC)))
        self.send(200, *self.server.files[path])

    do_HEAD = do_GET  # the same status and headers; send leaves the body out

    def do_POST(self):
        """``/predict``: the answer for the picture in the body, or the reason it is refused."""
        lengths = self.headers.get_all("Content-Length") or []
        given = lengths[0].strip() if len(lengths) == 1 else ""
        length = int(given) if given.isdecimal() and len(given) <= 20 else None  # isdecimal: int() takes it
        refusal = self.refusal(lengths, length)
        if refusal:
            self.send_error(*refusal)
            return self.drain(length or 0)
        try:
            body = self.rfile.read(length)
        except socket.timeout:  # TimeoutError since Python 3.10
            return self.send_error(408, "the body did not arrive in time.")
        if len(body) < length:
            return self.send_error(400, "the body is shorter than its Content-Length.")
        self.server.since(self.connection, None)  # the server works: the client does not wait
        try:
            result = self.server.answer(body)
        except InvalidInput as err:
            return self.send_error(400, str(err))
        except Exception as err:  # the server must go on; the traceback goes to the terminal
            self.log_error("while classifying: %r", err)  # with its time; not handle_error, which
            traceback.print_exc()  # would say nothing of a ConnectionError or TimeoutError of ours
            return self.send_error(500, "the server failed on this image (%s)." % type(err).__name__)
        finally:
            self.server.since(self.connection, time.monotonic())
        self.send(200, result)

    def refusal(self, lengths, length):
        """(status, sentence) for a POST refused before its body is read, or None."""
        if urlsplit(self.path).path != "/predict":
            return 404, "POST goes to /predict only."
        site = (self.headers.get("Sec-Fetch-Site") or "same-origin").strip().lower()
        origins, own = self.headers.get_all("Origin"), "http://" + self.headers["Host"].strip().lower()
        types, kind = self.headers.get_all("Content-Type") or [], self.headers.get_content_type()
        if site not in ("same-origin", "none"):  # browsers always send it, programs need not
            return 403, "/predict answers this server's own page only, not a %s request." % site[:40]
        if origins is not None and [o.strip().lower() for o in origins] != [own]:
            return 403, "/predict answers this server's own page (%s) only, not a request from %s." % (
                own, _one(origins, "", "several origins"))
        if len(types) != 1 or not (kind == "application/octet-stream" or kind.startswith("image/")):
            return 415, "send the picture as application/octet-stream or image/* (such as image/png), not " \
                        "as %s." % _one(types, "a request without a Content-Type", "several types")
        if not lengths:
            return 411, "the request has no Content-Length: send the image bytes as the body with their " \
                        "length."
        if length is None:
            return 400, "the Content-Length is not one whole number."
        if length > MAX_BODY:
            return 413, "the image is %d bytes; at most %d MiB are accepted." % (length, MAX_BODY // 2 ** 20)
        return None

    def drain(self, length):
        """Drop what the client still sends of a refused body (4 MiB and 2 s at most): closing a socket
        holding unread bytes resets it, and browsers lose the answer."""
        length, end = min(length, 4 * MAX_BODY), time.monotonic() + 2
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)  # the answer is complete: the client may go
            self.connection.settimeout(2)
            while length > 0 and time.monotonic() < end and (chunk := self.rfile.read1(min(2 ** 16, length))):
                length -= len(chunk)

    def send_error(self, code, message=None, explain=None):
        """Every refusal, http.server's own included, as JSON."""
        self.send(code, {"error": message or self.responses[code][0]})

    def send(self, code, body, content_type="application/json; charset=utf-8", **headers):
        """The status line, :data:`HEADERS` and ``headers``, and the body (a dict as JSON) unless for HEAD,
        to a connection not cut; after an error, close it (a refused body may be unread)."""
        self.close_connection = self.close_connection or code >= 400
        if self.connection not in self.server.open:  # cut (a dict lookup needs no lock)
            return
        if isinstance(body, dict):
            body = json.dumps(body, allow_nan=False).encode("utf-8")
        self.send_response(code)
        headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **HEADERS, **headers}
        if self.close_connection:
            headers["Connection"] = "close"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_error(self, format, *args):  # noqa: A002 (http.server's signature)
        if not format.startswith("Request timed out"):  # browsers keep idle connections open
            super().log_error(format, *args)

    def log_request(self, code="-", size="-"):
        if isinstance(code, int) and code >= 400:  # a drawing sends one prediction every few strokes
            super().log_request(code, size)
