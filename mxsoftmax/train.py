"""``python -m mxsoftmax.train``: train the tutorial's model, print its epoch lines, keep the run.

Flags default to the tutorial's settings (:data:`mxsoftmax.settings.DEFAULTS`); with ``--out``
the run is checkpointed after every epoch under the folder's lock and can be resumed. What it
says about the run (where it is saved, how to go on) is :class:`Report`'s.
"""
import argparse
import collections
import os
import shlex
import sys

from .compat import loading

with loading("train"):  # MXNet loads here: its variables checked first, a signal one line
    from .validation import CONSTRAINTS as C
    import mxnet as mx
    from . import catalog, cli, sources
    from .context import check_ctx
    from .errors import (DatasetMismatch, Diverged, IdxError, Interrupted, InvalidInput, NoData,
                          WriteFailed)
    from .loop import PATHS, StableMath, TutorialMath, fit
    from .model import init_params, params_on
    from .runs import RunFolder
    from .settings import DEFAULTS

PROG = "python -m mxsoftmax.train"
MATH_FLAGS = ("dataset", "batch_size", "learning_rate", "seed", "stable")
STATE_NAMES = {"learning_rate": "lr"}  # how state.json (format 1) spells a flag
OLD_PATH_NAMES = {"fast": "compiled", "gluon": "literal"}  # --loader fast|gluon, mxsoftmax 0.1

Settings = collections.namedtuple("Settings", MATH_FLAGS + ("epochs", "data_dir"))


def build_parser():
    """The argparse parser of ``python -m mxsoftmax.train``."""
    p = cli.Parser(
        prog=PROG,
        description="Train the tutorial's softmax regression and print one line per epoch: "
                    "Epoch %s. Loss: %s, Train_acc %s, Test_acc %s.")
    p.add_argument("--dataset", choices=catalog.NAMES, default=None,
                   help="which data set (default: recognised from --data-dir's files, else %s)"
                        % DEFAULTS.dataset)
    p.add_argument("--data-dir", metavar="DIR", type=cli.path,
                   help="folder with the four MNIST-format idx files (.gz or raw)")
    cli.add_mirror_argument(p)
    p.add_argument("--epochs", type=cli.flag_type(C["epochs"], "epochs"), metavar="N",
                   help="default: %d, or the resumed run's" % DEFAULTS.epochs)
    p.add_argument("--batch-size", type=cli.flag_type(C["batch_size"], "batch_size"), metavar="N",
                   help="default: %d" % DEFAULTS.batch_size)
    p.add_argument("--lr", dest="learning_rate", type=cli.flag_type(C["learning_rate"], "learning_rate"),
                   metavar="X", help="learning rate (default: %g)" % DEFAULTS.learning_rate)
    cli.add_ctx_argument(p)
    p.add_argument("--seed", type=cli.flag_type(C["seed"], "seed"), metavar="N",
                   help="seeds mx.random and the batch order (default: %d)" % DEFAULTS.seed)
    p.add_argument("--stable", action="store_true", default=None,
                   help="per-row max shift and log-sum-exp cross-entropy instead of the tutorial's")
    p.add_argument("--path", default="compiled", choices=sorted(PATHS),
                   help="compiled (default): the math as one cached graph on whole-split arrays; "
                        "literal: the tutorial's DataLoader loop, operation by operation. Both "
                        "give the same lines.")
    p.add_argument("--loader", dest="path", default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                   choices=sorted(PATHS), type=lambda text: OLD_PATH_NAMES.get(text, text))
    p.add_argument("--out", metavar="DIR", type=cli.path,
                   help="folder for checkpoints, metrics.jsonl and pictures: new or empty, or "
                        "with --resume a run to continue")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--no-pictures", action="store_true",
                   help="with --out, do not draw the pictures (python -m mxsoftmax.plot can, later)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    """Entry point; exit codes as in :mod:`mxsoftmax.cli`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume and not args.out:
        parser.error("--resume needs --out DIR, the folder of the run to continue")
    report = Report(args.out)
    words = {Interrupted: report.interrupted, Diverged: report.diverged,
             WriteFailed: report.write_failed, DatasetMismatch: report.other_data,
             NoData: lambda err: err.explain(ways_forward(err.dataset)),
             IdxError: report.unusable_data}
    with cli.handle_errors(PROG, parser, args, words) as outcome:
        train(args, report)
        cli.say(PROG, report.done())
    return outcome.code


