"""``python -m mxsoftmax.export --params RUN --to FILE``: a trained run as ONNX, a self-contained
HTML page, NPZ or JSON (:mod:`mxsoftmax.formats`); exit 2, nothing written, on a bad flag, run or place."""
from .compat import loading

with loading("export"):  # MXNet loads here: its variables checked first, a signal one line
    from . import cli, formats
    from .runs import load_run

PROG = "python -m mxsoftmax.export"


def main(argv=None):
    """Export the run; exit 0, or 2 on a bad flag, run or place (1 on a full disk)."""
    parser = cli.Parser(prog=PROG, description="Write a trained mxsoftmax run for use without "
                        "MXNet: .onnx (an ONNX graph), .html (a page to draw on that works offline, "
                        "from a file), .npz or .json (W, b, class names and the recipe).")
    parser.add_argument("--params", required=True, metavar="RUN", type=cli.path,
                        help="a run folder (--out of mxsoftmax.train) or its epoch-K.npz file")
    parser.add_argument("--to", required=True, metavar="FILE", type=cli.path,
                        help="the file to write; its extension picks the format: .onnx, .html, "
                             ".npz or .json")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    args = parser.parse_args(argv)
    with cli.handle_errors(PROG, parser, args) as outcome, cli.Signals():
        _, _, what = formats.check_target(args.to, args.force)  # refused before the run is read
        formats.export(load_run(args.params), args.to, force=args.force)
        cli.out("Wrote %s (%s)." % (args.to, what))
    return outcome.code


def script():
    """``mxsoftmax-export``: :func:`main` as a command, exiting with its code."""
    cli.run(main)


if __name__ == "__main__":
    script()
