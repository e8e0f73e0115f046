"""Constraints (scikit-learn's ``Interval``, ``validate_params``...) checking each value once, where it
enters, a flag's too; one table; one message, ``"<param> must be <description>, not <value>"``."""
import collections
import contextlib
import fractions
import functools
import inspect
import numbers
import os
import re
import warnings
from collections.abc import Callable

import numpy as np

from . import catalog
from .errors import InvalidValue
from .settings import NUM_INPUTS, NUM_OUTPUTS

FLOAT32_TINY, FLOAT32_MAX = 1.1754943508222875e-38, 3.4028234663852886e+38
SHAPES = ((28, 28), (28, 28, 1))  # one image, gray with or without its channel


class Constraint:
    """What a value must be: each kind's ``holds`` says whether it is, ``description`` in words;
    ``invalid`` are values it refuses (and None unless ``optional``), for the generated tests."""
    description, optional, invalid = "valid", False, ()

    def check(self, param, value):
        if not self.holds(value):
            raise InvalidValue(param=param, value=value, expected=self.description, shown=_shown(value))
        return value

    def parse(self, text, param=None):
        """``text`` (a flag's or an environment variable's value) converted and checked."""
        value = self.convert(text)
        if value is None or not self.holds(value):
            raise InvalidValue(param=param, value=text, expected=self.description, shown=_shown(text))
        return value

    def convert(self, text):
        return text

    def invalid_examples(self):
        return list(self.invalid) + ([] if self.optional else [None])


class Interval(Constraint):
    """A whole number (``kind=numbers.Integral``) or a finite real number in ``[low, high]``: an int
    or a float, as MXNet and numpy take it (no Fraction, which passed to fail inside training)."""

    def __init__(self, kind, low, high, note=""):
        whole = kind is numbers.Integral
        self.kind, self.low, self.high = kind if whole else (numbers.Integral, float, np.floating), low, high
        self.description = ("a whole number from %d to %d" % (low, high) if whole else
                            "a number from %.3g to %.3g%s" % (low, high, note))
        self.invalid = [low - abs(low) - 1, high + abs(high) + 1, -10 ** 400, 10 ** 400, "1", True,
                        fractions.Fraction(1, 2), 1.5 if whole else float("nan")]  # 10 ** 400: JSON's
        if not whole:  # in float16, the bounds themselves would become 0 and inf
            self.invalid += [np.float16("inf")] + ([low / 2, np.float16(low / 2)] if low > 0 else [])

    def holds(self, value):
        """NaN and inf fail the finite bounds: no ``isfinite``, which takes no int beyond 64 bits; a
        numpy float is compared as a Python float (in float16 the bounds become 0 and inf)."""
        number = float(value) if isinstance(value, np.floating) else value
        return (isinstance(value, self.kind) and not isinstance(value, (bool, np.bool_))
                and bool(self.low <= number <= self.high))

    def convert(self, text):
        """As MXNet's C++ reads it: a sign and ASCII digits (for reals a point and exponent) after
        ASCII blanks (and before them for whole numbers): no ``1_0``, no ``١``."""
        whole = self.kind is numbers.Integral
        number = r"[+-]?[0-9]+\s*" if whole else r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
        found = re.fullmatch(r"\s*" + number, text, flags=re.ASCII)  # \s: the six ASCII blanks
        with contextlib.suppress(ValueError):  # more than the 4300 digits int() takes: no such value
            return (int if whole else float)(text) if found else None
        return None


class Options(Constraint):
    """One of a few strings (or None when ``optional``)."""
    invalid = ("no such option", 1)

    def __init__(self, options, optional=False):
        self.options, self.optional = tuple(options), optional
        self.description = "one of %s" % ", ".join(self.options)

    def holds(self, value):
        return (value is None and self.optional) or (isinstance(value, str) and value in self.options)


class Flag(Options):
    """A flag as MXNet's dmlc reads one: 0, 1, true or false, in any case, nothing around it."""

    def __init__(self):
        super().__init__(("0", "1", "true", "false"))

    def holds(self, value):
        return isinstance(value, str) and value.isascii() and value.lower() in self.options


class Instance(Constraint):
    """An instance of ``kinds`` (or None when ``optional``), described in words."""

    def __init__(self, kinds, description, optional=False, invalid=("text", 3)):
        self.kinds, self.description, self.optional, self.invalid = kinds, description, optional, invalid

    def holds(self, value):
        return (value is None and self.optional) or (value is not None and isinstance(value, self.kinds))


