"""python -m mxsoftmax.draw, the command line: its start, exit codes and messages. The server and
the page it serves are tested in test_server.py."""
import re
import signal
import socket
import subprocess
import sys

import pytest

from conftest import request
from mxsoftmax import draw


def start(run_dir):
    """``python -m mxsoftmax.draw`` on a free port (--port 0); returns the process and the port."""
    proc = subprocess.Popen([sys.executable, "-m", "mxsoftmax.draw", "--params", run_dir,
                             "--port", "0", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    found = re.search(r"at http://127\.0\.0\.1:(\d+)/ ", line)
    if not found:
        proc.kill()
        pytest.fail("the server did not start: %r %s" % (line, proc.communicate()[1]))
    return proc, int(found.group(1))


def test_port_in_use_and_bad_params_exit_2_with_one_sentence(run_dir, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        assert draw.main(["--params", run_dir, "--port", str(busy), "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("python -m mxsoftmax.draw: error: --port: port %d on 127.0.0.1 is already in "
                   "use: stop the program using it or choose another port." % busy)
    assert draw.main(["--params", run_dir + "-nope", "--no-browser"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert draw.is_loopback("127.0.0.1") and draw.is_loopback("::1") and draw.is_loopback("localhost")
    assert not draw.is_loopback("0.0.0.0") and not draw.is_loopback("192.168.1.5")


def test_ctrl_c_stops_the_server_with_exit_130_and_one_line(run_dir):
    proc, port = start(run_dir)
    assert request(port, "GET", "/")[0] == 200
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and err.strip() == "python -m mxsoftmax.draw: stopped.", err
