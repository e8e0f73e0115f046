"""The shape of the code, measured from its source: the rules README's "How the code is organised"
states, each as a test that fails when a change breaks it."""
import ast
import pathlib

import mxnet as mx
import pytest

from mxsoftmax import errors, loop, model, validation

from conftest import as_data, random_splits

PACKAGE = pathlib.Path(model.__file__).parent
MATH_MODULES = ("model.py", "loss.py", "optim.py", "metrics.py")

# Lowest first; a module may import its own layer or a lower one, never a higher one.
LAYERS = [
    ("foundations", {"settings", "errors", "validation", "compat", "catalog", "files"}),
    ("arrays", {"idx", "sources"}),
    ("batches", {"batches"}),
    ("math", {"model", "loss", "optim", "metrics"}),
    ("loop", {"loop"}),
    ("outputs", {"runs", "images", "classify", "pictures", "formats", "server", "feedback"}),
    ("front ends", {"cli", "notebook", "train", "predict", "draw", "plot", "data", "export",
                    "__main__", "__init__"}),
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


def test_the_math_modules_check_nothing():
    """The tutorial's lines, unguarded: values are checked once, where they enter."""
    checks = total = 0
    for name in MATH_MODULES:
        tree = ast.parse((PACKAGE / name).read_text())
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
            total += 1
            checks += len(_check_lines(function))
            assert not function.decorator_list, (name, function.name)  # no validate_params
    assert total >= 10 and checks == 0, checks


def test_each_function_of_the_math_is_tagged_with_its_tutorial_section():
    """d2l's habit: a reader finds each function's cell in the tutorial."""
    for name in MATH_MODULES + ("loop.py",):
        lines = (PACKAGE / name).read_text().splitlines()
        for function in ast.parse("\n".join(lines)).body:
            if isinstance(function, ast.FunctionDef) and not function.name.startswith("_"):
                first = min([function.lineno] + [d.lineno for d in function.decorator_list])
                tag = lines[first - 2].strip()
                assert tag.startswith("# Defined in ") and \
                    tag[len("# Defined in "):].strip('"') in SECTIONS, (name, function.name, tag)


SECTIONS = ("The MNIST dataset", "Allocate model parameters", "Multiclass logistic regression",
            "Define the model", "The cross-entropy loss function", "Optimizer",
            "Write evaluation loop to calculate accuracy", "Execute training loop",
            "mxsoftmax")  # "mxsoftmax": not the tutorial's, our addition around it


def test_every_exception_class_lives_in_errors():
    elsewhere = [(name, node.name) for name, _, tree in _modules() if name != "errors"
                 for node in tree.body if isinstance(node, ast.ClassDef)
                 and not node.name.startswith("_")  # a module's private control-flow signal
                 and any(getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception"))
                         or getattr(b, "id", "") in ERROR_NAMES for b in node.bases)]
    assert elsewhere == []


ERROR_NAMES = {name for name in dir(__import__("mxsoftmax.errors", fromlist=["x"]))
               if isinstance(getattr(__import__("mxsoftmax.errors", fromlist=["x"]), name), type)}


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


def test_there_are_no_import_cycles():
    """Every import, lazy ones inside functions included, goes one way."""
    graph = {name: {t for t in _imports(name, tree) if _is_module(t) and t != name}
             for name, _, tree in _modules()}
    done, path = set(), []

    def visit(node):
        assert node not in path, " -> ".join(path[path.index(node):] + [node])
        if node not in done:
            path.append(node)
            for target in graph.get(node, ()):
                visit(target)
            path.pop()
            done.add(node)
    for node in graph:
        visit(node)


def test_one_error_handler_turns_errors_into_exit_codes():
    """pypa/build's single handler: only cli.handle_errors catches our errors to end a command."""
    catching = [(name, node.lineno) for name, _, tree in _modules() for node in ast.walk(tree)
                if isinstance(node, ast.ExceptHandler) and node.type is not None
                and "MxSoftmaxError" in ast.dump(node.type)]
    assert [name for name, _ in catching] == ["cli"], catching


def test_every_exception_declares_its_fields():
    for name in ERROR_NAMES:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.MxSoftmaxError):
            assert set(cls.fields) >= {"path", "param"}, name
    with pytest.raises(TypeError, match="InvalidInput has no field colour"):
        errors.InvalidInput("x", colour="red")


def test_no_two_modules_differ_only_by_a_suffix_or_a_folder():
    stems = sorted({path.stem for path in PACKAGE.rglob("*.py") if path.stem != "__init__"})
    close = [(a, b) for a in stems for b in stems if a != b and b.startswith(a)]
    assert close == [] and not (PACKAGE / "cli").is_dir(), close


ROUTE = {"train", "cli", "sources", "idx", "batches", "loop", "model", "loss", "optim", "metrics"}
TRACE = """
import runpy, sys
ran = set()
def in_main(frame):
    while frame and not (frame.f_code.co_name == "main" and frame.f_globals["__name__"] == "__main__"):
        frame = frame.f_back
    return frame is not None
def trace(frame, event, arg):  # functions called from main(), not what runs as modules load
    if event == "call" and frame.f_globals.get("__name__", "").startswith("mxsoftmax") and in_main(frame):
        ran.add(frame.f_globals["__name__"])
sys.argv = ["-m", "--epochs", "1", "--quiet"]
sys.setprofile(trace)
try:
    runpy.run_module("mxsoftmax.train", run_name="__main__", alter_sys=True)
finally:
    sys.setprofile(None)
    print(sorted(ran | {"mxsoftmax.train"}))
"""


def test_the_route_from_the_flags_to_the_epoch_line_is_the_tutorials():
    """Issue 24: the default run calls code in the tutorial's modules, its data edges, the command
    and cli, and the foundations; nothing of the run folder, pictures or the server runs."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", TRACE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ran = {name.split(".")[1] for name in ast.literal_eval(done.stdout.splitlines()[-1])}
    assert "Epoch 0." in done.stdout and {"train", "loop", "model", "loss", "optim", "metrics"} <= ran
    assert ran - LAYERS[0][1] <= ROUTE, ran - LAYERS[0][1] - ROUTE
