"""Where the default run's time goes, from process start: import, data, epochs and pictures.

Not a test: run it by hand, e.g. ``.venv/bin/python benchmarks/bench_startup.py --data-dir DIR``
(add ``--python .venv-oldest/bin/python`` to put a second interpreter beside the first). Every
figure comes from fresh processes, the median of ``--runs``; the interpreters take turns run by
run, so a busy moment of the machine hits them alike. Measured:

- import: ``import mxsoftmax, mxnet`` from the moment the process is started;
- data: ``sources.load_splits`` and the compiled path's whole-split arrays and bound graph
  (what the default run does before its first batch), timed inside a process;
- the default run (``python -m mxsoftmax.train``), its output lines stamped as they arrive: its
  start (process start to the first epoch line, less one epoch), an epoch (median gap between
  epoch lines), and the goal's figure, process start to the last epoch line;
- pictures: the same run with ``--out``, less the default run, after the last epoch line.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

GOAL = 6.0  # seconds from process start to the last epoch line of the default run

IMPORT = "import mxsoftmax, mxnet, time; print(time.monotonic())"
DATA = """
import sys, time
import mxsoftmax  # first: numpy's aliases for MXNet
import mxnet as mx
from mxsoftmax import loop, sources
start = time.monotonic()
data = sources.load_splits(sys.argv[1] or None, sys.argv[2] or None, stream=True)
loop.compiled(data, mx.cpu())
print(time.monotonic() - start)
import platform, numpy
print("Python %s, numpy %s, mxnet %s" % (platform.python_version(), numpy.__version__, mx.__version__))
"""


def seconds_to_import(python):
    """Process start to ``import mxsoftmax, mxnet`` done (the child reports the shared clock)."""
    start = time.monotonic()
    out = subprocess.run([python, "-c", IMPORT], check=True, capture_output=True, text=True)
    return float(out.stdout) - start


def seconds_for_data(python, dataset, data_dir):
    """Seconds to load the splits and build the compiled path, in a process that has MXNet; and
    the versions it ran."""
    out = subprocess.run([python, "-c", DATA, dataset or "", data_dir or ""], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    return float(out[0]), out[1]


def stamped_run(python, train_args):
    """Run ``python -m mxsoftmax.train`` with ``train_args``: (epoch line times, exit time),
    seconds from process start."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.monotonic()
    proc = subprocess.Popen([python, "-m", "mxsoftmax.train", "--quiet"] + train_args, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    epochs = [time.monotonic() - start for line in proc.stdout if line.startswith("Epoch ")]
    if proc.wait() != 0 or not epochs:
        raise SystemExit("bench: %s -m mxsoftmax.train %s failed (exit %d)"
                         % (python, " ".join(train_args), proc.returncode))
    return epochs, time.monotonic() - start


def measure(python, train_args, dataset, data_dir):
    """One round of every figure for one interpreter (fresh processes)."""
    imported = seconds_to_import(python)
    data, versions = seconds_for_data(python, dataset, data_dir)
    epochs, done = stamped_run(python, train_args)
    epoch = statistics.median(b - a for a, b in zip(epochs, epochs[1:])) if len(epochs) > 1 else 0
    out = tempfile.mkdtemp(prefix="bench-startup-")
    try:
        kept, kept_done = stamped_run(python, train_args + ["--out", os.path.join(out, "run")])
    finally:
        shutil.rmtree(out)
    return versions, {
        "import mxsoftmax, mxnet (from start)": imported,
        "data + compiled graph": data,
        "run: start to epoch 0 (less an epoch)": epochs[0] - epoch,
        "run: one epoch (median gap)": epoch,
        "run: start to last epoch line (goal)": epochs[-1],
        "run: start to exit": done,
        "pictures (--out run's tail, less the run's)": (kept_done - kept[-1]) - (done - epochs[-1]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--data-dir")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per figure")
    parser.add_argument("--python", action="append", default=[],
                        help="an interpreter with mxsoftmax installed (repeatable; default: this one)")
    args = parser.parse_args()
    pythons = args.python or [sys.executable]
    train_args = (["--data-dir", args.data_dir] if args.data_dir else []) + (
        ["--dataset", args.dataset] if args.dataset else [])
    rounds = {python: [] for python in pythons}
    versions = {}
    for _ in range(args.runs):
        for python in pythons:  # take turns
            versions[python], figures = measure(python, train_args, args.dataset, args.data_dir)
            rounds[python].append(figures)
    print("python -m mxsoftmax.train %s on %d cores, median of %d fresh processes (range)"
          % (" ".join(train_args), os.cpu_count(), args.runs))
    names = list(rounds[pythons[0]][0])
    width = max(len(n) for n in names)
    print("%-*s " % (width, "") + "".join("%24s" % versions[p].split(",")[0] for p in pythons))
    for name in names:
        cells = []
        for python in pythons:
            values = [r[name] for r in rounds[python]]
            cells.append("%6.2f s (%.2f-%.2f)" % (statistics.median(values), min(values),
                                                  max(values)))
        print("%-*s " % (width, name) + "".join("%24s" % c for c in cells))
    for python in pythons:
        last = statistics.median(r["run: start to last epoch line (goal)"] for r in rounds[python])
        print("%s (%s): %.2f s to the last epoch line, goal %.0f s: %s" % (
            python, versions[python], last, GOAL, "met" if last < GOAL else "NOT met"))


if __name__ == "__main__":
    main()
