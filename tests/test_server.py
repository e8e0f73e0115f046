"""mxsoftmax.server: the JSON endpoint and its numbers, every refused request (wrong Host, other
origins, CORS-simple bodies, garbled request lines, slow clients), the page's template, and the
page itself drawn on with pointer events in headless Chromium (Debian's chromium and
chromium-driver), where the answer shown is always the answer to the whole drawing."""
import base64
import http.client
import io
import json
import os
import re
import select
import shutil
import socket
import threading
import time

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

import images_bombs
from conftest import png_header, request
from mxsoftmax import images, server
from mxsoftmax.classify import classify
from mxsoftmax import predict
from mxsoftmax.runs import load_run


def serve(run_dir, **options):
    """A DrawServer of ``run_dir`` on a free port of 127.0.0.1, serving in a thread; ``options``
    replace its timeouts."""
    app = server.DrawServer(("127.0.0.1", 0), load_run(run_dir, mx.cpu()), mx.cpu())
    vars(app).update(options)
    threading.Thread(target=app.serve_forever, kwargs={"poll_interval": .1}, daemon=True).start()
    return app


@pytest.fixture(scope="module")
def app(run_dir):
    """The draw server of ``run_dir`` in a thread of this process (the command line's own start is
    tested in test_draw.py)."""
    app = serve(run_dir)
    yield app
    app.shutdown()
    app.server_close()


@pytest.fixture
def port(app):
    return app.server_address[1]


def post(port, body, kind="image/png", headers=None, timeout=10):
    """POST /predict as a program does: no Origin, the given Content-Type."""
    return request(port, "POST", "/predict", body, dict({"Content-Type": kind}, **(headers or {})),
                   timeout)


def raw(port, data, wait=10):
    """Send ``data`` as it is; returns (status, headers as a dict, JSON body) of the answer.
    Fails the test on an answer without a status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert re.fullmatch(r"HTTP/1\.[01] \d{3} .*", lines[0]), answer[:200]
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def png(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def a_drawing():
    """A white bar on black, like a stroke on the page."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[40:240, 120:160] = 255
    return png(canvas)


def test_page_and_its_files_are_served_with_strict_headers(port, run_dir):
    status, headers, body = request(port, "GET", "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp and "unsafe" not in csp
    page = body.decode()
    assert "Fashion-MNIST" in page and run_dir in page and "Ankle boot" in page
    assert "{{" not in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/canvas.js" defer>',
                                                  '<script src="/draw.js" defer>']
    assert " style=" not in page and not re.search(r"<[^>]+\son[a-z]+=", page)  # nothing inline
    for path, kind in (("/canvas.js", "text/javascript"), ("/draw.js", "text/javascript"),
                       ("/draw.css", "text/css")):
        status, headers, body = request(port, "GET", path)
        assert status == 200 and headers["Content-Type"] == kind + "; charset=utf-8" and body


def test_a_run_path_with_template_markers_is_shown_as_written(run_dir):
    """A value is put into the page once: ``{{classes}}`` in a run's path stays literal text."""
    run = load_run(run_dir, mx.cpu())
    path = '/tmp/{{classes}} {{run}} {{dataset}} <b>"&\'</b>'
    app = server.DrawServer(("127.0.0.1", 0), run._replace(path=path), mx.cpu())
    app.server_close()
    page = app.files["/"][0].decode()
    title = re.search(r"<title>(.*)</title>", page).group(1)
    assert title.endswith(" · /tmp/{{classes}} {{run}} {{dataset}} "
                          "&lt;b&gt;&quot;&amp;&#x27;&lt;/b&gt;"), title
    classes = re.search(r'data-classes="([^"]*)"', page).group(1)
    assert json.loads(classes.replace("&quot;", '"').replace("&#x27;", "'")
                      .replace("&amp;", "&")) == run.class_names
    assert page.count("Ankle boot") == 1  # the class names only in data-classes
    assert page.count("{{") == 6 and "<b>" not in page  # the path twice: title and heading
    assert re.search(r"<code>(.*)</code>", page).group(1) == title.split(" · ")[-1]


def test_a_run_folder_named_in_another_encoding_is_served_its_page(run_dir, tmp_path):
    """Names are data (issue 26): a folder name whose bytes are not UTF-8 shows as U+FFFD."""
    out = os.path.join(str(tmp_path), os.fsdecode(b"run\xff"))
    shutil.copytree(run_dir, out)
    app = serve(out)
    try:
        status, _, body = request(app.server_address[1], "GET", "/")
        assert status == 200 and "run\ufffd" in body.decode("utf-8")
    finally:
        app.shutdown()
        app.server_close()


