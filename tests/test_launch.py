"""cli.command: a "run this" hint names the way this process was started, so it runs when pasted."""
import os
import shlex
import subprocess
import sys

import mxsoftmax

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
