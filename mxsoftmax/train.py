"""The training loop of the tutorial and its command line, ``python -m mxsoftmax.train``.

Each epoch trains on shuffled batches of 64 with ``SGD`` at lr 0.001, keeps the tutorial's
moving average of the loss (smoothing 0.01), then evaluates test and train accuracy and prints
``Epoch %s. Loss: %s, Train_acc %s, Test_acc %s``.
"""
import argparse
import math
import os
import signal
import sys
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, nd
from tqdm import tqdm

from . import MxSoftmaxError, UsageError, checkpoint, plot, sources
from .context import check_ctx, ctx_arg
from .data import CLASS_NAMES, NUM_OUTPUTS, Loaders
from .loss import cross_entropy, softmax_cross_entropy
from .metrics import confusion_matrix, evaluate_accuracy, moving_average
from .model import init_params, linear, net, params_on, predict_proba, stable_net
from .optim import SGD, SGD_inplace

SMOOTHING_CONSTANT = .01
EPOCH_LINE = "Epoch %s. Loss: %s, Train_acc %s, Test_acc %s"
DEFAULTS = dict(dataset="mnist", batch_size=64, lr=.001, seed=0, stable=False, epochs=10)
MATH_FLAGS = tuple(sorted(checkpoint.FLAGS))


class Interrupted(MxSoftmaxError):
    """Training stopped on a signal at the end of a batch; ``signum`` says which."""

    def __init__(self, signum, epoch, batch):
        super().__init__("interrupted by %s in epoch %d after batch %d"
                         % (signal.Signals(signum).name, epoch, batch))
        self.signum, self.epoch, self.batch = signum, epoch, batch


class Diverged(MxSoftmaxError):
    """A batch's loss was not finite."""

    def __init__(self, epoch, batch, value):
        super().__init__("the loss became %s in epoch %d at batch %d: try a smaller --lr or "
                         "--stable" % (value, epoch, batch))
        self.epoch, self.batch = epoch, batch


def train_step(params, data, label, learning_rate, stable=False, update=SGD):
    """One SGD step on one batch; returns the per-example loss (an NDArray on the batch's ctx).

    ``update`` is the tutorial's ``SGD`` or the same update done in place, ``SGD_inplace``.
    """
    label_one_hot = nd.one_hot(label, NUM_OUTPUTS)
    with autograd.record():
        if stable:
            loss = softmax_cross_entropy(linear(data, params), label_one_hot)
        else:
            output = net(data, params)
            loss = cross_entropy(output, label_one_hot)
    loss.backward()
    update(params, learning_rate)
    return loss


def train_epoch(params, loaders, epoch, learning_rate, stable=False, stop=None, progress=False):
    """One training pass over ``loaders.train(epoch)``; returns the per-batch mean losses (numpy).

    ``stop()`` is polled after every batch and returns a signal number to stop on, or None.
    The gluon (literal) loader syncs every batch loss to the host as the tutorial does; the fast
    one keeps them on the device and syncs once, at the end of the pass.
    """
    literal = loaders.loader == "gluon"
    update = SGD if literal else SGD_inplace
    losses = []
    with tqdm(total=loaders.num_batches(), desc="epoch %d" % epoch, leave=False,
              disable=not progress, file=sys.stderr) as bar:
        for i, (data, label) in enumerate(loaders.train(epoch)):
            loss = train_step(params, data, label, learning_rate, stable, update)
            losses.append(nd.mean(loss).asscalar() if literal else nd.mean(loss))
            bar.update()
            signum = stop() if stop else None
            if signum:
                raise Interrupted(signum, epoch, i)
    if literal:
        return np.array(losses, dtype=np.float32)
    return nd.concat(*losses, dim=0).asnumpy()


def fit(params, loaders, epochs, learning_rate, stable=False, start_epoch=0, moving_loss=0.,
        stop=None, progress=False):
    """Train ``params`` in place; yield one dict per completed epoch (the epoch line's numbers).

    Raises Diverged when a batch loss is not finite, before that epoch is yielded.
    """
    model = (lambda X: stable_net(X, params)) if stable else (lambda X: net(X, params))
    for e in range(start_epoch, epochs):
        start = time.time()
        curr = train_epoch(params, loaders, e, learning_rate, stable, stop, progress)
        bad = np.flatnonzero(~np.isfinite(curr))
        if bad.size:
            raise Diverged(e, int(bad[0]), curr[bad[0]])
        moving_loss = moving_average(curr, moving_loss, SMOOTHING_CONSTANT, first=(e == 0))
        test_accuracy = evaluate_accuracy(loaders.test(), model, loaders.ctx)
        train_accuracy = evaluate_accuracy(loaders.train_eval(), model, loaders.ctx)
        yield dict(epoch=e, loss=float(moving_loss), train_acc=float(train_accuracy),
                   test_acc=float(test_accuracy), seconds=round(time.time() - start, 3),
                   line=EPOCH_LINE % (e, moving_loss, train_accuracy, test_accuracy))


