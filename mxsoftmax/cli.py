"""What every command line shares: flag types (``--ctx`` and the proof that it works), the one
error handler, signals, pipes, how to start a command again.

Exit codes: 0 done; 1 the work failed (divergence, a full disk, unreadable images); 2 bad input
(flags, files, data), one sentence and no traceback; 128 + N on signal N (130 Ctrl-C, 143
SIGTERM); 141 when standard output was closed (``... | head -1``), as if by SIGPIPE.
"""
import argparse
import contextlib
import difflib
import os
import re
import shlex
import shutil
import signal
import sys

import mxnet as mx

from .errors import (Diverged, Interrupted, InvalidInput, InvalidValue, MxSoftmaxError,
                     WriteFailed, reason)
from .sources import check_url, redact_text

EXIT_FAILED, EXIT_USAGE, EXIT_PIPE = 1, 2, 141
SCRIPT_PREFIX = "mxsoftmax-"


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` without abbreviations, whose errors are one sentence (no usage
    block: ``--help`` shows it) and never show a password."""

    def __init__(self, **kwargs):
        super().__init__(allow_abbrev=False, **kwargs)

    def parse_args(self, args=None, namespace=None):
        """Parse ``args``, naming a misspelt ``--flag`` first (argparse names a missing one first)."""
        args = sys.argv[1:] if args is None else list(args)
        actions = {flag: action for action in _all_actions(self) for flag in action.option_strings}
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
        """One line, ``prog: error: message``, and exit 2 (``--help`` shows the usage)."""
        say(self.prog, "error: %s" % message)
        sys.exit(EXIT_USAGE)


EXIT_CODES = ((Interrupted, lambda err: 128 + err.signum), (Diverged, EXIT_FAILED),
              (WriteFailed, EXIT_FAILED), (InvalidInput, EXIT_USAGE))


class Outcome:
    """What a command ends with: its exit ``code``."""
    code = 0


def sentence(err):
    """The line for ``err`` where a command adds nothing: its message, a clause ended."""
    return "%s." % err if isinstance(err, (Interrupted, WriteFailed)) else str(err)


@contextlib.contextmanager
def handle_errors(prog, parser=None, args=None, explain=sentence):
    """The one error handler of the command lines (pypa/build's ``_handle_build_error``): each
    expected failure is one line on stderr, ``explain(err)``, naming the flag that carried
    ``param`` or ``path``, and the exit code of its class (:data:`EXIT_CODES`); nothing else is
    caught. Yields an :class:`Outcome`."""
    outcome = Outcome()
    try:
        yield outcome
    except MxSoftmaxError as err:
        outcome.code = next(code(err) if callable(code) else code
                            for kind, code in EXIT_CODES if isinstance(err, kind))
        flag = flag_of(err, parser, args)
        lead = "" if isinstance(err, (Interrupted, Diverged)) else "error: "
        say(prog, "%s%s%s" % (lead, flag + ": " if flag else "", explain(err)))
    except BrokenPipeError:
        outcome.code = EXIT_PIPE
    except KeyboardInterrupt:  # before the command's own handlers were installed
        say(prog, "interrupted.")
        outcome.code = 130
    _quiet_stdout_if_closed()


def flag_of(err, parser, args):
    """The flag (``--data-dir``) whose value the error is about, from its ``param`` or ``path``."""
    if parser is None or args is None:
        return None
    flags = [(action, getattr(args, action.dest, None)) for action in _all_actions(parser)
             if action.option_strings and action.help != argparse.SUPPRESS]
    named = [action for action, given in flags if given is not None and err.param == action.dest]
    holding = sorted((len(given), action) for action, given in flags if err.path is not None
                     and isinstance(given, str) and _inside(err.path, given))
    chosen = named[0] if named else holding[-1][1] if holding else None  # the closest folder
    return chosen.option_strings[0] if chosen else None


def _all_actions(parser):
    """The actions of ``parser`` and of its subcommands' parsers."""
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_actions(sub)


def _inside(path, given):
    """True when ``path`` is ``given`` or lies in the folder ``given``."""
    path, given = os.path.normpath(os.fsdecode(path)), os.path.normpath(given)
    return path == given or path.startswith(given.rstrip(os.sep) + os.sep)


def out(text):
    """Print ``text`` on standard output now; a failure other than a closed pipe is WriteFailed."""
    if sys.stdout is None:  # started with standard output closed (``>&-``)
        raise WriteFailed("cannot write to standard output: it is closed")
    try:
        print(printable(text, sys.stdout), flush=True)
    except OSError as err:
        if isinstance(err, BrokenPipeError):  # ``... | head -1``: handle_errors ends quietly
            raise
        raise WriteFailed("cannot write to standard output (%s)" % reason(err)) from None


def say(prog, text):
    """Print ``prog: text`` on standard error, if it is still open, never with a password."""
    try:
        print(printable("%s: %s" % (prog, redact_text(text)), sys.stderr), file=sys.stderr,
              flush=True)
    except (OSError, ValueError):
        pass


def printable(text, stream):
    """``text`` as one line ``stream`` can encode: a name's control characters (a newline, an
    escape sequence) and what the encoding lacks (a file name's bytes that are not UTF-8, an ``é``
    on an ASCII terminal) are shown escaped, as Python writes them; never a traceback."""
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda found: ascii(found.group())[1:-1], text)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding, "replace")


def _quiet_stdout_if_closed():
    """After a broken pipe or a full disk, stdout goes to /dev/null: the flush at exit is silent."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


# ---------------------------------------------------------------------------- flag types

def flag_type(constraint, param):
    """The argparse type of the flag carrying ``param``, parsed by ``constraint`` (the library's)."""
    return _argparse_type(constraint.parse, param)


def path(text):
    """A file or folder argument: not empty, which would mean this folder without saying so."""
    if not text:
        raise argparse.ArgumentTypeError("is empty: give a path")
    return text


def host(text):
    """An address to listen on: not empty, which would mean every interface without saying so."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give an address such as 127.0.0.1 (0.0.0.0 "
                                         "for every interface)")
    return text


def _argparse_type(parse, name):
    def convert(text):
        try:
            return parse(text)
        except ValueError as err:  # InvalidValue (a constraint), or InvalidInput (a URL)
            expected = getattr(err, "expected", None)
            raise argparse.ArgumentTypeError("must be %s, not %r" % (expected, text) if expected
                                             else str(err)) from None
    convert.__name__ = name
    return convert


def add_ctx_argument(parser):
    """``--ctx cpu|cpu:N|gpu|gpu:N``, parsed into an ``mx.Context``."""
    parser.add_argument("--ctx", type=_argparse_type(parse_ctx, "context"), default="cpu",
                        help="cpu, cpu:N, gpu or gpu:N (default: cpu)")


def parse_ctx(text):
    """Turn ``cpu``, ``cpu:N``, ``gpu`` or ``gpu:N`` into an ``mx.Context``."""
    found = isinstance(text, str) and re.fullmatch(r"\s*(cpu|gpu)(?::([0-9]{1,3}))?\s*",
                                                   text.lower(), flags=re.ASCII)
    if not found:
        raise InvalidValue(param="ctx", value=text, shown=repr(text),
                           expected="cpu, cpu:N, gpu or gpu:N with N below 1000")
    return mx.Context(found.group(1), int(found.group(2) or 0))


def check_ctx(ctx):
    """``ctx`` once one operation ran there: a GPU may be missing (a CPU-only wheel, no driver)
    or lack the wheel's kernels (sm_90 and newer), which shows only at the first operation."""
    name = "%s:%d" % (ctx.device_type, ctx.device_id)
    count = mx.context.num_gpus() if ctx.device_type == "gpu" else None
    if count == 0:
        raise InvalidInput("%s asks for a GPU but MXNet sees none (the installed mxnet is a CPU "
                           "build or no CUDA driver is visible): install a CUDA wheel such as "
                           "mxnet-cu112 on a machine with an sm_50-sm_86 GPU, or use the CPU."
                           % name, param="ctx")
    if count is not None and ctx.device_id >= count:
        raise InvalidInput("%s asks for GPU %d but MXNet sees only %d GPU(s): use an index below "
                           "%d." % (name, ctx.device_id, count, count), param="ctx")
    try:
        mx.nd.ones((2, 2), ctx=ctx).sum().asscalar()
    except mx.MXNetError as err:
        hint = ("MXNet's CUDA wheels carry kernels for sm_50-sm_86 only, not for Hopper (sm_90) "
                "or newer: use an older GPU or the CPU" if "no kernel image" in str(err) else
                "use the CPU")
        raise InvalidInput("%s failed at its first operation (%s): %s." % (name, reason(err), hint),
                           param="ctx") from None
    return ctx


def add_mirror_argument(parser):
    """``--mirror URL``, repeatable, checked to be a usable http(s) URL."""
    parser.add_argument("--mirror", action="append", default=[], metavar="URL",
                        type=_argparse_type(check_url, "URL"),
                        help="base URL holding the four files, tried first (repeatable; also "
                             "MXSOFTMAX_MIRRORS=url1,url2)")


# ---------------------------------------------------------------------------- signals

class Signals:
    """SIGINT and SIGTERM as :class:`Interrupted`, raised only where stopping is safe: at once
    outside :meth:`deferred`; inside, recorded for :meth:`pending` (polled after each batch) and
    :meth:`check` (the next safe point), or with ``strict=False`` raised at a second signal."""

    def __init__(self):
        self.signum = None
        self._modes = []
        self._previous = {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        """Restore the handlers; after a signal, ignore more: the command is ending."""
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if self.signum else handler)

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


# ---------------------------------------------------------------------------- starting


def run(main):
    """Run a command's ``main`` and exit with its code, ignoring Ctrl-C during shutdown."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


def command(name):
    """How to start the command ``name`` as this process was started, to paste into a shell:
    ``mxsoftmax-train`` (the script, by its path if PATH finds another), else this interpreter's
    ``... -m mxsoftmax.train``, so a hint works without an activated venv."""
    started = sys.argv[0] if sys.argv else ""
    if os.path.basename(started).startswith(SCRIPT_PREFIX):
        script = os.path.join(os.path.dirname(os.path.abspath(started)), SCRIPT_PREFIX + name)
        return _shell_path(script, SCRIPT_PREFIX + name)
    if not sys.executable:  # an embedding interpreter that cannot say
        return "python -m mxsoftmax." + name
    return "%s -m mxsoftmax.%s" % (_shell_path(sys.executable, "python"), name)


def _shell_path(path, bare):
    """``bare`` if PATH finds ``path`` so, else ``path`` quoted, relative inside the working
    directory (``.venv/bin/python``)."""
    path = os.path.abspath(path)
    found = shutil.which(bare)
    if found and os.path.abspath(found) == path:
        return bare
    here = os.getcwd()
    if path.startswith(os.path.join(here, "")):
        path = os.path.relpath(path, here)
        if os.sep not in path:
            path = os.path.join(os.curdir, path)
    return shlex.quote(path)
