"""``python -m mxsoftmax.train``: train the tutorial's model, print its epoch lines, keep the run
(``--out``, checkpointed after every epoch); Report says how it ended and what to do next."""
import argparse
import functools
import os
import sys

from .compat import loading

with loading("train"):  # MXNet loads here: its variables checked first, a signal one line
    from .validation import CONSTRAINTS as C
    import mxnet as mx
    from . import catalog, cli, sources
    from .errors import (DatasetMismatch, Diverged, IdxError, Interrupted, InvalidInput, NoData,
                         WriteFailed)
    from .loop import PATHS, StableMath, TutorialMath, fit
    from .model import init_params, params_on
    from .runs import RunFolder
    from .settings import DEFAULTS

PROG = "python -m mxsoftmax.train"
MATH_FLAGS = ("dataset", "batch_size", "lr", "seed", "stable")  # as state.json spells them
TUTORIAL = dict(DEFAULTS._asdict(), lr=DEFAULTS.learning_rate, dataset=None)
OLD_PATH_NAMES = {"fast": "compiled", "gluon": "literal"}  # --loader fast|gluon, mxsoftmax 0.1


def build_parser():
    p = cli.Parser(prog=PROG, description="Train the tutorial's softmax regression and print one "
                   "line per epoch: Epoch %s. Loss: %s, Train_acc %s, Test_acc %s.")
    p.add_argument("--dataset", choices=catalog.NAMES, help="which data set (default: recognised "
                   "from --data-dir's files, else %s)" % DEFAULTS.dataset)
    p.add_argument("--data-dir", metavar="DIR", type=cli.path,
                   help="folder with the four MNIST-format idx files (.gz or raw)")
    cli.add_mirror_argument(p)
    for flag, param, metavar, default in (
            ("--epochs", "epochs", "N", "%d, or the resumed run's" % DEFAULTS.epochs),
            ("--batch-size", "batch_size", "N", DEFAULTS.batch_size),
            ("--lr", "learning_rate", "X", "%g (the learning rate)" % DEFAULTS.learning_rate),
            ("--seed", "seed", "N", "%d (mx.random, the batch order)" % DEFAULTS.seed)):
        p.add_argument(flag, type=cli.flag_type(C[param], param), metavar=metavar,
                       help="default: %s" % default)
    cli.add_ctx_argument(p)
    p.add_argument("--stable", action="store_true", default=None,
                   help="per-row max shift and log-sum-exp cross-entropy instead of the tutorial's")
    p.add_argument("--path", default="compiled", choices=sorted(PATHS), help="compiled (default): "
                   "the math as one graph on whole-split arrays; literal: the tutorial's "
                   "DataLoader loop, operation by operation. Both give the same lines.")
    p.add_argument("--loader", dest="path", default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                   choices=sorted(PATHS), type=lambda text: OLD_PATH_NAMES.get(text, text))
    p.add_argument("--out", metavar="DIR", type=cli.path, help="folder for checkpoints, "
                   "metrics.jsonl and pictures: new or empty, or with --resume a run to continue")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--no-pictures", action="store_true", help="with --out, draw no pictures "
                   "(python -m mxsoftmax.plot can, later)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    """Entry point; exit codes as in :mod:`mxsoftmax.cli`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume and not args.out:
        parser.error("--resume needs --out DIR, the folder of the run to continue")
    report = Report(args)
    with cli.handle_errors(PROG, parser, args, report.explain) as outcome:
        with cli.Signals() as signals:
            train(args, report, signals)
        cli.say(PROG, report.done())
    return outcome.code


def train(args, report, signals):
    """Train as the flags say, each epoch line printed after its checkpoint; ``report`` says where."""
    folder, progress = RunFolder(args.out) if args.out else None, not args.quiet and sys.stderr.isatty()
    try:
        ctx = cli.check_ctx(args.ctx)
        state = report.state = folder and (folder.open_existing() if args.resume else folder.open_new())
        report.saved_epoch = state and state["epoch"]
        flags = report.flags = resolve(args, state)
        sources.sources(flags["dataset"] or "mnist", args.mirror)  # the mirror variables, now
        data = sources.load_splits(flags["dataset"], flags["data_dir"], args.mirror,
                                   progress=progress, stream=True)
        flags["dataset"], digest = data.dataset, sources.fingerprint(data)
        if state and state.get("data") not in (None, digest):
            raise InvalidInput("the run in %s was trained on other data than the files given now "
                               "(their SHA-256 differ): give it its own data, or start a new "
                               "--out." % args.out, param="data_dir")
        saved = dict(flags=flags, class_names=catalog.class_names(data.dataset), data=digest)
        if state:
            metrics, params, init = folder.load(state, functools.partial(cli.say, PROG))
            params, start, moving_loss = params_on(params, ctx), state["epoch"] + 1, state["moving_loss"]
            if start >= flags["epochs"]:
                cli.say(PROG, "the run in %s has completed %d epoch(s) already: give --epochs "
                        "above %d to continue it." % (args.out, start, start))
        else:  # a fresh N(0, 1) draw
            mx.random.seed(flags["seed"])
            params, metrics, start, moving_loss = init_params(ctx), [], 0, 0.
            if folder:
                folder.save_init(params)
            init = [p.copy() for p in params]
        path = PATHS[args.path](data, ctx, flags["batch_size"], flags["seed"],
                                StableMath() if flags["stable"] else TutorialMath())
        with signals.deferred(strict=False):
            for row in fit(params, path, flags["epochs"], flags["lr"], start, moving_loss,
                           stop=signals.pending, progress=progress):
                line = row.pop("line")
                metrics.append(row)
                if folder:
                    with signals.deferred():
                        folder.save_epoch(params, dict(saved, epoch=row["epoch"],
                                                       moving_loss=row["loss"]), metrics)
                    report.saved_epoch = row["epoch"]
                cli.out(line)
                signals.check()
        if folder and metrics and not args.no_pictures:
            from .pictures import draw_pictures  # matplotlib loads only for runs that draw
            with signals.deferred():
                report.drawn = draw_pictures(folder.path, params, init, metrics, data.test,
                                             saved["class_names"], ctx, between=signals.check)
    finally:
        if folder:
            folder.close(discard=report.saved_epoch is None)


