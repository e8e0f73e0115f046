"""Seconds per epoch of the literal tutorial loop, the fast path and a plain-numpy reference.

Not a test: run it by hand (``.venv/bin/python benchmarks/bench_epoch.py``). All three paths
train on the same data with the same batch order in this one process, so the ratios printed at
the end are measured side by side. The training pass and the evaluation (test then train
accuracy) are timed separately; each figure is the median over ``--epochs`` epochs. Last, the
full default run (``python -m mxsoftmax.train``, 10 epochs) is timed as a subprocess, from
process start to exit, with its peak RSS beside MXNet's own baseline.
"""
import argparse
import os
import platform
import subprocess
import sys
import time

import mxnet as mx
import numpy as np

from mxsoftmax import sources
from mxsoftmax.data import Loaders, epoch_order
from mxsoftmax.metrics import evaluate_accuracy
from mxsoftmax.model import init_params, net
from mxsoftmax.train import train_epoch


def time_mxnet(splits, loader, epochs, batch_size=64, lr=.001, seed=0):
    """Median (train, eval) seconds per epoch of one mxsoftmax loader."""
    ctx = mx.cpu()
    loaders = Loaders(splits, ctx, batch_size, seed, loader)
    mx.random.seed(seed)
    params = init_params(ctx)
    model = lambda X: net(X, params)  # noqa: E731
    train_s, eval_s = [], []
    for e in range(epochs):
        start = time.perf_counter()
        train_epoch(params, loaders, e, lr)
        middle = time.perf_counter()
        evaluate_accuracy(loaders.test(), model, ctx)
        evaluate_accuracy(loaders.train_eval(), model, ctx)
        train_s.append(middle - start)
        eval_s.append(time.perf_counter() - middle)
    return np.median(train_s), np.median(eval_s)


def numpy_softmax(y_linear):
    exp = np.exp(y_linear - y_linear.max())
    return exp / exp.sum(axis=1, keepdims=True)


def time_numpy(splits, epochs, batch_size=64, lr=np.float32(.001), seed=0):
    """The same math in float32 numpy with the closed-form gradient X^T (p - y)."""
    X = {k: (v[0].reshape(len(v[0]), -1).astype(np.float32) / 255) for k, v in splits.items()}
    Y = {k: v[1] for k, v in splits.items()}
    rng = np.random.RandomState(seed)
    W = rng.normal(size=(784, 10)).astype(np.float32)
    b = rng.normal(size=10).astype(np.float32)
    eye = np.eye(10, dtype=np.float32)
    train_s, eval_s = [], []
    for e in range(epochs):
        start = time.perf_counter()
        order = epoch_order(seed, e, len(Y["train"]))
        Xp, Yp = X["train"][order], eye[Y["train"][order]]
        losses = []
        for i in range(0, len(order), batch_size):
            x, y = Xp[i:i + batch_size], Yp[i:i + batch_size]
            p = numpy_softmax(x @ W + b)
            losses.append(-(y * np.log(p)).sum(axis=1).mean())
            g = p - y
            W -= lr * (x.T @ g)
            b -= lr * g.sum(axis=0)
        middle = time.perf_counter()
        for split in ("test", "train"):
            np.mean((X[split] @ W + b).argmax(axis=1) == Y[split])
        train_s.append(middle - start)
        eval_s.append(time.perf_counter() - middle)
    return np.median(train_s), np.median(eval_s)


PEAK_AT_EXIT = ("import atexit, re, runpy, sys\n"
                "def peak():\n"
                "    status = open('/proc/self/status').read()\n"
                "    sys.stderr.write('VmHWM %s\\n' % re.search(r'VmHWM:\\s+(\\d+)', status).group(1))\n"
                "atexit.register(peak)\n")


def peak_rss(code, argv):
    """Run ``code`` in a fresh Python with ``argv``; return (wall seconds, peak RSS in MiB).

    The peak is the process's own VmHWM read at exit: ``ru_maxrss`` of a child would also count
    the memory of this (forking) benchmark process.
    """
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_AT_EXIT + code] + argv, check=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    return seconds, int(done.stderr.rsplit("VmHWM ", 1)[1].split()[0]) / 1024


def time_default_run(train_args):
    """Wall seconds and peak RSS (MiB) of ``python -m mxsoftmax.train`` as a fresh process."""
    code = ("sys.argv = ['mxsoftmax.train'] + sys.argv[1:]\n"
            "runpy.run_module('mxsoftmax.train', run_name='__main__')\n")
    return peak_rss(code, ["--quiet"] + train_args)


def mxnet_baseline_rss():
    """Peak RSS (MiB) of a process that imports MXNet and runs one operation."""
    return peak_rss("import mxnet as mx\nmx.nd.ones((2, 2)).asnumpy()\n", [])[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per path for the medians")
    parser.add_argument("--literal-epochs", type=int, default=3)
    args = parser.parse_args()
    splits = sources.load_splits(args.dataset, args.data_dir)
    print("machine: %s, %d cores, Python %s, mxnet %s, numpy %s; data: %s" % (
        platform.processor() or platform.machine(), os.cpu_count(), platform.python_version(),
        mx.__version__, np.__version__, args.data_dir or args.dataset))
    rows = {"literal (gluon DataLoader)": time_mxnet(splits, "gluon", args.literal_epochs),
            "fast (whole-split NDArrays)": time_mxnet(splits, "fast", args.epochs),
            "numpy reference": time_numpy(splits, args.epochs)}
    print("%-28s %10s %10s %10s" % ("path", "train s", "eval s", "epoch s"))
    for name, (t, e) in rows.items():
        print("%-28s %10.3f %10.3f %10.3f" % (name, t, e, t + e))
    literal, fast, ref = (sum(r) for r in rows.values())
    print("ratio literal/fast: %.1fx   ratio fast/numpy: %.2fx" % (literal / fast, fast / ref))
    train_args = ["--dataset", args.dataset] + (["--data-dir", args.data_dir] if args.data_dir else [])
    seconds, peak = time_default_run(train_args)
    data_mib = sum(v[0].size for v in splits.values()) * 4 / 2 ** 20
    baseline = mxnet_baseline_rss()
    print("default 10-epoch run (%s): %.1f s wall, peak RSS %.0f MiB "
          "(MXNet baseline %.0f MiB + float32 data %.0f MiB = %.0f MiB)" % (
              " ".join(["python -m mxsoftmax.train"] + train_args), seconds, peak,
              baseline, data_mib, baseline + data_mib))


if __name__ == "__main__":
    main()
