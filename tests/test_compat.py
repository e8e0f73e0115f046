"""mxsoftmax.compat: exactly the numpy aliases MXNet 1.9.1 uses and numpy 1.24+ lacks, nothing else."""
import ast
import json
import os
import re
import subprocess
import sys
import types
import warnings

import pytest

from mxsoftmax import compat

# The aliases of builtins that numpy 1.20 deprecated and numpy 1.24 removed (1.24.0 release notes,
# "Expired deprecations"); numpy 1.19 defined each as the builtin of the same name.
REMOVED_IN_1_24 = {"bool": bool, "int": int, "float": float, "complex": complex,
                   "object": object, "str": str, "long": int, "unicode": str}


def numpy_names_used(package_dir, names):
    """Which of ``names`` a package's code takes from ``numpy`` (``X.name`` under any ``import numpy
    as X``, or ``from numpy import name``)."""
    mention = re.compile(r"\.(?:%s)\b" % "|".join(names))  # files worth parsing
    used = set()
    for folder, _, files in os.walk(package_dir):
        for name in files:
            if not name.endswith(".py"):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                text = f.read()
            if not mention.search(text):
                continue
            tree = ast.parse(text)
            aliases = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                       for a in node.names if a.name == "numpy"}
            used.update(node.attr for node in ast.walk(tree)
                        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id in aliases and node.attr in names)
            used.update(a.name for node in ast.walk(tree)
                        if isinstance(node, ast.ImportFrom) and node.module == "numpy"
                        for a in node.names if a.name in names)
    return used


def test_the_aliases_are_the_removed_names_mxnet_uses():
    import importlib.util
    mxnet_dir = os.path.dirname(importlib.util.find_spec("mxnet").origin)  # not imported here
    used = numpy_names_used(mxnet_dir, REMOVED_IN_1_24)
    assert used == set(compat.ALIASES) == {"bool", "int"}
    assert all(compat.ALIASES[name] is REMOVED_IN_1_24[name] for name in used)


def test_a_numpy_without_them_gets_exactly_the_missing_ones():
    fake = types.ModuleType("numpy_1_24")
    fake.int = "numpy's own int"  # present: must stay
    before = dict(vars(fake))
    assert compat.restore_aliases(fake) == ("bool",)
    added = {k: v for k, v in vars(fake).items() if k not in before}
    assert added == {"bool": bool} and fake.int == "numpy's own int"


def refusing_module(warn_with):
    """A module like numpy 1.24-1.26: asking for a removed alias warns, then AttributeError."""
    fake = types.ModuleType("numpy_like")

    def __getattr__(name):
        warnings.warn("In the future `np.%s` will be ..." % name, warn_with)
        raise AttributeError(name)
    fake.__getattr__ = __getattr__
    return fake


def serving_module():
    """A module like numpy 1.20-1.23: the aliases are served, with a DeprecationWarning."""
    fake = types.ModuleType("numpy_1_23")

    def __getattr__(name):
        if name in REMOVED_IN_1_24:
            warnings.warn("`np.%s` is a deprecated alias" % name, DeprecationWarning)
            return REMOVED_IN_1_24[name]
        raise AttributeError(name)
    fake.__getattr__ = __getattr__
    return fake


def test_no_warning_escapes_and_older_numpy_is_not_touched():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        newer = refusing_module(FutureWarning)
        assert compat.restore_aliases(newer) == ("bool", "int")
        assert newer.bool is bool and newer.int is int
        older = serving_module()
        before = dict(vars(older))
        assert compat.restore_aliases(older) == ()
        assert dict(vars(older)) == before


# Run in a fresh interpreter: which names the real numpy lacks, what importing mxsoftmax adds to
# it, whether that imported MXNet, and whether MXNet then works.
PROBE = """
import json, sys, warnings
import numpy
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    lacking = sorted(n for n in %r if not hasattr(numpy, n))
before = set(vars(numpy))
import mxsoftmax
added = sorted(set(vars(numpy)) - before)
loaded = "mxnet" in sys.modules
import mxnet as mx
x = mx.np.array([1, 2, 3])
picked = x[mx.np.array([True, False, True], dtype=mx.np.bool)].asnumpy().tolist()
print(json.dumps({"lacking": lacking, "added": added, "same": [getattr(numpy, n) is eval(n)
    for n in added], "loaded": loaded, "picked": picked, "numpy": numpy.__version__}))
"""


def test_the_package_adds_what_this_numpy_lacks_before_mxnet_loads():
    out = subprocess.run([sys.executable, "-c", PROBE % sorted(REMOVED_IN_1_24)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["added"] == sorted(set(got["lacking"]) & set(compat.ALIASES))
    assert all(got["same"]) and not got["loaded"]
    assert got["picked"] == [1, 3]  # mx.np's boolean indexing reads numpy.bool
    version = tuple(int(p) for p in got["numpy"].split(".")[:2])
    assert (got["added"] == ["bool", "int"]) == (version >= (1, 24)), got


@pytest.mark.parametrize("command", ["plot", "data"])
def test_every_command_has_a_script(command):
    script = os.path.join(os.path.dirname(sys.executable), "mxsoftmax-" + command)
    if not os.path.exists(script):
        pytest.skip("mxsoftmax is not installed beside %s (pip install -e .)" % sys.executable)
    out = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage:"), out.stderr
