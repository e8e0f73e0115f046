"""What every command line shares: flag types (``--ctx`` and the proof that it works), the one
error handler, signals, pipes, how to start a command again. Exit codes: 0 done; 1 the work
failed (divergence, a full disk, unreadable images); 2 bad input, one sentence; 128 + N on
signal N (130 Ctrl-C, 143 SIGTERM); 141 when standard output was closed (``... | head -1``)."""
import argparse
import contextlib
import difflib
import os
import re
import shlex
import shutil
import signal
import sys
import types

import mxnet as mx

from .errors import (Diverged, Interrupted, InvalidInput, InvalidValue, MxSoftmaxError,
                     WriteFailed, reason)
from .sources import check_url, redact_text

EXIT_FAILED, EXIT_USAGE, EXIT_PIPE = 1, 2, 141
EXIT_CODES = ((Diverged, EXIT_FAILED), (WriteFailed, EXIT_FAILED), (InvalidInput, EXIT_USAGE))
SCRIPT_PREFIX = "mxsoftmax-"
CONTROL = r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"  # C0, C1, line seps., bidi


class Parser(argparse.ArgumentParser):
    """No abbreviations; an error is one line without the usage block (``--help`` shows it),
    never with a password, and names a misspelt ``--flag`` first (argparse: a missing one)."""

    def __init__(self, **kwargs):
        super().__init__(allow_abbrev=False, **kwargs)

    def parse_args(self, args=None, namespace=None):
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
        say(self.prog, "error: %s" % message)
        sys.exit(EXIT_USAGE)


def _all_actions(parser):
    """The actions of ``parser`` and of its subcommands' parsers."""
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_actions(sub)


def sentence(err):
    """The line for ``err`` where a command adds nothing: its message, a clause ended."""
    return "%s." % err if isinstance(err, (Interrupted, WriteFailed)) else str(err)


@contextlib.contextmanager
def handle_errors(prog, parser=None, args=None, explain=sentence):
    """The one error handler (pypa/build's): an expected failure is one line, ``explain(err)``
    after the flag that carried it, and its exit code; nothing else is caught. Yields the outcome."""
    outcome = types.SimpleNamespace(code=0)
    try:
        yield outcome
    except MxSoftmaxError as err:
        outcome.code = (128 + err.signum if isinstance(err, Interrupted) else
                        next(code for kind, code in EXIT_CODES if isinstance(err, kind)))
        flag = flag_of(err, parser, args) if parser else None
        lead = "" if isinstance(err, (Interrupted, Diverged)) else "error: "
        say(prog, "%s%s%s" % (lead, flag + ": " if flag else "", explain(err)))
    except BrokenPipeError:
        outcome.code = EXIT_PIPE
    except KeyboardInterrupt:  # before the command's own handlers were installed
        say(prog, "interrupted.")
        outcome.code = 130
    if sys.stdout is not None:  # after a broken pipe or a full disk, the flush at exit is silent
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def flag_of(err, parser, args):
    """The flag (``--data-dir``) that gave the error's ``param``, else the one naming the closest
    folder holding its ``path``."""
    given = [(action, getattr(args, action.dest, None)) for action in _all_actions(parser)
             if action.option_strings and action.help != argparse.SUPPRESS]
    named = [action for action, value in given if value is not None and err.param == action.dest]
    if not named and err.path is not None:
        path = os.path.normpath(os.fsdecode(err.path)) + os.sep  # the folder itself, or inside
        named = sorted((action for action, value in given if isinstance(value, str)
                        and path.startswith(os.path.normpath(value).rstrip(os.sep) + os.sep)),
                       key=lambda action: -len(getattr(args, action.dest)))
    return named[0].option_strings[0] if named else None


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
    with contextlib.suppress(OSError, ValueError):
        print(printable("%s: %s" % (prog, redact_text(text)), sys.stderr), file=sys.stderr, flush=True)


def printable(text, stream):
    """``text`` as one line ``stream`` can encode: control characters (a newline, an escape
    sequence, Unicode's line separators and bidirectional overrides) and what the encoding lacks
    are shown escaped, as Python writes them."""
    text = re.sub(CONTROL, lambda found: ascii(found.group())[1:-1], text)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding, "replace")


def flag_type(constraint, param):
    """The argparse type of the flag carrying ``param``, parsed by ``constraint`` (or a function)."""
    parse = getattr(constraint, "parse", constraint)

    def convert(text):
        try:
            return parse(text)
        except ValueError as err:  # InvalidValue (a constraint), or InvalidInput (a URL)
            expected = getattr(err, "expected", None)
            raise argparse.ArgumentTypeError("must be %s, not %r" % (expected, text) if expected
                                             else str(err)) from None
    convert.__name__ = param
    return convert


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