def resolve(args, state):
    """The run's flags as state.json spells them: given, else the resumed run's (which refuses
    another value for its math), else the tutorial's."""
    base = state["flags"] if state else TUTORIAL
    flags = {flag: base.get(flag) if getattr(args, flag) is None else getattr(args, flag)
             for flag in MATH_FLAGS + ("epochs",)}
    for flag in MATH_FLAGS:
        if state and flags[flag] != base[flag]:
            was, now = flag_text(flag, base[flag]), flag_text(flag, flags[flag])
            raise InvalidInput("the run in %s used %s; resuming with %s would change its math (leave the "
                               "flag out, or start a new --out)." % (args.out, was, now), param=flag)
    flags["data_dir"] = os.path.abspath(args.data_dir) if args.data_dir else base.get("data_dir")
    return flags


def flag_text(flag, value):
    """How a math flag reads on the command line: ``--lr 0.001``, ``--stable``, ``no --stable``."""
    name = "--" + flag.replace("_", "-")
    if isinstance(value, bool):
        return name if value else "the tutorial's softmax (no %s)" % name
    exact = isinstance(value, float) and float("%g" % value) == value
    return "%s %s" % (name, "%g" % value if exact else value)


class Report:
    """The sentences about how the run ended, made from what :func:`train` records."""

    def __init__(self, args):
        self.out, self.data_dir_given = args.out, args.data_dir is not None
        self.state = self.flags = self.saved_epoch = None  # saved: complete in --out
        self.drawn = []  # the pictures written into --out

    def done(self):
        """The last line of a run that ended well."""
        if not self.out or self.saved_epoch is None:
            return self._where()
        if self.state and self.saved_epoch == self.state["epoch"]:
            return "nothing new was trained; %s%s" % (
                self._where(), " and its pictures were redrawn" if self.drawn else "")
        return "saved the run in %s: epoch-%d.npz, metrics.jsonl, state.json and %s" % (
            self.out, self.saved_epoch, "the pictures " + ", ".join(self.drawn) if self.drawn
            else "no pictures (draw them with %s)" % self._command("plot"))

    def explain(self, err):
        """The one line for ``err``: what happened, where the run stands and what to do now."""
        if isinstance(err, (Interrupted, WriteFailed)):
            return "%s; %s." % (err, self._where(resume=isinstance(err, Interrupted)))
        if isinstance(err, Diverged):
            if self.flags["stable"]:
                advice = "a smaller --lr"
            elif err.epoch == 0 and err.batch is not None and err.batch < 10 \
                    and self.flags["lr"] <= DEFAULTS.learning_rate:
                advice = ("--stable; a smaller --lr cannot help this early, where the tutorial's "
                          "softmax overflows on the large scores of the random N(0, 1) start")
            else:
                advice = "a smaller --lr, or --stable"
            if self.state:  # --resume keeps the run's math: the flags advised need a new run
                advice += " in a new --out (a resumed run keeps its --lr and --stable)"
            where = self._where()
            return "%s: try %s. %s." % (err, advice, where[0].upper() + where[1:])
        if isinstance(err, NoData):  # the ways forward in this command's flags
            ways = ["connect to the internet and run again", "or give --mirror URL of a server with "
                    "the four files", "or pass --data-dir DIR with the four MNIST-format idx files"]
            if err.dataset != "fashion-mnist":  # no install advice for what is there
                package = catalog.DATASETS["fashion-mnist"]["package"]
                ways.append("or use --dataset fashion-mnist" if sources.debian_ready("fashion-mnist")
                            else "or run `apt-get install %s` and use --dataset fashion-mnist" % package)
            return str(err.explain(", ".join(ways)))
        if isinstance(err, DatasetMismatch) and self.state:
            return ("the run in %s was trained on %s, and %s holds %s now (recognised by its "
                    "checksums): give --data-dir DIR with the run's own data, or start a new "
                    "--out." % (self.out, err.asked, err.folder, err.found))
        recorded = (isinstance(err, IdxError) and self.state and not self.data_dir_given
                    and self.state["flags"]["data_dir"])
        if recorded:
            return ("the run was trained on the files in %s, which cannot be used now (%s %s): "
                    "give --data-dir DIR with the same files, or start a new --out."
                    % (recorded, err.path, err.problem))
        return str(err)

    def _where(self, resume=False):
        """Where the run stands in --out, in words; with ``resume``, how to go on."""
        if not self.out:
            return "nothing was saved (add --out DIR to keep the run)"
        if self.saved_epoch is None:
            return "no epoch completed, so nothing was kept in %s" % self.out
        text = "the checkpoint of epoch %d in %s is intact" % (self.saved_epoch, self.out)
        if resume and self.flags and self.saved_epoch + 1 >= self.flags["epochs"]:
            return text + ("; the run is complete, its pictures may not be: draw them with %s"
                           % self._command("plot"))
        return text + ("; continue with %s" % self._command("train", " --resume") if resume else "")

    def _command(self, name, more=""):
        """The command ``name`` on this run between backticks, which no shell quoting inside uses."""
        return "`%s --out %s%s`" % (cli.command(name), cli.quoted(self.out), more)


script = functools.partial(cli.run, main)  # mxsoftmax-train

if __name__ == "__main__":
    script()
