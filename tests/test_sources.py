"""Downloads from a real HTTP server on 127.0.0.1: mirrors, verification, timeouts, offline."""
import contextlib
import hashlib
import http.server
import os
import socket
import threading

import pytest

from mxsoftmax import UsageError, sources, train
from mxsoftmax.data import FILES, main as data_main, standard_name

from conftest import FASHION_DIR, random_splits, write_split_dir


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``self.server.routes``: path -> (status, body, how) with how 'ok' or 'truncate'."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        status, body, how = self.server.routes.get(self.path, (404, b"not here", "ok"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if how == "truncate" else body)
        self.wfile.flush()
        if how == "truncate":
            self.close_connection = True

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(routes):
    """A threaded HTTP server on a free loopback port; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.routes = routes
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_server():
    """A socket that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield "http://127.0.0.1:%d" % sock.getsockname()[1]
    finally:
        sock.close()


def closed_port_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d/" % port


@pytest.fixture
def files(tmp_path):
    """Four small gz idx files and a checksum table that knows exactly them."""
    folder = write_split_dir(tmp_path / "src", random_splits())
    data = {standard_name(*k): open(os.path.join(folder, standard_name(*k)), "rb").read()
            for k in FILES}
    known = {name: [("sha1", hashlib.sha1(body).hexdigest(), "gz")] for name, body in data.items()}
    return data, known


@pytest.fixture(autouse=True)
def no_default_sources(monkeypatch):
    """Every test sees only the sources it names: MXNet's host and public mirrors are closed ports."""
    monkeypatch.setenv("MXNET_GLUON_REPO", closed_port_url())
    monkeypatch.setattr(sources, "MIRRORS", {"mnist": [closed_port_url()],
                                             "fashion-mnist": [closed_port_url()]})
    monkeypatch.delenv("MXSOFTMAX_MIRRORS", raising=False)


def routes_for(data, prefix, how="ok", status=200):
    return {"%s/%s" % (prefix, name): (status, body, how) for name, body in data.items()}


def test_404_mirror_then_good_mirror_fills_the_folder(files, tmp_path):
    data, known = files
    log = []
    with serve(routes_for(data, "/good")) as url:
        folder = sources.download("mnist", [url + "/missing", url + "/good"], tmp_path / "cache",
                                  known, log=log.append)
    for name, body in data.items():
        assert open(os.path.join(folder, name), "rb").read() == body
    assert any("/missing/" in line and "HTTP 404" in line for line in log)
    assert sorted(os.listdir(folder)) == sorted(data)


def test_wrong_bytes_are_rejected_and_never_left_behind(files, tmp_path):
    data, known = files
    bad = {name: body[:-1] + bytes([body[-1] ^ 1]) for name, body in data.items()}
    log = []
    routes = dict(routes_for(bad, "/bad"))
    with serve(routes) as url:
        with pytest.raises(UsageError, match="none of the"):
            sources.download("mnist", [url + "/bad"], tmp_path / "cache", known, log=log.append)
        assert os.listdir(tmp_path / "cache") == []
        name = standard_name("train", "images")
        line = next(line for line in log if name in line)
        assert "checksum mismatch" in line and known[name][0][1] in line
        assert hashlib.sha1(bad[name]).hexdigest() in line
        routes.update(routes_for(data, "/good"))
        folder = sources.download("mnist", [url + "/bad", url + "/good"], tmp_path / "cache",
                                  known, log=log.append)
    assert sorted(os.listdir(folder)) == sorted(data)


def test_truncated_response_is_rejected_and_next_mirror_used(files, tmp_path):
    data, known = files
    log = []
    with serve({**routes_for(data, "/cut", how="truncate"), **routes_for(data, "/good")}) as url:
        folder = sources.download("mnist", [url + "/cut", url + "/good"], tmp_path / "cache",
                                  known, log=log.append)
    assert any("/cut/" in line for line in log)
    for name, body in data.items():
        assert open(os.path.join(folder, name), "rb").read() == body
    assert not [n for n in os.listdir(folder) if n.startswith(".")]


