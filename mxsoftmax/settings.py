"""The tutorial's settings, in one place: the command line's defaults and the notebooks'."""
import collections

Settings = collections.namedtuple("Settings", "dataset batch_size lr epochs seed stable smoothing")
DEFAULTS = Settings(dataset="mnist", batch_size=64, lr=0.001, epochs=10, seed=0, stable=False,
                    smoothing=0.01)
# Inclusive ranges of the flags; lr: a normal float32 (the math runs in float32).
LIMITS = dict(batch_size=(1, 1000000), epochs=(0, 100000), seed=(0, 2 ** 32 - 1),
              lr=(1.1754943508222875e-38, 3.4028234663852886e+38))
