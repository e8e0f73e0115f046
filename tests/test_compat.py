"""mxsoftmax.compat: exactly the numpy names MXNet 1.9.1 uses and numpy 1.24+ or 2 lacks, nothing else."""
import ast
import importlib.util
import json
import os
import shlex
import shutil
import re
import subprocess
import sys
import types
import warnings

import pytest

from mxsoftmax import compat
from mxsoftmax.errors import InvalidValue
from mxsoftmax.validation import MXNET_VARIABLES, check_environment


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


def test_each_restored_function_is_its_own_as_in_numpy_1():
    """Not numpy's replacement itself: MXNet registers mx.np's operators by numpy function, so
    numpy.sometrue = numpy.any would make numpy.any dispatch to mx.np.sometrue."""
    import numpy
    fake = types.ModuleType("numpy_2")
    compat.restore_aliases(fake)
    replaced = dict(sometrue="any", round_="round", product="prod", alltrue="all", trapz="trapezoid",
                    in1d="isin", msort="sort")
    for name, replacement in replaced.items():
        function = getattr(fake, name)
        assert function.__name__ == name and "numpy.%s" % name in function.__doc__
        assert function is not getattr(numpy, replacement, None), name
    assert not hasattr(numpy, "trapezoid") or fake.trapz([1, 2, 3]) == 4.0  # numpy < 2 has trapz only
    assert fake.product([2, 3]) == 6 and not fake.alltrue([1, 0])
    assert fake.round_(2.5) == 2.0 and fake.in1d([[1], [5]], [5], invert=True).tolist() == [True, False]


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
    assert "MXNet is not installed: run `bash .ci/setup`, or `%s -m pip install --no-deps mxnet==1.9.1`" \
        % shlex.quote(sys.executable) in out.stderr


def test_warnings_made_errors_do_not_stop_a_command_at_mxnets_import(fashion_subset_dir, tmp_path):
    """PYTHONWARNINGS=error: MXNet's own DeprecationWarning at import (distutils' Version) is
    not the user's to act on; it would end every command with a traceback."""
    env = dict(os.environ, PYTHONWARNINGS="error")
    out = subprocess.run([sys.executable, "-m", "mxsoftmax.train", "--quiet", "--epochs", "1",
                          "--data-dir", fashion_subset_dir], env=env, capture_output=True,
                         text=True, timeout=120, cwd=str(tmp_path))
    assert out.returncode == 0 and out.stdout.startswith("Epoch 0. "), out.stderr


@pytest.mark.parametrize("command", ["plot", "data"])
def test_every_command_has_a_script(command):
    script = os.path.join(os.path.dirname(sys.executable), "mxsoftmax-" + command)
    if not os.path.exists(script):
        pytest.skip("mxsoftmax is not installed beside %s (pip install -e .)" % sys.executable)
    out = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage:"), out.stderr


# MXNet with these values, mxsoftmax's check out of the way: it aborts (-6: dmlc::ParamError, -8:
# a division by zero), or raises when it loads or binds a graph.
BREAKING = {"OMP_NUM_THREADS": ("abc", -6), "MXNET_CPU_TEMP_COPY": ("0", -8),
            "MXNET_ENGINE_INFO": ("2", 1), "MXNET_SUBGRAPH_BACKEND": ("Bogus", 1)}
RAW = """import os, sys
import mxsoftmax  # the numpy aliases; the variable is set after its check, before MXNet loads
os.environ[sys.argv[1]] = sys.argv[2]
import mxnet as mx
a = mx.sym.var("a")
mx.sym.make_loss(a * a).bind(mx.cpu(), {"a": mx.nd.ones(2)}).forward()[0].asnumpy()
"""


