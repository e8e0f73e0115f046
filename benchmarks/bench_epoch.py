"""Seconds per epoch of the tutorial's literal loop, our compiled path, gluon's concise model and numpy.

Not a test: run it by hand (``.venv/bin/python benchmarks/bench_epoch.py --data-dir DIR``). Every
path trains on the same data with the same batch order in this one process, so the ratios printed
at the end are measured side by side. An epoch is the training pass plus both accuracy passes
(test, then train), timed separately; each figure is the median over ``--epochs`` epochs (the
literal loop, about 15x slower, over ``--literal-epochs``). Last, the full default run
(``python -m mxsoftmax.train``, 10 epochs) is timed as a fresh process, from start to exit, with its
peak RSS beside MXNet's own baseline plus the float32 data.
"""
import argparse
import os
import platform
import re
import subprocess
import sys
import time

import mxsoftmax  # noqa: F401  first: restores the numpy aliases MXNet 1.9.1 uses (numpy 1.24+)
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from mxsoftmax import loop, sources
from mxsoftmax.batches import SplitArrays, epoch_order
from mxsoftmax.model import init_params


def time_path(training, epochs, lr=.001, seed=0):
    """Median (train, eval) seconds per epoch of one of mxsoftmax's trainings (loop.fit's epoch,
    its training pass and its accuracy timed apart)."""
    mx.random.seed(seed)
    params = init_params(mx.cpu())
    train_s, eval_s = [], []
    for e in range(epochs):
        start = time.perf_counter()
        losses = [nd.mean(training.update(params, batch, lr)) for batch in training.batches(e)]
        nd.concat(*losses, dim=0).asnumpy()
        middle = time.perf_counter()
        loop.accuracy(training, params)
        train_s.append(middle - start)
        eval_s.append(time.perf_counter() - middle)
    return np.median(train_s), np.median(eval_s)


def time_concise(data, epochs, batch_size=64, lr=.001, seed=0):
    """Gluon's concise model, hybridized: Dense(10), SoftmaxCrossEntropyLoss, Trainer('sgd').

    It gets the same in-memory batches (``take`` from whole-split arrays, in our epoch order)
    and the same argmax accuracy in chunks of 10,000 rows, so only the model code differs.
    """
    arrays = SplitArrays(data, mx.cpu(), batch_size, seed)
    mx.random.seed(seed)
    net = gluon.nn.Dense(10, in_units=784)
    net.initialize(mx.init.Normal(1.))
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    net.hybridize(static_alloc=True, static_shape=True)
    loss_fn.hybridize(static_alloc=True, static_shape=True)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    train_s, eval_s = [], []
    for e in range(epochs):
        start = time.perf_counter()
        losses = []
        for X, y in arrays.train(e):
            with autograd.record():
                loss = loss_fn(net(X), y)
            loss.backward()
            trainer.step(X.shape[0])
            losses.append(nd.mean(loss))
        nd.concat(*losses, dim=0).asnumpy()
        middle = time.perf_counter()
        for batches in (arrays.test(), arrays.train_eval()):
            correct = 0.
            for X, y in batches:
                correct += nd.sum(nd.argmax(net(X), axis=1) == y)
            correct.asscalar()
        train_s.append(middle - start)
        eval_s.append(time.perf_counter() - middle)
    return np.median(train_s), np.median(eval_s)


def numpy_softmax(y_linear):
    exp = np.exp(y_linear - y_linear.max())
    return exp / exp.sum(axis=1, keepdims=True)


def time_numpy(data, epochs, batch_size=64, lr=np.float32(.001), seed=0):
    """The same math in float32 numpy with the closed-form gradient X^T (p - y)."""
    X = {k: (v[0].reshape(len(v[0]), -1).astype(np.float32) / 255)
         for k, v in (("train", data.train), ("test", data.test))}
    Y = {"train": data.train[1], "test": data.test[1]}
    rng = np.random.RandomState(seed)
    W = rng.normal(size=(784, 10)).astype(np.float32)
    b = rng.normal(size=10).astype(np.float32)
    eye = np.eye(10, dtype=np.float32)
    train_s, eval_s = [], []
    for e in range(epochs):
        start = time.perf_counter()
        order = epoch_order(seed, e, len(Y["train"]))
        losses = []
        for i in range(0, len(order), batch_size):
            rows = order[i:i + batch_size]
            x, y = X["train"][rows], eye[Y["train"][rows]]
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
    return seconds, int(re.findall(r"VmHWM (\d+)", done.stderr)[-1]) / 1024


def time_default_run(train_args):
    """Wall seconds and peak RSS (MiB) of ``python -m mxsoftmax.train`` as a fresh process."""
    code = ("sys.argv = ['mxsoftmax.train'] + sys.argv[1:]\n"
            "runpy.run_module('mxsoftmax.train', run_name='__main__')\n")
    return peak_rss(code, ["--quiet"] + train_args)


def mxnet_baseline_rss():
    """Peak RSS (MiB) of a process that imports MXNet and runs one operation."""
    return peak_rss("import mxsoftmax, mxnet as mx\nmx.nd.ones((2, 2)).asnumpy()\n", [])[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, default=7, help="epochs per path for the medians")
    parser.add_argument("--literal-epochs", type=int, default=2)
    args = parser.parse_args()
    data = sources.load_splits(args.dataset, args.data_dir)
    print("machine: %s, %d cores, Python %s, mxnet %s, numpy %s; data: %s (%s)" % (
        platform.processor() or platform.machine(), os.cpu_count(), platform.python_version(),
        mx.__version__, np.__version__, data.dataset, args.data_dir or "cache"))
    rows = {
        "literal tutorial loop": time_path(loop.literal(data, mx.cpu()), args.literal_epochs),
        "ours (compiled, default)": time_path(loop.compiled(data, mx.cpu()), args.epochs),
        "gluon concise, hybridized": time_concise(data, args.epochs),
        "numpy same math": time_numpy(data, args.epochs),
    }
    print("%-28s %10s %10s %10s" % ("path", "train s", "eval s", "epoch s"))
    for name, (t, e) in rows.items():
        print("%-28s %10.3f %10.3f %10.3f" % (name, t, e, t + e))
    literal, ours, concise, ref = (sum(r) for r in rows.values())
    print("literal / ours: %.1fx   concise / ours: %.2fx   ours / numpy: %.2fx"
          % (literal / ours, concise / ours, ours / ref))
    train_args = (["--data-dir", args.data_dir] if args.data_dir else []) + (
        ["--dataset", args.dataset] if args.dataset else [])
    seconds, peak = time_default_run(train_args)
    data_mib = sum(split[0].size for split in (data.train, data.test)) * 4 / 2 ** 20
    baseline = mxnet_baseline_rss()
    print("default 10-epoch run (%s): %.1f s wall, peak RSS %.0f MiB (MXNet baseline %.0f MiB + "
          "float32 data %.0f MiB = %.0f MiB; goal: at most %.0f MiB)" % (
              " ".join(["python -m mxsoftmax.train"] + train_args), seconds, peak, baseline,
              data_mib, baseline + data_mib, baseline + data_mib + 64))


if __name__ == "__main__":
    main()
