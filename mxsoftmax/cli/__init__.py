"""The command lines: ``train``, ``predict``, ``data``, ``plot`` and ``draw``, over one shared
layer (:mod:`mxsoftmax.cli.common`) of flag types, error lines, exit codes and signals."""
