"""``python -m mxsoftmax.data``: see :mod:`mxsoftmax.cli.data`."""
from mxsoftmax import launch

if __name__ == "__main__":
    launch.run("data")
