"""``python -m mxsoftmax.export``: see :mod:`mxsoftmax.cli.export` (the library is :mod:`mxsoftmax.exporting`)."""
from mxsoftmax.launch import export

if __name__ == "__main__":
    export()
