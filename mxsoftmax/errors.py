"""The exceptions of mxsoftmax, all of them here.

Each carries the facts of the failure as attributes (``path``, ``value``, ``param``, ``epoch`` ...)
and its message is one neutral sentence made once from them, when it is raised: which file, value
or setting, and how to fix it. Callers decide from the attributes and never from the text; the
command lines name the flag that carried ``param`` or ``path`` and choose the exit code by class
(:func:`mxsoftmax.cli.common.handle_errors`).
"""
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
    written before stays intact."""


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


def reason(err):
    """A short reason for ``err``: the OS's words, or the last line of a (long) MXNet message."""
    text = (getattr(err, "strerror", None) or str(err)).strip()
    return text.splitlines()[-1].strip() if text else type(err).__name__
