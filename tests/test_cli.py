"""mxsoftmax.cli: ctx from text and the proof that it works, the one error handler, flag naming
from an error's fields, one-line flag errors, names in any encoding, signals; cli.command: a "run
this" hint names the way this process was started, so it runs when pasted."""
import argparse
import io
import os
import shlex
import signal
import subprocess
import sys

import mxnet as mx
import pytest

import mxsoftmax
from mxsoftmax import cli
from mxsoftmax.validation import CONSTRAINTS
from mxsoftmax.errors import (Diverged, Interrupted, InvalidInput, InvalidValue,
                              WriteFailed)


def _parser():
    parser = cli.Parser(prog="prog")
    parser.add_argument("--data-dir")
    parser.add_argument("--lr", dest="learning_rate",
                        type=cli.flag_type(CONSTRAINTS["learning_rate"], "learning_rate"))
    parser.add_argument("--out")
    return parser


def _handled(err, argv=(), explain=cli.sentence, capsys=None):
    parser = _parser()
    args = parser.parse_args(list(argv))
    with cli.handle_errors("prog", parser, args, explain) as outcome:
        raise err
    return outcome.code, capsys.readouterr().err


@pytest.mark.parametrize("err, code", [
    (InvalidInput("x is bad."), 2), (InvalidValue("x is not text.", param="x"), 2),
    (InvalidValue(param="seed", expected="a whole number", shown="-1", value=-1), 2),
    (WriteFailed("cannot write x."), 1), (Diverged(0, 3, float("nan")), 1),
    (Interrupted(signal.SIGINT), 130), (Interrupted(signal.SIGTERM), 143)])
def test_each_error_class_has_its_exit_code_and_one_line(err, code, capsys):
    got, err_text = _handled(err, capsys=capsys)
    assert got == code and len(err_text.splitlines()) == 1 and err_text.startswith("prog: ")
    assert str(err) in err_text


def test_the_flag_is_named_from_the_errors_param_or_path(capsys):
    code, text = _handled(InvalidInput("0.1 is too large.", param="learning_rate"),
                          ["--lr", "0.1"], capsys=capsys)
    assert text == "prog: error: --lr: 0.1 is too large.\n"
    code, text = _handled(InvalidInput("d/a.gz is truncated.", path="d/a.gz"),
                          ["--data-dir", "d", "--out", "o"], capsys=capsys)
    assert text == "prog: error: --data-dir: d/a.gz is truncated.\n"
    code, text = _handled(InvalidInput("elsewhere/a.gz is truncated.", path="elsewhere/a.gz"),
                          ["--data-dir", "d"], capsys=capsys)
    assert text == "prog: error: elsewhere/a.gz is truncated.\n"  # no flag gave that path
    code, text = _handled(InvalidInput("d/why is a file.", path="d/why"),
                          ["--data-dir", "d", "--out", "d/why"], capsys=capsys)
    assert text == "prog: error: --out: d/why is a file.\n"  # the closest folder's flag
    code, text = _handled(InvalidInput("dd/a.gz is truncated.", path="dd/a.gz"),
                          ["--data-dir", "d"], capsys=capsys)
    assert "--data-dir" not in text  # a folder's name is not a prefix of another's


def test_a_commands_own_words_are_made_from_the_fields(capsys):
    code, text = _handled(Diverged(1, 7, float("inf")), capsys=capsys,
                          explain=lambda err: "batch %d went wrong." % err.batch)
    assert code == 1 and text == "prog: batch 7 went wrong.\n"


def test_unexpected_exceptions_are_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        with cli.handle_errors("prog"):
            1 / 0


