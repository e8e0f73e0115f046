"""``python -m mxsoftmax.train``: train the tutorial's model, print its epoch lines, keep the run.

Flags default to the tutorial's settings (:data:`mxsoftmax.settings.DEFAULTS`); with ``--out``
the run is checkpointed after every epoch under the folder's lock and can be resumed.
"""
import argparse
import contextlib
import os
import sys

import mxnet as mx

from .. import catalog, sources
from ..errors import InvalidInput, WriteFailed
from ..context import check_ctx, name as ctx_name
from ..loop import PATHS, Diverged, Interrupted, StableMath, TutorialMath, fit
from ..model import init_params, params_on
from ..runs import NotARun, RunError, RunExists, RunFolder
from ..settings import DEFAULTS, LIMITS
from . import common

PROG = "python -m mxsoftmax.train"
MATH_FLAGS = ("dataset", "batch_size", "lr", "seed", "stable")
OLD_PATH_NAMES = {"fast": "compiled", "gluon": "literal"}  # --loader fast|gluon, mxsoftmax 0.1


def build_parser():
    """The argparse parser of ``python -m mxsoftmax.train``."""
    p = common.Parser(
        prog=PROG,
        description="Train the tutorial's softmax regression and print one line per epoch: "
                    "Epoch %s. Loss: %s, Train_acc %s, Test_acc %s.")
    p.add_argument("--dataset", choices=catalog.NAMES, default=None,
                   help="which data set (default: recognised from --data-dir's files, else %s)"
                        % DEFAULTS.dataset)
    p.add_argument("--data-dir", metavar="DIR", type=common.path,
                   help="folder with the four MNIST-format idx files (.gz or raw)")
    common.add_mirror_argument(p)
    p.add_argument("--epochs", type=common.int_in(*LIMITS["epochs"]), default=None,
                   metavar="N",
                   help="default: %d, or the resumed run's" % DEFAULTS.epochs)
    p.add_argument("--batch-size", type=common.int_in(*LIMITS["batch_size"]), default=None,
                   metavar="N",
                   help="default: %d" % DEFAULTS.batch_size)
    p.add_argument("--lr", type=common.positive_float32, default=None, metavar="X",
                   help="learning rate (default: %g)" % DEFAULTS.lr)
    common.add_ctx_argument(p)
    p.add_argument("--seed", type=common.int_in(*LIMITS["seed"]), default=None, metavar="N",
                   help="seeds mx.random and the batch order (default: %d)" % DEFAULTS.seed)
    p.add_argument("--stable", action="store_true", default=None,
                   help="per-row max shift and log-sum-exp cross-entropy instead of the tutorial's")
    p.add_argument("--path", default="compiled", choices=sorted(PATHS),
                   help="compiled (default): the math as one cached graph on whole-split arrays; "
                        "literal: the tutorial's DataLoader loop, operation by operation. Both "
                        "give the same lines.")
    p.add_argument("--loader", dest="path", default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                   choices=sorted(PATHS), type=lambda text: OLD_PATH_NAMES.get(text, text))
    p.add_argument("--out", metavar="DIR", type=common.path,
                   help="folder for checkpoints, metrics.jsonl and pictures: new or empty, or "
                        "with --resume a run to continue")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--no-pictures", action="store_true",
                   help="with --out, do not draw the pictures (python -m mxsoftmax.plot can, later)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None):
    """Entry point; exit codes as in :mod:`mxsoftmax.cli.common`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume and not args.out:
        parser.error("--resume needs --out DIR, the folder of the run to continue")
    return common.run_main(PROG, lambda: Training(args).run())


class Training:
    """One invocation of the command: resolve the flags, load the data, train, keep the run."""

    def __init__(self, args):
        self.args = args
        self.folder = RunFolder(args.out) if args.out else None
        self.saved_epoch = None  # the last epoch whose checkpoint is complete in --out
        self.drawn = []  # the pictures written into --out
        self.nothing_to_train = False  # a resumed run that had completed its --epochs already
        self.saved_data_dir = None  # the data folder a resumed run recorded, when not given now

    def run(self):
        """Train as the flags say, inside the run folder's lock and the signal handlers."""
        with common.Signals() as signals:
            try:
                self._train(signals)
            except Interrupted as err:
                raise common.Exit("%s; %s." % (err, self._where_saved(resume=True)),
                                  128 + err.signum) from None
            except Diverged as err:
                where = self._where_saved()
                advice = self._divergence_advice(err)
                raise common.Exit("%s: try %s. %s." % (err, advice, where[0].upper() + where[1:]),
                                  common.EXIT_FAILED) from None
            except WriteFailed as err:
                raise common.Exit("error: %s; %s." % (err, self._where_saved()),
                                  common.EXIT_FAILED) from None
            finally:
                if self.folder:
                    self.folder.close(discard=self.saved_epoch is None)
        common.say(PROG, self._where_saved(done=True))

    def _train(self, signals):
        args = self.args
        with common.blame("--ctx", ctx_name(args.ctx)):
            ctx = check_ctx(args.ctx)
        state = self._open_folder()
        data = self._load()
        names = catalog.class_names(data.dataset)
        if state:
            params = params_on(self.folder.params(state), ctx)
            start, moving_loss = state["epoch"] + 1, state["moving_loss"]
            metrics, note = self.folder.metrics(state["epoch"])
            if note:
                common.say(PROG, note)
            init = self.folder.init_params()
        else:
            mx.random.seed(args.seed)
            params, start, moving_loss, metrics = init_params(ctx), 0, 0., []
            init = [p.copy() for p in params]
            if self.folder:
                self.folder.save_init(params)
        if start >= args.epochs and state:
            self.nothing_to_train = True
            common.say(PROG, "the run in %s has completed %d epoch(s) already: give --epochs "
                             "above %d to continue it." % (args.out, start, start))
        math = StableMath() if args.stable else TutorialMath()
        path = PATHS[args.path](data, ctx, args.batch_size, args.seed, math)
        data_digest = sources.fingerprint(data)
        if state and state.get("data", data_digest) != data_digest:
            raise common.Exit("error: --resume: the run in %s was trained on other data than the "
                              "files given now (their SHA-256 differ): give it its own data, or "
                              "start a new --out." % args.out, common.EXIT_USAGE)
        flags = {flag: getattr(args, flag) for flag in MATH_FLAGS}
        flags.update(epochs=args.epochs,
                     data_dir=os.path.abspath(args.data_dir) if args.data_dir else None)
        progress = not args.quiet and sys.stderr.isatty()
        with signals.deferred(strict=False):
            for row in fit(params, path, args.epochs, args.lr, start, moving_loss,
                           stop=signals.pending, progress=progress):
                line = row.pop("line")
                metrics.append(row)
                if self.folder:
                    with signals.deferred():
                        self.folder.save_epoch(params, dict(
                            epoch=row["epoch"], moving_loss=row["loss"], flags=flags,
                            class_names=names, data=data_digest), metrics)
                    self.saved_epoch = row["epoch"]
                common.out(line)
                signals.check()
        if self.folder and metrics and not args.no_pictures:
            self._draw(params, init, metrics, data.test, names, ctx, signals)

    def _divergence_advice(self, err):
        """What to try after :class:`Diverged`: ``--stable`` alone when a smaller --lr cannot help."""
        args = self.args
        if args.stable:
            return "a smaller --lr"
        if err.epoch == 0 and err.batch is not None and err.batch < 10 and args.lr <= DEFAULTS.lr:
            # the tutorial's softmax overflowed on the N(0, 1) start, before the lr could matter
            return ("--stable; a smaller --lr cannot help this early, where the tutorial's "
                    "softmax overflows on the large scores of the random N(0, 1) start")
        return "a smaller --lr, or --stable"

    def _draw(self, params, init, metrics, test, names, ctx, signals):
        """Write the run's pictures, each atomically; a signal stops between two of them."""
        from .. import pictures  # matplotlib loads only for runs that draw (25 MiB, 0.3 s)
        run_pictures = pictures.RunPictures(params, init, metrics, test, names, ctx)
        for name, draw in run_pictures.drawings().items():
            with signals.deferred():
                pictures.save_figure(draw(), self.folder.file(name))
            signals.check()
        self.drawn = list(run_pictures.drawings())

    def _open_folder(self):
        """Check --out and --resume against the folder; fill the math flags; returns the state."""
        args = self.args
        state = None
        if self.folder:
            try:
                if args.resume:
                    state = self.folder.open_existing()
                    self.saved_epoch = state["epoch"]
                else:
                    self.folder.open_new()
            except RunExists:
                raise common.Exit("error: --out %s already holds a run: add --resume to continue "
                                  "it, or choose another folder so it is not overwritten."
                                  % args.out, common.EXIT_USAGE) from None
            except NotARun as err:
                if args.resume:
                    raise common.Exit("error: --resume: %s holds no completed epoch to continue; "
                                      "start the run again without --resume." % args.out,
                                      common.EXIT_USAGE) from None
                raise common.Exit("error: --out %s" % err, common.EXIT_USAGE) from None
            except RunError as err:
                raise common.Exit("error: --out %s" % err, common.EXIT_USAGE) from None
        for flag in MATH_FLAGS:
            given, saved = getattr(args, flag), (state["flags"][flag] if state else None)
            if state and given is not None and given != saved:
                raise common.Exit(
                    "error: --resume: the run in %s used %s; resuming with %s would change its "
                    "math (leave the flag out, or start a new --out)."
                    % (args.out, _flag_text(flag, saved), _flag_text(flag, given)),
                    common.EXIT_USAGE)
            if given is None and flag != "dataset":
                setattr(args, flag, saved if state else getattr(DEFAULTS, flag))
        if state:
            args.dataset = state["flags"]["dataset"]
            self.saved_data_dir = None if args.data_dir else state["flags"].get("data_dir")
            args.data_dir = args.data_dir or self.saved_data_dir
        if args.epochs is None:
            args.epochs = state["flags"].get("epochs", DEFAULTS.epochs) if state else DEFAULTS.epochs
        return state

    def _load(self):
        """The data the flags ask for; errors are worded with this command's flags."""
        args = self.args
        progress = not args.quiet and sys.stderr.isatty()
        with self._blame_data_dir():
            try:
                data = sources.load_splits(args.dataset, args.data_dir, args.mirror,
                                           progress=progress, stream=True)
            except sources.DatasetMismatch as err:
                if self.saved_data_dir:
                    raise common.Exit(
                        "error: --resume: the run was trained on %s from %s, which now holds %s "
                        "(recognised by its checksums): give --data-dir DIR with the run's own "
                        "data, or start a new --out." % (err.asked, err.folder, err.found),
                        common.EXIT_USAGE) from None
                advice = ("the run in %s was trained on %s: give --data-dir the folder of its "
                          "own data, or start a new --out" % (args.out, err.asked) if args.resume
                          else "leave out --dataset, or give --dataset %s" % err.found)
                raise common.Exit("error: --data-dir %s holds %s (recognised by its checksums), "
                                  "not %s: %s." % (err.folder, err.found, err.asked, advice),
                                  common.EXIT_USAGE) from None
            except sources.NoData as err:
                raise common.Exit("error: " + err.explain(ways_forward(err.dataset)),
                                  common.EXIT_USAGE) from None
        args.dataset = data.dataset
        return data

    @contextlib.contextmanager
    def _blame_data_dir(self):
        """Word data errors for --data-dir, or for the folder a resumed run recorded."""
        if not self.saved_data_dir:
            with common.blame("--data-dir", self.args.data_dir):
                yield
            return
        try:
            yield
        except InvalidInput as err:
            raise InvalidInput("--resume: the run was trained on the files in %s, which cannot "
                               "be used now (%s): give --data-dir DIR with the same files."
                               % (self.saved_data_dir, str(err).rstrip("."))) from None

    def _where_saved(self, resume=False, done=False):
        """Where the run stands in --out, in words, for the last line of the command."""
        args = self.args
        if not self.folder:
            return ("nothing was saved: add --out DIR to keep the parameters, the metrics and "
                    "the pictures of a run" if done else "nothing was saved (use --out DIR to "
                                                         "keep checkpoints)")
        if self.saved_epoch is None:
            return "no epoch completed, so %s holds no checkpoint" % args.out
        text = "the checkpoint of epoch %d in %s is intact" % (self.saved_epoch, args.out)
        if done and self.nothing_to_train:
            return "nothing new was trained; %s" % text + (
                " and its pictures were redrawn" if self.drawn else "")
        if done:
            pictures = ("the pictures " + ", ".join(self.drawn) if self.drawn else
                        "no pictures (draw them with 'python -m mxsoftmax.plot --out %s')" % args.out)
            return ("saved the run in %s: epoch-%d.params, metrics.jsonl, state.json and %s"
                    % (args.out, self.saved_epoch, pictures))
        if resume and self.saved_epoch + 1 >= args.epochs:  # stopped while drawing the pictures
            text += ("; the run is complete, its pictures may not be: draw them with "
                     "'python -m mxsoftmax.plot --out %s'" % args.out)
        elif resume:
            text += "; continue with '%s --out %s --resume'" % (PROG, args.out)
        return text


def ways_forward(dataset):
    """What to do without data, in this command's flags; no install advice for what is there."""
    ways = ["connect to the internet and run again", "or give --mirror URL of a server with the "
            "four files", "or pass --data-dir DIR with the four MNIST-format idx files"]
    if dataset != "fashion-mnist":
        package = catalog.DATASETS["fashion-mnist"]["package"]
        ways.append("or use --dataset fashion-mnist" if sources.debian_ready("fashion-mnist")
                    else "or run 'apt-get install %s' and use --dataset fashion-mnist" % package)
    return ", ".join(ways)


def _flag_text(flag, value):
    """How a math flag reads on the command line: ``--lr 0.001``, ``--stable``, ``no --stable``."""
    name = "--" + flag.replace("_", "-")
    if isinstance(value, bool):
        return name if value else "the tutorial's softmax (no %s)" % name
    short = "%g" % value if isinstance(value, float) else str(value)
    return "%s %s" % (name, short if not isinstance(value, float) or float(short) == value
                      else repr(value))
