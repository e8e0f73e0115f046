"""``python -m mxsoftmax.predict``: classify image files with a trained run, one line each (class,
probability, top three); each image becomes the 28x28 input its data set was made of, as in draw."""
import json
import os
import tempfile

from .compat import loading

with loading("predict"):  # MXNet loads here: its variables checked first, a signal one line
    from . import cli
    from .classify import classify, evidence
    from .errors import ImageError, InvalidInput, WriteFailed
    from .files import cause
    from .images import load_image
    from .runs import load_run

PROG = "python -m mxsoftmax.predict"


def build_parser():
    p = cli.Parser(prog=PROG, description="Classify images with a mxsoftmax run.")
    p.add_argument("--params", required=True, metavar="RUN", type=cli.path,
                   help="a run folder (--out of mxsoftmax.train) or its epoch-K.npz file")
    p.add_argument("images", nargs="+", metavar="IMAGE", type=cli.path,
                   help="PNG, JPEG, PGM, ... files")
    p.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                   help="make strokes white on black (auto: when the border is light)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--explain", metavar="DIR", type=cli.path, help="also write DIR/<image name>.explain.png: "
                   "the 28x28 the model saw, the top 3 probabilities and each pixel's vote for those classes")
    cli.add_ctx_argument(p)
    return p


def main(argv=None):
    """Print one line per image; exit 1 if an image could not be read or explained, 2 on a bad flag or run."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with cli.handle_errors(PROG, parser, args) as outcome, cli.Signals():
        ctx = cli.check_ctx(args.ctx)
        run = load_run(args.params, ctx)
        folder = args.explain
        if folder is not None and os.path.exists(folder) and not os.path.isdir(folder):
            raise InvalidInput("%s is a file, not a folder: give a folder for the pictures." % folder,
                               path=folder)
        try:  # made, and proved to take files under a name of its own, before any image
            if folder is not None:
                os.makedirs(folder, exist_ok=True)
                tempfile.TemporaryFile(dir=folder).close()
        except OSError as err:
            raise InvalidInput("%s cannot hold the pictures (%s): choose a folder you can write to."
                               % (folder, cause(folder, err)), path=folder) from None
        written = set()
        for path in args.images:
            try:
                image = load_image(path, args.invert, run.dataset)
                answer = classify(image, run.params, run.class_names, ctx)
            except ImageError as err:
                outcome.code = cli.EXIT_FAILED
                cli.out(json.dumps({"path": path, "error": str(err)}) if args.json
                        else "%s: error: %s" % (path, err))
                continue
            note = ""
            if folder is not None:
                try:
                    answer["explanation"] = explain(image, answer, run, folder, path, written)
                except (WriteFailed, InvalidInput) as err:  # the answer stands; say why no picture
                    outcome.code = cli.EXIT_FAILED
                    answer["explanation_error"] = str(err)
                    note = "; no explanation: %s" % err
            cli.out(json.dumps(dict(path=path, **answer), allow_nan=False) if args.json
                    else describe(path, answer) + note)
    return outcome.code


def explain(image, answer, run, folder, path, written):
    """Draw what the model saw of ``image`` and why it answered so into ``folder/<image
    name>.explain.png`` (numbered when two images share a name, as ``written`` tells); returns it."""
    from . import pictures  # matplotlib loads only when pictures are asked for
    stem, n = os.path.basename(os.path.normpath(path)) or "image", 1
    name = os.path.join(folder, "%s.explain.png" % stem)
    while name in written:
        n += 1
        name = os.path.join(folder, "%s-%d.explain.png" % (stem, n))
    written.add(name)
    classes = [top["label"] for top in answer["top3"]]
    maps = evidence(image, run.params[0], classes)
    return pictures.save_figure(pictures.plot_explanation(image, answer["probabilities"], maps,
                                                          run.class_names, classes, bias=run.params[1]), name)


def describe(path, answer):
    """One line of text: the answer (its name alone where the name is the digit) and the top 3."""
    name = answer["name"] if answer["name"] == str(answer["label"]) \
        else "%s (class %d)" % (answer["name"], answer["label"])
    return "%s: %s, p=%.3f; top 3: %s" % (path, name, answer["probability"], ", ".join(
        "%s %.3f" % (e["name"], e["probability"]) for e in answer["top3"]))


def script():
    cli.run(main)


if __name__ == "__main__":
    script()
