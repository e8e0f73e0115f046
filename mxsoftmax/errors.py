"""The exceptions of mxsoftmax, all of them here.

Each carries the facts of the failure as attributes (``path``, ``value``, ``param``, ``epoch`` ...)
and its message is one neutral sentence made once from them, when it is raised: which file, value
or setting, and how to fix it. Callers decide from the attributes and never from the text; the
command lines name the flag that carried ``param`` or ``path`` and choose the exit code by class
(:func:`mxsoftmax.cli.handle_errors`).
"""
import contextlib
import signal


class MxSoftmaxError(Exception):
    """An expected failure whose message is one sentence a user can act on.

    ``MxSoftmaxError(message, **facts)``, or a subclass's ``template`` filled from ``facts``.
    ``param`` names the argument or setting that carried the bad value, ``path`` the file.
    """
    template = "{message}"

    def __init__(self, message=None, **facts):
        facts.setdefault("param", None)
        facts.setdefault("path", None)
        self.__dict__.update(facts)
        super().__init__(message if message is not None else self.template.format(**facts))


class InvalidInput(MxSoftmaxError, ValueError):
    """A file, value or setting that mxsoftmax cannot use (exit code 2 at the command line)."""


class InvalidType(MxSoftmaxError, TypeError):
    """An argument of the wrong type, such as float images where uint8 pixels are expected."""


class InvalidValue(InvalidInput):
    """``param`` is outside its declared constraint (:mod:`mxsoftmax.validation`)."""
    template = "{param} must be {expected}, not {shown}"


class WriteFailed(MxSoftmaxError, OSError):
    """A file could not be written for lack of space or a failing disk (exit code 1); what was
    written before stays intact. Its message is a clause (no final period): commands add where
    the work stands."""


class OutputFailed(WriteFailed):
    """Standard output could not be written (a full disk behind a redirection, say)."""


class Diverged(MxSoftmaxError, ArithmeticError):
    """A batch's loss (``batch`` and ``value`` set) or the parameters after ``epoch`` were not
    finite."""

    def __init__(self, epoch, batch=None, value=None):
        where = ("the loss became %s in epoch %d at batch %d" % (value, epoch, batch)
                 if batch is not None else "the parameters became inf or NaN in epoch %d" % epoch)
        super().__init__(where, epoch=epoch, batch=batch, value=value)


class Interrupted(MxSoftmaxError):
    """Work stopped on signal ``signum``; ``epoch`` and ``batch`` say where, when training."""

    def __init__(self, signum, epoch=None, batch=None):
        where = " in epoch %d after batch %d" % (epoch, batch) if epoch is not None else ""
        super().__init__("interrupted by %s%s" % (signal.Signals(signum).name, where),
                         signum=signum, epoch=epoch, batch=batch)


# ---------------------------------------------------------------- a learner's functions

class LossNotFinite(MxSoftmaxError, ArithmeticError):
    """A training batch's loss was inf or NaN; ``finding`` says what the learner's function returned.

    Fields: ``epoch``, ``batch``, ``value`` (the first non-finite loss), ``finding`` (a sentence).
    """

    def __init__(self, epoch, batch, value, finding):
        super().__init__("the loss became %s in epoch %d at batch %d: %s"
                         % (value, epoch, batch, finding), epoch=epoch, batch=batch, value=value,
                         finding=finding)


class CheckFailed(MxSoftmaxError, ValueError):
    """A learner's function failed its check before training; ``verdict`` holds what was found."""

    def __init__(self, verdict):
        super().__init__("%s Fix it and run the cell again, or pass check=False to train with it "
                         "anyway." % verdict.message, verdict=verdict)


# ---------------------------------------------------------------- files and run folders

class NotRegular(InvalidInput, OSError):
    """A path that is not a regular file: a directory, a FIFO, a device, a socket. An OSError
    too, so that a reader's one ``except OSError`` also meets it (its ``errno`` is None)."""


class CannotWrite(InvalidInput):
    """A place that cannot take the file (not a folder, no permission, read-only); ``path`` is
    the file or folder concerned."""


class Locked(InvalidInput):
    """Another process holds the folder's lock: ``folder``, the ``holder``'s PID (text, or
    'unknown') and ``who`` holds it (a 'process', a 'run')."""

    def __init__(self, folder, holder, who="process"):
        super().__init__("%s is in use by another mxsoftmax %s (PID %s): wait for it to finish, "
                         "or choose another folder." % (folder, who, holder), folder=folder,
                         holder=holder, who=who, path=folder)


