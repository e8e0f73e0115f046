"""Downloads from a real HTTP server on 127.0.0.1: mirrors, verification, bounds, offline words."""
import contextlib
import errno
import gzip
import hashlib
import http.server
import io
import os
import socket
import threading

import numpy as np
import pytest

from mxsoftmax import catalog, idx, notebook, sources
from mxsoftmax import data as data_cli, train as train_cli
from mxsoftmax.errors import InvalidInput, InvalidValue, WriteFailed

from conftest import FASHION_DIR, random_splits, write_idx, write_split_dir


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``self.server.routes``: path -> (status, body, how, headers)."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        status, body, how, headers = self.server.routes.get(self.path, (404, b"not here", "ok", {}))
        self.server.seen.append((self.path, self.headers.get("Accept-Encoding")))
        self.send_response(status)
        headers = dict(headers)
        length = headers.pop("length", len(body))
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:  # the body ends when the connection closes
            self.close_connection = True
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(body[:len(body) // 2] if how == "truncate" else body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should for an oversized body
        if how == "truncate":
            self.close_connection = True

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(routes):
    """A threaded HTTP server on a free loopback port; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.routes, server.seen = routes, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d/" % port


@pytest.fixture
def files(tmp_path, monkeypatch):
    """Four small gz idx files, made the catalogue's MNIST; returns {name: gz bytes}."""
    folder = write_split_dir(tmp_path / "src", random_splits())
    data = {idx.standard_name(*k): open(os.path.join(folder, idx.standard_name(*k)), "rb").read()
            for k in idx.FILES}
    known = {}
    for key in idx.FILES:
        raw = gzip.decompress(data[idx.standard_name(*key)])
        known[key] = (hashlib.sha256(raw).hexdigest(), len(raw))
    monkeypatch.setitem(catalog.DATASETS, "mnist", dict(catalog.DATASETS["mnist"], files=known))
    return data


SHIPPED_DIR = sources.shipped_dir  # the real one, for the tests of the shipped copy


@pytest.fixture(autouse=True)
def no_default_sources(monkeypatch, tmp_path):
    """Every test sees only the sources it names: MXNet's host and public mirrors are closed ports,
    and the MNIST shipped with mxsoftmax is not there unless a test puts it back."""
    monkeypatch.setattr(sources, "shipped_dir", lambda dataset: None)
    monkeypatch.setenv("MXNET_GLUON_REPO", closed_port_url())
    for name in catalog.NAMES:
        monkeypatch.setitem(catalog.DATASETS, name, dict(catalog.DATASETS[name],
                                                         mirrors=(closed_port_url(),)))
    monkeypatch.delenv("MXSOFTMAX_MIRRORS", raising=False)
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxhome"))


def main(cli, argv):
    """A command line's exit code, whether it returns it or argparse exits with it."""
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return exit_.code


def data_files(folder):
    """What a download left in ``folder``: its files, and no lock file."""
    return os.listdir(folder)


def routes_for(data, prefix, how="ok", status=200, **headers):
    return {"%s/%s" % (prefix, name): (status, body, how, dict(headers))
            for name, body in data.items()}


def download(mirrors, folder, **kwargs):
    log = []
    return sources.download("mnist", mirrors, folder, log=log.append, **kwargs), log


def test_404_mirror_then_good_mirror_fills_the_folder(files, tmp_path):
    with serve(routes_for(files, "/good")) as url:
        folder, log = download([url + "/missing", url + "/good"], tmp_path / "cache")
    for name, body in files.items():
        assert open(os.path.join(folder, name), "rb").read() == body
    assert any("/missing/" in line and "HTTP 404" in line for line in log)
    assert sorted(data_files(folder)) == sorted(files)


def test_wrong_bytes_are_rejected_with_both_hashes_and_never_left_behind(files, tmp_path):
    name = idx.standard_name("train", "images")
    bad = dict(files)
    bad[name] = gzip.compress(gzip.decompress(files[name])[:-1] + b"\x07")
    routes = routes_for(bad, "/bad")
    with serve(routes) as url:
        with pytest.raises(sources.NoData, match="none of the"):
            download([url + "/bad"], tmp_path / "cache")
        assert not os.path.exists(tmp_path / "cache")  # made for nothing: removed again
        routes.update(routes_for(files, "/good"))
        folder, log = download([url + "/bad", url + "/good"], tmp_path / "cache")
    line = next(line for line in log if name in line and "/bad/" in line)
    expected = catalog.DATASETS["mnist"]["files"][("train", "images")][0]
    got = hashlib.sha256(gzip.decompress(bad[name])).hexdigest()
    assert "checksum mismatch" in line and expected in line and got in line
    assert sorted(data_files(folder)) == sorted(files)


def test_truncated_response_is_rejected_and_next_mirror_used(files, tmp_path):
    with serve({**routes_for(files, "/cut", how="truncate"), **routes_for(files, "/good")}) as url:
        folder, log = download([url + "/cut", url + "/good"], tmp_path / "cache")
    assert any("/cut/" in line and "truncated" in line for line in log)
    for name, body in files.items():
        assert open(os.path.join(folder, name), "rb").read() == body
    assert not [n for n in data_files(folder) if n.startswith(".")]


def test_a_body_larger_than_the_file_can_be_is_cut_off(files, tmp_path):
    huge = {name: body + b"\0" * (1 << 20) for name, body in files.items()}
    announced = routes_for(huge, "/announced")
    hidden = routes_for(huge, "/hidden", length=None)  # no length: 1 MB until the connection ends
    with serve({**announced, **hidden, **routes_for(files, "/good")}) as url:
        folder, log = download([url + "/announced", url + "/hidden", url + "/good"],
                               tmp_path / "cache")
    assert any("/announced/" in line and "it announces" in line for line in log)
    assert any("/hidden/" in line and "it sent more than" in line for line in log)
    assert sorted(data_files(folder)) == sorted(files)


def test_a_mirror_that_sends_content_encoding_gzip_works(files, tmp_path):
    routes = routes_for(files, "/s3", **{"Content-Encoding": "gzip"})
    with serve(routes) as url:
        folder, log = download([url + "/s3"], tmp_path / "cache")
    assert log and all("downloaded" in line for line in log)
    assert sorted(data_files(folder)) == sorted(files)


def test_server_that_never_answers_times_out_and_is_not_asked_again(files, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "RATE_WINDOW", 1)
    never = raw_server(lambda send, done: done.wait())  # reads the request, never answers
    with never as silent, serve(routes_for(files, "/good")) as url:
        _, log = download([silent, url + "/good"], tmp_path / "cache")
    silent_lines = [line for line in log if silent in line]
    assert len(silent_lines) == 1 and "timed out (no byte for 1 s)" in silent_lines[0], log


def test_a_verified_cache_is_used_without_any_network(files, tmp_path):
    with serve(routes_for(files, "/good")) as url:
        download([url + "/good"], tmp_path / "cache")
    folder, log = download([], tmp_path / "cache")
    assert folder == str(tmp_path / "cache") and log == []


def test_a_damaged_file_is_replaced_in_gluons_cache_but_never_in_your_folder(files, tmp_path):
    cache = tmp_path / "mxhome" / "datasets" / "mnist"  # MXNET_HOME is tmp_path / "mxhome"
    mine = tmp_path / "mine"
    name = idx.standard_name("test", "labels")
    for folder in (cache, mine):
        os.makedirs(folder)
        open(folder / name, "wb").write(b"partial download")
    with serve(routes_for(files, "/good")) as url:
        sources.download("mnist", [url + "/good"], log=lambda _: None)
        with pytest.raises(InvalidInput, match="already holds %s \\(not the expected file\\)"
                           % name):
            download([url + "/good"], mine)
    assert open(cache / name, "rb").read() == files[name]
    assert open(mine / name, "rb").read() == b"partial download" and os.listdir(mine) == [name]


def test_env_mirrors_come_before_mxnet_and_public_mirrors(monkeypatch):
    monkeypatch.setenv("MXSOFTMAX_MIRRORS", "http://a.example/x, http://b.example/y/")
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://repo.example")
    got = sources.sources("mnist", ["http://cli.example"])
    assert got[:4] == ["http://cli.example/", "http://a.example/x/", "http://b.example/y/",
                       "http://repo.example/gluon/dataset/mnist/"]


def test_passwords_are_never_printed_and_bad_urls_are_refused(files, capsys):
    port = closed_port_url()[len("http://"):]
    code = main(train_cli, ["--quiet", "--mirror", "http://me:s3cret@" + port])
    err = capsys.readouterr().err
    assert code == 2 and "s3" not in err and "http://***@127.0.0.1" in err, err
    assert "Traceback" not in err
    for url, problem in [("http://exa mple.com/", "spaces or control characters"),
                         ("http://u:pa/ss@host/", "the port is not a number"),
                         ("ftp://host/", "the scheme must be http or https"),
                         ("http://[::1/", "its host is not a valid [IPv6] address"),  # once a traceback
                         ("http://u:pa[ss@host/", "its host is not a valid [IPv6] address"),
                         ("http://%s.example/" % ("x" * 300),
                          "a part of the host name is empty or longer than 63 characters")]:
        code = main(train_cli, ["--quiet", "--mirror", url])
        err = capsys.readouterr().err
        assert code == 2 and problem in err and "pa/ss" not in err and "ss@" not in err, err
        assert err.endswith(": give http(s)://host/path/.\n"), err  # the hint, not masked
    assert sources.redact("https://a:b@c@host/x@y") == "https://***@y"


@pytest.mark.parametrize("variable, value, words", [
    ("MXSOFTMAX_MIRRORS", "", "MXSOFTMAX_MIRRORS holds an empty URL"),
    ("MXSOFTMAX_MIRRORS", "http://a.example/,", "MXSOFTMAX_MIRRORS holds an empty URL"),
    ("MXSOFTMAX_MIRRORS", "http://a.example/\r\nX-Evil: 1",
     "MXSOFTMAX_MIRRORS holds http://a.example/\\r\\nX-Evil: 1, which is not a usable URL "
     "(it holds spaces or control characters)"),
    ("MXSOFTMAX_MIRRORS", "http://a.example/\n", "which is not a usable URL"),
    ("MXSOFTMAX_MIRRORS", "http://u:pa#s3cret@127.0.0.1:9/", "http://***@127.0.0.1:9/, which"),
    ("MXNET_GLUON_REPO", "", "MXNET_GLUON_REPO holds an empty URL"),
    ("MXNET_GLUON_REPO", "repo.example", "MXNET_GLUON_REPO holds repo.example, which is not a "
                                         "usable URL (the scheme must be http or https)"),
])
def test_a_mirror_variable_that_cannot_be_used_is_one_sentence_naming_it(
        variable, value, words, monkeypatch, capsys):
    monkeypatch.setenv(variable, value)
    assert main(train_cli, ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "s3cret" not in err, err
    assert words in err and err.endswith(", or unset it.\n"), err
    assert "give %s" % sources.VARIABLES[variable] in err


def test_redaction_masks_only_the_user_part_of_urls():
    for text in ("http(s)://host/path/", "://host/path/", "http://[::1]/x", "http://[::1]:80/",
                 "http://host:8080/a:b", "no url: here", "/data/a:b", "http://host/?q=a:b"):
        assert sources.redact(text) == text
        assert sources.redact_text("give %s." % text) == "give %s." % text
    assert sources.redact("http://u:p4Q") == "http://***"
    assert sources.redact("zz9@127.0.0.1:9/") == "***@127.0.0.1:9/"
    assert sources.redact_text("see http://u:pw@h.example/x, then") == "see http://***@h.example/x, then"


def test_offline_train_ends_with_the_ways_forward_in_cli_words(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sources, "debian_ready", lambda dataset: None)
    code = train_cli.main(["--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("python -m mxsoftmax.train: error: no verified mnist data")
    for fragment in (str(tmp_path / "mxhome" / "datasets" / "mnist"), "connect to the internet",
                     "--mirror URL", "--data-dir DIR", "apt-get install dataset-fashion-mnist",
                     "--dataset fashion-mnist"):
        assert fragment in last
    assert "Traceback" not in err
    assert sum("could not use" in line for line in err.splitlines()) == 2  # one per dead source
    monkeypatch.setattr(sources, "debian_ready", lambda dataset: "/there")
    train_cli.main(["--quiet"])
    assert "apt-get" not in capsys.readouterr().err  # no advice to install what is installed


def test_offline_words_for_the_download_command_and_the_notebooks(tmp_path, monkeypatch, capsys):
    assert data_cli.main(["download", "--dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "no verified mnist data" in err and "--mirror URL" in err and "--data-dir" not in err
    with pytest.raises(sources.NoData) as caught:
        notebook.load_data(notebook.settings_from_env({}))
    assert "MXSOFTMAX_DATA_DIR" in str(caught.value) and "--" not in str(caught.value)


def test_download_into_places_that_cannot_hold_it_is_one_sentence(
        files, tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with serve(routes_for(files, "/good")) as url:
        for target in (a_file, a_file / "sub"):
            code = data_cli.main(["download", "--mirror", url + "/good", "--dir", str(target)])
            err = capsys.readouterr().err
            assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
            assert "--dir: %s cannot be used (%s a file, not a folder)" % (
                target, "it is" if target == a_file else "%s is" % a_file) in err, err
        monkeypatch.setenv("MXNET_HOME", str(a_file))
        code = train_cli.main(["--quiet", "--mirror", url + "/good"])
        err = capsys.readouterr().err
        assert code == 2 and "cannot be used (%s is a file, not a folder): set MXNET_HOME" % a_file in err
        assert "--data-dir" not in err.split("error:")[1]
        assert "checkpoint" not in err


def test_a_full_disk_during_a_download_is_exit_1_and_leaves_nothing(files, tmp_path, monkeypatch,
                                                                    capsys):
    class Full(io.BytesIO):
        def write(self, chunk):
            raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(sources, "open", lambda *args: Full(), raising=False)  # the real download
    cache = tmp_path / "cache"
    with serve(routes_for(files, "/good")) as url:
        code = data_cli.main(["download", "--mirror", url + "/good", "--dir", str(cache)])
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and "Traceback" not in err
    assert not os.path.exists(cache)


def test_loopback_mirror_fills_gluon_cache_then_training_runs_offline(files, tmp_path, capsys):
    with serve(routes_for(files, "/m")) as url:
        assert data_cli.main(["download", "--mirror", url + "/m"]) == 0
    cache = tmp_path / "mxhome" / "datasets" / "mnist"
    assert sorted(data_files(cache)) == sorted(files)
    capsys.readouterr()
    assert train_cli.main(["--epochs", "1", "--quiet"]) == 0  # server gone: reads the cache
    assert capsys.readouterr().out.startswith("Epoch 0. Loss: ")


def test_debian_fashion_mnist_is_verified_by_decompressed_sha256():
    if not os.path.isdir(FASHION_DIR):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    data = sources.read_verified(FASHION_DIR, "fashion-mnist")
    assert data.dataset == "fashion-mnist" and data.train[0].shape == (60000, 28, 28, 1)
    assert sources.read_dir(FASHION_DIR).dataset == "fashion-mnist"


def test_debian_folder_with_a_bad_file_is_refused(tmp_path, monkeypatch):
    folder = write_split_dir(tmp_path / "deb", random_splits())
    monkeypatch.setitem(catalog.DATASETS, "fashion-mnist",
                        dict(catalog.DATASETS["fashion-mnist"], debian_dir=folder))
    with pytest.raises(idx.IdxError, match="does not match its known checksum"):
        sources.load_splits("fashion-mnist")
    assert issubclass(idx.IdxError, InvalidInput) and issubclass(WriteFailed, OSError)


def test_download_never_replaces_other_idx_data_and_sweeps_stale_parts(
        files, tmp_path, monkeypatch):
    other = write_split_dir(tmp_path / "other", random_splits(seed=5))
    before = {n: open(os.path.join(other, n), "rb").read() for n in os.listdir(other)}
    stale = os.path.join(other, ".train-images-idx3-ubyte.gz.ab_d1234.part")
    mine = os.path.join(other, ".notes.txt.ab_d1234.part")
    for path in (stale, mine):
        open(path, "w").write("left by a killed process")
    known = {k: (idx.file_digest(os.path.join(other, idx.standard_name(*k)), k[1]), 10 ** 6)
             for k in idx.FILES}
    monkeypatch.setitem(catalog.DATASETS, "fashion-mnist",
                        dict(catalog.DATASETS["fashion-mnist"], files=known))
    with serve(routes_for(files, "/good")) as url:
        with pytest.raises(InvalidInput, match="already holds train-images-idx3-ubyte.gz "
                           "\\(fashion-mnist's data\\)"):
            download([url + "/good"], other)
    assert {n: open(os.path.join(other, n), "rb").read() for n in before} == before
    assert os.path.exists(stale) and os.path.exists(mine)  # a refused folder is left untouched
    with serve(routes_for(files, "/good")) as url:
        download([url + "/good"], tmp_path / "new")
        os.rename(stale, tmp_path / "new" / os.path.basename(stale))
        os.remove(tmp_path / "new" / idx.standard_name("train", "images"))
        download([url + "/good"], tmp_path / "new")  # a download sweeps what a killed one left
    assert sorted(data_files(tmp_path / "new")) == sorted(files)


def test_a_folder_mixing_two_data_sets_is_refused(tmp_path, monkeypatch):
    folder = write_split_dir(tmp_path / "mixed", random_splits())
    labels = idx.file_digest(os.path.join(folder, "train-labels-idx1-ubyte.gz"), "labels")
    files = dict(catalog.DATASETS["fashion-mnist"]["files"])
    files[("train", "labels")] = (labels, 10 ** 6)
    monkeypatch.setitem(catalog.DATASETS, "fashion-mnist",
                        dict(catalog.DATASETS["fashion-mnist"], files=files))
    with pytest.raises(InvalidInput, match="mixes the files of different data sets "
                                           r"\(train: fashion-mnist, test: unknown\)"):
        sources.read_dir(folder)


@pytest.mark.parametrize("argv", [
    ["--mirror", "user:s3cret@host.example/"],
    ["--mirror", "http//user:s3cret@host.example/"],
    ["--mirrors", "http://u:s3cret@host.example/"],
    ["--dataset", "http://u:s3cret@host.example/"],
    ["http://u:s3cret@host.example/"],
])
def test_no_misspelt_flag_or_url_shape_prints_a_password(argv, capsys):
    assert main(train_cli, ["--quiet"] + argv) == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err, err
    assert ("unrecognized argument --mirrors (did you mean --mirror?)" if argv[0] == "--mirrors"
            else "***@host.example") in err, err


def test_passwords_cut_by_a_comma_in_mxsoftmax_mirrors_are_not_printed(monkeypatch, capsys):
    monkeypatch.setenv("MXSOFTMAX_MIRRORS", "http://u:p4Q,zz9@127.0.0.1:9/")
    assert main(train_cli, ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert "p4Q" not in err and "zz9" not in err, err


def test_load_splits_names_a_data_dir_that_is_not_a_path():
    with pytest.raises(InvalidValue, match="data_dir must be a path, or None, not 3"):
        sources.load_splits(data_dir=3)


def test_a_long_url_that_cannot_be_used_is_shown_whole_so_its_problem_can_be_found(monkeypatch, capsys):
    url = "http://mirror.example/%s/my files/" % ("a" * 130)
    with pytest.raises(InvalidInput) as caught:
        sources.check_url(url)
    assert "/my files/ is not a usable URL" in str(caught.value) and "..." not in str(caught.value)
    monkeypatch.setenv("MXSOFTMAX_MIRRORS", "http://mirror.example/%s/data\t/" % ("a" * 130))
    assert main(train_cli, ["--quiet"]) == 2
    assert "/data\\t/, which is not a usable URL" in capsys.readouterr().err


def test_a_mirror_url_is_checked_and_trimmed():
    assert sources.check_url("  https://mirror.example/mnist/\n") == "https://mirror.example/mnist/"
    for url in ("ftp://mirror.example/", "https://mir ror.example/", "https://", "mirror.example"):
        with pytest.raises(InvalidInput, match="is not a usable URL"):
            sources.check_url(url)


# ---------------------------------------------------------------------------- servers that misbehave

@contextlib.contextmanager
def raw_server(answer):
    """A loopback server that reads a request and sends ``answer(send)`` on each connection;
    ``send(bytes)`` writes. Yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    done = threading.Event()

    def serve_one(conn):
        with conn:
            try:
                conn.recv(65536)
                answer(conn.sendall, done)
            except OSError:
                pass  # the client gave up

    def accept():
        while not done.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    try:
        yield "http://127.0.0.1:%d" % sock.getsockname()[1]
    finally:
        done.set()
        sock.close()


def trickle(head):
    """An answer that sends ``head`` at once, then one byte every 0.2 s for 6 s (a client without
    a deadline would wait that long, then fail for another reason)."""
    def answer(send, done):
        send(head)
        for _ in range(30):
            if done.wait(0.2):
                return
            send(b"\0")
    return answer


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\n\r\n",  # a body one byte every 0.2 s, until the connection ends
    b"HTTP/1.1 200 OK\r\nX-Slow: ",  # a header that never ends
])
def test_a_source_slower_than_its_deadline_is_given_up_and_not_asked_again(files, tmp_path, head,
                                                                           monkeypatch):
    monkeypatch.setattr(sources, "DEADLINE", (0.6, 10 ** 9))
    with raw_server(trickle(head)) as slow, serve(routes_for(files, "/good")) as url:
        folder, log = download([slow, url + "/good"], tmp_path / "cache")
    slow_lines = [line for line in log if slow in line]
    assert len(slow_lines) == 1 and "too slow: not done after 0.6 s" in slow_lines[0], log
    assert sorted(data_files(folder)) == sorted(files)


def answer_with(raw):
    def answer(send, done):
        send(raw)
    return answer


@pytest.mark.parametrize("raw, cause", [
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
     "oversized header: a line of its answer is longer than the 65536 bytes"),
    (b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n",
     "oversized header: its answer has more than the 100 header lines"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "its answer is not HTTP"),
    (b"", "it closed the connection without answering"),
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 6\r\n\r\n<html>",
     "it sent an HTML page (Content-Type text/html) instead of the file"),
    (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 40\r\n\r\n"
     b"  <?xml version='1.0'?><Error>Denied</Error>", "it sent a web page (text starting with '<')"),
    (b"HTTP/1.1 403 \x1b[31mNo\x1b[0m\r\nContent-Length: 0\r\n\r\n", "HTTP 403 \\x1b[31mNo\\x1b[0m"),
])
def test_each_failure_is_named_by_its_true_cause(files, tmp_path, raw, cause):
    with raw_server(answer_with(raw)) as bad, serve(routes_for(files, "/good")) as url:
        folder, log = download([bad, url + "/good"], tmp_path / "cache")
    bad_lines = [line for line in log if bad in line]
    assert bad_lines and all(cause in line for line in bad_lines), log
    assert "cannot connect" not in " ".join(bad_lines)
    assert sorted(data_files(folder)) == sorted(files)


def test_a_closed_port_is_a_dead_source_named_as_such(files, tmp_path):
    closed, folder = closed_port_url(), tmp_path / "dl"
    folder.mkdir()
    with pytest.raises(sources.FetchError) as caught:
        sources.fetch(closed + "x", str(folder), ("test", "labels"),
                      catalog.DATASETS["mnist"]["files"][("test", "labels")])
    assert caught.value.dead and caught.value.reason == "cannot connect (Connection refused)"
    assert os.listdir(folder) == []


def test_verified_raw_files_in_your_folder_are_recognised_without_a_download(files, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    for name, body in files.items():  # the raw idx files, in the other naming style
        raw_name = name[:-len(".gz")].replace("-idx", ".idx")
        (mine / raw_name).write_bytes(gzip.decompress(body))
    before = sorted(os.listdir(mine))
    folder, log = download([], mine)  # every source is a closed port: nothing may be fetched
    assert folder == str(mine) and log == [] and sorted(os.listdir(mine)) == before
    bad = mine / "t10k-labels.idx1-ubyte"
    bad.write_bytes(bad.read_bytes()[:-1])  # one byte short: damaged
    with pytest.raises(InvalidInput, match="already holds t10k-labels.idx1-ubyte \\(not the "
                       "expected file\\)"):
        download([], mine)


# ---------------------------------------------------------------------------- the shipped MNIST

def test_by_default_mnist_comes_from_the_copy_shipped_with_mxsoftmax(monkeypatch):
    monkeypatch.setattr(sources, "shipped_dir", SHIPPED_DIR)
    log = []
    data = sources.load_splits(log=log.append)  # every download source is a closed port
    assert log == [] and data.dataset == "mnist" and data.origin == SHIPPED_DIR("mnist")
    assert data.train[0].shape == (60000, 28, 28, 1) and data.test[0].shape == (10000, 28, 28, 1)
    known = catalog.DATASETS["mnist"]["files"]
    for split, (images, labels) in (("train", data.train), ("test", data.test)):
        assert idx.digest_of(images[..., 0], "images") == known[(split, "images")][0]
        assert idx.digest_of(labels, "labels") == known[(split, "labels")][0]
    assert data.test[1][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # MNIST's first ten
    streamed = sources.load_splits(stream=True)
    assert sources.fingerprint(streamed) == sources.fingerprint(data)


def shipped_copy(folder):
    """A copy of the shipped MNIST folder in ``folder``; returns its path."""
    os.makedirs(folder)
    for name in os.listdir(SHIPPED_DIR("mnist")):
        with open(os.path.join(SHIPPED_DIR("mnist"), name), "rb") as f:
            (folder / name).write_bytes(f.read())
    return str(folder)


def test_a_damaged_shipped_copy_is_said_in_one_line_and_the_data_comes_from_elsewhere(
        tmp_path, monkeypatch):
    damaged = shipped_copy(tmp_path / "site-packages" / "mnist")
    path = os.path.join(damaged, "train-images-idx3-ubyte.gz")
    with open(path, "r+b") as f:  # one byte flipped in the middle of the deflate stream
        f.seek(5000000)
        byte = f.read(1)
        f.seek(5000000)
        f.write(bytes([byte[0] ^ 0x01]))
    monkeypatch.setattr(sources, "shipped_dir", lambda dataset: damaged)
    log = []
    with pytest.raises(sources.NoData):  # offline: the damage is said, then the downloads fail
        sources.load_splits(log=log.append)
    said = [line for line in log if "shipped" in line]
    assert said == ["the MNIST copy shipped with mxsoftmax is damaged: %s is not the file it "
                    "shipped (reinstall mxsoftmax to mend it); using gluon's cache or a download "
                    "instead" % path]
    assert all("could not use" in line for line in log if line not in said)
    cache = shipped_copy(tmp_path / "mxhome" / "datasets" / "mnist")  # gluon's cache has it
    log = []
    data = sources.load_splits(log=log.append)
    assert data.origin == cache and log == said
    os.remove(path)  # a file missing from the install is said the same way
    log = []
    assert sources.load_splits(log=log.append).origin == cache and len(log) == 1


# ---------------------------------------------------------------------------- variants

def variant_of(source, folder, change):
    """A copy of the four files in ``source`` as raw idx files in ``folder``, the images passed
    through ``change(split, images)``; returns the folder."""
    os.makedirs(folder)
    for key, path in idx.find_files(source).items():
        array = idx.read_idx(path, key[1])
        if key[1] == "images":
            array = change(key[0], array)
        name = idx.standard_name(*key)[:-len(".gz")]
        write_idx(folder / name, array)
    return str(folder)


def shifted(split, images):
    """The images moved one pixel to the right (a deskewed or re-rendered data set, say)."""
    out = np.zeros_like(images)
    out[:, :, 1:] = images[:, :, :-1]
    return out


@pytest.fixture(scope="module")
def mnist_variant(tmp_path_factory):
    return variant_of(SHIPPED_DIR("mnist"), tmp_path_factory.mktemp("v") / "mnist-shifted",
                      shifted)


@pytest.mark.parametrize("stream", [False, True])
def test_mnist_labels_with_other_images_are_used_as_given_with_one_line(mnist_variant, stream):
    log = []
    data = sources.load_splits(data_dir=mnist_variant, log=log.append, stream=stream)
    assert data.dataset == "mnist"
    train = np.asarray(data.train[0])  # a streamed split shows the difference once read
    assert log == ["%s: images differ from MNIST's published files; using them as given, "
                   "classes 0-9" % mnist_variant]
    original = idx.read_idx(os.path.join(SHIPPED_DIR("mnist"), "train-images-idx3-ubyte.gz"),
                            "images")
    assert np.array_equal(train[..., 0], shifted("train", original))
    with pytest.raises(sources.DatasetMismatch):  # the labels still say which data set it is
        sources.load_splits("fashion-mnist", data_dir=mnist_variant)


def test_a_variant_trains_from_the_command_line_with_one_note(mnist_variant, capsys):
    assert train_cli.main(["--data-dir", mnist_variant, "--epochs", "1", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Epoch 0. Loss: ")
    assert captured.err.count("images differ from MNIST's published files") == 1, captured.err


def test_a_fashion_mnist_variant_names_its_classes(tmp_path):
    if not os.path.isdir(FASHION_DIR):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")

    def brighter(split, images):
        return np.minimum(images.astype(np.int32) + 1, 255).astype(np.uint8) if split == "test" \
            else images
    folder = variant_of(FASHION_DIR, tmp_path / "fashion", brighter)
    log = []
    data = sources.load_splits(data_dir=folder, log=log.append)
    assert data.dataset == "fashion-mnist"
    assert log == ["%s: images differ from Fashion-MNIST's published files; using them as given, "
                   "classes T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, "
                   "Bag, Ankle boot" % folder]
    with pytest.raises(sources.DatasetMismatch):
        sources.load_splits("mnist", data_dir=folder)


def trickle_forever(head, every):
    """An answer that sends ``head``, then one byte every ``every`` seconds until the client goes."""
    def answer(send, done):
        send(head)
        while not done.wait(every):
            send(b"\0")
    return answer


@pytest.mark.parametrize("head", [b"HTTP/1.1 200 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nX-Slow: "])
def test_a_source_under_the_minimum_rate_is_given_up_and_not_asked_again(files, tmp_path, head,
                                                                         monkeypatch):
    monkeypatch.setattr(sources, "RATE_WINDOW", 1)
    monkeypatch.setattr(sources, "MIN_RATE", 1000)  # bytes/s; it sends 5
    with raw_server(trickle_forever(head, 0.2)) as slow, serve(routes_for(files, "/good")) as url:
        folder, log = download([slow, url + "/good"], tmp_path / "cache")
    slow_lines = [line for line in log if slow in line]
    assert len(slow_lines) == 1 and "too slow: under 1 KB/s for 1 s" in slow_lines[0], log
    assert sorted(data_files(folder)) == sorted(files)


TRICKLED = """
import runpy, sys
from mxsoftmax import catalog
catalog.DATASETS["fashion-mnist"]["mirrors"] = (sys.argv[1],)  # a closed port: no public mirror
sys.argv = ["mxsoftmax.data"] + sys.argv[2:]
runpy.run_module("mxsoftmax.data", run_name="__main__")
"""


def test_a_trickling_mirror_ends_data_download_within_two_minutes(tmp_path):
    import subprocess
    import sys
    import time
    env = dict(os.environ, MXNET_GLUON_REPO=closed_port_url(), MXNET_HOME=str(tmp_path / "home"))
    env.pop("MXSOFTMAX_MIRRORS", None)
    with raw_server(trickle_forever(b"HTTP/1.1 200 OK\r\n\r\n", 2)) as slow:
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", TRICKLED, closed_port_url(), "download", "--dataset",
                               "fashion-mnist", "--dir", str(tmp_path / "d"), "--mirror", slow + "/"],
                              capture_output=True, text=True, timeout=300, env=env)
        elapsed = time.monotonic() - start
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert [line for line in lines if slow in line and "could not use" in line] == [
        "could not use %s/train-images-idx3-ubyte.gz: too slow: under 20 KB/s for 15 s" % slow], lines
    assert lines[-1].startswith("python -m mxsoftmax.data: error: no verified fashion-mnist data")
    assert elapsed < 120, elapsed  # issue 25: it held the command for over 400 s
    print("trickle: %.1f s" % elapsed)


def test_the_shipped_labels_gzipped_again_are_accepted(tmp_path, monkeypatch):
    folder = shipped_copy(tmp_path / "site-packages" / "mnist")
    path = os.path.join(folder, "t10k-labels-idx1-ubyte.gz")
    with open(path, "rb") as f:
        shipped = f.read()
    again = gzip.compress(gzip.decompress(shipped), compresslevel=1, mtime=1)
    assert again != shipped
    with open(path, "wb") as f:
        f.write(again)
    monkeypatch.setattr(sources, "shipped_dir", lambda dataset: folder)
    log = []
    data = sources.load_splits(log=log.append)  # every download source is a closed port
    assert log == [] and data.origin == folder
    assert data.test[1][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_data_without_its_command_names_the_one_to_give(cli):
    code, out, err = cli("data")
    assert (code, out) == (2, "") and err == ("python -m mxsoftmax.data: error: the following arguments "
                                              "are required: download\n")
