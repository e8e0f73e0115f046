"""``python -m mxsoftmax.predict``: see :mod:`mxsoftmax.cli.predict`."""
from mxsoftmax.launch import predict

if __name__ == "__main__":
    predict()
