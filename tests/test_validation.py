"""The one constraint table, and every check generated from it (as scikit-learn's
test_public_functions.py generates its parameter-validation tests): each constraint refuses its
invalid examples, each public entry point refuses them for each of its parameters, and each flag
that carries a parameter refuses their text with exit 2 and one line naming the flag."""
import importlib
import inspect
import json
import numbers
import os
import pkgutil

import mxnet as mx
import numpy as np
import pytest

import mxsoftmax
from mxsoftmax import loop, model, runs, validation
from mxsoftmax.errors import InvalidInput, InvalidValue

from conftest import as_data, random_splits

PARAMS = sorted(validation.CONSTRAINTS)


@pytest.mark.parametrize("param", PARAMS)
def test_each_constraint_refuses_its_invalid_examples_naming_the_param(param):
    constraint = validation.CONSTRAINTS[param]
    for value in constraint.invalid_examples():
        with pytest.raises(InvalidValue) as refused:
            constraint.check(param, value)
        assert refused.value.param == param and refused.value.value is value
        assert str(refused.value).startswith("%s must be %s, not " % (param, constraint.description))


def test_valid_values_pass_and_come_back():
    params = model.init_params(mx.cpu())
    for param, value in (("batch_size", 1), ("epochs", 0), ("seed", 2 ** 32 - 1),
                         ("learning_rate", 0.001), ("learning_rate", np.float32(3e38)),
                         ("dataset", "fashion-mnist"), ("params", params), ("model", params),
                         ("ctx", mx.cpu(1)), ("stop", None), ("stop", print),
                         ("splits", as_data(random_splits(4, 2))), ("batch_size", np.int64(5))):
        assert validation.CONSTRAINTS[param].check(param, value) is value


def _interval_texts(constraint):
    """Flag texts an Interval refuses: out of range, not ASCII digits, not a number at all."""
    whole = constraint.kind is numbers.Integral
    low = constraint.low - 1 if whole else constraint.low / 10
    texts = [str(low), "%d" % (constraint.high * 10 + 1) if whole else "1e39", "abc", "1_0",
             "\u0661", " ", "nan", "inf"]
    return texts + (["1.5", "1e3"] if whole else [])


def _flag_actions():
    """(command, flag, param) of every flag whose type is a constraint of the table."""
    found = []
    for command in ("train", "predict", "draw", "plot", "data"):
        parser = importlib.import_module("mxsoftmax." + command).build_parser()
        for action in parser._actions:
            name = getattr(action.type, "__name__", "")
            if name in validation.CONSTRAINTS and action.option_strings:
                found.append((command, action.option_strings[0], name))
    return found


FLAGS = _flag_actions()


def test_the_flags_that_carry_parameters_are_found():
    assert {(c, f) for c, f, _ in FLAGS} >= {("train", "--epochs"), ("train", "--batch-size"),
                                             ("train", "--lr"), ("train", "--seed"),
                                             ("draw", "--port")}


@pytest.mark.parametrize("command, flag, param", FLAGS)
def test_each_flag_refuses_invalid_text_with_one_line_and_exit_2(command, flag, param, capsys):
    main = importlib.import_module("mxsoftmax." + command).main
    required = {"predict": ["--params", "x", "x.png"], "draw": ["--params", "x"],
                "plot": ["--out", "x"]}.get(command, [])
    constraint = validation.CONSTRAINTS[param]
    for text in _interval_texts(constraint):
        with pytest.raises(SystemExit) as stop:
            main(required + [flag, text])
        err = capsys.readouterr().err
        assert stop.value.code == 2, (flag, text)
        assert len(err.strip().splitlines()) == 1 and "usage:" not in err, err
        assert "argument %s: must be %s" % (flag, constraint.description) in err, err


VALID = {"batch_size": 4, "epochs": 1, "start_epoch": 0, "seed": 0, "learning_rate": 0.001,
         "moving_loss": 0., "every": 0, "port": 0, "dataset": "mnist",
         "dataset_or_none": None,
         "stop": None, "callback": None, "softmax": None, "net": None, "cross_entropy": None,
         "SGD": None, "class_names": list("0123456789"), "ctx": mx.cpu(), "invert": "auto",
         "data_dir": None, "image": b"", "gray": np.zeros((28, 28))}


def _decorated():
    """Every function and method of the package that declares its constraints (validate_params)."""
    found = {}
    for info in pkgutil.walk_packages(mxsoftmax.__path__, "mxsoftmax."):
        module = importlib.import_module(info.name)
        for owner in [module] + [c for _, c in inspect.getmembers(module, inspect.isclass)
                                 if c.__module__ == module.__name__]:
            for name, fn in vars(owner).items():
                if hasattr(fn, "constraints") and fn.__module__ == module.__name__:
                    found["%s.%s" % (owner.__name__, name)] = fn
    return found


DECORATED = _decorated()


def test_the_public_entry_points_declare_their_constraints():
    assert {"mxsoftmax.loop.fit", "mxsoftmax.loop.compiled", "mxsoftmax.loop.literal",
            "mxsoftmax.notebook.train"} <= set(DECORATED)


