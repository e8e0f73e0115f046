"""What every command line shares: flag types, one error line and an exit code, signals, pipes.

Exit codes: 0 done; 1 the work failed (divergence, a full disk, unreadable images); 2 bad input
(flags, files, data), one sentence and no traceback; 128 + N on signal N (130 Ctrl-C, 143
SIGTERM); 141 when standard output was closed (``... | head -1``), as if by SIGPIPE.
"""
import argparse
import contextlib
import difflib
import os
import signal
import sys

from ..context import parse_ctx
from ..errors import InvalidInput, WriteFailed, reason
from ..loop import Interrupted
from ..settings import LIMITS
from ..sources import check_url, redact_text

EXIT_FAILED, EXIT_USAGE, EXIT_PIPE = 1, 2, 141


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` without abbreviations, whose errors never show a password."""

    def __init__(self, **kwargs):
        super().__init__(allow_abbrev=False, **kwargs)

    def parse_args(self, args=None, namespace=None):
        """Parse ``args``, naming a misspelt ``--flag`` first (argparse would report a required
        flag as missing before it reports an unknown one)."""
        args = sys.argv[1:] if args is None else list(args)
        actions = dict(self._option_string_actions)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    actions.update(sub._option_string_actions)
        shown = sorted(flag for flag, action in actions.items() if action.help != argparse.SUPPRESS)
        takes_value = False
        for token in args:
            if token == "--":
                break
            flag = token.split("=", 1)[0]
            if flag.startswith("--") and len(flag) > 2 and flag not in actions and not takes_value:
                close = difflib.get_close_matches(flag, shown, 1)
                self.error("unrecognized argument %s%s" % (
                    flag, " (did you mean %s?)" % close[0] if close else ""))
            action = actions.get(flag)  # a flag given its value in the next token?
            takes_value = action is not None and "=" not in token and action.nargs != 0
        return super().parse_args(args, namespace)

    def error(self, message):
        super().error(redact_text(message))


class Exit(Exception):
    """End the command: print ``message`` (when given) on standard error and exit with ``code``."""

    def __init__(self, message, code):
        super().__init__(message)
        self.message, self.code = message, code


def run_main(prog, body):
    """Run ``body()`` and turn every expected failure into one line on stderr and an exit code."""
    try:
        return body() or 0
    except Exit as err:
        code = err.code
        if err.message:
            say(prog, err.message)
    except Interrupted as err:
        say(prog, "%s." % err)
        code = 128 + err.signum
    except InvalidInput as err:
        say(prog, "error: %s" % err)
        code = EXIT_USAGE
    except WriteFailed as err:  # a full disk, standard output included
        say(prog, "error: %s." % str(err).rstrip("."))
        code = EXIT_FAILED
    except BrokenPipeError:
        code = EXIT_PIPE
    except KeyboardInterrupt:  # before the command's own handlers were installed
        say(prog, "interrupted.")
        code = 130
    _quiet_stdout_if_closed()
    return code


class OutputFailed(WriteFailed):
    """Standard output could not be written (a full disk behind a redirection, say)."""


def out(text):
    """Print ``text`` on standard output now; a failure other than a closed pipe is OutputFailed."""
    if sys.stdout is None:  # started with standard output closed (``>&-``)
        raise OutputFailed("cannot write to standard output: it is closed")
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise
    except OSError as err:
        raise OutputFailed("cannot write to standard output (%s)" % reason(err)) from None


def say(prog, text):
    """Print ``prog: text`` on standard error, if it is still open, never with a password."""
    try:
        print("%s: %s" % (prog, redact_text(text)), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _quiet_stdout_if_closed():
    """After a broken pipe or a full disk, point stdout at /dev/null so that Python's flush at
    exit stays silent."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


@contextlib.contextmanager
def blame(flag, value):
    """Put ``flag`` in front of an InvalidInput raised inside: the CLI's words on a library error.

    When the flag was not given (``value`` is None), the error is not about it and passes as is.
    """
    try:
        yield
    except InvalidInput as err:
        if value is None:
            raise
        text = str(err)
        # "--out runs/x is a file", but "--data-dir: runs/data/a.gz is truncated"
        joined = ("%s %s" % (flag, text) if text.startswith(str(value) + " ")
                  else "%s: %s" % (flag, text))
        raise InvalidInput(joined) from None


# ---------------------------------------------------------------------------- flag types

def positive_float32(text):
    """A number above 0 that float32 holds as a normal number (the math runs in float32)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number, got %r" % text) from None
    tiny, huge = LIMITS["lr"]
    if not tiny <= value <= huge:
        raise argparse.ArgumentTypeError("must be a number from %.3g to %.3g (float32), got %r"
                                         % (tiny, huge, text))
    return value


def path(text):
    """A file or folder argument: any text but the empty string, which would mean this folder or
    the default without saying so."""
    if not text:
        raise argparse.ArgumentTypeError("is empty: give a path")
    return text


def int_in(low, high):
    """An argparse type for whole numbers from ``low`` to ``high``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("must be a whole number, got %r" % text) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError("must be a whole number from %d to %d, got %d"
                                             % (low, high, value))
        return value
    parse.__name__ = "whole number"
    return parse


def _argparse_type(parse, name):
    def convert(text):
        try:
            return parse(text)
        except InvalidInput as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    convert.__name__ = name
    return convert


def add_ctx_argument(parser):
    """``--ctx cpu|cpu:N|gpu|gpu:N``, parsed into an ``mx.Context``."""
    parser.add_argument("--ctx", type=_argparse_type(parse_ctx, "context"), default="cpu",
                        help="cpu, cpu:N, gpu or gpu:N (default: cpu)")


def add_mirror_argument(parser):
    """``--mirror URL``, repeatable, checked to be a usable http(s) URL."""
    parser.add_argument("--mirror", action="append", default=[], metavar="URL",
                        type=_argparse_type(check_url, "URL"),
                        help="base URL holding the four files, tried first (repeatable; also "
                             "MXSOFTMAX_MIRRORS=url1,url2)")


# ---------------------------------------------------------------------------- signals

class Signals:
    """SIGINT and SIGTERM as :class:`Interrupted`, raised only where stopping is safe.

    Outside :meth:`deferred` a signal raises at once. Inside, it is recorded: training polls
    :meth:`pending` after each batch and :meth:`check` raises at the next safe point. With
    ``strict=False`` (long work such as an evaluation) a second signal raises at once.
    """

    def __init__(self):
        self.signum = None
        self._modes = []
        self._previous = {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, _frame):
        again = self.signum is not None
        self.signum = self.signum or signum
        if not self._modes or (again and self._modes[-1] == "soft"):
            raise Interrupted(signum)

    def pending(self):
        """The signal received and not yet acted on, or None."""
        return self.signum

    def check(self):
        """Raise :class:`Interrupted` if a signal was received."""
        if self.signum:
            raise Interrupted(self.signum)

    @contextlib.contextmanager
    def deferred(self, strict=True):
        """Record signals instead of raising them inside this block (see the class docstring)."""
        self._modes.append("strict" if strict else "soft")
        try:
            yield
        finally:
            self._modes.pop()