def test_a_test_set_image_gets_its_label_as_predict_gives_it(port, run_dir, fashion_subset,
                                                             tmp_path, capsys):
    run = load_run(run_dir, mx.cpu())
    test_images, labels = fashion_subset.test
    for image, label in zip(test_images[:100, ..., 0], labels[:100]):
        seen = images.load_image(png(image), dataset=run.dataset)
        if classify(seen, run.params, run.class_names, mx.cpu())["label"] == label:
            break
    else:
        pytest.fail("the run classifies none of the first 100 test images right")
    status, headers, body = post(port, png(image))
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    answer = json.loads(body, parse_constant=lambda c: pytest.fail("%s in the JSON" % c))
    assert answer["label"] == label and answer["name"] == run.class_names[label]
    assert len(answer["probabilities"]) == 10 and abs(sum(answer["probabilities"]) - 1) < 1e-5
    assert [t["label"] for t in answer["top3"]][0] == label
    assert [t["probability"] for t in answer["top3"]] == sorted(
        answer["probabilities"], reverse=True)[:3]
    np.testing.assert_array_equal(np.array(answer["seen"]), seen)
    assert [e["label"] for e in answer["evidence"]] == [t["label"] for t in answer["top3"]]
    assert np.array(answer["evidence"][0]["map"]).shape == (28, 28) and answer["evidence_scale"] > 0
    # The scores against numpy: x W + b, softmax of them, the votes plus b; one word, no "logit".
    W, b = (p.asnumpy().astype(np.float64) for p in run.params)
    scores = seen.reshape(-1) / 255 @ W + b
    np.testing.assert_allclose(answer["scores"], scores, rtol=1e-5, atol=1e-5)
    assert answer["score"] == answer["scores"][label] == answer["top3"][0]["score"]
    np.testing.assert_allclose(answer["probabilities"], np.exp(scores) / np.exp(scores).sum(),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(answer["bias"], b, rtol=1e-6)
    for item in answer["evidence"]:
        k = item["label"]
        assert item["bias"] == answer["bias"][k] and item["score"] == answer["scores"][k]
        votes = (seen / 255 * W[:, k].reshape(28, 28)).sum()
        assert item["votes"] == pytest.approx(votes, abs=1e-4)
        assert item["votes"] + item["bias"] == pytest.approx(item["score"], abs=1e-4)
    assert "logit" not in json.dumps(answer)
    path = tmp_path / "item.png"  # the same bytes through python -m mxsoftmax.predict
    path.write_bytes(png(image))
    assert predict.main(["--params", run_dir, "--json", str(path)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["label"], row["probability"]) == (label, answer["probability"])


def test_bad_requests_are_refused_and_the_server_keeps_answering(port):
    posts = [  # body, status, part of the error
        (b"this is not an image", 400, "is not an image Pillow can read"),
        (b"", 400, "is empty"),
        (png(np.zeros((280, 280), np.uint8)), 400, "is blank"),
        (png_header(100000, 100000), 400, "decompression bomb"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 400, "not an image"),
        (images_bombs.gray_tiff(10, 10, {322: (2, b"abc\0")}), 400, "TIFF tag 322 (TileWidth) of 'abc'"),
        (b"x" * (server.MAX_BODY + 1), 413, "at most 1 MiB"),
    ]
    for body, status, error in posts:
        got, headers, answer = post(port, body, "application/octet-stream")
        assert got == status and error in json.loads(answer)["error"], (got, answer)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert request(port, "GET", "/")[0] == 200
    host = b"Host: 127.0.0.1:%d\r\n" % port
    png_type = b"Content-Type: image/png\r\n"
    raws = [  # what http.client would not send
        (b"POST /predict HTTP/1.1\r\n" + host + png_type + b"Content-Length: 5000000\r\n\r\nabc", 413),
        (b"POST /predict HTTP/1.1\r\n" + host + png_type
         + b"Content-Length: %d\r\n\r\n" % (server.MAX_BODY + 1), 413),
        (b"POST /predict HTTP/1.1\r\n" + host + png_type + b"\r\n", 411),
        (b"POST /predict HTTP/1.1\r\n" + host + png_type + b"Content-Length: -5\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\n" + host + png_type + b"Content-Length: 1e3\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\n" + host + png_type + b"Content-Length: \xb2\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\n" + host + png_type
         + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"GET /../etc/passwd HTTP/1.1\r\n" + host + b"\r\n", 404),
        (b"GET /static/../server.py HTTP/1.1\r\n" + host + b"\r\n", 404),
        (b"GET /%2e%2e/mxsoftmax/server.py HTTP/1.1\r\n" + host + b"\r\n", 404),
        (b"GET /draw.js/../../server.py HTTP/1.1\r\n" + host + b"\r\n", 404),
        (b"GET /index.html HTTP/1.1\r\n" + host + b"\r\n", 404),
        (b"GET /server.py HTTP/1.1\r\n" + host + b"\r\n", 404),
        (b"POST /draw.js HTTP/1.1\r\n" + host + b"Content-Length: 0\r\n\r\n", 404),
        (b"GET /predict HTTP/1.1\r\n" + host + b"\r\n", 405),
        (b"DELETE / HTTP/1.1\r\n" + host + b"\r\n", 501),
        (b"OPTIONS /predict HTTP/1.1\r\n" + host + b"Origin: http://evil.example\r\n"
         b"Access-Control-Request-Method: POST\r\n\r\n", 501),  # no CORS preflight is granted
    ]
    for data, status in raws:
        start = time.monotonic()
        got, headers, answer = raw(port, data)
        assert got == status and answer["error"], (data, got, answer)
        assert "Access-Control-Allow-Origin" not in headers
        assert time.monotonic() - start < 5, data  # refused at once, not after a timeout
        assert request(port, "GET", "/")[0] == 200
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("HEAD", "/")
    head = conn.getresponse()
    assert head.status == 200 and int(head.getheader("Content-Length")) > 0 and head.read() == b""
    conn.close()


def test_garbled_request_lines_get_a_status_line_and_the_security_headers(port):
    for line, fragment in ((b"\x16\x03\x01 not http at all", "Bad request version"),
                           (b"GET / HTTP/1.1 extra", "Bad request version"),
                           (b"GET / HTTP/1.x", "Bad request version"),
                           (b"GARBAGE", "Bad request syntax"),
                           (b"GET /", "no HTTP version"),  # HTTP/0.9
                           (b"GET / HTTP/2.0", "Invalid HTTP version")):
        got, headers, answer = raw(port, line + b"\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
        assert got in (400, 505) and fragment in answer["error"], (line, got, answer)
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        for name, value in server.HEADERS.items():
            assert headers[name] == value, (line, name)
    assert request(port, "GET", "/")[0] == 200


def test_a_host_other_than_this_server_is_refused(port):
    """DNS rebinding: a page of attacker.example whose name now points at 127.0.0.1."""
    for host in ("attacker.example:%d" % port, "attacker.example", "127.0.0.1:%d" % (port + 1),
                 "127.0.0.1", "localhost.:%d" % port, "127.0.0.1:%d.evil.example" % port,
                 "%d" % port, ""):
        for method, path in (("GET", "/"), ("GET", "/draw.js"), ("POST", "/predict")):
            data = b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: image/png\r\n" \
                   b"Content-Length: 0\r\n\r\n" % (method.encode(), path.encode(), host.encode())
            got, headers, answer = raw(port, data)
            assert got == 421 and "http://127.0.0.1:%d/" % port in answer["error"], (host, answer)
            assert headers["X-Content-Type-Options"] == "nosniff"
    for data, shown in ((b"GET / HTTP/1.0\r\n\r\n", "headers: 0 of them"),  # no Host at all
                        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nHost: evil.example\r\n\r\n" % port,
                         "headers: 2 of them")):
        got, _, answer = raw(port, data)
        assert got == 421 and "not for Host %s:" % shown in answer["error"], answer
    for host in ("127.0.0.1:%d" % port, "localhost:%d" % port, "LocalHost:%d" % port,
                 "[::1]:%d" % port):
        got, headers, _ = request(port, "GET", "/", headers={"Host": host})
        assert got == 200, host


def test_a_post_from_another_origin_or_with_a_simple_body_type_is_refused(port):
    own = "http://127.0.0.1:%d" % port
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": "http://localhost:%d" % port},  # another origin, same machine
                    {"Origin": "https://127.0.0.1:%d" % port}, {"Origin": own + ".evil.example"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": own, "Sec-Fetch-Site": "cross-site"}):
        got, _, body = post(port, a_drawing(), headers=headers)
        assert got == 403 and "own page" in json.loads(body)["error"], (headers, body)
    for kind in ("text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "application/json", None):
        headers = {"Origin": own, "Sec-Fetch-Site": "same-origin"}
        got, _, body = request(port, "POST", "/predict", a_drawing(),
                               dict(headers, **({"Content-Type": kind} if kind else {})))
        assert got == 415 and "image/png" in json.loads(body)["error"], (kind, body)
    answers = []
    for kind, headers in (("image/png", {"Origin": own, "Sec-Fetch-Site": "same-origin"}),
                          ("IMAGE/PNG", {"Origin": own.upper()}),
                          ("application/octet-stream", {}),  # curl: no Origin, right Host
                          ("image/jpeg", {"Sec-Fetch-Site": "none"})):  # bytes decide, not type
        got, _, body = post(port, a_drawing(), kind, headers)
        assert got == 200, (kind, headers, body)
        answers.append(json.loads(body))
    assert all(a == answers[0] for a in answers)


def test_a_slow_picture_does_not_stall_the_others(app, port, monkeypatch):
    """Decoding runs outside the model's lock: while one picture decodes, others are answered."""
    slow, entered, release = a_drawing() + b"slow", threading.Event(), threading.Event()
    decode = server.load_image

    def load_image(body, *args, **kwargs):
        if body == slow:
            entered.set()
            release.wait(30)
        return decode(body, *args, **kwargs)
    monkeypatch.setattr(server, "load_image", load_image)
    results = []
    first = threading.Thread(target=lambda: results.append(post(port, slow)[0]))
    first.start()
    try:
        assert entered.wait(10)
        for _ in range(3):
            assert post(port, a_drawing(), timeout=5)[0] == 200
        assert first.is_alive() and not results  # the slow one is still decoding
    finally:
        release.set()
        first.join(20)
    assert results == [200]


def test_four_hostile_pictures_at_once_leave_a_drawing_answered(port):
    """Four bodies that are small and costly to decode posted at once, as many as there are
    decoders: a many-scan JPEG dressed as an MPO (minutes of CPU), a 1.4 KB WebP of 36 megapixels
    (550 MiB), a TIFF whose tile is declared 32768x32768 (1 GiB) and a JPEG of 150,000 empty
    segments: each is refused in one sentence before it decodes, and a drawing posted meanwhile
    is answered."""
    hostile = [images_bombs.as_mpo(images_bombs.many_scan_jpeg(4000, 5000)),
               images_bombs.lossless_webp(6000), images_bombs.tile_bomb_tiff(64, 32768),
               images_bombs.many_pieces("jpeg")]
    assert len(hostile) == server.DECODERS and all(len(body) < server.MAX_BODY for body in hostile)
    answers = [None] * len(hostile)

    def send(i):
        answers[i] = post(port, hostile[i], timeout=60)
    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(hostile))]
    for thread in threads:
        thread.start()
    try:
        status, _, answer = post(port, a_drawing(), timeout=20)
    finally:
        for thread in threads:
            thread.join(60)
    assert status == 200 and json.loads(answer)["label"] in range(10)
    assert [a[0] for a in answers] == [400] * 4, answers
    errors = [json.loads(a[2])["error"] for a in answers]
    assert all(re.search(r"more than \d+ (scans|pieces)|would take \d+(\.\d)? MiB to decode",
                         error) for error in errors), errors


def test_slow_clients_do_not_starve_a_normal_one(run_dir):
    """70 clients sending one header line a second hold their connections; a normal client is
    still answered, each time, while they do."""
    app = serve(run_dir)
    port = app.server_address[1]
    slow = []
    try:
        for _ in range(70):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port)
            slow.append(sock)
        for second in range(3):
            time.sleep(1)
            for i, sock in enumerate(slow):
                try:
                    sock.sendall(b"X-Slow-%d: %d\r\n" % (i, second))
                except OSError:
                    pass
            assert request(port, "GET", "/", timeout=5)[0] == 200
            assert sum(connected(sock) for sock in slow) >= 60  # the slow ones are still there
    finally:
        for sock in slow:
            sock.close()
        app.shutdown()
        app.server_close()


def connected(sock):
    """True while the server keeps ``sock`` open (nothing to read, no end of stream)."""
    try:
        return not select.select([sock], [], [], 0)[0] or sock.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False


def test_slow_clients_are_cut_off(run_dir):
    """A body that stops coming gets a 408; a client that trickles is cut at the deadline."""
    app = serve(run_dir, read_timeout=.6, deadline=1.2)
    port = app.server_address[1]
    try:
        start = time.monotonic()
        got, _, answer = raw(port, b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                   b"Content-Type: image/png\r\nContent-Length: 100\r\n\r\nshort"
                                   % port)
        assert got == 408 and time.monotonic() - start < 5
        for options in ({"read_timeout": .6, "deadline": 1.2}, {"wait": 1.2}):
            app.read_timeout = options.get("read_timeout", 10)
            app.deadline, app.wait = options.get("deadline", 60), options.get("wait", 10)
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                start, cut = time.monotonic(), False
                for byte in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 100:  # one byte every 0.2 s
                    try:
                        sock.sendall(bytes([byte]))
                        if select.select([sock], [], [], .2)[0]:
                            cut = sock.recv(1) == b""
                            break
                    except OSError:
                        cut = True
                        break
                elapsed = time.monotonic() - start
            assert cut and 1 < elapsed < 4, (options, cut, elapsed)
            assert request(port, "GET", "/")[0] == 200
    finally:
        app.shutdown()
        app.server_close()


def test_a_full_server_replaces_its_longest_waiting_connection(run_dir, monkeypatch):
    app = serve(run_dir, read_timeout=5, deadline=20, wait=20)
    app.max_connections = 3
    port = app.server_address[1]
    idle, release = [], threading.Event()
    try:
        for _ in range(3):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            time.sleep(.1)
        assert request(port, "GET", "/")[0] == 200  # served in the place of the oldest idle one
        assert idle[0].recv(1) == b"" and connected(idle[1]) and connected(idle[2])
        for sock in idle:
            sock.close()
        # Three requests the server is working for are not replaced: a fourth is closed at once.
        entered, answer = threading.Semaphore(0), app.answer

        def held(body):
            entered.release()
            release.wait(20)
            return answer(body)
        monkeypatch.setattr(app, "answer", held)
        working = [threading.Thread(target=post, args=(port, a_drawing())) for _ in range(3)]
        for thread in working:
            thread.start()
        for _ in working:
            assert entered.acquire(timeout=10)
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
            request(port, "GET", "/")
        release.set()
        for thread in working:
            thread.join(20)
        assert request(port, "GET", "/")[0] == 200
    finally:
        release.set()
        app.shutdown()
        app.server_close()


def test_a_run_built_by_hand_is_checked_before_the_server_listens(run_dir):
    from mxsoftmax.errors import InvalidInput, InvalidValue
    from mxsoftmax.validation import CONSTRAINTS
    run = load_run(run_dir, mx.cpu())
    for bad, fragment in ((run._replace(dataset="cifar"), "dataset must be one of mnist, fashion"),
                          (run._replace(class_names=["a"] * 9), "a list of 10 class names"),
                          (run._replace(params=run.params[::-1]),
                           r"model must be \[W, b\]")):
        with pytest.raises(InvalidInput, match=fragment):
            server.DrawServer(("127.0.0.1", 0), bad, mx.cpu())
    with pytest.raises(InvalidInput, match="an mx.Context"):
        server.DrawServer(("127.0.0.1", 0), run, "cpu")
    for param in ("run", "ctx"):
        for value in CONSTRAINTS[param].invalid_examples():
            with pytest.raises(InvalidValue) as refused:
                server.DrawServer(("127.0.0.1", 0), **dict(dict(run=run, ctx=mx.cpu()), **{param: value}))
            assert refused.value.param == param


# The page in a real browser.

def stroke(driver, element, points, kind, duration=250):
    """Press, move through ``points`` (fractions of the element's size) and lift one pointer;
    each move takes ``duration`` ms (0: the whole stroke at once, faster than the page's
    debounce)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    actions = ActionBuilder(driver, mouse=PointerInput(kind, kind), duration=duration)
    box = element.rect
    at = [(int(box["width"] * (x - .5)), int(box["height"] * (y - .5))) for x, y in points]
    actions.pointer_action.move_to(element, *at[0]).pointer_down()
    for (x0, y0), (x1, y1) in zip(at, at[1:]):
        for step in range(1, 7):
            actions.pointer_action.move_to(element, x0 + (x1 - x0) * step // 6,
                                           y0 + (y1 - y0) * step // 6)
    actions.pointer_action.pointer_up()
    actions.perform()


def state(driver):
    """#answer's data-sent, data-shown and data-pending as ints."""
    return driver.execute_script(
        "const d = document.getElementById('answer').dataset;"
        "return [+d.sent, +d.shown, +d.pending];")


def settled(driver):
    """True when no request is out and the answer shown is the latest drawing's."""
    sent, shown, pending = state(driver)
    return pending == 0 and sent > 0 and shown == sent


def shown(driver):
    """What the page shows: label, probability text, bar values and the 28x28 'seen' pixels."""
    return driver.execute_script(
        "const c = document.getElementById('seen');"
        "const d = c.getContext('2d').getImageData(0, 0, 28, 28).data;"
        "const seen = []; for (let i = 0; i < d.length; i += 4) seen.push(d[i]);"
        "return {label: document.getElementById('label').textContent,"
        "        probability: document.getElementById('probability').textContent,"
        "        score: document.getElementById('score').textContent,"
        "        bars: [...document.querySelectorAll('#bars .value')].map(v => v.textContent),"
        "        captions: [...document.querySelectorAll('#maps figcaption')].map(f => f.textContent),"
        "        seen: seen};")


def canvas_answer(driver, port):
    """``POST /predict`` of the canvas as it is now (read by the test, not by the page)."""
    url = driver.execute_script("return document.getElementById('pad').toDataURL('image/png')")
    status, _, body = post(port, base64.b64decode(url.split(",", 1)[1]))
    assert status == 200, body
    return json.loads(body)


def assert_shows(page, answer):
    """The page shows ``answer``: same label, probabilities, scores and the same 28x28 input."""
    assert page["label"] == str(answer["label"])
    assert page["probability"] == "p = %.3f" % answer["probability"]
    assert page["bars"] == ["%.1f%%" % (100 * p) for p in answer["probabilities"]]
    assert page["score"] == "score " + sign(answer["score"])
    assert page["seen"] == np.array(answer["seen"]).reshape(-1).tolist()
    for caption, item in zip(page["captions"], answer["evidence"]):
        assert caption.endswith("votes %s + b %s = score %s" % (
            sign(item["votes"]), sign(item["bias"]), sign(item["score"]))), caption


def sign(x):
    return ("\u2212" if x < 0 else "+") + "%.2f" % abs(x)


def test_drawing_in_a_real_browser_shows_the_answer(driver, port, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get("http://127.0.0.1:%d/" % port)
    assert "Fashion-MNIST" in driver.title
    pad = driver.find_element(By.ID, "pad")
    label = driver.find_element(By.ID, "label")
    assert label.text == "?" and len(driver.find_elements(By.CSS_SELECTOR, "#bars li")) == 10

    def answered(_):
        return label.text != "?" and len(driver.find_elements(By.CSS_SELECTOR, "#maps canvas")) == 3
    stroke(driver, pad, [(.5, .15), (.5, .85)], "mouse")  # a vertical bar
    WebDriverWait(driver, 15).until(answered)
    bars = driver.find_elements(By.CSS_SELECTOR, "#bars li")
    assert len(bars) == 10 and sum("top" in b.get_attribute("class") for b in bars) == 1
    widths = driver.execute_script(
        "return [...document.querySelectorAll('#bars .fill')].map(f => f.style.width)")
    assert len(widths) == 10 and max(float(w.rstrip("%")) for w in widths) > 10
    seen = driver.execute_script(
        "const c = document.getElementById('seen');"
        "const d = c.getContext('2d').getImageData(0, 0, 28, 28).data;"
        "let lit = 0; for (let i = 0; i < d.length; i += 4) lit += d[i] > 0;"
        "return [c.width, c.height, lit];")
    assert seen[:2] == [28, 28] and 20 <= seen[2] < 28 * 28, seen
    WebDriverWait(driver, 15).until(settled)
    assert_shows(shown(driver), canvas_answer(driver, port))
    driver.save_screenshot(str(tmp_path / "drawn.png"))
    print("screenshot:", tmp_path / "drawn.png")

    driver.find_element(By.ID, "clear").click()
    WebDriverWait(driver, 5).until(lambda _: label.text == "?")
    stroke(driver, pad, [(.2, .3), (.8, .3), (.8, .7), (.2, .7)], "touch")
    WebDriverWait(driver, 15).until(answered)
    problems = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not problems, problems  # e.g. a Content-Security-Policy violation


def test_right_after_the_pen_lifts_the_answer_is_for_the_whole_drawing(driver, port):
    """A 4 in two strokes: the request sent as the second stroke ends is the last one, and its
    answer, shown, is the answer to the whole canvas."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get("http://127.0.0.1:%d/" % port)
    pad = driver.find_element(By.ID, "pad")
    stroke(driver, pad, [(.35, .15), (.25, .55), (.75, .55)], "mouse", duration=0)
    stroke(driver, pad, [(.6, .3), (.6, .9)], "mouse", duration=0)
    sent, _, pending = state(driver)  # at once: the whole drawing is already on its way
    assert sent > 0 and (pending > 0 or settled(driver))
    WebDriverWait(driver, 15).until(settled)
    assert state(driver)[0] == sent  # no later request was needed
    assert_shows(shown(driver), canvas_answer(driver, port))


def test_an_older_answer_arriving_after_a_newer_one_is_dropped(driver, app, port, monkeypatch):
    """The answers to the first stroke are held back by the server until the second stroke's
    answer is shown; when they arrive they must not replace it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    hold, release, held, answer = threading.Event(), threading.Event(), [], app.answer

    def slow_answer(body):
        if hold.is_set():
            held.append(body)
            release.wait(30)
        return answer(body)
    monkeypatch.setattr(app, "answer", slow_answer)
    try:
        driver.get("http://127.0.0.1:%d/" % port)
        pad = driver.find_element(By.ID, "pad")
        hold.set()
        stroke(driver, pad, [(.2, .2), (.8, .2)], "mouse", duration=0)
        WebDriverWait(driver, 10).until(lambda _: held and state(driver)[2] == len(held))
        hold.clear()
        stroke(driver, pad, [(.5, .2), (.5, .9)], "mouse", duration=0)  # a T
        WebDriverWait(driver, 15).until(lambda _: state(driver)[1] == state(driver)[0])
        newer = shown(driver)
        assert state(driver)[2] >= 1  # the first stroke's answers are still out
        release.set()
        WebDriverWait(driver, 15).until(lambda _: state(driver)[2] == 0)  # all answers are in
    finally:
        release.set()
    assert shown(driver) == newer and settled(driver)
    final = canvas_answer(driver, port)
    assert_shows(newer, final)
    first_stroke_only = json.loads(post(port, held[-1])[2])
    assert first_stroke_only["seen"] != final["seen"]  # the dropped answer would have shown


def test_the_hosts_answered_are_this_servers_addresses(run_dir):
    """The Host names: loopback, the host given (a name, or IPv6 in brackets), and the address a
    connection came to (an IPv4 client of an IPv6 socket as IPv4); never a wildcard's ''."""
    class Arrived:
        def __init__(self, address):
            self.address = address

        def getsockname(self):
            return (self.address, 8000, 0, 0)
    run = load_run(run_dir, mx.cpu())
    for given, arrived, extra in (("MyBox.Local", "127.0.0.1", {"mybox.local:%d"}),
                                  ("", "::ffff:192.168.1.5", {"192.168.1.5:%d"}),
                                  ("::", "fe80::1%eth0", {"[::]:%d", "[fe80::1]:%d"})):
        app = server.DrawServer(("127.0.0.1", 0), run, mx.cpu())
        app.host = given  # as if started with --host given (names this machine may not have)
        try:
            port = app.server_address[1]
            names = app.host_names(Arrived(arrived))
            assert names == {n % port for n in {"127.0.0.1:%d", "localhost:%d", "[::1]:%d"} | extra}
        finally:
            app.server_close()
    assert server.host_name(" LOCALHOST ") == "localhost" and server.host_name("::1") == "[::1]"


@pytest.mark.parametrize("error", [RuntimeError("boom"), TimeoutError("boom")])
def test_a_failure_while_classifying_is_a_500_and_its_traceback_on_the_terminal(app, port, monkeypatch,
                                                                                capfd, error):
    """Whatever the model's side raises, even a TimeoutError, is logged with its time and traceback."""
    def fail(*args, **kwargs):
        raise error
    monkeypatch.setattr(server, "classify", fail)
    got, answer = post(port, a_drawing())[0], capfd.readouterr().err
    assert got == 500 and "while classifying: %r" % error in answer, answer
    assert "Traceback" in answer and "%s: boom" % type(error).__name__ in answer, answer
