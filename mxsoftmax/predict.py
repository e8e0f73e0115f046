"""``python -m mxsoftmax.predict``: see :mod:`mxsoftmax.cli.predict`."""
from mxsoftmax import launch

if __name__ == "__main__":
    launch.run("predict")
