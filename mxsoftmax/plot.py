"""``python -m mxsoftmax.plot``: see :mod:`mxsoftmax.cli.plot`."""
from mxsoftmax.launch import plot

if __name__ == "__main__":
    plot()
