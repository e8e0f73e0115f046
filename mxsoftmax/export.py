"""``python -m mxsoftmax.export``: see :mod:`mxsoftmax.cli.export` (the library is :mod:`mxsoftmax.exporting`)."""
from mxsoftmax import launch

if __name__ == "__main__":
    launch.run("export")
