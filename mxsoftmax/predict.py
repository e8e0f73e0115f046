"""Classify image files with a trained checkpoint: ``python -m mxsoftmax.predict``.

Images become what the model was trained on: 28x28 gray, white strokes on black, scaled to
[0, 1] by the tutorial's ``transform``. Dark-on-light pictures (scans, drawings) are inverted.
"""
import argparse
import json
import os
import sys

import mxnet as mx
import numpy as np
from PIL import Image, UnidentifiedImageError

from . import UsageError, checkpoint
from .context import check_ctx, ctx_arg
from .data import CLASS_NAMES
from .model import predict_proba


def load_image(path, invert="auto"):
    """Read any Pillow image as a (28, 28) uint8 array, white-on-black like MNIST.

    ``invert`` is ``yes``, ``no`` or ``auto``: invert when the border is lighter than mid-gray,
    i.e. the picture is dark strokes on a light background. Non-square images are padded to a
    square with the background before resizing, so strokes keep their proportions.
    """
    with Image.open(path) as im:
        gray = np.asarray(im.convert("L"), dtype=np.uint8)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if invert == "yes" or (invert == "auto" and border.mean() > 127):
        gray = 255 - gray
    h, w = gray.shape
    side = max(h, w)
    square = np.zeros((side, side), dtype=np.uint8)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = gray
    if side != 28:
        square = np.asarray(Image.fromarray(square).resize((28, 28), Image.LANCZOS))
    return square


def class_names_for(params_path, state):
    """Class names saved with the run, else MNIST's digits."""
    if not state and os.path.isfile(params_path):
        try:
            state = checkpoint.read_state(os.path.dirname(os.path.abspath(params_path))) or {}
        except UsageError:
            state = {}
    return state.get("class_names") or CLASS_NAMES["mnist"]


def describe(path, probs, names, as_json):
    """One output line for one image."""
    top = np.argsort(-probs)[:3]
    label = int(top[0])
    if as_json:
        return json.dumps({"path": path, "label": label, "name": names[label],
                           "probability": float(probs[label]),
                           "top3": [[int(k), float(probs[k])] for k in top]})
    return "%s: %s (class %d, p=%.3f); top 3: %s" % (
        path, names[label], label, probs[label],
        ", ".join("%s %.3f" % (names[k], probs[k]) for k in top))


def build_parser():
    p = argparse.ArgumentParser(prog="python -m mxsoftmax.predict",
                                description="Classify images with a mxsoftmax checkpoint.")
    p.add_argument("--params", required=True, metavar="DIR_OR_FILE",
                   help="a run folder (--out of mxsoftmax.train) or its epoch-K.params file")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, PGM, ... files")
    p.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                   help="make strokes white on black (auto: when the border is light)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--ctx", type=ctx_arg, default=mx.cpu(), help="cpu, cpu:N, gpu or gpu:N")
    return p


def main(argv=None):
    """Print one line per image; exit 1 if any image could not be read, 2 on a bad checkpoint."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        ctx = check_ctx(args.ctx)
        params, state = checkpoint.load_params(args.params)
    except UsageError as err:
        print("%s: error: %s" % (parser.prog, err), file=sys.stderr)
        return 2
    params = [p.as_in_context(ctx) for p in params]
    names = class_names_for(args.params, state)
    failed = 0
    for path in args.images:
        try:
            probs = predict_proba([load_image(path, args.invert)], params, ctx)[0]
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as err:
            failed += 1
            reason = "cannot read it as an image (%s)" % (getattr(err, "strerror", None) or err)
            print(json.dumps({"path": path, "error": reason}) if args.json
                  else "%s: error: %s" % (path, reason), flush=True)
            continue
        print(describe(path, probs, names, args.json), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
