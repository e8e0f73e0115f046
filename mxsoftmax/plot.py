"""``python -m mxsoftmax.plot --out DIR``: (re)draw the pictures of a run, finished or not."""
import functools

from .compat import loading

with loading("plot"):  # MXNet loads here: its variables checked first, a signal one line
    from . import cli, pictures, sources
    from .errors import DatasetMismatch, InvalidInput
    from .runs import RunFolder

PROG = "python -m mxsoftmax.plot"
say = functools.partial(cli.say, PROG)


def build_parser():
    """The argparse parser of ``python -m mxsoftmax.plot``."""
    p = cli.Parser(prog=PROG, description="Draw history.png, weights.png, confusion.png and "
                   "mistakes.png of a run saved with --out.")
    p.add_argument("--out", required=True, metavar="DIR", type=cli.path, help="the run folder")
    cli.add_ctx_argument(p)
    return p


def main(argv=None):
    """Draw every picture the run's files allow, under its lock, saying why any was left out; exit
    codes as in :mod:`mxsoftmax.cli`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with cli.handle_errors(PROG, parser, args) as outcome:
        ctx, folder = cli.check_ctx(args.ctx), RunFolder(args.out)
        try:
            state = folder.open_existing()
            with cli.Signals() as signals:
                metrics, params, init = folder.load(state, say)
                test = load_test_split(args.out, state)
                with signals.deferred():
                    drawn = pictures.draw_pictures(folder.path, params, init, metrics, test,
                                                   state["class_names"], ctx, between=signals.check)
        finally:
            folder.close()
        cli.out("%s: drew %s in %s" % (PROG, ", ".join(drawn), args.out))
    return outcome.code


def load_test_split(out, state):
    """The run's test split, or None (said) when it cannot be loaded; other data than the run's
    is refused, as ``--resume`` refuses it: its confusion and mistakes would be wrong."""
    dataset, data_dir = state["flags"]["dataset"], state["flags"].get("data_dir")
    try:
        data = sources.load_splits(dataset, data_dir, log=lambda _: None, stream=True)
    except DatasetMismatch:  # only a --data-dir folder can hold another known data set
        data = None
    except InvalidInput:
        say("the run's test images (%s) cannot be loaded here, so only history.png and "
            "weights.png are drawn." % (data_dir or dataset))
        return None
    if data is None or state.get("data") is not None and sources.fingerprint(data) != state["data"]:
        raise InvalidInput("%s was trained on other data than the files in %s hold now (their "
                           "SHA-256 differ): put the run's own data back there to draw its "
                           "confusion and mistakes." % (out, data_dir or data.origin), path=out)
    return data.test


script = functools.partial(cli.run, main)  # mxsoftmax-plot

if __name__ == "__main__":
    script()
