"""Classify image files with a trained checkpoint: ``python -m mxsoftmax.predict``.

Images become what the model was trained on by :func:`images.load_image` (28x28 gray, white
strokes on black, centred as the run's dataset was; dark-on-light pictures are inverted), the
same code the draw server uses.
"""
import argparse
import json
import sys

import mxnet as mx

from . import UsageError
from .classify import classify, load_run
from .context import check_ctx, ctx_arg
from .images import ImageError, load_image


def describe(path, result, as_json):
    """One output line for one image, from :func:`classify.classify`'s ``result``."""
    top = result["top3"]
    if as_json:
        return json.dumps({"path": path, "label": result["label"], "name": result["name"],
                           "probability": result["probability"],
                           "top3": [[t["label"], t["probability"]] for t in top]})
    return "%s: %s (class %d, p=%.3f); top 3: %s" % (
        path, result["name"], result["label"], result["probability"],
        ", ".join("%s %.3f" % (t["name"], t["probability"]) for t in top))


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
        run = load_run(args.params, ctx)
    except UsageError as err:
        print("%s: error: %s" % (parser.prog, err), file=sys.stderr)
        return 2
    failed = 0
    for path in args.images:
        try:
            image = load_image(path, args.invert, run.dataset)
        except ImageError as err:
            failed += 1
            print(json.dumps({"path": path, "error": str(err)}) if args.json
                  else "%s: error: %s" % (path, err), flush=True)
            continue
        result = classify(image, run.params, run.class_names, ctx)
        print(describe(path, result, args.json), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