class RunError(InvalidInput):
    """A run folder or checkpoint that cannot be used as asked."""


class RunLocked(RunError, Locked):
    """Another process holds the run folder (``folder``, ``holder``: see files.Locked)."""


class RunCannotWrite(RunError, CannotWrite):
    """A run folder that cannot be used or take files (``path``: see files.CannotWrite)."""


class RunExists(RunError):
    """A new run was asked for in a folder that already holds one."""


class NotARun(RunError):
    """A folder that holds no run to continue: ``started`` is True when it holds a run that
    completed no epoch (which a new run in the folder starts over), False for anything else."""

    def __init__(self, message, started=False, path=None):
        super().__init__(message, started=started, path=path)


# ---------------------------------------------------------------- pictures

class ImageError(InvalidInput):
    """A picture that cannot be turned into a model input; the message names it (``path``) and
    says why."""


# ---------------------------------------------------------------- data: idx files, sources

class IdxError(InvalidInput):
    """An idx file that is missing, damaged, or not what its header says.

    Its fields say what a caller may need: ``path`` (the file or folder), ``problem`` (what is
    wrong, in words that follow the path) and ``advice`` (what to do); the message is
    ``"<path> <problem>: <advice>."``. A caller that shows the error under a flag adds the flag
    from these fields, without reading the message.
    """

    template = "{path} {problem}: {advice}."

    def __init__(self, path, problem, advice="replace it with an intact copy"):
        super().__init__(path=path, problem=problem, advice=advice)


class ChecksumMismatch(IdxError):
    """A known file whose idx bytes are not the published ones (``expected`` and ``found`` are
    the two SHA-256 digests)."""

    def __init__(self, path, expected, found):
        super().__init__(path, "does not match its known checksum (expected SHA-256 %s of its idx "
                               "bytes, got %s)" % (expected, found))
        self.expected, self.found = expected, found


class FetchError(MxSoftmaxError):
    """One download attempt failed: ``reason`` in a few words. ``dead`` says the source cannot
    serve anything (unreachable, too slow, not speaking HTTP), so it is not asked again."""

    def __init__(self, reason, dead=False):
        super().__init__(reason, reason=reason, dead=dead)


class DatasetMismatch(InvalidInput):
    """A folder holds one known data set while another was asked for."""

    template = ("{folder} holds {found} (recognised by its checksums), not {asked}: ask for "
                "{found}, or for no data set in particular.")

    def __init__(self, folder, found, asked):
        super().__init__(folder=folder, found=found, asked=asked, path=folder)


class NoData(InvalidInput):
    """No verified copy of a data set is at hand and none could be downloaded."""

    def __init__(self, dataset, folder, bases, ways="connect to the internet and try again, or "
                                                     "use the four idx files you already have"):
        """``bases``: the sources tried, as they may be shown (passwords masked); ``ways``
        forward, worded for where the message is shown (a command line, a notebook)."""
        self.dataset, self.folder, self.bases = dataset, folder, list(bases)
        super().__init__(self.explain(ways), dataset=dataset, folder=folder, bases=self.bases,
                         ways=ways)

    def explain(self, ways):
        """The message with ``ways`` forward worded for where it is shown (CLI, notebook...)."""
        return ("no verified %s data: %s does not hold the four files and none of the %d "
                "sources (%s) delivered them; %s." % (self.dataset, self.folder, len(self.bases),
                                                      ", ".join(self.bases), ways))


# ---------------------------------------------------------------- export

class ExportError(InvalidInput):
    """A model that cannot be exported as asked: the file exists, or its format is unknown."""


class TargetExists(ExportError):
    """The file to write exists and ``force`` was not given; ``path`` names it."""
    template = "{path} exists: add --force to replace it, or choose another name."


class MissingPackage(ExportError):
    """The format needs a package that is not installed; ``package`` names it."""

    def __init__(self, message, package, path=None):
        super().__init__(message, package=package, path=path)


@contextlib.contextmanager
def translated(kinds, make):
    """Within the block, an exception ``err`` of ``kinds`` becomes ``make(err)``, raised from None:
    the caller's own error, with its fields. ``make`` returns None for one to let pass as it is.

    The one handler that catches an error to raise another: callers say which and into what.
    """
    try:
        yield
    except kinds as err:
        failure = make(err)
        if failure is None:
            raise
        raise failure from None


def reason(err):
    """A short reason for ``err``: the OS's words, or the last line of a (long) MXNet message."""
    text = (getattr(err, "strerror", None) or str(err)).strip()
    return text.splitlines()[-1].strip() if text else type(err).__name__
