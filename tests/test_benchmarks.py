"""The benchmarks run: each once, on the Fashion-MNIST subset, so that they cannot silently break.

They print measurements, never assert on them; these tests check only that each runs to its
end and prints its ratios and figures."""
import pathlib
import subprocess
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script, *args):
    done = subprocess.run([sys.executable, str(BENCHMARKS / script)] + list(args),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_bench_epoch_prints_its_ratios(fashion_subset_dir):
    out = _run("bench_epoch.py", "--data-dir", fashion_subset_dir, "--epochs", "1",
               "--literal-epochs", "1")
    for name in ("literal tutorial loop", "ours (compiled, default)", "gluon concise",
                 "numpy same math", "literal / ours:", "concise / ours:", "ours / numpy:",
                 "default 10-epoch run"):
        assert name in out, out


def test_bench_startup_prints_each_figure(fashion_subset_dir):
    out = _run("bench_startup.py", "--data-dir", fashion_subset_dir, "--runs", "1")
    for name in ("import mxsoftmax, mxnet", "data + compiled graph", "run: one epoch",
                 "run: start to last epoch line (goal)", "pictures"):
        assert name in out, out
