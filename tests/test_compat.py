"""mxsoftmax.compat: exactly the numpy names MXNet 1.9.1 uses and numpy 1.24+ or 2 lacks, nothing else."""
import ast
import importlib.util
import json
import os
import subprocess
import sys
import types
import warnings

import pytest

from mxsoftmax import compat



def numpy_names_used(package_dir):
    """Every name a package's code takes from ``numpy`` (``X.name`` under any ``import numpy as
    X``, or ``from numpy import name``)."""
    used = set()
    for folder, _, files in os.walk(package_dir):
        for name in files:
            if not name.endswith(".py"):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                text = f.read()
            if "numpy" not in text:
                continue
            tree = ast.parse(text)
            aliases = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                       for a in node.names if a.name == "numpy"}
            used.update(node.attr for node in ast.walk(tree)
                        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id in aliases)
            used.update(a.name for node in ast.walk(tree)
                        if isinstance(node, ast.ImportFrom) and node.module == "numpy"
                        for a in node.names)
            if "_NUMPY_ARRAY_FUNCTION_LIST" in text:  # names looked up with getattr(numpy, name)
                used.update(node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                            and isinstance(node.value, str) and node.value.isidentifier())
    return {name for name in used if not name.startswith("_")}


def lacking(module, names):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {n for n in names if not hasattr(module, n)}


MXNET_DIR = os.path.dirname(importlib.util.find_spec("mxnet").origin)


def test_every_alias_is_a_name_mxnet_uses():
    assert set(compat.ALIASES) <= numpy_names_used(MXNET_DIR)


def test_every_name_mxnet_uses_that_this_numpy_lacks_is_restored():
    """Scanned from MXNet's source against the numpy installed (1.23 lacks none of the
    constants, 2.x lacks most): nothing MXNet reads is missing once mxsoftmax is imported."""
    import numpy
    missing = lacking(numpy, numpy_names_used(MXNET_DIR))
    assert missing == set(), missing  # the package's import restored them, before this test


def test_a_numpy_without_them_gets_exactly_the_missing_ones():
    fake = types.ModuleType("numpy_2")
    fake.bool = "numpy 2's own bool"  # present: must stay
    assert set(compat.restore_aliases(fake)) == set(compat.ALIASES) - {"bool"}
    assert fake.bool == "numpy 2's own bool" and fake.PZERO == 0.0 and fake.Inf == float("inf")
    assert fake.sometrue([0, 1]) and fake.msort([[2], [1]]).tolist() == [[1], [2]]
    assert fake.in1d([1, 5], [5]).tolist() == [False, True] and fake.compat.basestring is str
    with pytest.raises(RuntimeError, match="numpy_financial"):
        fake.npv(0.1, [1])


def test_no_warning_escapes_and_older_numpy_is_not_touched():
    """numpy 1.24-1.26 warn, then refuse, when asked for a removed alias; 1.20-1.23 serve it
    with a DeprecationWarning, and keep it."""
    def module(serves):
        fake = types.ModuleType("numpy_like")

        def __getattr__(name):
            warnings.warn("`np.%s` is a deprecated alias" % name, DeprecationWarning)
            if name in serves:
                return serves[name]
            raise AttributeError(name)
        fake.__getattr__ = __getattr__
        return fake
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        newer = module({})
        assert set(compat.restore_aliases(newer)) == set(compat.ALIASES)
        older = module({"bool": bool, "int": int})
        assert not {"bool", "int"} & set(compat.restore_aliases(older))


# A fresh interpreter, as a Jupyter host with numpy 2 already imported: the notebooks' first
# cell (mxsoftmax before mxnet) works; MXNet imported first fails on numpy 1.24+ and works once
# mxsoftmax is imported, in the same process (re-running the cell is enough).
HOST = """
import json, sys
import numpy
try:
    import mxnet
    first = "ok"
except AttributeError as err:
    first = str(err)
    for name in [m for m in sys.modules if m == "mxnet" or m.startswith("mxnet.")]:
        del sys.modules[name]
import mxsoftmax
import mxnet as mx
from mxnet import nd, autograd, gluon
from mxsoftmax import catalog, feedback, loop, model, notebook, pictures
x = mx.np.array([1, 2, 3])
picked = x[mx.np.array([True, False, True], dtype=mx.np.bool)].asnumpy().tolist()
print(json.dumps({"first": first, "picked": picked, "numpy": numpy.__version__}))
"""


def test_a_host_with_numpy_imported_runs_the_notebooks_first_cell():
    out = subprocess.run([sys.executable, "-c", HOST], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["picked"] == [1, 3]  # mx.np's boolean indexing reads numpy.bool
    removed = tuple(int(p) for p in got["numpy"].split(".")[:2]) >= (1, 24)
    assert (got["first"] == "ok") != removed, got  # numpy 1.24+ without mxsoftmax: no MXNet


def test_a_command_without_mxnet_says_what_to_install(tmp_path):
    (tmp_path / "mxnet").mkdir()  # not a package: find_spec finds a namespace, hide it instead
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    (tmp_path / "sitecustomize.py").write_text(
        "import importlib.util\nreal = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'mxnet' else real(name, *a)\n")
    out = subprocess.run([sys.executable, "-m", "mxsoftmax.train", "--epochs", "0"], env=env,
                         capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "MXNet is not installed: run 'bash .ci/setup', or 'pip install --no-deps" in out.stderr


@pytest.mark.parametrize("command", ["plot", "data"])
def test_every_command_has_a_script(command):
    script = os.path.join(os.path.dirname(sys.executable), "mxsoftmax-" + command)
    if not os.path.exists(script):
        pytest.skip("mxsoftmax is not installed beside %s (pip install -e .)" % sys.executable)
    out = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage:"), out.stderr
