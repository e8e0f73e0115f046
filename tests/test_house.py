"""The shape of the code, measured from its source: the rules README's "How the code is organised"
states, each as a test that fails when a change breaks it."""
import ast
import os
import pathlib
import subprocess
import sys

import mxnet as mx
import pytest

from mxsoftmax import loop, model, validation

from conftest import as_data, random_splits, write_split_dir

PACKAGE = pathlib.Path(model.__file__).parent
MATH_MODULES = ("model.py", "loss.py", "optim.py", "metrics.py")

# Lowest first; a module may import its own layer or a lower one, never a higher one.
LAYERS = [
    ("foundations", {"compat", "settings", "errors", "validation", "catalog", "context", "files"}),
    ("arrays", {"idx", "sources"}),
    ("batches", {"batches"}),
    ("math", {"model", "loss", "optim", "metrics", "compiled"}),
    ("loop", {"loop"}),
    ("outputs", {"runs", "images", "classify", "pictures", "server", "exporting", "feedback"}),
    ("front ends", {"cli", "notebook", "launch", "invocation", "train", "predict", "draw", "plot",
                    "data", "export", "__main__", "__init__"}),
]


def _layer(module):
    return next(i for i, (_, names) in enumerate(LAYERS) if module.split(".")[0] in names)


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        yield name, path, ast.parse(path.read_text())


def _imports(name, tree):
    """The mxsoftmax modules that module ``name`` imports (relative or absolute)."""
    package = name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    yield from (".".join(base + [alias.name]) for alias in node.names)
                elif target:
                    yield target
            elif node.module and node.module.startswith("mxsoftmax."):
                yield node.module[len("mxsoftmax."):]
        elif isinstance(node, ast.Import):
            yield from (a.name[len("mxsoftmax."):] for a in node.names
                        if a.name.startswith("mxsoftmax."))


def _is_module(target):
    path = PACKAGE.joinpath(*target.split("."))
    return path.with_suffix(".py").is_file() or path.is_dir()


def test_every_module_has_a_layer_and_no_import_goes_up():
    upward = []
    for name, _, tree in _modules():
        for target in filter(_is_module, _imports(name, tree)):
            if _layer(target) > _layer(name):
                upward.append("%s imports %s" % (name, target))
    assert upward == []


def _check_lines(function):
    """Lines of ``function`` that check arguments: ``if ...: raise`` and calls of check helpers."""
    lines = set()
    for node in ast.walk(function):
        if isinstance(node, ast.If) and any(isinstance(n, ast.Raise) for n in ast.walk(node)):
            lines.update(range(node.lineno, node.end_lineno + 1))
        if isinstance(node, ast.Call):
            called = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if called.startswith(("_check", "check", "validate")):
                lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def test_the_math_modules_are_the_tutorials_lines_with_at_most_10_percent_checks():
    checks = total = 0
    for name in MATH_MODULES:
        tree = ast.parse((PACKAGE / name).read_text())
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            body = function.body[1:] if ast.get_docstring(function) else function.body
            total += sum(node.end_lineno - node.lineno + 1 for node in body)
            checks += len(_check_lines(function))
    assert total > 40 and checks <= 0.10 * total, (checks, total)


def test_at_most_25_except_blocks_raise_again():
    """Errors are raised once with their fields; few places catch one only to raise another."""
    raising = [(name, node.lineno) for name, _, tree in _modules() for node in ast.walk(tree)
               if isinstance(node, ast.ExceptHandler)
               and any(isinstance(n, ast.Raise) for b in node.body for n in ast.walk(b))]
    assert len(raising) <= 25, raising


def test_every_exception_class_lives_in_errors():
    elsewhere = [(name, node.name) for name, _, tree in _modules() if name != "errors"
                 for node in tree.body if isinstance(node, ast.ClassDef)
                 and not node.name.startswith("_")  # a module's private control-flow signal
                 and any(getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception"))
                         or getattr(b, "id", "") in ERROR_NAMES for b in node.bases)]
    assert elsewhere == []


ERROR_NAMES = {name for name in dir(__import__("mxsoftmax.errors", fromlist=["x"]))
               if isinstance(getattr(__import__("mxsoftmax.errors", fromlist=["x"]), name), type)}


DEPTH = """
import os, runpy, sys
deepest = []
def profile(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "softmax" \\
            and frame.f_code.co_filename.endswith(os.path.join("mxsoftmax", "model.py")):
        depth, f = 0, frame
        while f:
            depth += os.sep + "mxsoftmax" + os.sep in f.f_code.co_filename
            f = f.f_back
        deepest.append(depth)
sys.setprofile(profile)
sys.argv = ["mxsoftmax.train"] + sys.argv[1:]
try:
    runpy.run_module("mxsoftmax.train", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
sys.setprofile(None)
print("DEPTH", max(deepest))
"""


def test_the_tutorials_softmax_is_at_most_9_mxsoftmax_frames_deep(tmp_path):
    data_dir = write_split_dir(tmp_path / "d", random_splits(n_train=64, n_test=16))
    proc = subprocess.run([sys.executable, "-c", DEPTH, "--path", "literal", "--data-dir",
                           data_dir, "--epochs", "1", "--quiet"],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    depth = int(proc.stdout.split("DEPTH")[-1])
    assert 5 <= depth <= 9, proc.stdout + proc.stderr


@pytest.mark.parametrize("make", [loop.literal, loop.compiled])
def test_no_check_runs_per_training_batch(make, monkeypatch):
    calls = []
    real = validation.Constraint.check
    monkeypatch.setattr(validation.Constraint, "check",
                        lambda self, param, value: calls.append(param) or real(self, param, value))
    training = make(as_data(random_splits(n_train=320, n_test=16)), mx.cpu(), batch_size=8,
                math=loop.StableMath())  # random pixels may overflow the tutorial's softmax
    calls.clear()
    rows = list(loop.fit(model.init_params(mx.cpu()), training, 2, 0.001))
    assert len(rows) == 2 and training.data.num_batches() == 40
    assert len(calls) < 10, calls  # fit's arguments, once: not 80 batches' worth


def test_no_message_is_parsed_or_rewritten():
    """Callers decide from the fields of an exception, never from its text."""
    suspicious = []
    for name, _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
                    "split", "startswith", "replace", "partition", "rstrip"):
                target = node.func.value
                if isinstance(target, ast.Call) and getattr(target.func, "id", "") == "str" \
                        and target.args and getattr(target.args[0], "id", "") in ("err", "error",
                                                                                  "exc", "e"):
                    suspicious.append((name, node.lineno))
    assert suspicious == []


def test_the_layers_cover_every_module():
    names = {name.split(".")[0] for name, _, _ in _modules()}
    known = set().union(*(names_ for _, names_ in LAYERS))
    assert names <= known, names - known
    assert os.path.isfile(PACKAGE / "validation.py")
