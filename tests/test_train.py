"""Training: context placement, learning on real data, determinism, literal == fast, CLI errors."""
import json
import os

import mxnet as mx
import numpy as np
import pytest
from matplotlib.image import imread

from mxsoftmax import train
from mxsoftmax.data import Loaders
from mxsoftmax.model import init_params, net


def run_cli(argv, capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    code = train.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("loader", ["fast", "gluon"])
def test_everything_lives_on_the_requested_context(fashion_subset, loader):
    ctx = mx.cpu(1)
    small = {k: tuple(a[:640] for a in v) for k, v in fashion_subset.items()}
    loaders = Loaders(small, ctx, 64, seed=0, loader=loader)
    params = init_params(ctx)
    assert all(p.context == ctx and p.grad.context == ctx for p in params)
    for data, label in loaders.train(0):
        assert data.context == ctx and label.context == ctx
        loss = train.train_step(params, data, label, .001)
        assert loss.context == ctx
        assert all(p.context == ctx and p.grad.context == ctx for p in params)
    for data, label in list(loaders.test()) + list(loaders.train_eval()):
        assert data.context == ctx and label.context == ctx
        assert net(data, params).context == ctx
    rows = list(train.fit(params, loaders, 1, .001))
    assert rows and all(p.context == ctx for p in params)


def test_short_run_on_fashion_mnist_learns(fashion_subset_dir, capsys):
    code, out, _ = run_cli(["--data-dir", fashion_subset_dir, "--epochs", "3", "--quiet"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split(".")[0] for line in lines] == ["Epoch 0", "Epoch 1", "Epoch 2"]
    test_acc = float(lines[-1].rsplit("Test_acc ", 1)[1])
    assert test_acc > 0.55, lines  # chance is 0.1


def test_same_seed_same_lines_other_seed_other_lines(fashion_subset_dir, capsys):
    argv = ["--data-dir", fashion_subset_dir, "--epochs", "2", "--quiet"]
    outs = [run_cli(argv + ["--seed", s], capsys)[1] for s in ("5", "5", "6")]
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


def test_literal_and_fast_paths_give_the_same_parameters_and_lines(fashion_subset):
    small = {"train": tuple(a[:1280] for a in fashion_subset["train"]),
             "test": tuple(a[:500] for a in fashion_subset["test"])}
    results = {}
    for loader in ("gluon", "fast"):
        mx.random.seed(0)
        params = init_params(mx.cpu())
        rows = list(train.fit(params, Loaders(small, mx.cpu(), 64, 0, loader), 2, .001))
        results[loader] = params, rows
    (p_lit, rows_lit), (p_fast, rows_fast) = results["gluon"], results["fast"]
    for a, b in zip(p_lit, p_fast):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(rows_lit, rows_fast):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1 / 500)
        assert a["train_acc"] == pytest.approx(b["train_acc"], abs=1 / 1280)


def test_out_writes_params_and_metrics(fashion_subset_dir, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(["--data-dir", fashion_subset_dir, "--epochs", "2", "--quiet",
                               "--out", str(out)], capsys)
    assert code == 0
    rows = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert set(rows[0]) >= {"epoch", "loss", "train_acc", "test_acc", "seconds"}
    assert "Test_acc %s" % np.float32(rows[1]["test_acc"]) in stdout.splitlines()[1]
    saved = mx.nd.load(str(out / "epoch-1.params"))
    assert saved["W"].shape == (784, 10) and saved["b"].shape == (10,)
    assert not os.path.exists(out / "epoch-0.params")
    for name in ("history.png", "weights.png", "confusion.png", "mistakes.png"):
        assert imread(str(out / name)).shape[0] > 100, name


def test_settings_from_env():
    assert train.settings_from_env({}) == dict(dataset="mnist", data_dir=None, epochs=10)
    got = train.settings_from_env({"MXSOFTMAX_DATASET": "fashion-mnist",
                                   "MXSOFTMAX_DATA_DIR": "/d", "MXSOFTMAX_EPOCHS": "2"})
    assert got == dict(dataset="fashion-mnist", data_dir="/d", epochs=2)
    with pytest.raises(train.UsageError, match="MXSOFTMAX_EPOCHS=two"):
        train.settings_from_env({"MXSOFTMAX_EPOCHS": "two"})


@pytest.mark.parametrize("flag, value, fragment", [
    ("--lr", "0", "must be a finite number above 0"),
    ("--lr", "-1", "must be a finite number above 0"),
    ("--lr", "nan", "must be a finite number above 0"),
    ("--lr", "inf", "must be a finite number above 0"),
    ("--batch-size", "0", "must be at least 1"),
    ("--epochs", "-1", "must be at least 0"),
    ("--ctx", "tpu", "expected cpu, cpu:N, gpu or gpu:N"),
    ("--dataset", "cifar", "invalid choice"),
])
def test_bad_flags_exit_2_naming_the_flag(flag, value, fragment, capsys):
    with pytest.raises(SystemExit) as exit_:
        train.main([flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and fragment in err


def test_gpu_without_gpu_is_one_sentence_and_exit_2(fashion_subset_dir, capsys):
    code, out, err = run_cli(["--data-dir", fashion_subset_dir, "--ctx", "gpu"], capsys)
    assert code == 2 and out == ""
    assert "--ctx gpu:0 asked for a GPU but MXNet sees none" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_no_kernel_image_is_explained(monkeypatch):
    from mxsoftmax import UsageError, context
    monkeypatch.setattr(mx.context, "num_gpus", lambda: 1)

    def fail(*args, **kwargs):
        raise mx.MXNetError("CUDA: no kernel image is available for execution on the device")
    monkeypatch.setattr(mx.nd, "ones", fail)
    with pytest.raises(UsageError, match="no kernel image.*sm_90"):
        context.check_ctx(mx.gpu(0))


def test_epoch_line_format_is_the_tutorials():
    line = train.EPOCH_LINE % (0, 1.33021209374, np.float32(0.75505), np.float32(0.7662))
    assert line == "Epoch 0. Loss: 1.33021209374, Train_acc 0.75505, Test_acc 0.7662"


def test_missing_data_dir_is_exit_2(tmp_path, capsys):
    code, _, err = run_cli(["--data-dir", str(tmp_path / "none")], capsys)
    assert code == 2 and "is not a folder" in err and "Traceback" not in err


def _stderr_through_a_terminal(argv):
    """Run the CLI with stderr on a pseudo-terminal; returns (exit code, stdout, terminal text)."""
    import fcntl
    import pty
    import struct
    import subprocess
    import sys
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # tqdm needs a width
    proc = subprocess.Popen([sys.executable, "-m", "mxsoftmax.train"] + argv,
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    out = proc.stdout.read()
    os.close(master)
    return proc.wait(), out, b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_only_without_quiet(fashion_subset_dir):
    argv = ["--data-dir", fashion_subset_dir, "--epochs", "1"]
    code, out, terminal = _stderr_through_a_terminal(argv)
    assert code == 0 and out.startswith("Epoch 0. ")
    assert "epoch 0:" in terminal and "/94 [" in terminal
    code, out, terminal = _stderr_through_a_terminal(argv + ["--quiet"])
    assert code == 0 and out.startswith("Epoch 0. ") and "epoch 0:" not in terminal
