"""The exceptions of mxsoftmax, all of them here, each with its fields declared.

Each carries the facts of the failure as fields (``path``, ``param``, ``problem`` ...) and its
message is one sentence made once from them, when it is raised: which file, value or setting,
and how to fix it. Callers decide from the class and the fields, never from the text; the
command lines name the flag that carried ``param`` or ``path`` and choose the exit code by class
(:func:`mxsoftmax.cli.handle_errors`).
"""
import contextlib
import signal


class MxSoftmaxError(Exception):
    """An expected failure whose message is one sentence a user can act on: the one given, or
    the class's ``template`` filled from the facts. Only the names in ``fields`` are facts (each
    an attribute, None when not given): ``param`` is the argument or setting that carried the bad
    value, ``path`` the file."""
    fields = ("path", "param")
    template = "{message}"

    def __init__(self, message=None, **facts):
        undeclared = set(facts) - set(self.fields)
        if undeclared:
            raise TypeError("%s has no field %s" % (type(self).__name__, ", ".join(sorted(undeclared))))
        for field in self.fields:
            setattr(self, field, facts.get(field))
        super().__init__(message if message is not None else
                         self.template.format(**{f: getattr(self, f) for f in self.fields}))


class InvalidInput(MxSoftmaxError, ValueError):
    """A file, value or setting that mxsoftmax cannot use (exit code 2): ``"<path> <problem>:
    <advice>."``, or the sentence given."""
    fields = MxSoftmaxError.fields + ("problem", "advice")
    template = "{path} {problem}: {advice}."


class InvalidValue(InvalidInput, TypeError):
    """``param`` is outside its declared constraint (:mod:`mxsoftmax.validation`); a TypeError
    too, as scikit-learn's InvalidParameterError, for a value of the wrong type."""
    fields = InvalidInput.fields + ("value", "expected", "shown")
    template = "{param} must be {expected}, not {shown}"


class WriteFailed(MxSoftmaxError, OSError):
    """A file, or standard output, could not be written for lack of space or a failing disk (exit
    code 1); what was written before stays intact. Its message is a clause (no final period):
    commands add where the work stands."""


class Diverged(MxSoftmaxError, ArithmeticError):
    """A batch's loss (``batch`` and ``value`` set) or the parameters after ``epoch`` were not
    finite; ``finding`` says what a learner's function returned there, when it is known."""
    fields = MxSoftmaxError.fields + ("epoch", "batch", "value", "finding")

    def __init__(self, epoch, batch=None, value=None, finding=None):
        where = ("the loss became %s in epoch %d at batch %d" % (value, epoch, batch)
                 if batch is not None else "the parameters became inf or NaN in epoch %d" % epoch)
        super().__init__(where + (": " + finding if finding else ""), epoch=epoch, batch=batch,
                         value=value, finding=finding)


class Interrupted(MxSoftmaxError):
    """Work stopped on signal ``signum``; ``epoch`` and ``batch`` say where, when training."""
    fields = MxSoftmaxError.fields + ("signum", "epoch", "batch")

    def __init__(self, signum, epoch=None, batch=None):
        where = " in epoch %d after batch %d" % (epoch, batch) if epoch is not None else ""
        super().__init__("interrupted by %s%s" % (signal.Signals(signum).name, where),
                         signum=signum, epoch=epoch, batch=batch)


class CheckFailed(MxSoftmaxError, ValueError):
    """A learner's function failed its check before training; ``verdict`` holds what was found."""
    fields = MxSoftmaxError.fields + ("verdict",)

    def __init__(self, verdict):
        super().__init__("%s Fix it and run the cell again, or pass check=False to train with it "
                         "anyway." % verdict.message, verdict=verdict)


class NotRegular(InvalidInput, OSError):
    """A path that is not a regular file: a folder, a FIFO, a device, a socket. An OSError too,
    so that a reader's one ``except OSError`` also meets it (its ``errno`` is None)."""


class Locked(InvalidInput):
    """Another process holds the lock of ``folder``: the ``holder``'s PID (text, or 'unknown')
    and ``who`` holds it (a 'process', a 'run')."""
    fields = InvalidInput.fields + ("folder", "holder", "who")

    def __init__(self, folder, holder, who="process"):
        super().__init__("%s is in use by another mxsoftmax %s (PID %s): wait for it to finish, "
                         "or choose another folder." % (folder, who, holder), folder=folder,
                         holder=holder, who=who, path=folder)


class ImageError(InvalidInput):
    """A picture that cannot be turned into a model input: ``"<path> <problem>"``, the problem
    ending with what to do."""
    template = "{path} {problem}"


class IdxError(InvalidInput):
    """An idx file that is missing, damaged, or not what its header says: ``"<path> <problem>:
    <advice>."``; a file that is not the published one also has the two SHA-256 digests,
    ``expected`` and ``found``."""
    fields = InvalidInput.fields + ("expected", "found")

    def __init__(self, path, problem, advice="replace it with an intact copy", expected=None,
                 found=None):
        super().__init__(path=path, problem=problem, advice=advice, expected=expected, found=found)

    @classmethod
    def mismatch(cls, path, expected, found):
        """A known file whose idx bytes are not the published ones."""
        return cls(path, "does not match its known checksum (expected SHA-256 %s of its idx "
                         "bytes, got %s)" % (expected, found), expected=expected, found=found)


class FetchError(MxSoftmaxError):
    """One download attempt failed: ``reason`` in a few words. ``dead`` says the source cannot
    serve anything (unreachable, too slow, not speaking HTTP), so it is not asked again."""
    fields = MxSoftmaxError.fields + ("reason", "dead")

    def __init__(self, reason, dead=False):
        super().__init__(reason, reason=reason, dead=dead)


class DatasetMismatch(InvalidInput):
    """A folder holds one known data set while another was asked for."""
    fields = InvalidInput.fields + ("folder", "found", "asked")
    template = ("{folder} holds {found} (recognised by its checksums), not {asked}: ask for "
                "{found}, or for no data set in particular.")

    def __init__(self, folder, found, asked):
        super().__init__(folder=folder, found=found, asked=asked, path=folder)


class NoData(InvalidInput):
    """No verified copy of ``dataset`` is at hand and none could be downloaded: the ``folder``
    looked in, the sources tried (``bases``, passwords masked) and ``ways`` forward, worded for
    where the message is shown (a command line, a notebook: :meth:`explain`)."""
    fields = InvalidInput.fields + ("dataset", "folder", "bases", "ways")

    def __init__(self, dataset, folder, bases, ways="connect to the internet and try again, or "
                 "use the four idx files you already have"):
        bases = list(bases)
        super().__init__(
            "no verified %s data: %s does not hold the four files and none of the %d sources "
            "(%s) delivered them; %s." % (dataset, folder, len(bases), ", ".join(bases), ways),
            dataset=dataset, folder=folder, bases=bases, ways=ways)

    def explain(self, ways):
        """The same failure with ``ways`` forward worded for where it is shown."""
        return NoData(self.dataset, self.folder, self.bases, ways)


@contextlib.contextmanager
def translated(kinds, make):
    """Within the block, an exception ``err`` of ``kinds`` becomes ``make(err)``, raised from None:
    the caller's own error, with its fields. ``make`` returns None for one to let pass as it is."""
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
