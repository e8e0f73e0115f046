"""Runs that are never lost: checkpoints, resume, signals, the divergence guard, bad --out."""
import json
import os
import signal
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from mxsoftmax import train


def cli(args):
    return [sys.executable, "-m", "mxsoftmax.train", "--quiet"] + args


def params_of(out):
    state = json.load(open(os.path.join(out, "state.json")))
    saved = mx.nd.load(os.path.join(out, state["params"]))
    return state, saved["W"].asnumpy(), saved["b"].asnumpy()


@pytest.fixture(scope="module")
def reference(fashion_subset_dir, tmp_path_factory):
    """An uninterrupted 8-epoch run: its output lines and final parameters."""
    out = str(tmp_path_factory.mktemp("ref") / "run")
    done = subprocess.run(cli(["--data-dir", fashion_subset_dir, "--epochs", "8", "--out", out]),
                          capture_output=True, text=True, check=True)
    return done.stdout.splitlines(), params_of(out)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_then_resume_equals_uninterrupted_run(
        fashion_subset_dir, tmp_path, reference, signum, code):
    out = str(tmp_path / "run")
    proc = subprocess.Popen(cli(["--data-dir", fashion_subset_dir, "--epochs", "8", "--out", out,
                                 "--loader", "gluon"]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.startswith("Epoch 0. ")
    proc.send_signal(signum)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "--resume" in err and "Traceback" not in err
    before = [first.rstrip("\n")] + rest.splitlines()
    state, _, _ = params_of(out)
    assert state["epoch"] == len(before) - 1 < 7
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["epoch"] for r in rows] == list(range(len(before)))
    assert not [n for n in os.listdir(out) if n.endswith(".part")]

    done = subprocess.run(cli(["--out", out, "--resume"]),  # --epochs 8 comes from the run
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ref_lines, (_, ref_W, ref_b) = reference
    assert before + done.stdout.splitlines() == ref_lines
    _, W, b = params_of(out)
    np.testing.assert_allclose(W, ref_W, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b, ref_b, rtol=1e-6, atol=1e-6)


def test_non_finite_loss_stops_and_keeps_the_good_checkpoint(
        fashion_subset_dir, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    assert train.main(["--data-dir", fashion_subset_dir, "--epochs", "1", "--quiet",
                       "--out", str(tmp_path / "one")]) == 0
    _, good_W, good_b = params_of(str(tmp_path / "one"))
    calls = []
    real_step = train.train_step

    def poisoned(*args, **kwargs):
        calls.append(1)
        loss = real_step(*args, **kwargs)
        return loss * np.nan if len(calls) > 94 + 3 else loss  # 94 batches per epoch here
    monkeypatch.setattr(train, "train_step", poisoned)
    capsys.readouterr()
    assert train.main(["--data-dir", fashion_subset_dir, "--epochs", "3", "--quiet",
                       "--out", out]) == 1
    err = capsys.readouterr().err
    assert "the loss became nan in epoch 1 at batch 3" in err and "--lr" in err and "--stable" in err
    state, W, b = params_of(out)
    assert state["epoch"] == 0
    np.testing.assert_array_equal(W, good_W)
    np.testing.assert_array_equal(b, good_b)


def test_huge_learning_rate_diverges_with_exit_1(fashion_subset_dir, capsys):
    assert train.main(["--data-dir", fashion_subset_dir, "--epochs", "1", "--lr", "1e6",
                       "--quiet"]) == 1
    assert "smaller --lr" in capsys.readouterr().err


def test_bad_out_and_resume_cases_exit_2(fashion_subset_dir, tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["--out", str(a_file / "sub")], "cannot be used"),
        (["--out", str(a_file)], "cannot be used"),
        (["--resume"], "--resume needs --out"),
        (["--resume", "--out", str(tmp_path / "empty")], "holds no run to continue"),
        (["--resume", "--out", str(tmp_path / "foreign")], "is not a mxsoftmax checkpoint"),
    ]
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "state.json").write_text('{"epoch": 3}')
    for argv, fragment in cases:
        try:
            code = train.main(["--data-dir", fashion_subset_dir, "--quiet"] + argv)
        except SystemExit as exit_:
            code = exit_.code
        err = capsys.readouterr().err
        assert code == 2 and fragment in err and "Traceback" not in err, (argv, err)

    out = str(tmp_path / "run")
    assert train.main(["--data-dir", fashion_subset_dir, "--epochs", "1", "--quiet",
                       "--out", out]) == 0
    before = open(os.path.join(out, "state.json")).read()
    for argv, fragment in [([], "already holds a run"),
                           (["--resume", "--lr", "0.01"], "used --lr 0.001, not --lr 0.01"),
                           (["--resume", "--stable"], "used no --stable, not --stable"),
                           (["--resume", "--batch-size", "32"], "used --batch-size 64")]:
        code = train.main(["--data-dir", fashion_subset_dir, "--epochs", "2", "--quiet",
                           "--out", out] + argv)
        err = capsys.readouterr().err
        assert code == 2 and fragment in err, (argv, err)
    assert open(os.path.join(out, "state.json")).read() == before


def test_resume_of_a_finished_run_with_more_epochs_continues(fashion_subset_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train.main(["--data-dir", fashion_subset_dir, "--epochs", "1", "--quiet",
                       "--out", out]) == 0
    capsys.readouterr()
    assert train.main(["--out", out, "--resume", "--epochs", "2", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("Epoch 1. ")
    assert params_of(out)[0]["epoch"] == 1


def test_failed_checkpoint_write_keeps_the_last_one(fashion_subset_dir, tmp_path, monkeypatch,
                                                    capsys):
    from mxsoftmax import checkpoint
    out = str(tmp_path / "run")
    real_write = checkpoint.write_text
    states = []

    def full_disk(path, text):
        states.extend([path] if path.endswith("state.json") else [])
        if len(states) > 1:  # epoch 0 commits, epoch 1 fails
            raise OSError(28, "No space left on device", path)
        real_write(path, text)
    monkeypatch.setattr(checkpoint, "write_text", full_disk)
    assert train.main(["--data-dir", fashion_subset_dir, "--epochs", "3", "--quiet",
                       "--out", out]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "last complete checkpoint is kept" in err
    assert "Traceback" not in err
    state, W, _ = params_of(out)
    assert state["epoch"] == 0 and np.all(np.isfinite(W))
