"""``python -m mxsoftmax.train``: see :mod:`mxsoftmax.cli.train`."""
from mxsoftmax import launch

if __name__ == "__main__":
    launch.run("train")