def _valid(constraint):
    """A value ``constraint`` accepts: the table's example for it, else the first of a pool."""
    names = [n for n, c in validation.CONSTRAINTS.items() if c is constraint]
    if names and names[0] in VALID:
        return VALID[names[0]]
    pool = [model.init_params(mx.cpu()), as_data(random_splits(8, 4)),
            np.zeros((1, 28, 28), np.uint8), np.zeros((28, 28), np.uint8),
            runs.Run(model.init_params(mx.cpu()), list("0123456789"), "mnist", "a run")]
    return next(v for v in pool + list(VALID.values()) if _holds(constraint, v))


def _holds(constraint, value):
    try:
        return constraint.holds(value)
    except (TypeError, ValueError):  # a constraint of arrays, asked about a list of NDArrays
        return False


@pytest.mark.parametrize("name", sorted(DECORATED))
def test_each_entry_point_refuses_each_invalid_argument_by_name(name):
    """Generated from the declarations: every constrained parameter, every invalid example."""
    fn = DECORATED[name]
    signature = inspect.signature(fn)
    valid = {p: _valid(c) for p, c in fn.constraints.items()}
    required = {p: None for p, info in signature.parameters.items()
                if info.default is info.empty and info.kind is info.POSITIONAL_OR_KEYWORD}
    for param, constraint in fn.constraints.items():
        for value in constraint.invalid_examples():
            with pytest.raises(InvalidValue) as refused:
                fn(**{**required, **valid, param: value})
            assert refused.value.param == param, (name, param, value)


def test_fit_refuses_each_invalid_argument_by_name():
    # the stable math: random pixels and N(0, 1) weights may overflow the tutorial's softmax
    training = loop.compiled(as_data(random_splits(8, 4)), mx.cpu(), 4, 0, loop.StableMath())
    params = model.init_params(mx.cpu())
    good = dict(params=params, training=training, epochs=1, learning_rate=0.001)
    for param in ("params", "epochs", "learning_rate", "start_epoch", "moving_loss", "stop"):
        for value in validation.CONSTRAINTS[param].invalid_examples():
            with pytest.raises(InvalidValue) as refused:
                next(loop.fit(**dict(good, **{param: value})))
            assert refused.value.param == param
    assert next(loop.fit(**good))["epoch"] == 0  # and good arguments still train


def test_labels_outside_0_9_are_refused_where_the_data_comes_in():
    """one_hot would turn them into rows of zeros and train to a loss of 0, silently."""
    data = as_data(random_splits(8, 4))
    for labels in (np.full(8, 11), np.full(8, -3), np.full(8, 1.5), np.zeros(3)):
        with pytest.raises(InvalidValue, match="splits must be splits with .train and .test"):
            loop.compiled(data._replace(train=(data.train[0], labels)), mx.cpu())


def environment_texts(constraint):
    """(refused, accepted) values of an MXNet variable with ``constraint``, as MXNet parses them."""
    if isinstance(constraint, validation.Flag):
        return ["2", "yes", " 1", ""], ["TRUE", "0"]
    if isinstance(constraint, validation.Options):
        return ["Bogus", "", " %s" % constraint.options[0]], [constraint.options[0]]
    if constraint.kind is numbers.Integral:
        return (["abc", "", "1_0", "\u0662", "1.5", str(constraint.low - 1), str(constraint.high + 1),
                 "1" + "0" * 5000],  # more digits than int() converts: refused, not a ValueError
                [" %d " % constraint.low, "+%d" % constraint.high])
    return ["abc", "", "nan", "inf", "1e400", "1e-310", "0.5 ", "0x10"], [" 0.5", "+2e3"]


@pytest.mark.parametrize("name", sorted(validation.MXNET_VARIABLES))
def test_each_mxnet_variable_refuses_what_mxnet_cannot_use_and_takes_what_it_can(name):
    refused, accepted = environment_texts(validation.MXNET_VARIABLES[name])
    for value in refused:
        with pytest.raises(InvalidValue, match="^%s must be " % name):
            validation.check_environment({name: value, "HOME": "/x"})
    for value in accepted:
        validation.check_environment({name: value, "MXNET_HOME": "anything"})


@pytest.mark.parametrize("field, number", [("flags.lr", 10 ** 400), ("flags.lr", 10 ** 20),
                                           ("moving_loss", -10 ** 40), ("epoch", 2 ** 64)])
def test_a_huge_whole_number_in_a_runs_state_is_checked_not_a_traceback(run_dir, tmp_path, field, number):
    """JSON's numbers have no size: beyond int64, numpy's isfinite raised TypeError in the check."""
    state = json.load(open(os.path.join(run_dir, runs.STATE)))
    parent, _, key = field.rpartition(".")
    (state[parent] if parent else state)[key] = number
    path = tmp_path / runs.STATE
    path.write_text(json.dumps(state))
    if number == 10 ** 20:  # a learning rate float32 holds: valid
        assert runs.read_state(str(path))["flags"]["lr"] == number
        return
    with pytest.raises(InvalidInput) as refused:
        runs.read_state(str(path))
    assert "is not a valid mxsoftmax run state (%s must be " % field in str(refused.value)