class Text(Instance):
    """Text matching ``pattern`` (or None when ``optional``)."""

    def __init__(self, pattern, description, optional=False):
        super().__init__(str, description, optional)
        self.pattern = re.compile(pattern)

    def holds(self, value):
        return super().holds(value) and (value is None or bool(self.pattern.fullmatch(value)))


class ModelParams(Constraint):
    """The model's ``[W, b]``, float32 NDArrays, with gradients attached when ``trainable``."""

    def __init__(self, trainable):
        self.trainable = trainable
        self.description = ("[W, b]: float32 NDArrays of shapes (%d, %d) and (%d,)%s" % (
            NUM_INPUTS, NUM_OUTPUTS, NUM_OUTPUTS,
            " with gradients attached (model.init_params makes them)" if trainable else ""))

    def holds(self, value):
        from mxnet import nd
        return (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(p, nd.NDArray) and p.dtype == np.float32 for p in value)
                and [p.shape for p in value] == [(NUM_INPUTS, NUM_OUTPUTS), (NUM_OUTPUTS,)]
                and (not self.trainable or all(p.grad is not None for p in value)))

    def invalid_examples(self):
        from mxnet import nd
        return [None, [nd.zeros((784, 10))], [nd.zeros((10, 784)), nd.zeros(10)],
                [nd.zeros((784, 10), dtype=np.float16), nd.zeros(10, dtype=np.float16)]]


class Splits(Constraint):
    """``.train`` and ``.test`` pairs of images (uint8 arrays, or streamed from an idx file) and a
    label 0-9 each, checked here because ``one_hot`` turns any other into a row of zeros."""
    description = ("splits with .train and .test (images, labels) pairs: uint8 images of shape (N, 28, 28) "
                   "and one label 0-%d per image, such as sources.load_splits gives" % (NUM_OUTPUTS - 1))

    def holds(self, value):
        pairs = [getattr(value, split, None) for split in ("train", "test")]
        return all(isinstance(pair, tuple) and len(pair) == 2 and _split_holds(*pair) for pair in pairs)

    def invalid_examples(self):
        Data = collections.namedtuple("Data", "train test")
        images = np.zeros((2, 28, 28), np.uint8)
        return [None, Data((images, [0, 10]), (images, [0, 1])),
                Data((images.astype(np.float32), [0, 1]), (images, [0, 1])),
                Data((images, [0]), (images, [0, 1]))]


def _split_holds(images, labels):
    streamed = hasattr(images, "chunks") and hasattr(images, "__len__")
    arrays = isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.shape[1:] in SHAPES
    labels = np.asarray(labels)
    return ((streamed or arrays) and len(images) > 0 and labels.shape == (len(images),)
            and np.issubdtype(labels.dtype, np.number) and bool(np.isfinite(labels).all())
            and bool((labels == np.round(labels)).all()) and 0 <= labels.min()
            and labels.max() < NUM_OUTPUTS)


class Images(Constraint):
    """uint8 pixels of one 28x28 image (``single``) or of N >= 1, as numpy, a list or an NDArray."""

    def __init__(self, single):
        self.single = single
        self.description = ("one uint8 image of shape (28, 28) (pixels 0-255)" if single else
                            "uint8 images of shape (N, 28, 28[, 1]) or (N, 784) (pixels 0-255)")
        self.invalid = (np.zeros((28, 28) if single else (1, 28, 28)), np.zeros((3, 3), np.uint8),
                        np.zeros((1, 27, 28), np.uint8), np.zeros((0, 28, 28), np.uint8))

    def holds(self, value):
        array = _array(value)
        if array is None or array.dtype != np.uint8:
            return False
        if self.single:
            return array.shape in SHAPES
        return array.size > 0 and (array.shape[1:] in SHAPES
                                   or array.ndim == 2 and array.shape[1] == NUM_INPUTS)


