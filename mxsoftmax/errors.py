"""Every exception of mxsoftmax, each declaring its fields; its message is made once from them.
Callers decide from the class and fields, never the text (:func:`mxsoftmax.cli.handle_errors`)."""
import contextlib
import signal


class MxSoftmaxError(Exception):
    """An expected failure: one sentence a user can act on, given or the ``template`` filled from
    the ``fields`` (attributes, None when not given; another name is a TypeError)."""
    fields = ("path", "param")
    template = "{message}"

    def __init__(self, message=None, **facts):
        undeclared = set(facts) - set(self.fields)
        if undeclared:
            raise TypeError("%s has no field %s" % (type(self).__name__, ", ".join(sorted(undeclared))))
        vars(self).update(dict.fromkeys(self.fields), **facts)
        super().__init__(self.template.format(**vars(self)) if message is None else message)


class InvalidInput(MxSoftmaxError, ValueError):
    """A file, value or setting that mxsoftmax cannot use (exit code 2)."""
    fields = MxSoftmaxError.fields + ("problem", "advice")
    template = "{path} {problem}: {advice}."


class InvalidValue(InvalidInput, TypeError):
    """``param`` is outside its constraint (:mod:`mxsoftmax.validation`); a TypeError too."""
    fields = InvalidInput.fields + ("value", "expected", "shown")
    template = "{param} must be {expected}, not {shown}"


class WriteFailed(MxSoftmaxError, OSError):
    """A file or stdout could not be written (exit code 1); a clause: commands add where they stand."""


class Diverged(MxSoftmaxError, ArithmeticError):
    """A batch's loss or the parameters after ``epoch`` were not finite (``finding``: a learner's why)."""
    fields = MxSoftmaxError.fields + ("epoch", "batch", "value", "finding")

    def __init__(self, epoch, batch=None, value=None, finding=None):
        where = ("the loss became %s in epoch %d at batch %d" % (value, epoch, batch)
                 if batch is not None else "the parameters became inf or NaN in epoch %d" % epoch)
        super().__init__(where + (": " + finding if finding else ""), epoch=epoch, batch=batch,
                         value=value, finding=finding)


class Interrupted(MxSoftmaxError):
    """Work stopped on signal ``signum``, while training at ``epoch`` and ``batch``."""
    fields = MxSoftmaxError.fields + ("signum", "epoch", "batch")

    def __init__(self, signum, epoch=None, batch=None):
        where = " in epoch %d after batch %d" % (epoch, batch) if epoch is not None else ""
        super().__init__("interrupted by %s%s" % (signal.Signals(signum).name, where),
                         signum=signum, epoch=epoch, batch=batch)


class CheckFailed(MxSoftmaxError, ValueError):
    """A learner's function failed its check before training, as ``verdict`` says."""
    fields = MxSoftmaxError.fields + ("verdict",)

    template = "{verdict.message} Fix it and run the cell again, or pass check=False to train with it anyway."

    def __init__(self, verdict):
        super().__init__(verdict=verdict)


class NotRegular(InvalidInput, OSError):
    """A path that is not a regular file; an OSError too, for a reader's one ``except OSError``."""


class Locked(InvalidInput):
    """Another mxsoftmax ``who`` (a process, a run), PID ``holder``, holds the lock of ``folder``."""
    fields = InvalidInput.fields + ("folder", "holder", "who")
    template = ("{folder} is in use by another mxsoftmax {who} (PID {holder}): wait for it to "
                "finish, or choose another folder.")

    def __init__(self, folder, holder, who="process"):
        super().__init__(folder=folder, holder=holder, who=who, path=folder)


class ImageError(InvalidInput):
    """A picture that cannot be a model input; the ``problem`` ends with what to do."""
    template = "{path} {problem}"


class IdxError(InvalidInput):
    """An idx file missing, damaged or not what its header says (or its SHA-256 is not the known one)."""
    fields = InvalidInput.fields + ("expected", "found")

    def __init__(self, path, problem, advice="replace it with an intact copy", expected=None, found=None):
        super().__init__(path=path, problem=problem, advice=advice, expected=expected, found=found)

    @classmethod
    def mismatch(cls, path, expected, found):
        return cls(path, "does not match its known checksum (expected SHA-256 %s of its idx "
                         "bytes, got %s)" % (expected, found), expected=expected, found=found)


class FetchError(MxSoftmaxError):
    """One download attempt failed for ``reason``; a ``dead`` source is not asked again."""
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
    """No verified ``dataset`` in ``folder`` nor from ``bases``; ``ways`` forward as :meth:`explain` says."""
    fields = InvalidInput.fields + ("dataset", "folder", "bases", "ways")

    def __init__(self, dataset, folder, bases, ways="connect to the internet and try again, or "
                 "use the four idx files you already have"):
        bases = list(bases)
        super().__init__(
            "no verified %s data: %s does not hold the four files and none of the %d sources "
            "(%s) delivered them; %s." % (dataset, folder, len(bases), ", ".join(bases), ways),
            dataset=dataset, folder=folder, bases=bases, ways=ways)

    def explain(self, ways):
        return NoData(self.dataset, self.folder, self.bases, ways)


@contextlib.contextmanager
def translated(kinds, make):
    """Within the block, ``err`` of ``kinds`` becomes ``make(err)`` raised from None (unless None)."""
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
