"""The tutorial's settings and shapes, in one place: the command line's defaults and the notebooks'.

The limits of every setting are declared once, in :data:`mxsoftmax.validation.CONSTRAINTS`.
"""
import collections

IMAGE_SHAPE = (28, 28)
NUM_INPUTS = 784  # 28 * 28 pixels, one row of the model's input
NUM_OUTPUTS = 10  # classes

Settings = collections.namedtuple("Settings",
                                  "dataset batch_size learning_rate epochs seed stable smoothing")
DEFAULTS = Settings(dataset="mnist", batch_size=64, learning_rate=0.001, epochs=10, seed=0,
                    stable=False, smoothing=0.01)
