"""``python -m mxsoftmax.draw``: see :mod:`mxsoftmax.cli.draw`."""
from mxsoftmax.launch import draw

if __name__ == "__main__":
    draw()