def train(args, report):
    """Train as the flags say, inside the run folder's lock and the signal handlers."""
    folder = RunFolder(args.out) if args.out else None
    with cli.Signals() as signals:
        try:
            ctx = check_ctx(args.ctx)
            state = (folder.open_existing() if args.resume else folder.open_new()) if folder \
                else None
            report.saved_epoch = state["epoch"] if state else None
            settings = resolve(args, state)
            sources.sources(settings.dataset or "mnist", args.mirror)  # the mirror variables
            report.resumed = bool(state)
            report.saved_data_dir = settings.data_dir if state and not args.data_dir else None
            data = sources.load_splits(settings.dataset, settings.data_dir, args.mirror,
                                       progress=_progress(args), stream=True)
            digest = sources.fingerprint(data)
            if state and state.get("data") not in (None, digest):
                raise InvalidInput("the run in %s was trained on other data than the files given "
                                   "now (their SHA-256 differ): give it its own data, or start "
                                   "a new --out." % args.out, param="data_dir")
            params, init, start, moving_loss, metrics = _start(folder, state, ctx, settings)
            report.learning_rate, report.stable = settings.learning_rate, settings.stable
            report.epochs = settings.epochs
            report.nothing_to_train = bool(state) and start >= settings.epochs
            if report.nothing_to_train:
                cli.say(PROG, report.completed_already(start))
            math = StableMath() if settings.stable else TutorialMath()
            path = PATHS[args.path](data, ctx, settings.batch_size, settings.seed, math)
            flags = dict({STATE_NAMES.get(k, k): v for k, v in settings._asdict().items()},
                         dataset=data.dataset)  # as state.json (format 1) spells them
            names = catalog.class_names(data.dataset)
            with signals.deferred(strict=False):
                for row in fit(params, path, settings.epochs, settings.learning_rate, start,
                               moving_loss, stop=signals.pending, progress=_progress(args)):
                    line = row.pop("line")
                    metrics.append(row)
                    if folder:
                        with signals.deferred():
                            folder.save_epoch(params, dict(
                                epoch=row["epoch"], moving_loss=row["loss"], flags=flags,
                                class_names=names, data=digest), metrics)
                        report.saved_epoch = row["epoch"]
                    cli.out(line)
                    signals.check()
            if folder and metrics and not args.no_pictures:
                report.drawn = _draw(folder, params, init, metrics, data.test, names, ctx, signals)
        finally:
            if folder:
                folder.close(discard=report.saved_epoch is None)


def resolve(args, state):
    """The settings of this run: each flag given, else the resumed run's, else the tutorial's.

    A resumed run refuses a flag that would change its math, naming both values.
    """
    saved = state["flags"] if state else {}
    chosen = {}
    for flag in MATH_FLAGS:
        given, before = getattr(args, flag), saved.get(STATE_NAMES.get(flag, flag))
        if state and given is not None and given != before:
            raise InvalidInput(
                "the run in %s used %s; resuming with %s would change its math (leave the flag "
                "out, or start a new --out)." % (args.out, flag_text(flag, before),
                                                 flag_text(flag, given)), param=flag)
        chosen[flag] = (given if given is not None else before if state
                        else None if flag == "dataset" else getattr(DEFAULTS, flag))
    epochs = args.epochs if args.epochs is not None else saved.get("epochs", DEFAULTS.epochs)
    data_dir = os.path.abspath(args.data_dir) if args.data_dir else saved.get("data_dir")
    return Settings(epochs=epochs, data_dir=data_dir, **chosen)


def _start(folder, state, ctx, settings):
    """``params, init, start, moving_loss, metrics``: the resumed run's, or a fresh N(0, 1) draw."""
    if state:
        metrics, note = folder.metrics(state["epoch"])
        if note:
            cli.say(PROG, note)
        init = folder.init_params(say=lambda line: cli.say(PROG, line))
        return params_on(folder.params(state), ctx), init, state["epoch"] + 1, \
            state["moving_loss"], metrics
    mx.random.seed(settings.seed)
    params = init_params(ctx)
    if folder:
        folder.save_init(params)
    return params, [p.copy() for p in params], 0, 0., []


def _draw(folder, params, init, metrics, test, names, ctx, signals):
    """Write the run's pictures, each atomically; a signal stops between two of them."""
    from .pictures import draw_pictures  # matplotlib loads only for runs that draw (25 MiB)
    with signals.deferred():
        return draw_pictures(folder.path, params, init, metrics, test, names, ctx,
                             between=signals.check)


def _progress(args):
    return not args.quiet and sys.stderr.isatty()

