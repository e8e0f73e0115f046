"""``python -m mxsoftmax.draw``: see :mod:`mxsoftmax.cli.draw`."""
from mxsoftmax import launch

if __name__ == "__main__":
    launch.run("draw")
