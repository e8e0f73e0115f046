"""``python -m mxsoftmax.data``: see :mod:`mxsoftmax.cli.data`."""
from mxsoftmax.launch import data

if __name__ == "__main__":
    data()
