"""``python -m mxsoftmax.plot --out DIR``: (re)draw the pictures of a run, finished or not."""
from .. import pictures, sources
from ..errors import InvalidInput
from ..context import check_ctx
from ..runs import RunFolder
from . import common

PROG = "python -m mxsoftmax.plot"


def build_parser():
    """The argparse parser of ``python -m mxsoftmax.plot``."""
    p = common.Parser(prog=PROG,
                      description="Draw history.png, weights.png, "
                      "confusion.png and mistakes.png of a run saved with --out.")
    p.add_argument("--out", required=True, metavar="DIR", type=common.path, help="the run folder")
    common.add_ctx_argument(p)
    return p


def main(argv=None):
    """Entry point; exit codes as in :mod:`mxsoftmax.cli.common`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with common.handle_errors(PROG, parser, args) as outcome:
        draw(args)
    return outcome.code


def draw(args):
    """Draw every picture the run's files allow; say which, and why any was left out."""
    ctx = check_ctx(args.ctx)
    folder = RunFolder(args.out)
    try:
        state = folder.open_existing()
        with common.Signals() as signals:
            metrics, note = folder.metrics(state["epoch"])
            if note:
                common.say(PROG, note)
            params = folder.params(state)
            flags = state["flags"]
            try:
                test = sources.load_splits(flags["dataset"], flags.get("data_dir"),
                                           log=lambda _: None, stream=True).test
            except InvalidInput:
                test = None
                common.say(PROG, "the run's test images (%s) cannot be loaded here, so only "
                                 "history.png and weights.png are drawn."
                           % (flags.get("data_dir") or flags["dataset"]))
            run_pictures = pictures.RunPictures(params, folder.init_params(), metrics, test,
                                                state["class_names"], ctx)
            drawn = []
            for name, picture in run_pictures.drawings().items():
                with signals.deferred():
                    pictures.save_figure(picture(), folder.file(name))
                signals.check()
                drawn.append(name)
    finally:
        folder.close()
    common.out("%s: drew %s in %s" % (PROG, ", ".join(drawn), args.out))