class Report:
    """The run's progress as the messages need it; :mod:`.train` fills it in as the run goes."""

    def __init__(self, out):
        self.out = out
        self.saved_epoch = None  # the last epoch whose checkpoint is complete in --out
        self.drawn = []  # the pictures written into --out
        self.nothing_to_train = False  # a resumed run that had completed its --epochs already
        self.epochs, self.learning_rate, self.stable = None, DEFAULTS.learning_rate, False
        self.saved_data_dir = None  # the data folder a resumed run recorded, when not given now
        self.resumed = False

    def done(self):
        """The last line of a run that ended well."""
        if not self.out:
            return ("nothing was saved: add --out DIR to keep the parameters, the metrics and "
                    "the pictures of a run")
        if self.saved_epoch is None:  # --epochs 0
            return "no epoch completed, so %s holds no checkpoint" % self.out
        if self.nothing_to_train:
            return "nothing new was trained; %s" % self._intact() + (
                " and its pictures were redrawn" if self.drawn else "")
        pictures = ("the pictures " + ", ".join(self.drawn) if self.drawn else
                    "no pictures (draw them with '%s --out %s')" % (_command("plot"),
                                                                    shlex.quote(self.out)))
        return ("saved the run in %s: epoch-%d.npz, metrics.jsonl, state.json and %s"
                % (self.out, self.saved_epoch, pictures))

    def completed_already(self, start):
        """A resumed run with nothing left to train."""
        return ("the run in %s has completed %d epoch(s) already: give --epochs above %d to "
                "continue it." % (self.out, start, start))

    def other_data(self, err):
        """A folder of another known data set: for a resumed run, the run's own data is wanted."""
        if self.saved_data_dir is None and not self.resumed:
            return str(err)
        return ("the run in %s was trained on %s, and %s holds %s now (recognised by its "
                "checksums): give --data-dir DIR with the run's own data, or start a new --out."
                % (self.out, err.asked, err.folder, err.found))

    def unusable_data(self, err):
        """Data files that cannot be read: for a resumed run, say where the path came from."""
        if self.saved_data_dir is None:
            return str(err)
        return ("the run was trained on the files in %s, which cannot be used now (%s %s): give "
                "--data-dir DIR with the same files, or start a new --out."
                % (self.saved_data_dir, err.path, err.problem))

    def interrupted(self, err):
        """After a signal: where the run stands and how to continue it."""
        return "%s; %s." % (err, self._where(resume=True))

    def diverged(self, err):
        """After inf/NaN: what to try, and which checkpoint is kept."""
        where = self._where()
        advice = self._advice(err)
        if self.resumed:  # --resume keeps the run's math: the flags advised need a new run
            advice += " in a new --out (a resumed run keeps its --lr and --stable)"
        return "%s: try %s. %s." % (err, advice, where[0].upper() + where[1:])

    def write_failed(self, err):
        """After a full disk: which checkpoint is kept."""
        return "%s; %s." % (err, self._where())

    def _advice(self, err):
        """``--stable`` alone when a smaller --lr cannot help: the tutorial's softmax overflowed
        on the N(0, 1) start, in the first batches, before the learning rate could matter."""
        if self.stable:
            return "a smaller --lr"
        if err.epoch == 0 and err.batch is not None and err.batch < 10 \
                and self.learning_rate <= DEFAULTS.learning_rate:
            return ("--stable; a smaller --lr cannot help this early, where the tutorial's "
                    "softmax overflows on the large scores of the random N(0, 1) start")
        return "a smaller --lr, or --stable"

    def _intact(self):
        return "the checkpoint of epoch %d in %s is intact" % (self.saved_epoch, self.out)

    def _where(self, resume=False):
        """Where the run stands in --out, in words."""
        if not self.out:
            return "nothing was saved (use --out DIR to keep checkpoints)"
        if self.saved_epoch is None:
            return "no epoch completed, so %s holds no checkpoint" % self.out
        text = self._intact()
        if resume and self.epochs is not None and self.saved_epoch + 1 >= self.epochs:
            return text + ("; the run is complete, its pictures may not be: draw them with "
                           "'%s --out %s'" % (_command("plot"), shlex.quote(self.out)))
        if resume:
            return text + "; continue with '%s --out %s --resume'" % (_command("train"),
                                                                      shlex.quote(self.out))
        return text


def _command(name):
    """How to run the command ``name`` here, as the user can paste it: the way this process was
    started (``.venv/bin/python -m mxsoftmax.plot``, ``mxsoftmax-plot``)."""
    return cli.command(name)


def ways_forward(dataset):
    """What to do without data, in this command's flags; no install advice for what is there."""
    ways = ["connect to the internet and run again", "or give --mirror URL of a server with the "
            "four files", "or pass --data-dir DIR with the four MNIST-format idx files"]
    if dataset != "fashion-mnist":
        package = catalog.DATASETS["fashion-mnist"]["package"]
        ways.append("or use --dataset fashion-mnist" if sources.debian_ready("fashion-mnist")
                    else "or run 'apt-get install %s' and use --dataset fashion-mnist" % package)
    return ", ".join(ways)


def flag_text(flag, value):
    """How a math flag reads on the command line: ``--lr 0.001``, ``--stable``, ``no --stable``."""
    name = "--" + {"learning_rate": "lr"}.get(flag, flag).replace("_", "-")
    if isinstance(value, bool):
        return name if value else "the tutorial's softmax (no %s)" % name
    short = "%g" % value if isinstance(value, float) else str(value)
    return "%s %s" % (name, short if not isinstance(value, float) or float(short) == value
                      else repr(value))


def script():
    """``mxsoftmax-train``: :func:`main` as a command, exiting with its code."""
    cli.run(main)


if __name__ == "__main__":
    script()
