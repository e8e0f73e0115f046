"""The tutorial's settings, in one place: the command line's defaults and the notebooks'."""
import collections

Settings = collections.namedtuple("Settings", "dataset batch_size lr epochs seed stable smoothing")
DEFAULTS = Settings(dataset="mnist", batch_size=64, lr=0.001, epochs=10, seed=0, stable=False,
                    smoothing=0.01)
LIMITS = dict(batch_size=(1, 1000000), epochs=(0, 100000), seed=(0, 2 ** 32 - 1))  # inclusive
