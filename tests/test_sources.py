"""Downloads from a real HTTP server on 127.0.0.1: mirrors, verification, bounds, offline words."""
import contextlib
import errno
import gzip
import hashlib
import http.server
import os
import socket
import threading

import pytest

from mxsoftmax import catalog, idx, notebook, sources
from mxsoftmax.cli import data as data_cli, train as train_cli
from mxsoftmax.errors import InvalidInput, WriteFailed

from conftest import FASHION_DIR, random_splits, write_split_dir


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


def test_server_that_never_answers_times_out_and_is_not_asked_again(files, tmp_path):
    with silent_server() as silent, serve(routes_for(files, "/good")) as url:
        _, log = download([silent, url + "/good"], tmp_path / "cache", timeout=(1, 1))
    silent_lines = [line for line in log if silent in line]
    assert len(silent_lines) == 1 and "timed out" in silent_lines[0]


def test_a_verified_cache_is_used_without_any_network(files, tmp_path):
    with serve(routes_for(files, "/good")) as url:
        download([url + "/good"], tmp_path / "cache")
    folder, log = download([], tmp_path / "cache")
    assert folder == str(tmp_path / "cache") and log == []


def test_a_damaged_file_is_replaced_in_gluons_cache_but_never_in_your_folder(files, tmp_path):
    from mxsoftmax.files import CannotWrite
    cache = tmp_path / "mxhome" / "datasets" / "mnist"  # MXNET_HOME is tmp_path / "mxhome"
    mine = tmp_path / "mine"
    name = idx.standard_name("test", "labels")
    for folder in (cache, mine):
        os.makedirs(folder)
        open(folder / name, "wb").write(b"partial download")
    with serve(routes_for(files, "/good")) as url:
        sources.download("mnist", [url + "/good"], log=lambda _: None)
        with pytest.raises(CannotWrite, match="already holds %s \\(not the expected file\\)"
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


def test_passwords_are_never_printed_and_bad_urls_are_refused(files, tmp_path, monkeypatch,
                                                               capsys):
    port = closed_port_url()[len("http://"):]
    code = main(train_cli, ["--quiet", "--mirror", "http://me:s3cret@" + port])
    err = capsys.readouterr().err
    assert code == 2 and "s3" not in err and "http://***@127.0.0.1" in err, err
    assert "Traceback" not in err
    for url, problem in [("http://exa mple.com/", "spaces, line breaks or control characters"),
                         ("http://u:pa/ss@host/", "the port is not a number"),
                         ("ftp://host/", "the scheme must be http or https"),
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
     "(it holds spaces, line breaks or control characters)"),
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
            assert ("--dir %s cannot hold the data" % target in err
                    or "--dir %s cannot be used (Not a directory)" % target in err), err
        monkeypatch.setenv("MXNET_HOME", str(a_file))
        code = train_cli.main(["--quiet", "--mirror", url + "/good"])
        err = capsys.readouterr().err
        assert code == 2 and "cannot be used (Not a directory): set MXNET_HOME" in err
        assert "--data-dir" not in err.split("error:")[1]
        assert "checkpoint" not in err


def test_a_full_disk_during_a_download_is_exit_1_and_leaves_nothing(files, tmp_path, monkeypatch,
                                                                    capsys):
    real_stream = sources._stream

    def full(url, out, *args):
        class Full:
            def write(self, chunk):
                raise OSError(errno.ENOSPC, "No space left on device")
        real_stream(url, Full(), *args)
    monkeypatch.setattr(sources, "_stream", full)
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
    from mxsoftmax.files import CannotWrite
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
        with pytest.raises(CannotWrite, match="already holds train-images-idx3-ubyte.gz "
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
    from mxsoftmax.errors import InvalidType
    with pytest.raises(InvalidType, match="data_dir as a path, not int"):
        sources.load_splits(data_dir=3)


def test_a_mirror_url_is_checked_and_trimmed():
    assert sources.check_url("  https://mirror.example/mnist/\n") == "https://mirror.example/mnist/"
    for url in ("ftp://mirror.example/", "https://mir ror.example/", "https://", "mirror.example"):
        with pytest.raises(InvalidInput, match="is not a usable URL"):
            sources.check_url(url)
