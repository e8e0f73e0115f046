"""The exceptions of mxsoftmax: one base class, and ordinary Python kinds beneath it.

Library functions raise these with neutral wording (they name the file, the value, the shape);
the command lines add the flag that carried the value and choose the exit code.
"""


class MxSoftmaxError(Exception):
    """An expected failure whose message is one sentence a user can act on."""


class InvalidInput(MxSoftmaxError, ValueError):
    """A file, value or setting that mxsoftmax cannot use (exit code 2 at the command line)."""


class WriteFailed(MxSoftmaxError, OSError):
    """A file could not be written for lack of space or a failing disk (exit code 1); what was
    written before stays intact."""


class InvalidType(MxSoftmaxError, TypeError):
    """An argument of the wrong type, such as float images where uint8 pixels are expected."""


def reason(err):
    """A short reason for ``err``: the OS's words, or the last line of a (long) MXNet message."""
    text = (getattr(err, "strerror", None) or str(err)).strip()
    return text.splitlines()[-1].strip() if text else type(err).__name__
