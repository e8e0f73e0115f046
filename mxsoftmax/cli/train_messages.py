"""What ``python -m mxsoftmax.train`` says about its run: where it is saved and how to go on."""
import shlex

from .. import catalog, sources
from ..launch import command
from ..settings import DEFAULTS

PROG = "python -m mxsoftmax.train"


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
        return ("saved the run in %s: epoch-%d.params, metrics.jsonl, state.json and %s"
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
    return command(name)


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
