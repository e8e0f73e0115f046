"""``python -m mxsoftmax.plot``: see :mod:`mxsoftmax.cli.plot`."""
from mxsoftmax import launch

if __name__ == "__main__":
    launch.run("plot")
