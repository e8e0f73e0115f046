"""``python -m mxsoftmax.train``: train the tutorial's model, print its epoch lines, keep the run.

Flags default to the tutorial's settings (:data:`mxsoftmax.settings.DEFAULTS`); with ``--out``
the run is checkpointed after every epoch under the folder's lock and can be resumed. What the
command says about the run (where it is saved, how to go on) is in :mod:`.train_messages`.
"""
import argparse
import collections
import os
import sys

import mxnet as mx

from .. import catalog, sources
from ..context import check_ctx
from ..errors import (DatasetMismatch, Diverged, IdxError, Interrupted, InvalidInput, NoData,
                      WriteFailed)
from ..loop import PATHS, StableMath, TutorialMath, fit
from ..model import init_params, params_on
from ..runs import RunFolder
from ..settings import DEFAULTS
from . import common
from .train_messages import PROG, Report, flag_text, ways_forward

MATH_FLAGS = ("dataset", "batch_size", "learning_rate", "seed", "stable")
STATE_NAMES = {"learning_rate": "lr"}  # how state.json (format 1) spells a flag
OLD_PATH_NAMES = {"fast": "compiled", "gluon": "literal"}  # --loader fast|gluon, mxsoftmax 0.1

Settings = collections.namedtuple("Settings", MATH_FLAGS + ("epochs", "data_dir"))


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
    p.add_argument("--epochs", type=common.flag_type("epochs"), metavar="N",
                   help="default: %d, or the resumed run's" % DEFAULTS.epochs)
    p.add_argument("--batch-size", type=common.flag_type("batch_size"), metavar="N",
                   help="default: %d" % DEFAULTS.batch_size)
    p.add_argument("--lr", dest="learning_rate", type=common.flag_type("learning_rate"),
                   metavar="X", help="learning rate (default: %g)" % DEFAULTS.learning_rate)
    common.add_ctx_argument(p)
    p.add_argument("--seed", type=common.flag_type("seed"), metavar="N",
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
    report = Report(args.out)
    words = {Interrupted: report.interrupted, Diverged: report.diverged,
             WriteFailed: report.write_failed, DatasetMismatch: report.other_data,
             NoData: lambda err: err.explain(ways_forward(err.dataset)),
             IdxError: report.unusable_data}
    with common.handle_errors(PROG, parser, args, words) as outcome:
        train(args, report)
        common.say(PROG, report.done())
    return outcome.code


def train(args, report):
    """Train as the flags say, inside the run folder's lock and the signal handlers."""
    folder = RunFolder(args.out) if args.out else None
    with common.Signals() as signals:
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
            if state and state.get("data", digest) != digest:
                raise InvalidInput("the run in %s was trained on other data than the files given "
                                   "now (their SHA-256 differ): give it its own data, or start "
                                   "a new --out." % args.out, param="data_dir")
            params, init, start, moving_loss, metrics = _start(folder, state, ctx, settings)
            report.learning_rate, report.stable = settings.learning_rate, settings.stable
            report.epochs = settings.epochs
            report.nothing_to_train = bool(state) and start >= settings.epochs
            if report.nothing_to_train:
                common.say(PROG, report.completed_already(start))
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
                    common.out(line)
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
            common.say(PROG, note)
        init = folder.init_params(say=lambda line: common.say(PROG, line))
        return params_on(folder.params(state), ctx), init, state["epoch"] + 1, \
            state["moving_loss"], metrics
    mx.random.seed(settings.seed)
    params = init_params(ctx)
    if folder:
        folder.save_init(params)
    return params, [p.copy() for p in params], 0, 0., []


def _draw(folder, params, init, metrics, test, names, ctx, signals):
    """Write the run's pictures, each atomically; a signal stops between two of them."""
    from ..pictures import draw_pictures  # matplotlib loads only for runs that draw (25 MiB)
    with signals.deferred():
        return draw_pictures(folder.path, params, init, metrics, test, names, ctx,
                             between=signals.check)


def _progress(args):
    return not args.quiet and sys.stderr.isatty()
