"""``python -m mxsoftmax.train``: see :mod:`mxsoftmax.cli.train`."""
from mxsoftmax.launch import train

if __name__ == "__main__":
    train()
