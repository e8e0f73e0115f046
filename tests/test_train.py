"""python -m mxsoftmax.train: flags, resume, signals at every moment, pipes, the last line."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest

from mxsoftmax import loop, pictures, runs, sources
from mxsoftmax.cli import command as hint
from mxsoftmax import train as train_cli

from conftest import random_splits, write_split_dir


def command(argv):
    return [sys.executable, "-m", "mxsoftmax.train", "--quiet"] + argv


def saved(out):
    state = json.load(open(os.path.join(out, "state.json")))
    with np.load(os.path.join(out, state["params"]), allow_pickle=False) as params:
        return state, params["W"], params["b"]


def no_part_files(*folders):
    return not [n for folder in folders for n in os.listdir(folder) if n.endswith(".part")]


@pytest.mark.parametrize("flag, value, fragment", [
    # the flags of the constraint table are generated in tests/test_validation.py
    ("--ctx", "tpu", "must be cpu, cpu:N, gpu or gpu:N with N below 1000, not 'tpu'"),
    ("--ctx", "cpu:99999999999", "must be cpu, cpu:N, gpu or gpu:N with N below 1000"),
    ("--ctx", "cpu:", "must be cpu, cpu:N, gpu or gpu:N"),
    ("--dataset", "cifar", "invalid choice"),
    ("--mirror", "ftp://x/", "the scheme must be http or https"),
    ("--mirror", "http://%s.example/" % ("a" * 300), "empty or longer than 63 characters"),
    ("--mirror", "http://exa mple.com/", "spaces or control characters"),
    ("--data-dir", "", "argument --data-dir: is empty: give a path"),
    ("--epoch", "1", "unrecognized argument --epoch (did you mean --epochs?)"),
    ("--path", "fastest", "invalid choice"),
    ("--epochs", "1" + "0" * 5000, "must be a whole number from 0 to 100000, not '1000"),  # 5001 digits
])
def test_bad_flags_exit_2_naming_the_flag_and_the_valid_range(cli, flag, value, fragment, capsys):
    code, out, err = cli("train", "--quiet", *[flag, value])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert flag in err and fragment in err and "Traceback" not in err and "usage:" not in err


def test_old_loader_spelling_still_works():
    args = train_cli.build_parser().parse_args(["--loader", "gluon"])
    assert args.path == "literal"
    assert train_cli.build_parser().parse_args(["--loader", "fast"]).path == "compiled"
    assert train_cli.build_parser().parse_args([]).path == "compiled"
    assert "--loader" not in train_cli.build_parser().format_help()


def test_gpu_without_gpu_is_one_sentence_and_exit_2(cli, monkeypatch, capsys):
    monkeypatch.setattr(mx.context, "num_gpus", lambda: 0)  # also on a CUDA build with a GPU
    code, out, err = cli("train", "--quiet", *["--ctx", "gpu"])
    assert code == 2 and out == ""
    assert "error: --ctx: gpu:0 asks for a GPU but MXNet sees none" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_run_ends_saying_where_it_was_saved(cli, fashion_subset_dir, tmp_path, capsys):
    code, out, err = cli("train", "--quiet", *["--data-dir", fashion_subset_dir, "--epochs", "1"])
    assert code == 0 and out.startswith("Epoch 0. ")
    assert err.strip().endswith("nothing was saved (add --out DIR to keep the run)")
    run = str(tmp_path / "run")
    code, out, err = cli("train", "--quiet", "--data-dir", fashion_subset_dir, "--epochs", "1",
                         "--out", run, "--no-pictures")
    assert code == 0 and "saved the run in %s: epoch-0.npz" % run in err
    assert "python -m mxsoftmax.plot --out %s" % run in err


def test_resume_continues_and_refuses_other_math(cli, fashion_subset_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert cli("train", "--quiet", *["--data-dir", fashion_subset_dir, "--epochs", "1", "--out", out,
                                     "--no-pictures"])[0] == 0
    before = open(os.path.join(out, "state.json")).read()
    for argv, fragment in [([], "already holds a run"),
                           (["--resume", "--lr", "0.01"],
                            "used --lr 0.001; resuming with --lr 0.01 would change its math"),
                           (["--resume", "--stable"], "used the tutorial's softmax (no --stable); "
                                                      "resuming with --stable would change"),
                           (["--resume", "--dataset", "fashion-mnist"],
                            "used --dataset mnist; resuming with --dataset fashion-mnist"),
                           (["--resume", "--batch-size", "32"], "used --batch-size 64"),
                           (["--resume", "--lr", "0.0010000001"],
                            "used --lr 0.001; resuming with --lr 0.0010000001 would change")]:
        for data_dir in (["--data-dir", fashion_subset_dir], []):  # given again, or as recorded
            code, _, err = cli("train", "--quiet", "--epochs", "2", "--out", out, *data_dir, *argv)
            assert code == 2 and fragment in err and "Traceback" not in err, (argv, err)
    assert open(os.path.join(out, "state.json")).read() == before
    code, out_text, err = cli("train", "--quiet", "--out", out, "--resume", "--epochs", "2",
                              "--no-pictures")
    assert code == 0 and out_text.startswith("Epoch 1. ") and saved(out)[0]["epoch"] == 1
    code, out_text, err = cli("train", "--quiet", *["--out", out, "--resume", "--no-pictures"])
    assert code == 0 and out_text == "" and "has completed 2 epoch(s) already" in err


def test_resume_needs_a_run(cli, tmp_path, capsys):
    code, _, err = cli("train", "--quiet", *["--resume"])
    assert code == 2 and "--resume needs --out" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cli("train", "--quiet", *["--resume", "--out", str(tmp_path / "empty")])
    assert code == 2 and "--out: %s holds no completed epoch" % (tmp_path / "empty") in err


def test_data_dir_and_dataset_must_agree(cli, tmp_path, capsys, monkeypatch):
    folder = write_split_dir(tmp_path / "d", random_splits())
    # Make these random files "known" as Fashion-MNIST by their digests.
    from mxsoftmax import catalog, idx
    paths = idx.find_files(folder)
    entry = dict(catalog.DATASETS["fashion-mnist"],
                 files={k: (idx.file_digest(p, k[1]), 10 ** 8) for k, p in paths.items()})
    monkeypatch.setitem(catalog.DATASETS, "fashion-mnist", entry)
    code, _, err = cli("train", "--quiet", *["--data-dir", folder, "--dataset", "mnist"])
    assert code == 2 and "holds fashion-mnist (recognised by its checksums), not mnist" in err
    assert "--data-dir: %s" % folder in err
    assert sources.read_dir(folder).dataset == "fashion-mnist"
    other = write_split_dir(tmp_path / "o", random_splits(seed=1))
    assert sources.read_dir(other).dataset == "mnist"
    assert sources.read_dir(other, "fashion-mnist").dataset == "fashion-mnist"


def test_sigterm_then_resume_equals_an_uninterrupted_run(cli, tmp_path, capsys):
    data_dir = write_split_dir(tmp_path / "data", random_splits(n_train=1000, n_test=200))
    ref = str(tmp_path / "ref")
    code, ref_out, _ = cli("train", "--quiet", *["--data-dir", data_dir, "--epochs", "3", "--out", ref,
                                                 "--no-pictures"])
    assert code == 0
    out = str(tmp_path / "Jo's run")  # quoted in the hint, which is pasted whole
    proc = subprocess.Popen(command(["--data-dir", data_dir, "--epochs", "3", "--out", out,
                                     "--path", "literal", "--no-pictures"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.startswith("Epoch 0. ")
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM" in err and "--resume" in err and "Traceback" not in err
    before = [first.rstrip("\n")] + rest.splitlines()
    assert saved(out)[0]["epoch"] == len(before) - 1 < 2 and no_part_files(out)
    hint = err.split("continue with `")[1].split("`")[0]  # the line as a user pastes it
    assert "-m mxsoftmax.train --out " in hint and hint.endswith(" --resume")
    pasted = subprocess.run(hint + " --no-pictures --quiet", shell=True, capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, PATH="/usr/bin:/bin"))
    code, resumed, err = pasted.returncode, pasted.stdout, pasted.stderr
    assert code == 0, err
    assert before + resumed.splitlines() == ref_out.splitlines()
    _, W, b = saved(out)
    _, ref_W, ref_b = saved(ref)
    assert np.array_equal(W, ref_W) and np.array_equal(b, ref_b)


def _signal_when(monkeypatch, owner, attr, signum, call=0):
    """Make the ``call``-th call of ``owner.attr`` raise ``signum`` at this process first."""
    real = getattr(owner, attr)
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == call + 1:
            os.kill(os.getpid(), signum)
            time.sleep(0.01)  # let Python run the handler here, in the middle of the call
        return real(*args, **kwargs)
    monkeypatch.setattr(owner, attr, wrapped)
    return calls


@pytest.mark.parametrize("moment, owner, attr, call, epoch", [
    ("last evaluation", loop, "accuracy", 1, 1),
    ("checkpoint write", runs, "_save_params", 2, 1),  # init, epoch 0, then epoch 1's params
    ("pictures", pictures, "save_figure", 1, 1),
])
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_at_the_end_still_stops_the_run_after_its_checkpoint(
        cli, fashion_subset_dir, tmp_path, monkeypatch, capsys, moment, owner, attr, call, epoch,
        signum, code):
    out = str(tmp_path / "run")
    _signal_when(monkeypatch, owner, attr, signum, call)
    argv = ["--data-dir", fashion_subset_dir, "--epochs", "2", "--out", out]
    code_, stdout, err = cli("train", "--quiet", *argv)
    assert code_ == code, (moment, err)
    assert "interrupted by %s" % signal.Signals(signum).name in err and "Traceback" not in err
    assert "the checkpoint of epoch %d in %s is intact" % (epoch, out) in err
    assert saved(out)[0]["epoch"] == epoch and stdout.count("Epoch ") == 2
    assert no_part_files(out)
    # Epoch 1 was the last: the run is complete, and its pictures are what is left to do.
    assert "the run is complete, its pictures may not be: draw them with `%s --out %s`" \
        % (hint("plot"), out) in err, (moment, err)


def test_a_signal_while_downloading_leaves_no_part_file(cli, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sources, "sources", lambda dataset, mirrors=(): ["http://127.0.0.1:9/"])
    monkeypatch.setattr(sources, "shipped_dir", lambda dataset: None)  # as if no MNIST shipped

    def stream(url, limit, progress):
        yield b"partial"
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
    monkeypatch.setattr(sources, "_stream", stream)
    code, _, err = cli("train", "--quiet", *[])
    assert code == 130 and "interrupted by SIGINT" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "home")  # nothing fetched: nothing left, no .part


SIGNAL_DURING_IMPORT = """
import builtins, os, signal, sys
real = builtins.__import__
def hook(name, *args, **kwargs):
    if name == "mxnet":
        builtins.__import__ = real
        os.kill(os.getpid(), signal.%s)
    return real(name, *args, **kwargs)
