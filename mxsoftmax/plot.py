"""``python -m mxsoftmax.plot --out DIR``: (re)draw the pictures of a run, finished or not."""

from .compat import loading

with loading("plot"):  # MXNet loads here: its variables checked first, a signal one line
    from . import cli, pictures, sources
    from .errors import DatasetMismatch, InvalidInput
    from .context import check_ctx
    from .runs import RunError, RunFolder

PROG = "python -m mxsoftmax.plot"


def build_parser():
    """The argparse parser of ``python -m mxsoftmax.plot``."""
    p = cli.Parser(prog=PROG,
                      description="Draw history.png, weights.png, "
                      "confusion.png and mistakes.png of a run saved with --out.")
    p.add_argument("--out", required=True, metavar="DIR", type=cli.path, help="the run folder")
    cli.add_ctx_argument(p)
    return p


def main(argv=None):
    """Entry point; exit codes as in :mod:`mxsoftmax.cli`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    words = {DatasetMismatch: lambda err: (
        "%s was trained on %s from %s, which now holds %s (recognised by its checksums): put the "
        "run's own data back there to draw its confusion and mistakes." % (
            args.out, err.asked, err.folder, err.found))}
    with cli.handle_errors(PROG, parser, args, words) as outcome:
        draw(args)
    return outcome.code


def draw(args):
    """Draw every picture the run's files allow; say which, and why any was left out."""
    ctx = check_ctx(args.ctx)
    folder = RunFolder(args.out)
    try:
        state = folder.open_existing()
        with cli.Signals() as signals:
            metrics, note = folder.metrics(state["epoch"])
            if note:
                cli.say(PROG, note)
            init = folder.init_params(say=lambda line: cli.say(PROG, line))
            params = folder.params(state)
            test = load_test_split(args.out, state)
            with signals.deferred():
                drawn = pictures.draw_pictures(folder.path, params, init, metrics, test,
                                               state["class_names"], ctx, between=signals.check)
    finally:
        folder.close()
    cli.out("%s: drew %s in %s" % (PROG, ", ".join(drawn), args.out))


def load_test_split(out, state):
    """The run's test split, from the data it recorded; None (said in one line) when it cannot
    be loaded here. Data other than the run's own (its SHA-256 differs from the one the run
    recorded, as ``--resume`` checks it) is refused: its confusion and mistakes would be wrong."""
    flags = state["flags"]
    try:
        data = sources.load_splits(flags["dataset"], flags.get("data_dir"),
                                   log=lambda _: None, stream=True)
    except InvalidInput as err:
        if isinstance(err, DatasetMismatch):  # the run's folder now holds another data set
            raise
        cli.say(PROG, "the run's test images (%s) cannot be loaded here, so only history.png "
                         "and weights.png are drawn." % (flags.get("data_dir") or flags["dataset"]))
        return None
    if state.get("data") is not None and sources.fingerprint(data) != state["data"]:
        raise RunError("%s was trained on other data than the files in %s hold now (their SHA-256 "
                       "differ): put the run's own data back there to draw its confusion and "
                       "mistakes." % (out, flags.get("data_dir") or data.origin), path=out)
    return data.test


def script():
    """``mxsoftmax-plot``: :func:`main` as a command, exiting with its code."""
    cli.run(main)


if __name__ == "__main__":
    script()
