"""A trained run outside MXNet, as ONNX, a self-contained HTML page, NPZ or JSON (README's "Exporting"),
each with :func:`model_card`: W, b, the class names and the recipe of a picture's 784 inputs, for any
language. The pages' helpers (:func:`static`, :func:`text`, :func:`fill`) make the draw server's too."""
import base64
import hashlib
import html
import io
import json
import os
import pathlib
import re
import shlex
import sys

import numpy as np

from . import __version__, catalog, images
from .errors import InvalidInput
from .files import atomic_write
from .runs import is_own_file
from .validation import CONSTRAINTS, validate_params

FORMAT, FORMAT_VERSION = "mxsoftmax-model", 1
ONNX_OPSET = 13      # Softmax over one axis (opset 13's semantics); onnxruntime 1.18+ runs it
ONNX_IR_VERSION = 7  # the IR of opset 13: readers older than the onnx package that writes it load it
ONNX = "onnx>=1.16,<1.24"  # pyproject's export extra: versions that install beside the venv's numpy
STATIC = pathlib.Path(__file__).resolve().parent / "static"
EXISTS = "%s exists: add --force to replace it, or choose another name."


@validate_params({"run": CONSTRAINTS["run"]})
def export(run, path, force=False):
    """Write ``run`` (a :class:`runs.Run`) to ``path`` atomically, in the format its extension names;
    returns the format's name. InvalidInput when it cannot, WriteFailed on a full disk."""
    if not all(np.isfinite(p.asnumpy()).all() for p in run.params):
        raise InvalidInput("the model's W or b holds inf or NaN: export a checkpoint of a run that "
                           "trained without diverging.", path=run.path)
    path = os.fspath(path)
    kind, write, _ = check_target(path, force)
    folder = run.path if os.path.isdir(run.path) else os.path.dirname(os.path.abspath(run.path))
    if os.path.realpath(os.path.dirname(os.path.abspath(path))) == os.path.realpath(folder) \
            and is_own_file(os.path.basename(path)):
        raise InvalidInput("%s is a file of the run being exported: give a name the run does not "
                           "use." % path, path=path)
    _write(path, write(run), replace=force)
    return kind


def check_target(path, force=False):
    """The format's ``FORMATS`` entry if :func:`export` can write ``path``: a known extension, not
    a folder, not an existing file unless ``force``, in a folder, with the package it needs."""
    extension, folder = os.path.splitext(path)[1].lower(), os.path.dirname(os.path.abspath(path))
    if extension not in FORMATS:
        raise InvalidInput("%s has %s: give a file ending in .onnx, .html, .npz or .json." % (
            path, "the unknown extension %r" % extension if extension else "no extension"),
            path=path)
    if os.path.isdir(path):
        raise InvalidInput("%s is a folder: give the name of the file to write, such as %s."
                           % (path, os.path.join(path, "model" + extension)), path=path)
    if os.path.lexists(path) and not force:
        raise InvalidInput(EXISTS % path, path=path)
    if not os.path.isdir(folder):
        why = ("%s is a file, not a folder; choose another place" % folder if os.path.exists(folder)
               else "its folder %s does not exist; create it, or choose another place" % folder)
        raise InvalidInput("%s cannot be written: %s." % (path, why), path=path)
    try:
        if extension == ".onnx":
            import onnx  # noqa: F401 (to_onnx uses it)
    except ImportError:
        raise InvalidInput("%s needs the onnx package, which is not installed: `%s -m pip install '%s'`."
                           % (path, shlex.quote(sys.executable or "python"), ONNX), path=path) from None
    return FORMATS[extension]