builtins.__import__ = hook
sys.argv = ["mxsoftmax.%s"]
import runpy
runpy.run_module("mxsoftmax.%s", run_name="__main__")
"""


@pytest.mark.parametrize("command", ["train", "predict", "draw", "plot", "data"])
@pytest.mark.parametrize("signum, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_while_mxnet_loads_is_one_line(command, signum, code):
    proc = subprocess.run([sys.executable, "-c", SIGNAL_DURING_IMPORT % (signum, command, command)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == code and "Traceback" not in proc.stderr
    assert proc.stderr == "python -m mxsoftmax.%s: interrupted while loading.\n" % command


def test_a_closed_pipe_ends_quietly_after_the_checkpoint(fashion_subset_dir, tmp_path):
    out = str(tmp_path / "run")
    proc = subprocess.Popen(command(["--data-dir", fashion_subset_dir, "--epochs", "3", "--out", out,
                                     "--no-pictures"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # like '| head -1'
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and first.startswith(b"Epoch 0. ")
    assert "Traceback" not in err and "cannot write" not in err and "Broken pipe" not in err
    assert saved(out)[0]["epoch"] >= 0 and no_part_files(out)


def test_progress_bar_on_a_terminal_only_without_quiet(fashion_subset_dir, monkeypatch, capsys):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert train_cli.main(["--data-dir", fashion_subset_dir, "--epochs", "1"]) == 0
    assert "epoch 0:" in terminal.getvalue() and "/94 [" in terminal.getvalue()
    terminal.truncate(0)
    assert train_cli.main(["--data-dir", fashion_subset_dir, "--epochs", "1", "--quiet"]) == 0
    assert "epoch 0:" not in terminal.getvalue()


def test_streamed_training_images_that_do_not_match_stop_before_training(cli, tmp_path, monkeypatch,
                                                                         capsys):
    from mxsoftmax import catalog, idx
    folder = write_split_dir(tmp_path / "deb", random_splits())
    files = {k: (idx.file_digest(p, k[1]), 10 ** 8) for k, p in idx.find_files(folder).items()}
    files[("train", "images")] = ("e" * 64, 10 ** 8)
    monkeypatch.setitem(catalog.DATASETS, "fashion-mnist", dict(
        catalog.DATASETS["fashion-mnist"], files=files, debian_dir=folder))
    code, out, err = cli("train", "--quiet", *["--dataset", "fashion-mnist", "--epochs", "1"])
    assert code == 2 and out == "" and "Traceback" not in err
    assert "train-images-idx3-ubyte.gz does not match its known checksum (expected SHA-256 eeee" in err


def test_a_full_disk_behind_standard_output_is_one_sentence(
        fashion_subset_dir, monkeypatch, capsys):
    with open("/dev/full", "w") as full:  # every write fails with "No space left on device"
        monkeypatch.setattr(sys, "stdout", full)
        code = train_cli.main(["--quiet", "--data-dir", fashion_subset_dir, "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "python -m mxsoftmax.train: error: cannot write to standard output (No space left on "
        "device); nothing was saved (add --out DIR to keep the run)."]


def test_sigterm_during_predict_is_one_line(cli, fashion_subset_dir, tmp_path, monkeypatch, capsys):
    from PIL import Image
    from mxsoftmax import predict
    out = str(tmp_path / "run")
    assert cli("train", "--quiet", *["--data-dir", fashion_subset_dir, "--epochs", "1", "--out", out,
                                     "--no-pictures"])[0] == 0
    image = str(tmp_path / "x.png")
    Image.fromarray(np.full((28, 28), 200, np.uint8) * np.eye(28, dtype=np.uint8)).save(image)
    _signal_when(monkeypatch, predict, "classify", signal.SIGTERM)  # in the first image's answer
    assert predict.main(["--params", out, image, image]) == 143
    captured = capsys.readouterr()
    assert captured.err == "python -m mxsoftmax.predict: interrupted by SIGTERM.\n"


def test_a_signal_before_the_last_epoch_says_how_to_continue(cli, fashion_subset_dir, tmp_path,
                                                             monkeypatch, capsys):
    out = str(tmp_path / "run")
    _signal_when(monkeypatch, loop, "accuracy", signal.SIGINT, 0)
    code, stdout, err = cli("train", "--quiet", "--data-dir", fashion_subset_dir, "--epochs", "2",
                            "--out", out)
    assert code == 130 and stdout.count("Epoch ") == 1
    assert "the checkpoint of epoch 0 in %s is intact; continue with `%s --out %s --resume`" \
        % (out, hint("train"), out) in err


def test_errors_are_worded_with_the_flag_that_named_the_path(cli, tmp_path, capsys):
    folder = write_split_dir(tmp_path / "d", random_splits())
    with open(os.path.join(folder, "train-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(b"not gzip, not idx")
    code, _, err = cli("train", "--quiet", *["--data-dir", folder])
    assert code == 2 and err.count("\n") == 1, err
    assert "error: --data-dir: %s" % os.path.join(folder, "train-labels-idx1-ubyte.gz") in err
    code, _, err = cli("train", "--quiet", *["--data-dir", str(tmp_path / "none")])
    assert code == 2 and "error: --data-dir: %s is not a folder" % (tmp_path / "none") in err


def test_a_flag_missing_its_value_is_not_taken_for_a_misspelt_flag(capsys):
    with pytest.raises(SystemExit):
        train_cli.main(["--out", "--weird"])
    assert "argument --out: expected one argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_cli.main(["--out", "x", "--lorder", "literal"])
    assert "unrecognized argument --lorder" in capsys.readouterr().err


def test_divergence_from_the_random_start_advises_stable_only(cli, capsys):
    from conftest import FASHION_DIR
    if not os.path.isdir(FASHION_DIR):
        pytest.skip("%s is missing: run 'apt-get install dataset-fashion-mnist'" % FASHION_DIR)
    # Seed 3's N(0, 1) start overflows the tutorial's softmax at batch 2 on Fashion-MNIST.
    code, _, err = cli("train", "--quiet", *["--data-dir", FASHION_DIR, "--seed", "3", "--epochs", "1"])
    assert code == 1 and "the loss became nan in epoch 0 at batch 2: try --stable; a smaller " \
                         "--lr cannot help this early" in err, err
    code, _, err = cli("train", "--quiet", "--data-dir", FASHION_DIR, "--seed", "3", "--epochs", "1",
                       "--lr", "3e38")
    assert code == 1 and "try a smaller --lr, or --stable" in err, err


@pytest.mark.parametrize("command, argv", [
    ("train", ["--out", ""]), ("train", ["--data-dir", ""]), ("plot", ["--out", ""]),
    ("data", ["download", "--dir", ""]), ("predict", ["--params", "", "x.png"]),
    ("draw", ["--params", ""])])
def test_an_empty_path_is_refused_by_every_command(command, argv, capsys):
    import importlib
    main = importlib.import_module("mxsoftmax." + command).main
    with pytest.raises(SystemExit) as stop:
        main(argv)
    flag = [a for a in argv if a.startswith("--")][0]
    assert stop.value.code == 2
    assert "argument %s: is empty: give a path" % flag in capsys.readouterr().err


def test_divergence_advice_on_a_resumed_run_asks_for_a_new_run(cli, fashion_subset_dir, tmp_path):
    """--resume refuses another --lr or --stable, so the advice after a resumed run diverges
    names a new --out."""
    out = str(tmp_path / "run")
    assert cli("train", "--quiet", "--data-dir", fashion_subset_dir, "--epochs", "1", "--out", out,
               "--no-pictures")[0] == 0
    state = json.load(open(os.path.join(out, "state.json")))
    state["flags"]["lr"] = 3e38  # as if the run had been started with an absurd learning rate
    json.dump(state, open(os.path.join(out, "state.json"), "w"))
    code, _, err = cli("train", "--quiet", "--out", out, "--resume", "--epochs", "2",
                       "--no-pictures")
    assert code == 1 and "in a new --out (a resumed run keeps its --lr and --stable)" in err, err


def test_ctrl_c_held_down_while_the_run_ends_prints_one_line(fashion_subset_dir, tmp_path):
    """A signal every millisecond from the first epoch line on: the run stops after that epoch's
    checkpoint and says so once; MXNet's teardown is never interrupted into 'Exception ignored'."""
    proc = subprocess.Popen(command(["--data-dir", fashion_subset_dir, "--epochs", "3", "--out",
                                     str(tmp_path / "run"), "--no-pictures"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("Epoch 0. ")
    deadline = time.time() + 60
    while proc.poll() is None and time.time() < deadline:
        try:
            os.kill(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            break
        time.sleep(0.001)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.count("\n") == 1, err
    assert "interrupted by SIGINT" in err and "Exception ignored" not in err


def test_mirror_variables_are_checked_even_when_the_shipped_data_is_used(cli, monkeypatch):
    monkeypatch.setenv("MXNET_GLUON_REPO", "")
    code, out, err = cli("train", "--quiet", "--epochs", "0")
    assert code == 2 and out == "" and "MXNET_GLUON_REPO" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("command, argv", [("draw", ["--params", "x", "--host", ""]),
                                           ("predict", ["--params", "x", ""])])
def test_an_empty_host_or_image_is_refused(cli, command, argv):
    code, out, err = cli(command, *argv)
    assert code == 2 and "is empty: give " in err and err.count("\n") == 1, err


def test_zero_epochs_into_a_folder_saves_nothing_and_says_so(cli, fashion_subset_dir, tmp_path):
    out = str(tmp_path / "run")
    code, stdout, err = cli("train", "--quiet", "--data-dir", fashion_subset_dir, "--epochs", "0",
                            "--out", out)
    assert code == 0 and stdout == "" and "Traceback" not in err
    assert err.strip().endswith("no epoch completed, so nothing was kept in %s" % out), err
    assert not os.path.exists(out)  # nothing of a run that never trained is left behind


def closed_stderr(module, *argv):
    """``python -m module argv 0<&- 2>&-``: sys.stderr is None, and MXNet logs (to fd 2) verbosely."""
    return subprocess.run(["sh", "-c", 'exec "$0" "$@" 0<&- 2>&-', sys.executable, "-m", module, *argv],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, MXNET_EXEC_VERBOSE_LOGGING="1"))


def test_a_command_started_with_standard_error_closed_keeps_standard_output_clean(
        fashion_subset_dir, tmp_path):
    out = str(tmp_path / "run")
    done = closed_stderr("mxsoftmax.train", "--data-dir", fashion_subset_dir, "--epochs", "2",
                         "--out", out, "--no-pictures")
    assert done.returncode == 0
    assert [line[:9] for line in done.stdout.splitlines()] == ["Epoch 0. ", "Epoch 1. "]
    assert saved(out)[0]["epoch"] == 1
    assert re.fullmatch(r"[0-9]+\n", open(os.path.join(out, ".lock")).read())  # not MXNet's log
    for module, argv in (("mxsoftmax.train", ["--epochs", "-1"]),
                         ("mxsoftmax.predict", ["--params", out + "x", "a.png"])):
        refused = closed_stderr(module, *argv)
        assert (refused.returncode, refused.stdout) == (2, "")
