"""Run folders that cannot be lost: the lock, validated state, damaged metrics, safe checkpoints."""
import contextlib
import errno
import io
import json
import zipfile
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import mxnet as mx
import numpy as np
import pytest

from mxsoftmax import files, runs
from mxsoftmax.errors import InvalidValue, Locked

from conftest import held, random_splits, train, write_split_dir


def saved(out):
    state = json.load(open(os.path.join(out, "state.json")))
    with np.load(os.path.join(out, state["params"]), allow_pickle=False) as params:
        return state, params["W"], params["b"]


@pytest.fixture(scope="module")
def one_epoch_run(fashion_subset_dir, tmp_path_factory):
    """A finished one-epoch run: its folder (copy it before changing anything)."""
    out = str(tmp_path_factory.mktemp("one") / "run")
    assert train(["--data-dir", fashion_subset_dir, "--epochs", "1", "--out", out]) == 0
    return out


def copy_run(src, dst):
    os.makedirs(dst)
    for name in os.listdir(src):
        with open(os.path.join(src, name), "rb") as f, open(os.path.join(dst, name), "wb") as g:
            g.write(f.read())
    return str(dst)


def test_two_runs_into_one_folder_at_once_one_is_refused_naming_the_holder(tmp_path):
    out = str(tmp_path / "run")
    data_dir = write_split_dir(tmp_path / "data", random_splits(n_train=2000, n_test=500))
    argv = [sys.executable, "-m", "mxsoftmax.train", "--quiet", "--data-dir", data_dir,
            "--epochs", "1", "--path", "literal", "--no-pictures", "--out", out]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = sorted((p.wait(timeout=300), p.communicate()) for p in procs)
    (ok, (out_ok, _)), (refused, (_, err)) = results
    assert ok == 0 and out_ok.count("Epoch ") == 1
    assert refused == 2 and "is in use by another mxsoftmax run (PID " in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    holder = [p.pid for p in procs if p.returncode == 0][0]
    assert "PID %d)" % holder in err
    assert saved(out)[0]["epoch"] == 0 and os.path.exists(os.path.join(out, "epoch-0.npz"))


def test_a_run_that_begins_while_another_judges_the_folder_is_named_as_its_holder(tmp_path,
                                                                                  monkeypatch):
    out = str(tmp_path / "run")
    folder, judge = runs.RunFolder(out), runs.RunFolder._refuse_others
    with contextlib.ExitStack() as other:
        def meanwhile(self, ours, before_lock=False):  # the other run: its lock, then its files
            if before_lock:
                other.enter_context(held(out))
                open(os.path.join(out, "init.npz"), "wb").close()
            return judge(self, ours, before_lock)
        monkeypatch.setattr(runs.RunFolder, "_refuse_others", meanwhile)
        with pytest.raises(Locked, match="is in use by another mxsoftmax run \\(PID %d\\)"
                           % os.getpid()):
            folder.open_new()


