"""``python -m mxsoftmax.draw --params RUN``: draw and see the model answer as you draw. Serves :mod:`.server`
on 127.0.0.1 unless ``--host`` says otherwise, prints the URL and opens it in a browser. Exit codes: 2 for a
bad ``--params`` or an address that cannot be used, 130 on Ctrl-C, 143 on SIGTERM."""
import errno
import ipaddress
import os
import sys
import threading
import webbrowser

from .compat import loading

with loading("draw"):  # MXNet loads here: its variables checked first, a signal one line
    from .validation import CONSTRAINTS as C
    from . import cli
    import mxnet as mx
    from .errors import Interrupted, InvalidInput
    from .runs import load_run
    from .server import DrawServer

PROG = "python -m mxsoftmax.draw"


def build_parser():
    p = cli.Parser(prog=PROG, description="Draw digits (or clothes) and watch a mxsoftmax run classify them.")
    p.add_argument("--params", required=True, metavar="RUN", type=cli.path,
                   help="a run folder (--out of mxsoftmax.train) or its epoch-K.npz file")
    p.add_argument("--host", default="127.0.0.1", type=cli.host,
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=cli.flag_type(C["port"], "port"), default=8000,
                   help="port (default 8000; 0: any free port)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")
    return p


def is_loopback(host):
    """True for localhost and loopback addresses, which other machines cannot reach."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv=None):
    """Load the run, listen, print the URL, open a browser and serve until Ctrl-C (exit 130, one
    word: "stopped."); exit 2 with one sentence if the run or the address is unusable."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with cli.handle_errors(PROG, parser, args, lambda err: "stopped." if isinstance(err, Interrupted)
                           else cli.sentence(err)) as outcome:
        run = load_run(args.params, mx.cpu())
        try:
            server = DrawServer((args.host, args.port), run, mx.cpu())
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise InvalidInput("port %d on %s is already in use: stop the program using it or "
                                   "choose another port." % (args.port, args.host), param="port") from None
            raise InvalidInput("cannot listen on %s port %d (%s): choose another host or port."
                               % (args.host, args.port, err.strerror or err), param="host") from None
        if not is_loopback(args.host):
            cli.say(PROG, "warning: --host %s lets other machines reach this server, which has no "
                          "authentication; use 127.0.0.1 to keep it to this machine." % args.host)
        address, port = server.server_address[:2]
        if args.host in ("", "0.0.0.0", "::"):  # a wildcard is reached through the loopback
            address = "::1" if ":" in address else "127.0.0.1"
        url = "http://%s:%d/" % ("[%s]" % address if ":" in address else address, port)
        try:  # from the URL on a client may connect and Ctrl-C come: the loop stops between requests
            with cli.Signals() as signals, signals.deferred():
                cli.out("Serving %s (%s) at %s (Ctrl-C to stop)" % (args.params, run.dataset, url))
                # Without a display, webbrowser would run a text browser in this terminal and wait.
                graphical = any(map(os.environ.get, ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"))) \
                    or sys.platform in ("darwin", "win32")
                if graphical and not args.no_browser:
                    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
                elif not args.no_browser:
                    cli.out("No display found: open %s in a browser." % url)
                server.poll = signals.check
                server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
    return outcome.code


def script():
    cli.run(main)


if __name__ == "__main__":
    script()