def test_a_bad_flag_is_one_line_without_the_usage_block(capsys):
    with pytest.raises(SystemExit) as stop:
        _parser().parse_args(["--lr", "1_0"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "usage:" not in err and len(err.splitlines()) == 1
    assert err.startswith("prog: error: argument --lr: must be a number from")


@pytest.mark.parametrize("text", ["caf\u00e9", "img\udcff.png", "\u2603"])
def test_names_in_any_encoding_are_printed_without_a_traceback(text, monkeypatch):
    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", ascii_out)
    cli.out("%s: 7" % text)
    ascii_out.flush()
    assert ascii_out.buffer.getvalue().endswith(b": 7\n")


@pytest.mark.parametrize("text", ["run", "my run", "it's", "caf\u00e9", "r\udcffn", "a\nb\x1b[2J\x85",
                                  "x'\\y\udcfe", "\u2603\tz", "a`b`", "rtl\u202eexe.png", "l\u2028m"])
def test_a_quoted_name_shown_then_pasted_into_a_shell_is_the_name_again(text):
    """The "continue with" hints: a name with a control character or bytes that are not UTF-8
    survives being printed (escaped, one line) and pasted into bash."""
    shown = cli.printable(cli.quoted(text), io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    pasted = subprocess.run(["bash", "-c", "printf %s " + shown], capture_output=True, check=True)
    assert "\n" not in shown and "`" not in shown and pasted.stdout == os.fsencode(text)


def test_control_characters_in_names_are_shown_escaped_on_one_line(tmp_path, run_dir, capsys):
    """Names are data (issue 26): a newline or an escape sequence in a file name cannot split a
    line or move the terminal's cursor, in any command's output or message."""
    cli.out("Wrote %s (a page)." % "a\nb\x1b[2J\x85.html")
    cli.say("prog", "error: %s is bad." % "c\rd\x7f\u2028e\u202egnp.exe")
    out, err = capsys.readouterr()
    assert out == "Wrote a\\nb\\x1b[2J\\x85.html (a page).\n"
    assert err == "prog: error: c\\rd\\x7f\\u2028e\\u202egnp.exe is bad.\n"
    from mxsoftmax import export
    target = str(tmp_path / "a\nb.html")
    assert export.main(["--params", run_dir, "--to", target]) == 0
    assert capsys.readouterr().out.count("\n") == 1 and os.path.isfile(target)


def test_after_a_signal_further_ones_are_ignored_while_the_command_ends():
    with pytest.raises(Interrupted):
        with cli.Signals() as signals:
            with signals.deferred():
                signal.raise_signal(signal.SIGINT)
            signals.check()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with cli.Signals():
        pass  # no signal: the previous handler comes back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_flag_types_come_from_the_constraint_table():
    parse = cli.flag_type(CONSTRAINTS["epochs"], "epochs")
    assert parse("10") == 10
    for text in ("1_0", "\u0661", "-1", "1e3", " "):
        with pytest.raises(argparse.ArgumentTypeError, match="must be a whole number from 0"):
            parse(text)


PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(mxsoftmax.__file__)))
PROBE = "from mxsoftmax.cli import command\nprint(command('train'))\nprint(command('plot'))\n"


def run(argv, cwd, path):
    """Run ``argv`` in ``cwd`` with PATH = ``path``; the two lines it prints."""
    env = dict(os.environ, PATH=path, PYTHONPATH=PACKAGE_ROOT)
    out = subprocess.run(argv, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def probe_module(tmp_path):
    """A module to start with ``python -m probe`` from ``tmp_path``."""
    (tmp_path / "probe.py").write_text(PROBE)
    return ["-m", "probe"]


def test_started_with_dash_m_the_hint_names_this_interpreter(tmp_path):
    python = os.path.abspath(sys.executable)
    nowhere = str(tmp_path / "empty")
    lines = run([python] + probe_module(tmp_path), tmp_path, nowhere)
    assert lines == [shlex.quote(python) + " -m mxsoftmax.train",
                     shlex.quote(python) + " -m mxsoftmax.plot"]
    # inside the working directory it is relative, e.g. .venv/bin/python, as typed
    home = os.path.dirname(os.path.dirname(python))
    expected = os.path.relpath(python, home)
    lines = run([python, str(tmp_path / "probe.py")], home, nowhere)
    assert lines[0] == shlex.quote(expected) + " -m mxsoftmax.train"
    assert expected.startswith(os.path.basename(os.path.dirname(python)) + os.sep)


def test_plain_python_only_when_path_finds_this_interpreter(tmp_path):
    python = os.path.abspath(sys.executable)
    (tmp_path / "bin").mkdir()
    os.symlink(python, str(tmp_path / "bin" / "python"))  # another 'python' first on PATH
    lines = run([python] + probe_module(tmp_path), tmp_path, str(tmp_path / "bin"))
    assert lines[0] == shlex.quote(python) + " -m mxsoftmax.train"
    if os.path.basename(python) == "python":  # .venv/bin/python, as CI runs the tests
        lines = run([python] + probe_module(tmp_path), tmp_path, os.path.dirname(python))
        assert lines == ["python -m mxsoftmax.train", "python -m mxsoftmax.plot"]


def write_script(folder, name):
    """A console script as pip writes one: this interpreter in the shebang, then Python."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text("#!%s\n%s" % (os.path.abspath(sys.executable), PROBE))
    script.chmod(0o755)
    return str(script)


def test_started_as_a_script_the_hint_names_the_script(tmp_path):
    bin_dir = tmp_path / "my bin"
    script = write_script(bin_dir, "mxsoftmax-train")
    write_script(bin_dir, "mxsoftmax-plot")
    # found on PATH: the bare names
    assert run(["mxsoftmax-train"], tmp_path, str(bin_dir)) == ["mxsoftmax-train", "mxsoftmax-plot"]
    # not on PATH: the script's path, quoted (relative inside the working directory)
    assert run([script], tmp_path, str(tmp_path / "empty")) == [
        "'my bin/mxsoftmax-train'", "'my bin/mxsoftmax-plot'"]
    (tmp_path / "elsewhere").mkdir()
    assert run([script], tmp_path / "elsewhere", str(tmp_path / "empty")) == [
        shlex.quote(script), shlex.quote(str(bin_dir / "mxsoftmax-plot"))]


def test_a_file_in_the_working_directory_keeps_its_dot_slash(tmp_path):
    script = write_script(tmp_path, "mxsoftmax-train")
    assert run([script], tmp_path, str(tmp_path / "empty"))[0] == "./mxsoftmax-train"


def test_no_kernel_image_is_explained(monkeypatch):
    monkeypatch.setattr(mx.context, "num_gpus", lambda: 1)

    def fail(*args, **kwargs):
        raise mx.MXNetError("CUDA: no kernel image is available for execution on the device")
    monkeypatch.setattr(mx.nd, "ones", fail)
    with pytest.raises(InvalidInput, match="no kernel image.*sm_90"):
        cli.check_ctx(mx.gpu(0))


def test_ctx_text_and_type_are_checked():
    assert cli.parse_ctx(" GPU:12 ") == mx.gpu(12) and cli.parse_ctx("cpu") == mx.cpu(0)
    for text in ("cpu:", "cpu:1000", "cpu:\u0663", "cpu:-1", "tpu", "cpu:1:2", None):
        with pytest.raises(InvalidValue, match="ctx must be cpu, cpu:N, gpu or gpu:N"):
            cli.parse_ctx(text)


def test_python_m_mxsoftmax_lists_every_command_the_package_installs():
    import tomllib
    with open(os.path.join(os.path.dirname(mxsoftmax.__file__), os.pardir, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    listing = subprocess.run([sys.executable, "-m", "mxsoftmax"], capture_output=True, text=True, timeout=60)
    listed = [line.split()[0] for line in listing.stderr.splitlines()[1:]]
    assert listing.returncode == 2 and sorted(listed) == sorted(name[len("mxsoftmax-"):] for name in scripts)
    assert all(value == "mxsoftmax.%s:script" % name[len("mxsoftmax-"):] for name, value in scripts.items())
