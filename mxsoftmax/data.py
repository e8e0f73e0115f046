"""``python -m mxsoftmax.data download``: fetch and verify a data set ahead of time."""
from .compat import loading

with loading("data"):  # MXNet loads here: its variables checked first, a signal one line
    from . import catalog, cli, sources

PROG = "python -m mxsoftmax.data"


def build_parser():
    """The argparse parser of ``python -m mxsoftmax.data``."""
    parser = cli.Parser(prog=PROG, description="Download and verify MNIST or Fashion-MNIST.")
    get = parser.add_subparsers(dest="command", required=True, metavar="download").add_parser(
        "download", help="fetch the four files (default: into gluon's cache)")
    get.add_argument("--dataset", choices=catalog.NAMES, default="mnist")
    cli.add_mirror_argument(get)
    get.add_argument("--dir", metavar="DIR", type=cli.path,
                     help="folder to save into (default: $MXNET_HOME/datasets/DATASET)")
    return parser


def main(argv=None):
    """Fetch what is missing and say where the verified files are; exit codes as in :mod:`mxsoftmax.cli`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with cli.handle_errors(PROG, parser, args, explain) as outcome, cli.Signals():
        folder = sources.download(args.dataset, args.mirror, folder=args.dir)
        cli.out("%s: the four verified %s files are in %s" % (PROG, args.dataset, folder))
    return outcome.code


def explain(err):
    """No data: the ways forward in this command's flags."""
    if isinstance(err, sources.NoData):
        err = err.explain("connect to the internet and run again, or give --mirror URL of a server "
                          "holding the four files")
    return cli.sentence(err)


def script():
    """``mxsoftmax-data``: :func:`main` as a command, exiting with its code."""
    cli.run(main)


if __name__ == "__main__":
    script()