def _write(path, data, replace):
    """The one atomic write; without ``replace`` published by ``os.link``, which fails if ``path``
    appeared since it was checked (the rename onto the link then changes nothing)."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
        if not replace:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise InvalidInput(EXISTS % path, path=path) from None
            except OSError:  # no hard links here (FAT, some network file systems): the check
                pass         # made a moment ago stands, and the rename publishes the file
    atomic_write(path, write)


def model_card(run, arrays=False):
    """What every format says of ``run``: the model, class names and :func:`images.to_model_input`'s
    recipe for any language; with ``arrays`` W and b, float32 in the fewest digits that restore them."""
    side, centring = catalog.DATASETS[run.dataset]["recipe"]
    flatten = run.dataset in images.STROKES
    card = {"format": FORMAT, "version": FORMAT_VERSION, "producer": "mxsoftmax " + __version__,
            "dataset": run.dataset, "title": catalog.DATASETS[run.dataset]["title"],
            "class_names": list(run.class_names),
            "model": "probabilities = softmax(x @ W + b): W is 784x10, b is 10, x is 784 numbers",
            "input": "x: a 28x28 picture row by row, pixel / 255 (0 to 1), ink bright on black, "
                     "made by the recipe"}
    card["recipe"] = {
        "side": side, "centring": centring, "invert_when_border_mean_above": 127.5,
        "flatten_paper": flatten, "paper_window": images.PAPER_WINDOW,
        "paper_side": images.PAPER_SIDE, "paper_noise": images.PAPER_NOISE,
        "ink_threshold": images.INK_THRESHOLD, "min_contrast": images.MIN_CONTRAST, "resample": "lanczos3",
        "steps": [
            "gray = (299 R + 587 G + 114 B) / 1000; transparent pixels over white when the opaque "
            "ones are mostly dark, else over black",
            "when the mean of the border pixels is above 127.5 (dark ink on light paper): " + (
                "divide out the paper's uneven light (flatten_paper): paper = a closing (max then "
                "min filter, window 2 ceil(paper_window x shorter side / 2) + 1) of a copy "
                "averaged down to at most paper_side pixels a side, its edges mirrored through "
                "their values (2 edge - value), enlarged bilinearly; shade = paper - gray less its "
                "median and paper_noise x 1.4826 x its median absolute deviation, clipped at 0; "
                "gray = 255 - 255 shade / max(paper, 1); then " if flatten else "")
            + "invert: gray = 255 - gray",
            "subtract the median of the border pixels, clip at 0, and scale the brightest ink to "
            "255 (a picture whose brightest ink is below min_contrast is blank)",
            "crop to the rows and columns holding ink of at least ink_threshold x 255",
            "resize with a Lanczos (3-lobe) filter so that the longest side is side pixels, "
            "keeping the aspect ratio",
            "place its centre of mass at pixel (14, 14) of a black 28x28" if centring == "mass"
            else "centre its bounding box in a black 28x28 (an odd spare pixel before it)",
            "round to whole numbers 0-255; x = pixel / 255"]}
    if arrays:  # str(numpy.float32) is its shortest decimal: numpy.float32(value) restores it
        W, b = (p.asnumpy() for p in run.params)
        card["W"], card["b"] = [[float(str(v)) for v in row] for row in W], [float(str(v)) for v in b]
    return card


def to_json(run):
    """The card with its arrays, as UTF-8 JSON."""
    return (json.dumps(model_card(run, arrays=True), allow_nan=False) + "\n").encode("utf-8")


def to_npz(run):
    """W (784, 10) and b (10,) float32, class_names and card (JSON text), loaded without pickles."""
    buffer = io.BytesIO()
    W, b = (p.asnumpy() for p in run.params)
    np.savez(buffer, W=W, b=b, class_names=np.array(run.class_names, dtype=str),
             card=np.array(json.dumps(model_card(run))))
    return buffer.getvalue()


def to_onnx(run):
    """An ONNX graph ``x`` float32 [N, 784] -> MatMul W -> Add b -> Softmax(axis 1) ->
    ``probabilities`` [N, 10]; the card (without the arrays) in ``metadata_props``."""
    from onnx import TensorProto, checker, helper, numpy_helper
    W, b = (p.asnumpy() for p in run.params)
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
    helper.set_model_props(model, {"mxsoftmax": json.dumps(card), "class_names": json.dumps(
        card["class_names"]), "recipe": json.dumps(card["recipe"])})
    checker.check_model(model)
    return model.SerializeToString()


def to_html(run):
    """The draw page with the model as JSON no class name can break out of, working from
    ``file://``: its inline script and style pinned by SHA-256, the only ones its CSP allows."""
    script = "\n".join(map(static, ("canvas.js", "export.js")))
    style = "\n".join(map(static, ("draw.css", "export.css")))
    csp = "default-src 'none'; script-src %s; style-src %s; img-src data: blob:; base-uri 'none'; " \
          "form-action 'none'" % tuple("'sha256-%s'" % base64.b64encode(hashlib.sha256(
              source.encode("utf-8")).digest()).decode() for source in (script, style))
    model = json.dumps(model_card(run, arrays=True), allow_nan=False, separators=(",", ":"))
    model = model.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    entry = catalog.DATASETS[run.dataset]
    return fill("export.html", csp=csp, style=style, script=script, model=model,
                title=text(entry["title"]), thing=text(entry["thing"]),
                run=text(os.path.basename(os.path.normpath(run.path)) or run.path))


def static(name):
    """The text of ``mxsoftmax/static/<name>``."""
    return (STATIC / name).read_text(encoding="utf-8")


def text(name):
    """``name`` (data: a path, a class name) as HTML text: escaped, and the bytes of a file name
    that are not UTF-8 as U+FFFD, so that any name can be shown (issue 26)."""
    return html.escape(os.fsencode(name).decode("utf-8", "replace"), quote=True)


def fill(template, **values):
    """``static/<template>`` as UTF-8, each ``{{name}}`` replaced by ``values[name]`` (``views``:
    what both pages show) in one pass: a value holding ``{{...}}`` is never filled in again."""
    values["views"] = static("views.html").rstrip("\n")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], static(template)).encode("utf-8")


FORMATS = {  # extension: the format's name, the function making its bytes, what it is
    ".onnx": ("ONNX", to_onnx, "ONNX opset %d: input x float32 [N, 784] (pixels / 255), output "
                               "probabilities [N, 10]" % ONNX_OPSET),
    ".html": ("HTML", to_html, "a page to draw on; open it in a browser, no server needed"),
    ".npz": ("NPZ", to_npz, "arrays W, b, class_names and card, the rest as JSON: load it with "
                            "numpy.load"),
    ".json": ("JSON", to_json, "W, b, the class names and the recipe")}
FORMATS[".htm"] = FORMATS[".html"]