def test_a_folder_with_other_files_is_refused_and_left_alone(fashion_subset_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.jsonl").write_text("my own notes\n")
    code, _, err = train(["--data-dir", fashion_subset_dir, "--out", str(out)], capsys)
    assert code == 2 and "holds other files (metrics.jsonl) and no mxsoftmax run" in err
    assert sorted(os.listdir(out)) == ["metrics.jsonl"]  # refused: not even a lock file
    assert (out / "metrics.jsonl").read_text() == "my own notes\n"
    # Files with a run's names are the user's too when no run's lock file is beside them.
    (out / "metrics.jsonl").unlink()
    (out / "init.npz").write_text("my init")
    (out / "epoch-9.npz").write_text("my epoch")
    for data_dir in (fashion_subset_dir, str(tmp_path / "no-such-folder")):
        code, _, err = train(["--data-dir", data_dir, "--epochs", "1", "--out", str(out)], capsys)
        assert code == 2 and "holds other files (epoch-9.npz, init.npz)" in err, err
        assert sorted(os.listdir(out)) == ["epoch-9.npz", "init.npz"]
        assert (out / "init.npz").read_text() == "my init"


def test_a_run_copied_without_its_lock_is_still_a_run_to_resume(one_epoch_run, fashion_subset_dir,
                                                                tmp_path, capsys):
    out = copy_run(one_epoch_run, tmp_path / "copy")
    os.remove(os.path.join(out, ".lock"))  # copied without dotfiles
    before = sorted(os.listdir(out))
    code, _, err = train(["--data-dir", fashion_subset_dir, "--epochs", "2", "--out", out], capsys)
    assert code == 2 and "%s already holds a run: resume it with --resume" % out in err, err
    assert sorted(os.listdir(out)) == before
    code, stdout, err = train(["--epochs", "2", "--out", out, "--resume", "--no-pictures"], capsys)
    assert code == 0 and stdout.startswith("Epoch 1. "), err


def test_a_run_that_completed_no_epoch_can_be_started_again(fashion_subset_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text("123\n")
    (out / "init.npz").write_text("from an interrupted start")
    code, stdout, _ = train(["--data-dir", fashion_subset_dir, "--epochs", "1", "--out", str(out)],
                            capsys)
    assert code == 0 and stdout.startswith("Epoch 0. ")


def _state_cases(outside):
    good = dict(epoch=0, moving_loss=1.5, params="epoch-0.npz", format=2, data="0" * 64,
                flags=dict(dataset="mnist", batch_size=64, lr=0.001, seed=0, stable=False,
                           epochs=1, data_dir=None), class_names=[str(d) for d in range(10)])

    def edit(**changes):
        state = json.loads(json.dumps(good))
        for key, value in changes.items():
            target = state["flags"] if key in good["flags"] and key != "data" else state
            target[key] = value
        return json.dumps(state)
    return [
        ("not json", "{", "cannot be read"),
        ("nested too deeply", "[" * 30000 + "]" * 30000,  # Python 3.14's json parses it
         "cannot be read (nested too deeply)" if sys.version_info < (3, 14) else "not a JSON object"),
        ("a list", "[1, 2]", "not a JSON object"),
        ("unknown format", edit(format=3), "is a run state of format 3, not 2, so the run cannot be "
         "used: train the run again into a new folder (the train command's --out)."),
        ("mxsoftmax 0.2's format", edit(format=1), "format 1, not 2 (mxsoftmax 0.2's, whose MXNet "
         ".params checkpoints this version does not read), so the run cannot be used: train the "
         "run again into a new folder (the train command's --out)"),
        ("negative epoch", edit(epoch=-1), "epoch must be a whole number from 0 to 100000, not -1"),
        ("epoch as text", edit(epoch="0"), "epoch must be a whole number from 0 to 100000, not '0'"),
        ("epoch as bool", edit(epoch=True), "epoch must be a whole number from 0 to 100000, not True"),
        ("nan loss", edit(moving_loss=float("nan")),
         "moving_loss must be a number from -3.4e+38 to 3.4e+38, not nan"),
        ("huge loss", edit(moving_loss=1e308), "moving_loss must be a number from -3.4e+38 to 3.4e+38"),
        ("absolute params", edit(params=outside), "params must be epoch-0.npz, not '%s" % outside[:20]),
        ("params elsewhere", edit(params="../epoch-0.npz"), "params must be epoch-0.npz"),
        ("params of another epoch", edit(params="epoch-5.npz"), "params must be epoch-0.npz"),
        ("zero lr", edit(lr=0), "flags.lr must be a number from 1.18e-38 to 3.4e+38 (float32)"),
        ("lr beyond float32", edit(lr=1e300), "flags.lr must be a number from 1.18e-38"),
        ("lr below float32's normal", edit(lr=1e-40), "flags.lr must be a number from 1.18e-38"),
        ("format as bool", edit(format=True), "format True, not 2, so"),
        ("huge seed", edit(seed=2 ** 40), "flags.seed must be a whole number from 0 to 4294967295"),
        ("zero batch", edit(batch_size=0), "flags.batch_size must be a whole number from 1 to"),
        ("huge batch", edit(batch_size=2 ** 64), "flags.batch_size must be a whole number from 1 to"),
        ("huge epochs", edit(epochs=10 ** 12), "flags.epochs must be a whole number from 0 to"),
        ("bad data digest", edit(data="x" * 64), "data must be a SHA-256 in hex, or null"),
        ("bad dataset", edit(dataset="cifar"), "flags.dataset must be one of mnist, fashion-mnist"),
        ("stable as text", edit(stable="no"), "flags.stable must be true or false"),
        ("nine names", edit(class_names=list("abcdefghi")),
         "class_names must be a list of 10 class names (text)"),
        ("control characters", edit(class_names=["\x1b[2J"] * 10),
         "class_names must be a printable name of 1-40 characters"),
        ("a name that is no UTF-8", edit(class_names=["\ud800"] + list("123456789")),  # matplotlib fails
         "class_names must be a printable name of 1-40 characters, not '\\ud800'"),
        ("a path that is no file name", edit(data_dir="data\udbff"),  # \udc80-\udcff: not UTF-8 bytes
         "flags.data_dir must be a path, or null, not 'data\\udbff'"),
        ("flags missing", json.dumps({k: v for k, v in good.items() if k != "flags"}),
         "not a JSON object with flags"),
        ("huge file", " " * (70 << 10) + "{}", "larger than 65536 bytes"),
    ]


def test_a_hostile_state_is_refused_in_one_sentence_and_nothing_is_touched(
        one_epoch_run, tmp_path, capsys):
    victim = tmp_path / "victim.npz"
    victim.write_text("keep me")
    for i, (case, text, fragment) in enumerate(_state_cases(str(victim))):
        out = copy_run(one_epoch_run, tmp_path / ("run%d" % i))
        with open(os.path.join(out, "state.json"), "w") as f:
            f.write(text)
        before = sorted(os.listdir(out))
        code, _, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
        assert code == 2 and fragment in err and "Traceback" not in err, (case, err)
        assert err.count("\n") == 1, (case, err)
        assert sorted(os.listdir(out)) == before, case
    assert victim.read_text() == "keep me"


def test_damaged_metrics_are_rewritten_from_the_valid_lines(one_epoch_run, tmp_path, capsys):
    out = copy_run(one_epoch_run, tmp_path / "run")
    path = os.path.join(out, "metrics.jsonl")
    good = open(path).read()
    open(path, "w").write(good + '[1, 2]\n{"epoch": 1, "loss": "x"}\n\x00\xff garbage\n' +
                          "[" * 100000 + "\n" + '{"epo')
    code, stdout, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
    assert code == 0 and stdout.startswith("Epoch 1. ")
    assert "metrics.jsonl had 5 damaged line(s): the learning curves keep 1 of the 1 epochs" in err
    rows = [json.loads(line) for line in open(path)]
    assert [r["epoch"] for r in rows] == [0, 1] and rows[0] == json.loads(good)


def test_lost_metrics_say_so_and_later_epochs_are_still_kept(one_epoch_run, tmp_path, capsys):
    out = copy_run(one_epoch_run, tmp_path / "run")
    path = os.path.join(out, "metrics.jsonl")
    os.remove(path)
    code, stdout, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
    assert code == 0 and stdout.startswith("Epoch 1. ")
    assert "metrics.jsonl could not be read (No such file or directory): the learning curves " \
           "keep 0 of the 1 epochs" in err
    code, stdout, err = train(["--out", out, "--resume", "--epochs", "3"], capsys)
    assert code == 0 and "could not be read" not in err and "damaged" not in err  # said once
    assert [json.loads(line)["epoch"] for line in open(path)] == [1, 2]


def test_non_finite_weights_are_never_checkpointed(fashion_subset_dir, tmp_path, capsys):
    out = str(tmp_path / "run")
    code, _, err = train(["--data-dir", fashion_subset_dir, "--epochs", "1", "--batch-size",
                          "60000", "--lr", "3e38", "--out", out], capsys)
    assert code == 1 and "became inf or NaN in epoch 0" in err
    assert "No epoch completed, so nothing was kept in %s" % out in err and "intact" not in err
    assert not os.path.exists(out)  # a new run that completed no epoch leaves nothing behind


def in_namespace(script):
    """Run ``script`` (sh) as root of a new user and mount namespace, where it may mount a small
    tmpfs; returns the CompletedProcess, or skips when this system has no user namespaces."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs 'unshare -rm' (user namespaces) to mount a small file system")
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("size_kb, failing, kept", [(80, "epoch-1.npz", 0),
                                                    (72, "state.json", None)])
def test_a_full_disk_is_said_in_our_words_and_keeps_the_last_checkpoint(
        tmp_path, size_kb, failing, kept):
    """A real full disk: a tmpfs of 80 KB holds init.npz, epoch-0.npz (32 KB each), the
    lock, metrics and state, then has no room for epoch 1's params; 72 KB none for epoch 0's
    state. MXNet never writes there (it used to report a full disk in its own words)."""
    data = write_split_dir(tmp_path / "data", random_splits(200, 50))
    disk, out = tmp_path / "disk", str(tmp_path / "disk" / "run")
    disk.mkdir()
    proc = in_namespace(
        "mount -t tmpfs -o size=%dk tmpfs %s && %s -m mxsoftmax.train --quiet --no-pictures "
        "--data-dir %s --epochs 3 --out %s; echo \"exit $?\"; ls -a %s %s 2>/dev/null; "
        "cat %s/state.json 2>/dev/null" % (size_kb, disk, sys.executable, data, out, disk, out, out))
    assert "exit 1" in proc.stdout and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "error: --out: cannot write %s (No space left on device); " % os.path.join(out, failing) \
        in proc.stderr
    assert "std::" not in proc.stderr and "fwrite" not in proc.stderr  # not MXNet's words
    if kept is None:  # nothing completed: nothing is left, not even the folder
        assert "no epoch completed, so nothing was kept in %s" % out in proc.stderr
        assert proc.stdout.split("exit 1")[1].split() == ["%s:" % disk, ".", ".."]
    else:
        assert "the checkpoint of epoch %d in %s is intact" % (kept, out) in proc.stderr
        assert '"epoch": %d' % kept in proc.stdout and ".part" not in proc.stdout


def test_the_initial_draw_is_kept_with_the_run(one_epoch_run):
    mx.random.seed(0)
    from mxsoftmax.model import init_params
    W0, b0 = init_params(mx.cpu())
    W, b = runs.RunFolder(one_epoch_run).init_params()
    assert np.array_equal(W.asnumpy(), W0.asnumpy()) and np.array_equal(b.asnumpy(), b0.asnumpy())


NOT_NPZ = r"is not a checkpoint of mxsoftmax \(an .npz of W and b\): give a run folder written with --out"


def test_params_files_of_other_types_are_converted_or_refused(tmp_path, monkeypatch):
    ones = np.ones((784, 10))
    cases = {
        "f64": (dict(W=ones, b=np.ones(10)), None),
        "f16": (dict(W=ones.astype(np.float16), b=np.ones(10, np.float16)), None),
        "int": (dict(W=ones.astype(np.int32), b=np.ones(10, np.int32)),
                r"holds W \(784, 10\) of int32, not W \(784, 10\) and b \(10,\) of floating-point"),
        "inf": (dict(W=ones * np.inf, b=np.ones(10)), "holds inf or NaN in W"),
        "huge": (dict(W=ones * 1e36, b=np.ones(10)),  # 784e36 overflows
                 "weights so large that an image's scores overflow float32"),
        "large": (dict(W=ones * 1e35, b=np.ones(10)), None),
        "extra": (dict(W=ones, b=np.ones(10), c=np.ones(1)), NOT_NPZ),
        "unnamed": ((ones, np.ones(10)), NOT_NPZ),
        "shape": (dict(W=ones.T, b=np.ones(10)), r"holds W \(10, 784\) of float64, not W \(784, 10\)"),
        "pickled": (dict(W=np.array([{"x": 1}] * 7840, dtype=object).reshape(784, 10),
                         b=np.ones(10)), NOT_NPZ),
    }
    for name, (arrays, fragment) in cases.items():
        path = str(tmp_path / (name + ".npz"))
        np.savez(path, **arrays) if isinstance(arrays, dict) else np.savez(path, *arrays)
        if fragment is None:
            W, b = runs.load_params_file(path)
            assert W.dtype == np.float32 and np.array_equal(W.asnumpy(), arrays["W"].astype(np.float32))
        else:
            with pytest.raises(runs.InvalidInput, match=fragment):
                runs.load_params_file(path)
    # A zip bomb (W.npy declares 400 MB, compressed into a few hundred KB) is refused from the
    # zip's directory: nothing is decompressed, np.load is never called.
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("W.npy", "w", force_zip64=True) as member:
            for _ in range(400):
                member.write(bytes(1 << 20))
        archive.writestr("b.npy", b"")
    assert bomb.stat().st_size < (1 << 20)
    monkeypatch.setattr(runs.np, "load", lambda *a, **k: pytest.fail("np.load reached"))
    with pytest.raises(runs.InvalidInput, match=NOT_NPZ):
        runs.load_params_file(str(bomb))
    monkeypatch.undo()
    big = tmp_path / "big.npz"
    big.write_bytes(b"\0" * (2 << 20))
    with pytest.raises(runs.InvalidInput, match="is larger than 1048576 bytes"):
        runs.load_params_file(str(big))
    old = tmp_path / "epoch-3.params"  # mxsoftmax 0.2's checkpoints: refused by name, unread
    mx.nd.save(str(old), {"W": mx.nd.ones((784, 10)), "b": mx.nd.ones(10)})
    with pytest.raises(runs.InvalidInput, match="is in MXNet's .params format, which mxsoftmax 0.2 "
                       "wrote and this version does not read: train the run again"):
        runs.load_params_file(str(old))


def test_fifos_and_other_special_files_are_refused_not_waited_on(one_epoch_run, tmp_path, capsys):
    for name in ("state.json", "epoch-0.npz"):
        out = copy_run(one_epoch_run, tmp_path / name)
        os.remove(os.path.join(out, name))
        os.mkfifo(os.path.join(out, name))
        code, _, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
        assert code == 2 and "Traceback" not in err, err
        expected = ("state.json cannot be read (it is not a regular file), so the run cannot be "
                    "used: train the run again" if name == "state.json" else
                    "epoch-0.npz cannot be read (it is not a regular file), so the run's checkpoint "
                    "is lost or damaged: train the run again")
        assert expected in err, err
    with pytest.raises(runs.InvalidInput, match="is not a regular file"):
        runs.load_params_file("/dev/zero")


def test_resuming_on_other_data_is_refused(one_epoch_run, tmp_path, capsys):
    out = copy_run(one_epoch_run, tmp_path / "run")
    other = write_split_dir(tmp_path / "other", random_splits())
    code, _, err = train(["--out", out, "--resume", "--epochs", "2", "--data-dir", other], capsys)
    assert code == 2 and "was trained on other data than the files given now" in err
    assert saved(out)[0]["epoch"] == 0


def test_a_foreign_temporary_looking_file_still_makes_a_foreign_folder(
        fashion_subset_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / ".thesis.docx.part").write_text("my thesis")
    code, _, err = train(["--data-dir", fashion_subset_dir, "--out", str(out)], capsys)
    assert code == 2 and "holds other files (.thesis.docx.part)" in err
    assert os.listdir(out) == [".thesis.docx.part"]


def test_commands_that_need_a_run_create_nothing_and_stale_parts_are_swept(
        one_epoch_run, tmp_path, capsys):
    from mxsoftmax import plot as plot_cli
    new = tmp_path / "new"
    assert train(["--out", str(new), "--resume"], capsys)[0] == 2
    assert plot_cli.main(["--out", str(new)]) == 2
    assert not new.exists()
    out = copy_run(one_epoch_run, tmp_path / "run")
    stale = os.path.join(out, ".state.json.abcd_123.part")
    open(stale, "w").write("{")
    code, stdout, _ = train(["--out", out, "--resume", "--epochs", "2"], capsys)
    assert code == 0 and stdout.startswith("Epoch 1.") and not os.path.exists(stale)


def test_a_lock_file_that_is_a_fifo_or_a_link_is_refused_not_followed(one_epoch_run, tmp_path,
                                                                      capsys):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    for kind in ("fifo", "link"):
        out = copy_run(one_epoch_run, tmp_path / kind)
        lock = os.path.join(out, ".lock")
        os.remove(lock)
        os.mkfifo(lock) if kind == "fifo" else os.symlink(victim, lock)
        code, _, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
        assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
        assert ("%s is not a regular file: remove it" if kind == "fifo" else
                "%s is a symbolic link, not a lock file: remove it") % lock in err, err
    assert victim.read_text() == "keep me"


def test_a_checkpoint_serialised_short_is_never_written(
        fashion_subset_dir, tmp_path, monkeypatch, capsys):
    real_savez, calls = np.savez, []

    def short_savez(file, **arrays):  # as if the last buffer never arrived
        real_savez(file, **arrays)
        calls.append(file)
        if len(calls) == 2:  # init.npz, then epoch-0.npz
            file.truncate(28672)
    monkeypatch.setattr(runs.np, "savez", short_savez)
    out = str(tmp_path / "a" / "b" / "run")
    code, _, err = train(["--data-dir", fashion_subset_dir, "--epochs", "1", "--out", out], capsys)
    assert code == 1 and "cannot write %s (numpy's savez produced 28672 bytes that do not read " \
        "back as W and b)" % os.path.join(out, "epoch-0.npz") in err, err
    assert not os.path.exists(tmp_path / "a")  # nothing left: no short file, no folders made


def test_stale_parts_of_any_checkpoint_are_swept_but_not_folders(one_epoch_run, tmp_path, capsys):
    out = copy_run(one_epoch_run, tmp_path / "run")
    stale = os.path.join(out, ".epoch-7.npz.zz_9yy8x.part")
    open(stale, "w").write("killed")
    os.makedirs(os.path.join(out, ".state.json.abcd1234.part", "inner"))
    assert train(["--out", out, "--resume", "--epochs", "2"], capsys)[0] == 0
    assert not os.path.exists(stale)
    assert os.path.isdir(os.path.join(out, ".state.json.abcd1234.part"))


def test_resuming_on_another_known_data_set_names_the_run_and_its_data(
        one_epoch_run, tmp_path, capsys):
    from conftest import FASHION_DIR
    out = copy_run(one_epoch_run, tmp_path / "run")
    state = json.load(open(os.path.join(out, "state.json")))
    assert state["flags"]["dataset"] == "mnist"  # unknown files without --dataset count as digits
    before = {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)}
    code, _, err = train(["--out", out, "--resume", "--epochs", "2", "--data-dir", FASHION_DIR],
                         capsys)
    assert code == 2 and "the run in %s was trained on mnist, and %s holds fashion-mnist now " \
        "(recognised by its checksums): give --data-dir DIR with the run's own data" \
        % (out, FASHION_DIR) in err
    assert "--dataset" not in err and err.count("\n") == 1
    assert {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)} == before


def test_load_run_follows_a_checkpoint_replaced_while_it_reads(
        one_epoch_run, tmp_path, monkeypatch):
    """A trainer commits epoch 1 (new params, new state, old params deleted) between the
    reader's look at state.json and its read of the params that state named."""
    out = copy_run(one_epoch_run, tmp_path / "run")
    real, calls = runs.load_params_file, []

    def commit_next_epoch_first(path):
        calls.append(os.path.basename(path))
        if len(calls) == 1:
            os.rename(os.path.join(out, "epoch-0.npz"), os.path.join(out, "epoch-1.npz"))
            state = json.load(open(os.path.join(out, "state.json")))
            state.update(epoch=1, params="epoch-1.npz")
            json.dump(state, open(os.path.join(out, "state.json"), "w"))
        return real(path)
    monkeypatch.setattr(runs, "load_params_file", commit_next_epoch_first)
    run = runs.load_run(out)
    assert calls == ["epoch-0.npz", "epoch-1.npz"] and run.params[0].shape == (784, 10)
    with pytest.raises(InvalidValue, match="^ctx must be an mx.Context"):
        runs.load_run(out, "cpu")
    assert runs.load_run(os.fsencode(out)).dataset == run.dataset


def test_a_run_in_use_is_named_with_its_holder_by_every_command(one_epoch_run, tmp_path, capsys):
    from mxsoftmax import plot as plot_cli
    out = copy_run(one_epoch_run, tmp_path / "run")
    with held(out):  # as a training process holds it
        for argv in (["--out", out], ["--out", out, "--resume", "--epochs", "2"]):
            code, _, err = train(argv, capsys)
            assert code == 2 and "%s is in use by another mxsoftmax run (PID %d)" % (
                out, os.getpid()) in err, (argv, err)
        assert plot_cli.main(["--out", out]) == 2
        assert "in use by another mxsoftmax run (PID %d)" % os.getpid() in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("mine")
    for missing, fragment in ((str(tmp_path / "nothere"), "nothere does not exist: give the folder "
                                                          "of an existing run (check its name)."),
                              (os.path.join(out, "state.json"), "is a file, not a run folder: "
                                                                "give the folder of an existing "
                                                                "run, such as %s." % out),
                              (str(tmp_path / "notes.txt"), "is a file, not a run folder: give "
                                                            "the folder of an existing run.")):
        code, _, err = train(["--out", missing, "--resume"], capsys)
        assert code == 2 and fragment in err and err.count("\n") == 1, err
        assert plot_cli.main(["--out", missing]) == 2 and fragment in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "nothere")


def test_resuming_when_the_runs_data_folder_is_gone_says_where_the_path_came_from(
        fashion_subset_dir, tmp_path, capsys):
    import shutil
    data = shutil.copytree(fashion_subset_dir, str(tmp_path / "data"))
    out = str(tmp_path / "run")
    assert train(["--data-dir", data, "--epochs", "1", "--out", out, "--no-pictures"]) == 0
    shutil.rmtree(data)
    capsys.readouterr()
    code, _, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "the run was trained on the files in %s, which cannot be used now (%s is not a " \
           "folder): give --data-dir DIR with the same files" % (data, data) in err
    assert "--data-dir %s" % data not in err


def test_metrics_that_stop_before_the_checkpoint_say_so(one_epoch_run, tmp_path):
    out = copy_run(one_epoch_run, tmp_path / "run")
    open(os.path.join(out, "metrics.jsonl"), "w").close()  # emptied, not damaged
    said = []
    assert runs.RunFolder(out).metrics(0, said.append) == []
    assert said == ["%s has no line for epoch 0, the checkpoint's: the learning curves keep 0 of "
                    "the 1 epochs." % os.path.join(out, "metrics.jsonl")]


def test_resuming_from_a_recorded_folder_that_now_holds_other_data_names_where_it_came_from(
        fashion_subset_dir, tmp_path, capsys):
    import shutil
    from conftest import FASHION_DIR
    data = shutil.copytree(fashion_subset_dir, str(tmp_path / "data"))
    out = str(tmp_path / "run")
    assert train(["--data-dir", data, "--epochs", "1", "--out", out, "--no-pictures"]) == 0
    for name in os.listdir(data):  # the folder now holds the whole of Fashion-MNIST
        shutil.copy(os.path.join(FASHION_DIR, name), os.path.join(data, name))
    capsys.readouterr()
    code, _, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "the run in %s was trained on mnist, and %s holds fashion-mnist now" % (out, data) \
        in err and "--data-dir %s" % data not in err


KILL = r"""
import os, sys
from mxsoftmax import files
from mxsoftmax import train
kind, argv = sys.argv[1], sys.argv[3:]
name, _, nth = sys.argv[2].partition("#")  # name#2: its second write
real_write, real_remove, seen = files.atomic_write, os.remove, []

def atomic_write(path, write):  # killed with the file complete under its temporary name
    def write_then_die(tmp):
        write(tmp)
        os._exit(9)
    seen.append(os.path.basename(path))
    real_write(path, write_then_die if seen.count(name) == int(nth or 1) else write)

def remove(path):  # killed just before the file is removed
    if os.path.basename(path) == name:
        os._exit(9)
    real_remove(path)
if kind == "write":
    files.atomic_write = atomic_write
else:
    os.remove = remove
sys.exit(train.main(argv))
"""


def killed_runs(data, tmp_path, cases, epochs="1"):
    """Run train in one process per ``(kind, name)`` case, killed (os._exit) at that write or
    removal; returns the run folders."""
    outs = [str(tmp_path / ("%s-%s" % case).replace("#", "-")) for case in cases]
    procs = [subprocess.Popen([sys.executable, "-c", KILL, kind, name, "--quiet", "--no-pictures",
                               "--data-dir", data, "--epochs", epochs, "--out", out],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for (kind, name), out in zip(cases, outs)]
    for proc in procs:
        assert proc.wait(timeout=300) == 9, proc.communicate()
    return outs


def test_a_first_epoch_killed_at_any_write_starts_again_with_out(tmp_path, capsys):
    """Whichever of its files a first epoch was writing when it was killed, the folder is a run
    that completed no epoch: --resume says to start it again, and train --out does, from the
    same random start, to the very same weights as an uninterrupted run."""
    data = write_split_dir(tmp_path / "data", random_splits(200, 50))
    names = ("init.npz", "epoch-0.npz", "metrics.jsonl", "state.json")
    outs = killed_runs(data, tmp_path, [("write", name) for name in names])
    clean = str(tmp_path / "clean")
    assert train(["--data-dir", data, "--epochs", "1", "--out", clean], capsys)[0] == 0
    for name, out in zip(names, outs):
        assert not os.path.exists(os.path.join(out, "state.json")), name
        assert [n for n in os.listdir(out) if n.endswith(".part")], name  # killed mid-write
        before = sorted(os.listdir(out))
        code, _, err = train(["--out", out, "--resume", "--epochs", "1"], capsys)
        assert code == 2 and err.count("\n") == 1, (name, err)
        assert "holds a run that completed no epoch, so there is nothing to continue or draw: " \
            "train it again in that folder (the train command, without --resume)" in err, \
            (name, err)
        assert sorted(os.listdir(out)) == before, name
        code, stdout, err = train(["--data-dir", data, "--epochs", "1", "--out", out], capsys)
        assert code == 0 and stdout.startswith("Epoch 0. ") and "holds other files" not in err, (
            name, err)
        assert sorted(os.listdir(out)) == sorted(os.listdir(clean)), name  # no leftovers
        state, W, b = saved(out)
        assert state["epoch"] == 0 and np.array_equal(W, saved(clean)[1]), name
        assert len(open(os.path.join(out, "metrics.jsonl")).readlines()) == 1, name


def test_a_checkpoint_left_by_a_kill_is_swept_on_the_next_open(tmp_path, capsys):
    """Killed between committing epoch 1 and removing epoch 0's params; or after writing epoch
    1's params, before the state named them: the next open, once it has read the checkpoint the
    state names, removes the one it does not name, and the run continues."""
    data = write_split_dir(tmp_path / "data", random_splits(200, 50))
    after_state, before_state = killed_runs(
        data, tmp_path, [("remove", "epoch-0.npz"), ("write", "state.json#2")], epochs="2")
    assert sorted(n for n in os.listdir(after_state) if n.endswith(".npz")) == [
        "epoch-0.npz", "epoch-1.npz", "init.npz"]
    assert saved(after_state)[0]["epoch"] == 1
    assert saved(before_state)[0]["epoch"] == 0
    assert os.path.exists(os.path.join(before_state, "epoch-1.npz"))
    for out, epoch in ((after_state, 1), (before_state, 0)):
        folder = runs.RunFolder(out)
        state = folder.open_existing()
        assert len([n for n in os.listdir(out) if runs.CHECKPOINT.match(n)]) == 2  # not yet read
        folder.load(state, print)
        folder.close()
        assert state["epoch"] == epoch
        assert sorted(n for n in os.listdir(out) if n.endswith(".npz") or ".part" in n) == [
            "epoch-%d.npz" % epoch, "init.npz"]
        code, stdout, _ = train(["--out", out, "--resume", "--epochs", "3"], capsys)
        assert code == 0 and stdout.startswith("Epoch %d. " % (epoch + 1))
        assert sorted(n for n in os.listdir(out) if n.endswith(".npz")) == [
            "epoch-2.npz", "init.npz"]


def test_a_damaged_or_nan_init_params_costs_only_the_weights_picture(one_epoch_run, tmp_path,
                                                                     capsys):
    for case, damage in (("garbage", b"not params"), ("nan", None)):
        out = copy_run(one_epoch_run, tmp_path / case)
        init = os.path.join(out, "init.npz")
        if damage is None:
            np.savez(init, W=np.ones((784, 10), np.float32) * np.nan, b=np.zeros(10, np.float32))
        else:
            open(init, "wb").write(damage)
        code, stdout, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
        assert code == 0 and stdout.startswith("Epoch 1. ") and "Traceback" not in err, err
        assert err.count("%s is not a usable params file, so weights.png shows W itself rather "
                         "than what training changed; the file was removed." % init) == 1
        assert not os.path.exists(init)
        code, stdout, err = train(["--out", out, "--resume", "--epochs", "3"], capsys)
        assert code == 0 and "usable" not in err  # said once
    out = copy_run(one_epoch_run, tmp_path / "folder")  # not a file: said, and left in place
    init = os.path.join(out, "init.npz")
    os.remove(init)
    os.mkdir(init)
    code, stdout, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
    assert code == 0 and stdout.startswith("Epoch 1. ") and "Traceback" not in err, err
    assert "%s is not a usable params file" % init in err and err.count("move it away.") == 1, err
    assert os.path.isdir(init)


def as_nobody(argv):
    """``argv`` run as the unprivileged user nobody when this is root, who may write anywhere."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        pytest.skip("root needs setpriv to try a folder it may not write to")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if subprocess.run(nobody + [argv[0], "-c", "pass"], capture_output=True).returncode != 0:
        pytest.skip("%s cannot run as nobody (a pyenv build whose libpython lies in root's home); "
                    "CI's second interpreter runs this test" % argv[0])
    return nobody + argv


def test_a_folder_that_cannot_take_files_is_found_before_training(one_epoch_run, tmp_path):
    """A run folder without write permission whose lock file is writable (the lock used to be
    all that was tried): the folder is refused when it is opened, before any data is read or
    epoch trained, by train --resume and by plot alike."""
    top = tempfile.mkdtemp()  # outside pytest's private tmp folders, which nobody cannot enter
    try:
        os.chmod(top, 0o755)
        out = copy_run(one_epoch_run, os.path.join(top, "run"))
        before = {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)
                  if n != ".lock"}  # which holds the PID of the last process that took it
        os.chmod(os.path.join(out, ".lock"), 0o666)
        os.chmod(out, 0o555)
        home = os.path.join(top, "home")
        os.mkdir(home)
        os.chmod(home, 0o777)
        env = dict(os.environ, HOME=home, MXNET_HOME=home, MPLCONFIGDIR=home)
        for command in (["mxsoftmax.train", "--quiet", "--out", out, "--resume", "--epochs", "2"],
                        ["mxsoftmax.plot", "--out", out]):
            proc = subprocess.run(as_nobody([sys.executable, "-m"] + command), capture_output=True,
                                  text=True, env=env, cwd=top, timeout=300)
            assert proc.returncode == 2 and proc.stdout == "", (command, proc.stderr)
            assert proc.stderr.count("\n") == 1 and proc.stderr.endswith(
                "error: --out: %s cannot take files (Permission denied): choose a folder you can "
                "write to.\n" % out), (command, proc.stderr)
        assert {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)
                if n != ".lock"} == before
    finally:
        os.chmod(os.path.join(top, "run"), 0o755)
        shutil.rmtree(top)


def test_a_folder_named_in_any_encoding_keeps_its_run(tmp_path, monkeypatch, capsys):
    """`train --out $'run\\xff'`: MXNet cannot encode such a path (its nd.save raised
    UnicodeEncodeError); the run is saved, resumed and drawn all the same."""
    from mxsoftmax import plot as plot_cli
    data = write_split_dir(tmp_path / "data", random_splits(200, 50))
    out = os.path.join(str(tmp_path), os.fsdecode(b"run\xff"))
    assert train(["--data-dir", data, "--epochs", "1", "--out", out], capsys)[0] == 0
    code, stdout, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
    assert code == 0 and stdout.startswith("Epoch 1. "), err
    printed = []  # plot's last line names the folder: printing it is cli.out's part
    monkeypatch.setattr(plot_cli.cli, "out", printed.append)
    assert plot_cli.main(["--out", out]) == 0 and printed[0].endswith(out)
    assert os.fsencode(out).endswith(b"/run\xff")
    names = sorted(os.listdir(os.fsencode(out)))
    assert names == sorted(n.encode() for n in [".lock", "epoch-1.npz", "init.npz",
                                                "metrics.jsonl", "state.json"] + list(runs.PICTURES))
    assert json.load(open(os.path.join(out, "state.json")))["epoch"] == 1
    assert runs.load_run(os.fsencode(out)).params[0].shape == (784, 10)


def test_links_and_long_names_are_named_as_the_cause(tmp_path, capsys):
    """The OS says "File exists", "No such file" or "File name too long" for these; the sentence
    names what is really there."""
    from mxsoftmax import plot as plot_cli
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    long_name = str(tmp_path / ("x" * 300))
    for path, fragment in (
            (str(dangling), "is a symbolic link to %s, which does not exist" % (tmp_path / "nowhere")),
            (long_name, "(a name in it is 300 bytes long; a file name has at most 255)")):
        code, _, err = train(["--data-dir", "nowhere", "--out", path], capsys)
        assert code == 2 and fragment in err and err.count("\n") == 1, err
        assert plot_cli.main(["--out", path]) == 2
        err = capsys.readouterr().err
        assert fragment in err and "it does not exist" not in err, err
    assert not os.path.exists(tmp_path / "nowhere")


def test_the_lock_error_carries_its_facts(one_epoch_run, tmp_path):
    out = copy_run(one_epoch_run, tmp_path / "run")
    with held(out):
        for open_ in (runs.RunFolder(out).open_new, runs.RunFolder(out).open_existing):
            with pytest.raises(Locked) as caught:
                open_()
            err = caught.value
            assert (err.folder, err.holder, err.who) == (out, str(os.getpid()), "run")
            assert str(err) == ("%s is in use by another mxsoftmax run (PID %d): wait for it to "
                                "finish, or choose another folder." % (out, os.getpid()))


def test_a_foreign_file_beside_an_unfinished_run_is_named_alone_and_nothing_is_removed(
        tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    for name in (".lock", "init.npz", "metrics.jsonl", "notes.txt"):
        (out / name).write_text("123\n" if name == ".lock" else name)
    os.mkdir(out / "epoch-3.npz")  # a folder with a run's name is not a run's file
    code, _, err = train(["--data-dir", "nowhere", "--out", str(out)], capsys)
    assert code == 2 and "holds other files (epoch-3.npz, notes.txt) and no mxsoftmax run" in err
    assert sorted(os.listdir(out)) == [".lock", "epoch-3.npz", "init.npz", "metrics.jsonl",
                                       "notes.txt"]


def test_a_run_alive_in_its_first_epoch_is_named_as_in_use_not_as_one_that_completed_none(tmp_path):
    """Before its first checkpoint a live run has only its lock: plot and --resume name its process."""
    folder = tmp_path / "run"
    live = files.FolderLock(str(folder), who="run")
    live.acquire()  # flock: a second open file description, even in this process, is refused
    try:
        with pytest.raises(Locked) as caught:
            runs.RunFolder(str(folder)).open_existing()
        assert str(os.getpid()) in str(caught.value)
    finally:
        live.release()
    with pytest.raises(runs.InvalidInput, match="holds a run that completed no epoch"):
        runs.RunFolder(str(folder)).open_existing()  # its process gone
    assert os.listdir(folder) == [".lock"]


def test_a_checkpoint_damaged_in_a_run_names_the_intact_one_beside_it_and_removes_nothing(
        one_epoch_run, tmp_path, capsys, cli):
    """A power loss can empty the checkpoint state.json names: plot, --resume and predict say so
    and name the older checkpoint still beside it, which is neither removed nor changed."""
    out = copy_run(one_epoch_run, tmp_path / "run")
    state = json.load(open(os.path.join(out, "state.json")))
    with open(os.path.join(out, "state.json"), "w") as f:
        json.dump(dict(state, epoch=1, params="epoch-1.npz"), f)
    open(os.path.join(out, "epoch-1.npz"), "wb").close()
    older = os.path.join(out, "epoch-0.npz")
    kept = open(older, "rb").read()
    image = tmp_path / "any.png"  # never read: the run is refused first
    commands = [lambda: train(["--out", out, "--resume", "--epochs", "3"], capsys),
                lambda: cli("plot", "--out", out), lambda: cli("predict", "--params", out, image)]
    for intact in (True, False):
        for command in commands:
            code, _, err = command()
            assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
            advice = ("; %s beside it is intact: give it as --params to predict, draw or export, or train "
                      "the run again into a new folder (the train command's --out)." % older
                      if intact else ": train the run again")
            assert "%s is not a checkpoint of mxsoftmax (an .npz of W and b), so the run's checkpoint " \
                "is lost or damaged%s" % (os.path.join(out, "epoch-1.npz"), advice) in err, err
            assert not intact or open(older, "rb").read() == kept
        if intact:
            os.remove(older)
            np.savez(os.path.join(out, "epoch-9.npz"), W=np.ones(3))  # no checkpoint: not named


def test_a_checkpoint_this_process_may_not_read_is_not_called_damaged(
        one_epoch_run, tmp_path, monkeypatch, cli):
    """Permission denied (simulated: the tests run as root) keeps its own words: nothing is damaged."""
    out = copy_run(one_epoch_run, tmp_path / "run")
    checkpoint = os.path.join(out, json.load(open(os.path.join(out, "state.json")))["params"])

    def read_regular(path, limit):
        if path == checkpoint:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_read(path, limit)
    real_read, real_access = runs.read_regular, os.access
    monkeypatch.setattr(runs, "read_regular", read_regular)
    monkeypatch.setattr(os, "access", lambda path, mode: path != checkpoint and real_access(path, mode))
    code, _, err = cli("predict", "--params", out, tmp_path / "any.png")
    assert code == 2 and "%s cannot be read (Permission denied): " % checkpoint in err
    assert "damaged" not in err and "train the run again" not in err


@pytest.mark.parametrize("name", ["state.json", "metrics.jsonl"])
def test_a_file_of_a_run_this_user_may_not_read_is_not_called_unusable_nor_rewritten(
        one_epoch_run, tmp_path, monkeypatch, cli, name):
    """Permission denied (simulated: the tests run as root): nothing is damaged, nothing rewritten."""
    out = copy_run(one_epoch_run, tmp_path / "run")
    path = os.path.join(out, name)
    before = open(path, "rb").read()

    def read_regular(given, limit):
        if given == path:
            raise PermissionError(errno.EACCES, "Permission denied", given)
        return real_read(given, limit)
    real_read = runs.read_regular
    monkeypatch.setattr(runs, "read_regular", read_regular)
    for argv in (["plot", "--out", out], ["train", "--out", out, "--resume", "--epochs", "2"]):
        code, _, err = cli(*argv)
        assert code == 2 and err.endswith("error: --out: %s cannot be read (Permission denied): give this "
                                          "user read access to it, or run as its owner.\n" % path), err
        assert open(path, "rb").read() == before


def crafted_npz(method=0, flags=0):
    """An .npz of W and b whose zip entries declare the compression ``method`` and ``flags`` given."""
    buffer = io.BytesIO()
    np.savez(buffer, W=np.zeros((784, 10), np.float32), b=np.zeros(10, np.float32))
    raw = bytearray(buffer.getvalue())
    for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        start = raw.find(signature)
        while start >= 0:
            old_flags = struct.unpack_from("<H", raw, start + at)[0]
            struct.pack_into("<HH", raw, start + at, old_flags | flags, method)
            start = raw.find(signature, start + 1)
    return bytes(raw)


def test_a_crafted_zip_entry_is_not_a_checkpoint_said_in_one_sentence(one_epoch_run, tmp_path, capsys):
    """Encrypted entries and compression methods zipfile cannot or fails to undo (6: implode,
    14: LZMA over data that is no LZMA, 99: AES) are no checkpoint, an init.npz costs the change map."""
    assert runs.load_params_file("ok.npz", crafted_npz())[0].shape == (784, 10)  # the crafting itself
    for method, flags in ((0, 1), (6, 0), (14, 0), (99, 0)):
        raw = crafted_npz(method, flags)
        with pytest.raises(runs.InvalidInput, match="x.npz " + NOT_NPZ):
            runs.load_params_file("x.npz", raw)
        out = copy_run(one_epoch_run, tmp_path / ("run%d-%d" % (method, flags)))
        open(os.path.join(out, "init.npz"), "wb").write(raw)
        said = []
        assert runs.RunFolder(out).init_params(said.append) is None
        assert said == ["%s is not a usable params file, so weights.png shows W itself rather than what "
                        "training changed; the file was removed." % os.path.join(out, "init.npz")]
        open(os.path.join(out, "epoch-0.npz"), "wb").write(raw)
        code, _, err = train(["--out", out, "--resume", "--epochs", "2"], capsys)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert "epoch-0.npz is not a checkpoint of mxsoftmax (an .npz of W and b)" in err, err


def test_a_lock_file_another_program_wrote_makes_a_foreign_folder_and_is_never_overwritten(
        one_epoch_run, tmp_path, capsys, cli):
    out = tmp_path / "mine"
    out.mkdir()
    (out / ".lock").write_text("foreign\n")
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    for others in (".lock, metrics.jsonl", ".lock"):
        code, _, err = train(["--data-dir", "nowhere", "--epochs", "1", "--out", str(out)], capsys)
        assert code == 2 and "holds other files (%s) and no mxsoftmax run" % others in err, err
        assert (out / ".lock").read_text() == "foreign\n"
        assert others == ".lock" or (out / "metrics.jsonl").read_text() == '{"step": 1}\n'
        (out / "metrics.jsonl").unlink(missing_ok=True)
    run = copy_run(one_epoch_run, tmp_path / "run")
    lock = os.path.join(run, ".lock")
    open(lock, "w").write("foreign\n")
    for code, _, err in (cli("plot", "--out", run),
                         train(["--out", run, "--resume", "--epochs", "2"], capsys)):
        assert code == 2 and err.count("\n") == 1, err
        assert "%s holds something other than a process ID, so it is another program's file, not " \
            "mxsoftmax's lock: move it away, or choose another folder." % lock in err, err
        assert open(lock).read() == "foreign\n"