class StopFlag:
    """Records SIGINT/SIGTERM instead of dying, so training can stop at the end of a batch."""

    def __init__(self):
        self.signum = None

    def __call__(self):
        return self.signum

    def install(self):
        """Route SIGINT and SIGTERM here; returns the previous handlers for :meth:`restore`."""
        def handler(signum, _frame):
            self.signum = signum
        return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def restore(previous):
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def settings_from_env(environ=None):
    """Notebook settings from ``MXSOFTMAX_DATASET``, ``MXSOFTMAX_DATA_DIR``, ``MXSOFTMAX_EPOCHS``.

    Defaults are the CLI's (MNIST, gluon's cache, 10 epochs), so a notebook runs the tutorial
    unless the environment points it at other files or asks for fewer epochs (CI does).
    """
    environ = os.environ if environ is None else environ
    dataset = environ.get("MXSOFTMAX_DATASET") or DEFAULTS["dataset"]
    if dataset not in CLASS_NAMES:
        raise UsageError("MXSOFTMAX_DATASET=%s is not one of %s." % (dataset, ", ".join(CLASS_NAMES)))
    epochs = environ.get("MXSOFTMAX_EPOCHS") or "10"
    if not epochs.isdigit():
        raise UsageError("MXSOFTMAX_EPOCHS=%s is not a whole number of epochs." % epochs)
    return dict(dataset=dataset, data_dir=environ.get("MXSOFTMAX_DATA_DIR") or None,
                epochs=int(epochs))


# ---------------------------------------------------------------------------- command line

def _positive_float(text):
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a finite number above 0, got %r" % text)
    return value


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("must be a whole number, got %r" % text) from None
        if value < low:
            raise argparse.ArgumentTypeError("must be at least %d, got %d" % (low, value))
        return value
    return parse


def build_parser():
    """The argparse parser of ``python -m mxsoftmax.train``."""
    p = argparse.ArgumentParser(
        prog="python -m mxsoftmax.train",
        description="Train the tutorial's softmax regression and print one line per epoch.")
    p.add_argument("--dataset", choices=sorted(CLASS_NAMES), default=None,
                   help="which data set (default: mnist)")
    p.add_argument("--data-dir", help="folder with the four MNIST-format idx files (.gz or raw)")
    p.add_argument("--mirror", action="append", default=[], metavar="URL",
                   help="base URL to download the data from first (repeatable)")
    p.add_argument("--epochs", type=_int_at_least(0), default=None,
                   help="default: 10, or the resumed run's")
    p.add_argument("--batch-size", type=_int_at_least(1), default=None, help="default: 64")
    p.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default: 0.001)")
    p.add_argument("--ctx", type=ctx_arg, default=mx.cpu(),
                   help="cpu, cpu:N, gpu or gpu:N (default: cpu)")
    p.add_argument("--seed", type=int, default=None,
                   help="seeds mx.random, numpy and the batch order (default: 0)")
    p.add_argument("--stable", action="store_true", default=None,
                   help="per-row max shift and log-sum-exp cross-entropy instead of the tutorial's")
    p.add_argument("--loader", choices=["fast", "gluon"], default="fast",
                   help="fast: whole splits on ctx, sliced batches; gluon: the tutorial's DataLoader")
    p.add_argument("--out", help="folder for checkpoints, metrics.jsonl and plots")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def resolve(args, parser):
    """Fill unset math flags from the resumed run (or the defaults); refuse changes to its math.

    Returns the saved state when resuming, else None.
    """
    state = None
    if args.resume:
        if not args.out:
            parser.error("--resume needs --out DIR, the folder of the run to continue")
        state = checkpoint.read_state(args.out)
        if state is None:
            raise UsageError("--resume: %s holds no run to continue (no %s); start one without "
                             "--resume." % (args.out, checkpoint.STATE))
        for flag in MATH_FLAGS:
            given = getattr(args, flag)
            if given is not None and given != state["flags"][flag]:
                raise UsageError("--resume: the run in %s used %s, not %s; resuming must keep "
                                 "the math the same (leave the flag out or start a new --out)."
                                 % (args.out, _flag_text(flag, state["flags"][flag]),
                                    _flag_text(flag, given)))
            setattr(args, flag, state["flags"][flag])
        if args.data_dir is None:
            args.data_dir = state["flags"].get("data_dir")
        if args.epochs is None:
            args.epochs = state["flags"].get("epochs", DEFAULTS["epochs"])
    else:
        for flag in MATH_FLAGS + ("epochs",):
            if getattr(args, flag) is None:
                setattr(args, flag, DEFAULTS[flag])
        if args.out and checkpoint.read_state(args.out) is not None:
            raise UsageError("--out %s already holds a run: add --resume to continue it, or "
                             "choose another folder so it is not overwritten." % args.out)
    return state


