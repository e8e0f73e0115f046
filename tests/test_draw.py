"""python -m mxsoftmax.draw: the JSON endpoint, refused requests, exit codes, and the page itself,
drawn on with pointer events in headless Chromium (Debian's chromium and chromium-driver)."""
import http.client
import io
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from conftest import png_header
from mxsoftmax import images, server
from mxsoftmax.classify import classify
from mxsoftmax.cli import draw, predict, train
from mxsoftmax.runs import load_run

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def run_dir(fashion_subset_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("draw") / "run")
    assert train.main(["--dataset", "fashion-mnist", "--data-dir", fashion_subset_dir,
                       "--epochs", "2", "--quiet", "--no-pictures", "--out", out]) == 0
    return out


def start(run_dir):
    """``python -m mxsoftmax.draw`` on a free port (--port 0); returns the process and the port."""
    proc = subprocess.Popen([sys.executable, "-m", "mxsoftmax.draw", "--params", run_dir,
                             "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    found = re.search(r"at http://127\.0\.0\.1:(\d+)/ ", line)
    if not found:
        proc.kill()
        pytest.fail("the server did not start: %r %s" % (line, proc.communicate()[1]))
    return proc, int(found.group(1))


@pytest.fixture(scope="module")
def port(run_dir):
    """The draw server of ``run_dir`` in a thread of this process (the command line's own start is
    tested by the exit-code tests below); yields its port."""
    app = server.DrawServer(("127.0.0.1", 0), load_run(run_dir, mx.cpu()), mx.cpu())
    threading.Thread(target=app.serve_forever, daemon=True).start()
    yield app.server_address[1]
    app.shutdown()
    app.server_close()


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def raw(port, data, wait=10):
    """Send ``data`` as it is and return (status, JSON body) of the answer; status None for an
    answer without a status line (http.server answers a request line it cannot parse as HTTP/0.9
    would be answered: body only)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(data)
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    if not answer.startswith(b"HTTP/"):
        return None, json.loads(answer)
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def png(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def test_page_and_its_files_are_served_with_strict_headers(port, run_dir):
    status, headers, body = request(port, "GET", "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp and "unsafe" not in csp
    page = body.decode()
    assert "Fashion-MNIST" in page and run_dir in page and "Ankle boot" in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/draw.js" defer>']
    assert " style=" not in page and not re.search(r"<[^>]+\son[a-z]+=", page)  # nothing inline
    for path, kind in (("/draw.js", "text/javascript"), ("/draw.css", "text/css")):
        status, headers, body = request(port, "GET", path)
        assert status == 200 and headers["Content-Type"] == kind + "; charset=utf-8" and body


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
    status, headers, body = request(port, "POST", "/predict", png(image),
                                    {"Content-Type": "image/png"})
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
        (b"x" * (server.MAX_BODY + 1), 413, "at most 1 MiB"),
    ]
    for body, status, error in posts:
        got, headers, answer = request(port, "POST", "/predict", body)
        assert got == status and error in json.loads(answer)["error"], (got, answer)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert request(port, "GET", "/")[0] == 200
    raws = [  # what http.client would not send
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\nabc", 413),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (server.MAX_BODY + 1), 413),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\n\r\n", 411),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /static/../server.py HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /%2e%2e/mxsoftmax/server.py HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /draw.js/../../server.py HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /server.py HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"POST /draw.js HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 404),
        (b"GET /predict HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"\x16\x03\x01 not http at all\r\n\r\n", None),  # "Bad request syntax"
    ]
    for data, status in raws:
        start = time.monotonic()
        got, answer = raw(port, data)
        assert got == status and answer["error"], (data, got, answer)
        assert time.monotonic() - start < 5, data  # refused at once, not after a timeout
        assert request(port, "GET", "/")[0] == 200
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("HEAD", "/")
    head = conn.getresponse()
    assert head.status == 200 and int(head.getheader("Content-Length")) > 0 and head.read() == b""
    conn.close()


def test_slow_clients_are_cut_off(run_dir):
    """A body that stops coming gets a 408; a client that trickles is cut at the deadline."""
    app = server.DrawServer(("127.0.0.1", 0), load_run(run_dir, mx.cpu()), mx.cpu(),
                            read_timeout=.6, deadline=1.2)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    port = app.server_address[1]
    try:
        start = time.monotonic()
        got, answer = raw(port, b"POST /predict HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort")
        assert got == 408 and time.monotonic() - start < 5
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
        assert cut and 1 < elapsed < 4, (cut, elapsed)
        assert request(port, "GET", "/")[0] == 200
    finally:
        app.shutdown()
        app.server_close()


def test_port_in_use_and_bad_params_exit_2_with_one_sentence(run_dir, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert draw.main(["--params", run_dir, "--port", str(busy), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("python -m mxsoftmax.draw: error: port %d on 127.0.0.1 is already in use: stop "
                   "the program using it or choose another --port." % busy)
    assert draw.main(["--params", run_dir + "-nope", "--no-browser"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert draw.is_loopback("127.0.0.1") and draw.is_loopback("::1") and draw.is_loopback("localhost")
    assert not draw.is_loopback("0.0.0.0") and not draw.is_loopback("192.168.1.5")


def test_ctrl_c_stops_the_server_with_exit_130_and_one_line(run_dir):
    proc, port = start(run_dir)
    assert request(port, "GET", "/")[0] == 200
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and err.strip() == "python -m mxsoftmax.draw: stopped.", err


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


def stroke(driver, element, points, kind):
    """Press, move through ``points`` (fractions of the element's size) and lift one pointer."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    actions = ActionBuilder(driver, mouse=PointerInput(kind, kind))
    box = element.rect
    at = [(int(box["width"] * (x - .5)), int(box["height"] * (y - .5))) for x, y in points]
    actions.pointer_action.move_to(element, *at[0]).pointer_down()
    for (x0, y0), (x1, y1) in zip(at, at[1:]):
        for step in range(1, 7):
            actions.pointer_action.move_to(element, x0 + (x1 - x0) * step // 6,
                                           y0 + (y1 - y0) * step // 6)
    actions.pointer_action.pointer_up()
    actions.perform()


def test_drawing_in_a_real_browser_shows_the_answer(port, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver = chromium()
    try:
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
        driver.save_screenshot(str(tmp_path / "drawn.png"))
        print("screenshot:", tmp_path / "drawn.png")

        driver.find_element(By.ID, "clear").click()
        WebDriverWait(driver, 5).until(lambda _: label.text == "?")
        stroke(driver, pad, [(.2, .3), (.8, .3), (.8, .7), (.2, .7)], "touch")
        WebDriverWait(driver, 15).until(answered)
        problems = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not problems, problems  # e.g. a Content-Security-Policy violation
    finally:
        driver.quit()


def test_connections_beyond_the_limit_are_closed_and_the_server_goes_on(run_dir):
    app = server.DrawServer(("127.0.0.1", 0), load_run(run_dir, mx.cpu()), mx.cpu(),
                            read_timeout=5, deadline=5)
    app.max_connections = 3
    app.slots = threading.BoundedSemaphore(3)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    port = app.server_address[1]
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    try:
        time.sleep(.3)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            assert extra.recv(1) == b""  # closed at once: no slot
        for sock in idle:
            sock.close()
        time.sleep(.3)
        assert request(port, "GET", "/")[0] == 200
    finally:
        app.shutdown()
        app.server_close()


def test_a_run_built_by_hand_is_checked_before_the_server_listens(run_dir):
    from mxsoftmax.errors import InvalidInput, InvalidType
    run = load_run(run_dir, mx.cpu())
    for bad, fragment in ((run._replace(dataset="cifar"), "data set is one of mnist, fashion"),
                          (run._replace(class_names=["a"] * 9), "a list of 10 class names"),
                          (run._replace(params=run.params[::-1]),
                           r"a trained model's params are \[W, b\]")):
        with pytest.raises(InvalidInput, match=fragment):
            server.DrawServer(("127.0.0.1", 0), bad, mx.cpu())
    with pytest.raises(InvalidType, match="an mx.Context"):
        server.DrawServer(("127.0.0.1", 0), run, "cpu")
