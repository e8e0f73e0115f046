"""A trained run outside MXNet: ONNX, a self-contained HTML page, NPZ or JSON.

Every format carries the same facts (:func:`model_card`): ``W`` (784x10) and ``b`` (10), the class
names, and the recipe that turns a picture into the 784 inputs (:mod:`mxsoftmax.images`), so that
the model can be used from any language with ``probabilities = softmax(x @ W + b)``.

- ``.onnx``: a graph ``x`` float32 [N, 784] -> MatMul W -> Add b -> Softmax(axis 1) ->
  ``probabilities`` [N, 10], opset :data:`ONNX_OPSET`, built with the ``onnx`` package's helpers;
  the card (without the arrays) in ``metadata_props``.
- ``.html``: the draw page with the model embedded and the recipe in JavaScript; it works from
  ``file://`` with no server, no network and no Python.
- ``.npz``: the arrays ``W``, ``b``, ``class_names`` and ``card`` (the card as JSON text).
- ``.json``: the card with ``W`` (784 rows of 10) and ``b``.

:func:`export` writes one of them atomically (temporary file, then rename): an existing file is
kept unless ``force``, and a failure leaves nothing half-written.
"""
import base64
import hashlib
import html
import io
import json
import os
import re

import numpy as np

from . import __version__, catalog, images
from .errors import ExportError, MissingPackage, TargetExists
from .files import atomic_write
from .runs import check_run, is_own_file

FORMAT, FORMAT_VERSION = "mxsoftmax-model", 1
ONNX_OPSET = 13      # Softmax over one axis (opset 13's semantics); onnxruntime 1.18+ runs it
ONNX_IR_VERSION = 7  # the IR of opset 13: readers older than the onnx package that writes it load it
FORMATS = {".onnx": "ONNX", ".html": "HTML", ".htm": "HTML", ".npz": "NPZ", ".json": "JSON"}
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
# The exported page's inline script and style, each these files in this order: what it shares with
# the draw server's page (drawing, the answer shown, the style), then its own.
PAGE_SCRIPTS = ("canvas.js", "export.js")
PAGE_STYLES = ("draw.css", "export.css")
ONNX_INSTALL = "pip install 'mxsoftmax[export]' (or: pip install 'onnx>=1.16,<1.24' 'numpy<1.24')"


def format_of(path):
    """The format (a value of :data:`FORMATS`) that ``path``'s extension asks for; ExportError if
    it is none of them."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in FORMATS:
        raise ExportError("%s has %s: give a file ending in .onnx, .html, .npz or .json."
                          % (path, "the unknown extension %r" % extension if extension
                             else "no extension"), path=path)
    return FORMATS[extension]


def export(run, path, force=False):
    """Write the trained ``run`` (a :class:`mxsoftmax.runs.Run`) to ``path`` in the format its
    extension names; returns the format.

    ``path`` must not exist unless ``force`` (a folder is never replaced); the file is complete
    or absent, never half-written. Errors: ExportError (and its subclasses), CannotWrite (a place
    that cannot take the file), WriteFailed (a full disk).
    """
    check_run(run)
    if not all(np.isfinite(p.asnumpy()).all() for p in run.params):
        raise ExportError("the model's W or b holds inf or NaN: export a checkpoint of a run that "
                          "trained without diverging.", path=run.path)
    path = os.fspath(path)
    kind = check_target(path, force)
    folder = run.path if os.path.isdir(run.path) else os.path.dirname(os.path.abspath(run.path))
    if os.path.realpath(os.path.dirname(os.path.abspath(path))) == os.path.realpath(folder) \
            and is_own_file(os.path.basename(path)):
        raise ExportError("%s is a file of the run being exported: give a name the run does not "
                          "use." % path, path=path)
    _write(path, BUILDERS[kind](run), replace=force)
    return kind


def _printable(name):
    """A file name as text the page can hold: bytes that are not UTF-8 shown as U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


