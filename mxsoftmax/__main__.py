"""``python -m mxsoftmax``: which commands there are (each is ``python -m mxsoftmax.<command>``)."""
import sys

COMMANDS = (
    ("train", "train the tutorial's model and print its epoch lines (--out DIR keeps the run)"),
    ("predict", "classify image files with a trained run (--params RUN)"),
    ("draw", "a page to draw on, answered by a trained run as you draw (--params RUN)"),
    ("plot", "(re)draw the pictures of a run (--out DIR)"),
    ("data", "download and verify MNIST or Fashion-MNIST ahead of time (data download)"),
    ("export", "write a trained run as .onnx, .html, .npz or .json (--params RUN --to FILE)"),
)

if __name__ == "__main__":
    print("usage: python -m mxsoftmax.COMMAND [--help], with COMMAND one of:", file=sys.stderr)
    for name, what in COMMANDS:
        print("  %-8s %s" % (name, what), file=sys.stderr)
    sys.exit(2)