def add_ctx_argument(parser):
    parser.add_argument("--ctx", type=flag_type(parse_ctx, "context"), default="cpu",
                        help="cpu, cpu:N, gpu or gpu:N (default: cpu)")


def parse_ctx(text):
    """``cpu``, ``cpu:N``, ``gpu`` or ``gpu:N`` as an ``mx.Context``."""
    found = isinstance(text, str) and re.fullmatch(r"\s*(cpu|gpu)(?::([0-9]{1,3}))?\s*",
                                                   text.lower(), flags=re.ASCII)
    if not found:
        raise InvalidValue(param="ctx", value=text, shown=repr(text),
                           expected="cpu, cpu:N, gpu or gpu:N with N below 1000")
    return mx.Context(found.group(1), int(found.group(2) or 0))


def check_ctx(ctx):
    """``ctx`` once one operation ran there: a GPU may be missing (a CPU-only wheel, no driver) or
    lack the wheel's kernels (sm_90 and newer), which shows only then."""
    name = "%s:%d" % (ctx.device_type, ctx.device_id)
    count = mx.context.num_gpus() if ctx.device_type == "gpu" else None
    if count == 0:
        raise InvalidInput("%s asks for a GPU but MXNet sees none (the installed mxnet is a CPU build or no "
                           "CUDA driver is visible): install a CUDA wheel such as mxnet-cu112 on a machine "
                           "with an sm_50-sm_86 GPU, or use the CPU." % name, param="ctx")
    if count is not None and ctx.device_id >= count:
        raise InvalidInput("%s asks for GPU %d but MXNet sees only %d GPU(s): use an index below "
                           "%d." % (name, ctx.device_id, count, count), param="ctx")
    try:
        mx.nd.ones((2, 2), ctx=ctx).sum().asscalar()
    except mx.MXNetError as err:
        hint = ("MXNet's CUDA wheels carry kernels for sm_50-sm_86 only, not for Hopper (sm_90) or newer: "
                "use an older GPU or the CPU" if "no kernel image" in str(err) else "use the CPU")
        raise InvalidInput("%s failed at its first operation (%s): %s." % (name, reason(err), hint),
                           param="ctx") from None
    return ctx


def add_mirror_argument(parser):
    parser.add_argument("--mirror", action="append", default=[], metavar="URL",
                        type=flag_type(check_url, "URL"), help="base URL holding the four files, tried "
                        "first (repeatable; also MXSOFTMAX_MIRRORS=url1,url2)")


class Signals:
    """SIGINT and SIGTERM as :class:`Interrupted`: at once outside :meth:`deferred`; inside, kept for
    :meth:`pending` (polled) and :meth:`check` (a safe point), or with ``strict=False`` at a second."""

    def __init__(self):
        self.signum, self._strict = None, []

    def __enter__(self):
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():  # after a signal, ignore more: it is ending
            signal.signal(signum, signal.SIG_IGN if self.signum else handler)

    def _handle(self, signum, _frame):
        again = self.signum is not None
        self.signum = self.signum or signum
        if not self._strict or (again and not self._strict[-1]):
            raise Interrupted(signum)

    def pending(self):
        return self.signum

    def check(self):
        if self.signum:
            raise Interrupted(self.signum)

    @contextlib.contextmanager
    def deferred(self, strict=True):
        self._strict.append(strict)
        try:
            yield
        finally:
            self._strict.pop()


def run(main):
    """Run a command's ``main`` and exit with its code, ignoring Ctrl-C during shutdown."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


def command(name):
    """How to start the command ``name`` as this process was started, to paste into a shell: the
    script (by its path if PATH finds another), else this interpreter's ``-m mxsoftmax.<name>``."""
    started = sys.argv[0] if sys.argv else ""
    if os.path.basename(started).startswith(SCRIPT_PREFIX):
        script = os.path.join(os.path.dirname(os.path.abspath(started)), SCRIPT_PREFIX + name)
        return _shell_path(script, SCRIPT_PREFIX + name)
    python = _shell_path(sys.executable, "python") if sys.executable else "python"  # embedded: unknown
    return "%s -m mxsoftmax.%s" % (python, name)


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
    return quoted(path)


def quoted(text):
    """``text`` as a shell word: ``shlex.quote``'s, or where it holds a control character, bytes that
    are not UTF-8 or a backtick (which sets hints apart), ``$'...'`` with each byte that is not
    printable ASCII as ``\\xNN`` (bash, zsh, ksh and POSIX 2024; not dash)."""
    if not re.search(CONTROL + r"|[`\udc80-\udcff]", text):
        return shlex.quote(text)
    return "$'%s'" % "".join(chr(byte) if 32 <= byte < 127 and byte not in b"\\'`" else "\\x%02x" % byte
                             for byte in os.fsencode(text))