def check_target(path, force=False):
    """The format of ``path`` if :func:`export` can write it there: a known extension, not a
    folder, not an existing file unless ``force``, and the package the format needs installed."""
    path = os.fspath(path)
    kind = format_of(path)
    if os.path.isdir(path):
        raise ExportError("%s is a folder: give the name of the file to write, such as %s."
                          % (path, os.path.join(path, "model" + os.path.splitext(path)[1].lower())),
                          path=path)
    if os.path.lexists(path) and not force:
        raise TargetExists("%s exists: add --force to replace it, or choose another name." % path,
                           path=path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ExportError(("%s cannot be written: %s is a file, not a folder; choose another place."
                           if os.path.exists(folder) else
                           "%s cannot be written: its folder %s does not exist; create it, or "
                           "choose another place.") % (path, folder), path=path)
    if kind == "ONNX":
        _import_onnx(path)
    return kind


def _import_onnx(what):
    """The ``onnx`` package; MissingPackage saying how to install it when it is not there."""
    try:
        import onnx
    except ImportError:
        raise MissingPackage("%s needs the onnx package, which is not installed: %s."
                             % (what, ONNX_INSTALL), "onnx", path=what) from None
    return onnx


def _write(path, data, replace):
    """Write ``data`` to ``path`` through :func:`atomic_write`. Without ``replace`` the file is
    published by ``os.link``, which fails if ``path`` appeared meanwhile (no check-then-write race):
    atomic_write's rename of the temporary file onto its own second name then changes nothing,
    and the temporary name is removed."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
        if not replace:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise TargetExists("%s exists: add --force to replace it, or choose another name."
                                   % path, path=path) from None
            except OSError:  # no hard links here (FAT, some network file systems): the check
                pass         # that export made a moment ago stands, and the rename publishes it
    atomic_write(path, write)


# ---------------------------------------------------------------------------- the card

def model_card(run, arrays=False):
    """What every format says about ``run``: format and version, data set, class names, the model
    and its input, and the recipe; with ``arrays``, also ``W`` (784 lists of 10) and ``b``.

    The numbers are the float32 values, each written with the fewest digits that give it back
    (``numpy.float32(value)`` restores it exactly).
    """
    dataset = catalog.DATASETS[run.dataset]
    card = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "producer": "mxsoftmax %s" % __version__,
        "dataset": run.dataset,
        "title": dataset["title"],
        "class_names": list(run.class_names),
        "model": "probabilities = softmax(x @ W + b): W is 784x10, b is 10, x is 784 numbers",
        "input": "x: a 28x28 picture row by row, pixel / 255 (0 to 1), ink bright on black, "
                 "made by the recipe",
        "recipe": recipe(run.dataset),
    }
    if arrays:
        W, b = (_float32(p.asnumpy()) for p in run.params)
        card["W"] = [[_shortest(v) for v in row] for row in W]
        card["b"] = [_shortest(v) for v in b]
    return card


def recipe(dataset):
    """The preprocessing of :func:`mxsoftmax.images.to_model_input` for ``dataset``, as numbers and
    steps a reader can follow in any language."""
    side, centring = catalog.DATASETS[dataset]["recipe"]
    placed = ("placed so that its centre of mass is at pixel (14, 14) of a black 28x28"
              if centring == "mass" else
              "its bounding box centred in a black 28x28 (an odd spare pixel before it)")
    flatten = dataset in images.STROKES
    return {
        "side": side,
        "centring": centring,
        "invert_when_border_mean_above": 127.5,
        "flatten_paper": flatten,
        "paper_window": images.PAPER_WINDOW,
        "paper_side": images.PAPER_SIDE,
        "paper_noise": images.PAPER_NOISE,
        "ink_threshold": images.INK_THRESHOLD,
        "min_contrast": images.MIN_CONTRAST,
        "resample": "lanczos3",
        "steps": [
            "gray = (299 R + 587 G + 114 B) / 1000; transparent pixels over white when the opaque "
            "ones are mostly dark, else over black",
            "invert (255 - gray) when the mean of the border pixels is above 127.5: dark ink on "
            "light paper" + (
                "; before inverting, divide out the paper's uneven light: its brightness is a "
                "closing (max then min filter, window 2 ceil(paper_window x shorter side / 2) + 1) "
                "of a copy averaged down to at most paper_side pixels a side, its edges mirrored "
                "through their values (2 edge - value), enlarged bilinearly; shade = paper - gray "
                "less its median and paper_noise x 1.4826 x its median absolute deviation, clipped "
                "at 0; gray = 255 - 255 shade / max(paper, 1)" if flatten else ""),
            "subtract the median of the border pixels, clip at 0, and scale so that the brightest "
            "ink is 255 (a picture whose brightest ink is below %d is blank)" % images.MIN_CONTRAST,
            "crop to the rows and columns holding ink of at least %g x 255" % images.INK_THRESHOLD,
            "resize with a Lanczos (3-lobe) filter so that the longest side is %d pixels, keeping "
            "the aspect ratio" % side,
            placed,
            "round to whole numbers 0-255; x = pixel / 255",
        ],
    }


def _float32(array):
    return np.asarray(array, dtype=np.float32)


def _shortest(value):
    """A float32 as the Python float of its shortest decimal form (JSON writes it so)."""
    return float(np.format_float_scientific(np.float32(value), unique=True))


# ---------------------------------------------------------------------------- the formats

def to_json(run):
    """The card with its arrays, as UTF-8 JSON text."""
    return (json.dumps(model_card(run, arrays=True), allow_nan=False) + "\n").encode("utf-8")


def to_npz(run):
    """``W`` (784, 10) and ``b`` (10,) float32, ``class_names`` (10 strings) and ``card`` (the card
    as JSON text), loadable with ``numpy.load(path)`` without pickles."""
    W, b = (_float32(p.asnumpy()) for p in run.params)
    buffer = io.BytesIO()
    np.savez(buffer, W=W, b=b, class_names=np.array(run.class_names, dtype=str),
             card=np.array(json.dumps(model_card(run))))
    return buffer.getvalue()


def to_onnx(run):
    """The model as an ONNX graph: MatMul, Add, Softmax, ``W`` and ``b`` as initializers."""
    onnx = _import_onnx("writing ONNX")
    from onnx import TensorProto, helper, numpy_helper
    W, b = (_float32(p.asnumpy()) for p in run.params)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["votes"], name="MatMul"),
         helper.make_node("Add", ["votes", "b"], ["score"], name="Add"),
         helper.make_node("Softmax", ["score"], ["probabilities"], name="Softmax", axis=1)],
        "softmax_regression",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", W.shape[0]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", W.shape[1]])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")],
        doc_string="probabilities = softmax(x @ W + b); x: 784 pixels / 255 from the recipe")
    card = model_card(run)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
                              ir_version=ONNX_IR_VERSION, producer_name="mxsoftmax",
                              producer_version=__version__, doc_string=card["model"])
    helper.set_model_props(model, {"mxsoftmax": json.dumps(card),
                                   "class_names": json.dumps(card["class_names"]),
                                   "recipe": json.dumps(card["recipe"])})
    onnx.checker.check_model(model)
    return model.SerializeToString()


def to_html(run):
    """One page holding the model, its recipe in JavaScript and a canvas to draw on.

    The model is JSON in a ``<script type="application/json">`` block in which ``<``, ``>`` and
    ``&`` are escaped, so no class name can end the block or open a comment; the page's own script
    and style are inline and pinned by their SHA-256 in a Content-Security-Policy that allows
    nothing else (no network, no other script). The script is :data:`PAGE_SCRIPTS` in order, the
    style :data:`PAGE_STYLES`: the draw page's shared files first, then the exported page's own;
    ``views.html`` is the draw page's too.
    """
    script = "\n".join(_static(name) for name in PAGE_SCRIPTS)
    style = "\n".join(_static(name) for name in PAGE_STYLES)
    dataset = catalog.DATASETS[run.dataset]
    csp = ("default-src 'none'; script-src %s; style-src %s; img-src data: blob:; "
           "base-uri 'none'; form-action 'none'" % (_sha256(script), _sha256(style)))
    values = {
        "csp": csp,
        "title": html.escape(dataset["title"]),
        "thing": html.escape(dataset["thing"]),
        "run": html.escape(_printable(os.path.basename(os.path.normpath(run.path)) or run.path)),
        "style": style,
        "script": script,
        "model": script_json(model_card(run, arrays=True)),
        "views": _static("views.html").rstrip("\n"),  # the input and evidence maps, as on the draw page
    }
    page = _static("export.html")
    # one pass, so that a value holding "{{...}}" is never filled in again
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], page).encode("utf-8")


def script_json(value):
    """``value`` as JSON that is safe inside ``<script type="application/json">``: ``<``, ``>``,
    ``&`` (and everything outside ASCII) as ``\\uXXXX`` escapes, which JSON.parse reads back."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _static(name):
    """The text of ``mxsoftmax/static/<name>``, a file of the package."""
    with open(os.path.join(STATIC_DIR, name), encoding="utf-8") as f:
        return f.read()


def _sha256(text):
    """The CSP source for an inline script or style with exactly this text."""
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


BUILDERS = {"ONNX": to_onnx, "HTML": to_html, "NPZ": to_npz, "JSON": to_json}