def test_without_the_check_mxnet_breaks_on_the_values_it_refuses():
    runs = {name: subprocess.Popen([sys.executable, "-c", RAW, name, value], text=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for name, (value, _) in BREAKING.items()}
    for name, run in runs.items():
        err = run.communicate(timeout=120)[1]
        assert run.returncode == BREAKING[name][1], (name, run.returncode, err[-300:])
        with pytest.raises(InvalidValue, match="^%s must be " % name):
            check_environment({name: BREAKING[name][0]})
    good = subprocess.run([sys.executable, "-c", RAW, "MXNET_ENGINE_INFO", "0"], timeout=120)
    assert good.returncode == 0  # the script itself runs


@pytest.mark.parametrize("name", sorted(MXNET_VARIABLES))
def test_a_command_says_an_unusable_variable_in_one_line_before_mxnet_loads(name, monkeypatch,
                                                                            capsys):
    monkeypatch.delitem(sys.modules, "mxnet", raising=False)  # as in a command, before MXNet
    monkeypatch.setenv(name, "Bogus")
    with pytest.raises(SystemExit) as stop:
        with compat.loading("plot"):
            pass
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith("python -m mxsoftmax.plot: error: %s must be " % name), err


def test_a_command_and_a_notebook_are_stopped_by_an_unusable_variable():
    env = dict(os.environ, MXNET_OMP_MAX_THREADS="abc")
    command = subprocess.run([sys.executable, "-m", "mxsoftmax.plot", "--out", "x"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert command.returncode == 2 and command.stderr == (
        "python -m mxsoftmax.plot: error: MXNET_OMP_MAX_THREADS must be a whole number from 1 to "
        "1024, not 'abc': unset it or give a usable value.\n")
    notebook = subprocess.run([sys.executable, "-c", "import mxsoftmax"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert notebook.returncode == 1 and notebook.stderr.splitlines()[-1] == (
        "mxsoftmax.errors.InvalidValue: MXNET_OMP_MAX_THREADS must be a whole number from 1 to "
        "1024, not 'abc'")


# Read by libmxnet.so only in code mxsoftmax never runs (kvstore, GPU, quantization, RNN, fusion,
# float16), or only logged: any value leaves training as it was (found by running it with "abc").
HARMLESS = {"MXNET_C_API", "MXNET_ENABLE_GPU_P2P", "MXNET_KVSTORE_BIGARRAY_BOUND",
            "MXNET_KVSTORE_DIST_ROW_SPARSE_VERBOSE", "MXNET_KVSTORE_REDUCTION_NTHREADS",
            "MXNET_KVSTORE_SERIAL_PUSH", "MXNET_KVSTORE_SLICE_THRESHOLD", "MXNET_KVSTORE_USETREE",
            "MXNET_MKLDNN_DEBUG", "MXNET_MKLDNN_FORCE_FC_AB_FORMAT", "MXNET_MKLDNN_QFC_DYNAMIC_PARAMS",
            "MXNET_QUANTIZATION_VERBOSE", "MXNET_RNN_USE_WEIGHT_CACHE", "MXNET_SAFE_ACCUMULATION",
            "MXNET_STORAGE_FALLBACK_LOG_VERBOSE", "MXNET_SUBGRAPH_VERBOSE", "MXNET_USE_FUSION",
            "MXNET_USE_MKLDNN_RNN", "MXNET_USE_OPERATOR_TUNING"}


def test_every_variable_libmxnet_reads_is_checked_or_known_harmless():
    with open(os.path.join(MXNET_DIR, "libmxnet.so"), "rb") as f:
        read = set(re.findall(rb"(?<![ -~])(MXNET_[A-Z0-9_]+)\0", f.read()))  # as strings(1) finds them
    read = {name.decode() for name in read}
    assert read - HARMLESS == set(MXNET_VARIABLES) - {"OMP_NUM_THREADS", "MXNET_ENABLE_CYTHON",
                                                      "MXNET_ENFORCE_CYTHON"}


@pytest.mark.parametrize("library", ["text", "another library"])
def test_a_file_that_is_not_mxnets_library_is_one_line(tmp_path, library):
    """MXNET_LIBRARY_PATH naming another file: ctypes' OSError, or AttributeError for a library
    without MXNet's functions (here _ctypes' own), while MXNet loads, said in one line."""
    import _ctypes
    if library == "text":
        (tmp_path / "libmxnet.so").write_text("not a library")
    else:
        shutil.copy(_ctypes.__file__, tmp_path / "libmxnet.so")
    command = subprocess.run([sys.executable, "-m", "mxsoftmax.plot", "--out", "x"], capture_output=True,
                             text=True, timeout=120, env=dict(
                                 os.environ, MXNET_LIBRARY_PATH=str(tmp_path / "libmxnet.so")))
    assert command.returncode == 2 and command.stderr.count("\n") == 1, command.stderr
    assert command.stderr.startswith("python -m mxsoftmax.plot: error: MXNet's library cannot be "
                                     "loaded (%s" % (tmp_path / "libmxnet.so"))
    assert command.stderr.endswith(": unset MXNET_LIBRARY_PATH, or point it at MXNet 1.9.1's libmxnet.so.\n")


def test_only_a_library_named_by_mxnet_library_path_makes_an_attribute_error_one_line(monkeypatch, capsys):
    """A name numpy lacks (AttributeError while MXNet imports) is not the library's fault: raised."""
    monkeypatch.delitem(sys.modules, "mxnet", raising=False)
    monkeypatch.delenv("MXNET_LIBRARY_PATH", raising=False)
    with pytest.raises(AttributeError):
        with compat.loading("train"):
            raise AttributeError("`np.PZERO` was removed in the NumPy 2.0 release")
    monkeypatch.setenv("MXNET_LIBRARY_PATH", "/elsewhere/libmxnet.so")
    with pytest.raises(SystemExit) as stop:
        with compat.loading("train"):
            raise AttributeError("/elsewhere/libmxnet.so: undefined symbol: MXGetLastError")
    assert stop.value.code == 2 and "unset MXNET_LIBRARY_PATH" in capsys.readouterr().err