def _flag_text(flag, value):
    """How a math flag reads on the command line: ``--lr 0.001``, ``--stable``, ``no --stable``."""
    name = "--" + flag.replace("_", "-")
    if isinstance(value, bool):
        return name if value else "no " + name
    return "%s %s" % (name, value)


def run(args, state=None, out=None):
    """Train as resolved ``args`` say (continuing ``state``), print each epoch line, checkpoint.

    Returns the trained params and the list of per-epoch metrics.
    """
    ctx = check_ctx(args.ctx)
    if args.out:
        checkpoint.prepare_out(args.out)
    mx.random.seed(args.seed)
    np.random.seed(args.seed)
    progress = not args.quiet and sys.stderr.isatty()
    splits = sources.load_splits(args.dataset, args.data_dir, args.mirror, progress=progress)
    loaders = Loaders(splits, ctx, args.batch_size, args.seed, args.loader)
    test_split = splits["test"]
    del splits  # the loaders hold what training needs; free the uint8 training images
    if state:
        params = params_on(checkpoint.load_params(args.out)[0], ctx)
        start, moving_loss = state["epoch"] + 1, state["moving_loss"]
        metrics = checkpoint.read_metrics(args.out, state["epoch"])
    else:
        params, start, moving_loss, metrics = init_params(ctx), 0, 0., []
    flags = {flag: getattr(args, flag) for flag in MATH_FLAGS}
    flags["data_dir"] = os.path.abspath(args.data_dir) if args.data_dir else None
    flags["epochs"] = args.epochs
    stop = StopFlag()
    previous = stop.install()
    try:
        for row in fit(params, loaders, args.epochs, args.lr, args.stable, start, moving_loss,
                       stop, progress):
            print(row.pop("line"), file=out or sys.stdout, flush=True)
            metrics.append(row)
            if args.out:
                checkpoint.save_epoch(args.out, params, dict(
                    epoch=row["epoch"], moving_loss=row["loss"], flags=flags,
                    class_names=CLASS_NAMES[args.dataset]), metrics)
    finally:
        StopFlag.restore(previous)
    if args.out and metrics:
        save_plots(args.out, params, metrics, test_split, CLASS_NAMES[args.dataset], ctx)
    return params, metrics


def save_plots(out, params, metrics, test_split, class_names, ctx):
    """Write history.png, weights.png, confusion.png and mistakes.png into ``out``."""
    images, labels = test_split
    probs = predict_proba(images, params, ctx)
    figures = {
        "history.png": plot.plot_history(metrics),
        "weights.png": plot.plot_weights(params[0], class_names),
        "confusion.png": plot.plot_confusion(confusion_matrix(labels, probs.argmax(axis=1)),
                                             class_names),
        "mistakes.png": plot.show_mistakes(images, labels, probs, class_names),
    }
    for name, fig in figures.items():
        plot.save_figure(fig, os.path.join(out, name))


def main(argv=None):
    """Entry point: exit 0 when done, 2 on bad input, 1 on divergence, 130/143 on SIGINT/SIGTERM."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run(args, resolve(args, parser))
    except Interrupted as err:
        saved = checkpoint.read_state(args.out) if args.out else None
        if not args.out:
            where = "nothing was saved (use --out DIR to keep checkpoints)"
        elif saved is None:
            where = "no epoch had completed, so %s holds no checkpoint yet" % args.out
        else:
            where = ("the checkpoint of epoch %d in %s is intact; continue with 'python -m "
                     "mxsoftmax.train --out %s --resume'" % (saved["epoch"], args.out, args.out))
        print("%s: %s; %s." % (parser.prog, err, where), file=sys.stderr)
        return 128 + err.signum
    except Diverged as err:
        kept = (" The last good checkpoint in %s is kept." % args.out) if args.out else ""
        print("%s: %s.%s" % (parser.prog, err, kept), file=sys.stderr)
        return 1
    except UsageError as err:
        print("%s: error: %s" % (parser.prog, err), file=sys.stderr)
        return 2
    except OSError as err:  # e.g. the disk filled up while writing a checkpoint
        print("%s: cannot write %s (%s); the last complete checkpoint is kept."
              % (parser.prog, err.filename or args.out, err.strerror or err), file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # outside the training loop, e.g. while loading data or plotting
        kept = (" Completed epochs in %s are kept." % args.out) if args.out else ""
        print("%s: interrupted.%s" % (parser.prog, kept), file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