def _array(value):
    """``value`` as a numpy array (an NDArray's too), or None for a ragged list or an object."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy < 1.24 only warns about a ragged list
            return value.asnumpy() if hasattr(value, "asnumpy") else np.asarray(value)
    except (TypeError, ValueError, Warning):
        return None


class GrayPicture(Constraint):
    description = "a 2-D gray picture: a non-empty array of finite numbers"
    invalid = (np.full((28, 28), np.nan), np.zeros((0, 0)), np.zeros(784), [["a"]])

    def holds(self, value):
        array = _array(value)
        numbers = array is not None and (np.issubdtype(array.dtype, np.number) or array.dtype == bool)
        return numbers and array.ndim == 2 and array.size > 0 and bool(np.isfinite(array).all())


class ClassNames(Constraint):
    description = "a list of %d class names (text)" % NUM_OUTPUTS
    invalid = (["a"] * 9, list(range(10)), "0123456789")

    def holds(self, value):
        return (isinstance(value, (list, tuple)) and len(value) == NUM_OUTPUTS
                and all(isinstance(name, str) for name in value))


class TrainedRun(Constraint):
    """A ``runs.Run`` (a notebook may build one) whose model, class names and data set each hold."""
    description = "a trained model: a runs.Run such as runs.load_run gives"
    invalid = ("runs/mnist", ("W", "b"))
    FIELDS = (("params", "model"), ("class_names", "class_names"), ("dataset", "dataset"))

    def holds(self, value):
        return type(value).__name__ == "Run" and all(hasattr(value, f) for f, _ in self.FIELDS)

    def check(self, param, value):
        super().check(param, value)
        for field, name in self.FIELDS:
            CONSTRAINTS[name].check(name, getattr(value, field))
        return value


class Ctx(Constraint):
    description = "an mx.Context such as mx.cpu() or mx.gpu(1)"
    invalid = ("text", 3)

    def holds(self, value):
        import mxnet as mx  # only once a value is checked
        return isinstance(value, mx.Context)


def validate_params(constraints):
    """scikit-learn's decorator: each call's arguments named in ``constraints`` (not defaults) are
    checked before the function runs; the constraints stay readable as ``function.constraints``."""
    def decorate(function):
        signature = inspect.signature(function)
        assert set(constraints) <= set(signature.parameters), (function.__qualname__, constraints)

        @functools.wraps(function)
        def checked(*args, **kwargs):
            for param, value in signature.bind(*args, **kwargs).arguments.items():
                if param in constraints:
                    constraints[param].check(param, value)
            return function(*args, **kwargs)
        checked.constraints = constraints
        return checked
    return decorate


CONSTRAINTS = {
    "batch_size": Interval(numbers.Integral, 1, 1000000),
    "epochs": Interval(numbers.Integral, 0, 100000),
    "start_epoch": Interval(numbers.Integral, 0, 100000),
    "seed": Interval(numbers.Integral, 0, 2 ** 32 - 1),
    "learning_rate": Interval(numbers.Real, FLOAT32_TINY, FLOAT32_MAX, note=" (float32)"),
    "moving_loss": Interval(numbers.Real, -FLOAT32_MAX, FLOAT32_MAX),
    "every": Interval(numbers.Integral, 0, 1000000),
    "port": Interval(numbers.Integral, 0, 65535),
    "dataset": Options(catalog.NAMES),
    "dataset_or_none": Options(catalog.NAMES, optional=True),  # None: whatever the folder holds
    "params": ModelParams(trainable=True),
    "model": ModelParams(trainable=False),
    "stop": Instance(Callable, "a function returning a signal number or None", optional=True),
    "callback": Instance(Callable, "a function of one epoch's row", optional=True),
    "softmax": Instance(Callable, "a function of the logits, softmax(y_linear)", optional=True),
    "net": Instance(Callable, "a function net(X, params)", optional=True),
    "cross_entropy": Instance(Callable, "a function cross_entropy(yhat, y)", optional=True),
    "SGD": Instance(Callable, "a function SGD(params, lr)", optional=True),
    "splits": Splits(),
    "run_path": Instance((str, bytes, os.PathLike), "a path", invalid=(3, [])),
    "data_dir": Instance((str, os.PathLike), "a path, or None", optional=True, invalid=(3, [])),
    "image": Instance((str, os.PathLike, bytes, bytearray, memoryview),
                      "a path or the bytes of a picture", invalid=(3, [])),
    "gray": GrayPicture(),
    "invert": Options(("auto", "yes", "no")),
    "images": Images(single=False),
    "image28": Images(single=True),
    "class_names": ClassNames(),
    "ctx": Ctx(),
    "run": TrainedRun(),
}


#: Each variable MXNet 1.9.1 reads as a number, a flag or a name (its libmxnet.so, or its Python
#: code with int()) that stops it with a value it cannot use: it aborts (exit 134), raises, or hangs.
MXNET_VARIABLES = {name: constraint for names, constraint in [
    # threads: 0 or fewer hang or abort MXNet; tens of thousands fail to start (exit 134 or 139)
    ("""OMP_NUM_THREADS MXNET_OMP_MAX_THREADS MXNET_CPU_WORKER_NTHREADS MXNET_CPU_PRIORITY_NTHREADS
        MXNET_GPU_WORKER_NTHREADS MXNET_GPU_COPY_NTHREADS MXNET_MP_WORKER_NTHREADS
        MXNET_MP_OPENCV_NUM_THREADS""", Interval(numbers.Integral, 1, 1024)),
    # copies of scratch space or random generators: 1024 random copies take 5 GB
    ("""MXNET_CPU_TEMP_COPY MXNET_CPU_PARALLEL_RAND_COPY MXNET_GPU_TEMP_COPY MXNET_GPU_PARALLEL_RAND_COPY""",
     Interval(numbers.Integral, 1, 64)),
    ("""MXNET_BACKWARD_DO_MIRROR MXNET_CPU_PARALLEL_SIZE MXNET_EXEC_INPLACE_GRAD_SUM_CAP
        MXNET_MKLDNN_CACHE_NUM MXNET_PROFILER_MODE MXNET_PROFILER_AUTOSTART MXNET_DISABLE_MKLDNN_CONV_OPT
        MXNET_DISABLE_MKLDNN_FC_OPT MXNET_DISABLE_MKLDNN_FUSE_CONV_BN MXNET_DISABLE_MKLDNN_FUSE_CONV_RELU
        MXNET_DISABLE_MKLDNN_FUSE_CONV_SUM MXNET_DISABLE_MKLDNN_TRANSFORMER_OPT
        MXNET_ENABLE_CYTHON""", Interval(numbers.Integral, -2 ** 31, 2 ** 31 - 1)),  # dmlc::GetEnv<int>
    ("""MXNET_ENGINE_INFO MXNET_MKLDNN_ENABLED MXNET_EXEC_BULK_EXEC_TRAIN MXNET_EXEC_BULK_EXEC_INFERENCE
        MXNET_ELIMINATE_COMMON_EXPR MXNET_EXEC_VERBOSE_LOGGING MXNET_INFER_STORAGE_TYPE_VERBOSE_LOGGING
        MXNET_MEM_PLAN_VERBOSE_LOGGING MXNET_KVSTORE_LOGTREE MXNET_OUTPUT_TUNING_DATA
        MXNET_VERBOSE_TUNING_INFO MXNET_DISABLE_MKLDNN_FUSE_FC_ELTWISE MXNET_DISABLE_MKLDNN_QEM_FLOAT_OUTPUT
        MXNET_DISABLE_MKLDNN_QEM_FUSE_ALL MXNET_DISABLE_MKLDNN_QFC_FLOAT_OUTPUT
        MXNET_DISABLE_MKLDNN_QFC_FUSE_ALL MXNET_DISABLE_MKLDNN_QTRANSFORMER_FLOAT_OUTPUT
        MXNET_DISABLE_MKLDNN_QTRANSFORMER_FUSE_ALL""", Flag()),
    ("""MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_FWD
        MXNET_EXEC_BULK_EXEC_MAX_NODE_TRAIN_BWD MXNET_USE_NUM_CORES_OPERATOR_TUNING""",
     Interval(numbers.Integral, 0, 2 ** 31 - 1)),  # -1: a vector of -1 nodes, or 2 ** 64 - 1 cores: hangs
    ("MXNET_TUNING_WEIGHT_SCALE", Interval(numbers.Real, 1e-300, 1e300)),  # 1e-310: ERANGE
    ("MXNET_ENFORCE_CYTHON", Options(("0",))),  # else no import: this wheel's Cython modules fail
    ("MXNET_ENGINE_TYPE", Options(("NaiveEngine", "ThreadedEngine", "ThreadedEnginePerDevice"))),
    ("MXNET_SUBGRAPH_BACKEND", Options(("MKLDNN", "MKLDNN_QUANTIZE", "NONE", "default", "default_v2"))),
] for name in names.split()}


def check_environment(environ):
    """Refuse, before MXNet loads, a value of ``environ`` that MXNet cannot use (the first one)."""
    for name, constraint in MXNET_VARIABLES.items():
        if name in environ:
            constraint.parse(environ[name], name)


def _shown(value):
    """A value as a message shows it, short: an array by its type and shape (and NaN or inf)."""
    if isinstance(value, (str, numbers.Number, type(None))):
        text = repr(value)
    elif isinstance(getattr(value, "shape", None), tuple) and hasattr(value, "dtype"):
        array = _array(value)
        odd = (array is not None and np.issubdtype(array.dtype, np.inexact)
               and not np.isfinite(array).all())
        text = "a %s %s of shape %s%s" % (np.dtype(value.dtype).name, type(value).__name__,
                                          value.shape, " holding NaN or inf" if odd else "")
    else:
        text = "a %s" % type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."