def test_server_that_never_answers_times_out_and_is_not_asked_again(files, tmp_path):
    data, known = files
    log = []
    with silent_server() as silent, serve(routes_for(data, "/good")) as url:
        sources.download("mnist", [silent, url + "/good"], tmp_path / "cache", known,
                         timeout=(1, 1), log=log.append)
    silent_lines = [line for line in log if silent in line]
    assert len(silent_lines) == 1 and "timed out" in silent_lines[0]


def test_a_verified_cache_is_used_without_any_network(files, tmp_path):
    data, known = files
    cache = tmp_path / "cache"
    with serve(routes_for(data, "/good")) as url:
        sources.download("mnist", [url + "/good"], cache, known, log=lambda _: None)
    log = []
    assert sources.download("mnist", [], cache, known, log=log.append) == cache
    assert log == []


def test_a_cached_file_that_matches_nothing_is_replaced(files, tmp_path):
    data, known = files
    cache = tmp_path / "cache"
    os.makedirs(cache)
    name = standard_name("test", "labels")
    open(cache / name, "wb").write(b"partial download")
    with serve(routes_for(data, "/good")) as url:
        sources.download("mnist", [url + "/good"], cache, known, log=lambda _: None)
    assert open(cache / name, "rb").read() == data[name]


def test_env_mirrors_come_before_mxnet_and_public_mirrors(monkeypatch):
    monkeypatch.setenv("MXSOFTMAX_MIRRORS", "http://a.example/x, http://b.example/y/")
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://repo.example")
    got = sources.sources("mnist", ["http://cli.example"])
    assert got[:4] == ["http://cli.example/", "http://a.example/x/", "http://b.example/y/",
                       "http://repo.example/gluon/dataset/mnist/"]


def test_offline_train_ends_with_the_three_ways_forward(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxhome"))
    code = train.main(["--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("python -m mxsoftmax.train: error: no verified mnist data")
    for fragment in (str(tmp_path / "mxhome" / "datasets" / "mnist"), "connect to the internet",
                     "--data-dir DIR", "apt-get install dataset-fashion-mnist",
                     "--dataset fashion-mnist"):
        assert fragment in last
    assert "Traceback" not in err
    assert sum("could not use" in line for line in err.splitlines()) == 2  # one per dead source


def test_download_command_reports_and_exits_2_offline(tmp_path, capsys):
    assert data_main(["download", "--dir", str(tmp_path / "d")]) == 2
    assert "no verified mnist data" in capsys.readouterr().err


def test_loopback_mirror_fills_gluon_cache_then_training_runs_offline(
        fashion_subset_dir, tmp_path, monkeypatch, capsys):
    served = {standard_name(*k): open(os.path.join(fashion_subset_dir, standard_name(*k)),
                                      "rb").read() for k in FILES}
    known = {n: [("md5", hashlib.md5(b).hexdigest(), "gz")] for n, b in served.items()}
    monkeypatch.setitem(sources.KNOWN, "mnist", known)
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxhome"))
    with serve(routes_for(served, "/m")) as url:
        assert data_main(["download", "--mirror", url + "/m"]) == 0
    cache = tmp_path / "mxhome" / "datasets" / "mnist"
    assert sorted(os.listdir(cache)) == sorted(served)
    capsys.readouterr()
    assert train.main(["--epochs", "1", "--quiet"]) == 0  # server gone: reads the cache
    assert capsys.readouterr().out.startswith("Epoch 0. Loss: ")


def test_debian_fashion_mnist_is_verified_by_decompressed_sha256():
    known = sources.KNOWN["fashion-mnist"]
    for key in FILES:
        path = os.path.join(FASHION_DIR, standard_name(*key))
        assert sources.matches(path, known[standard_name(*key)])
        assert not sources.matches(path, [k for k in known[standard_name(*key)] if k[2] == "gz"])


def test_debian_folder_with_a_bad_file_is_refused(tmp_path, monkeypatch):
    folder = write_split_dir(tmp_path / "deb", random_splits())
    monkeypatch.setitem(sources.DEBIAN_DIRS, "fashion-mnist", str(folder))
    with pytest.raises(UsageError, match="does not match its known checksums"):
        sources.load_splits("fashion-mnist")
