"""Metrics: ``evaluate_accuracy``, the tutorial's moving average of the loss, a confusion matrix."""
import numpy as np
from mxnet import nd

from .settings import NUM_INPUTS, NUM_OUTPUTS


# Defined in "Write evaluation loop to calculate accuracy"
def correct(output, label, F=nd):
    """How many rows of ``output`` score their ``label`` highest: the tutorial's
    ``nd.sum(nd.argmax(output, axis=1) == label)``, written with ``F`` to compile too."""
    return F.sum(F.broadcast_equal(F.argmax(output, axis=1), label))


# Defined in "Write evaluation loop to calculate accuracy"
def evaluate_accuracy(data_iterator, net, ctx):
    """Fraction of examples whose argmax prediction equals the label, as the tutorial computes it.

    ``data_iterator`` yields (data, label) batches; ``net`` maps a (batch, 784) NDArray to class
    scores. The count accumulates on ``ctx`` and syncs to the host once, at the end.
    """
    numerator = 0.
    denominator = 0.
    for data, label in data_iterator:
        data = data.as_in_context(ctx).reshape((-1, NUM_INPUTS))
        label = label.as_in_context(ctx)
        output = net(data)
        numerator += correct(output, label.astype(output.dtype, copy=False))
        denominator += data.shape[0]
    return (numerator / denominator).asscalar()


# Defined in "Execute training loop"
def moving_average(losses, moving_loss, smoothing_constant, first=False):
    """Fold per-batch losses into the tutorial's exponential moving average, in order.

    ``first`` marks the run's very first batch, whose loss seeds the average as in the tutorial.
    The float32 losses are taken as float64, as numpy 1 promoted ``python float * float32``
    (numpy 2 keeps float32, NEP 50): the tutorial's lines print the same on both.
    """
    for i, curr_loss in enumerate(np.asarray(losses, dtype=np.float64)):
        moving_loss = (curr_loss if (i == 0 and first)
                       else (1 - smoothing_constant) * moving_loss + smoothing_constant * curr_loss)
    return moving_loss


# Defined in "mxsoftmax"
def confusion_matrix(labels, predictions, num_classes=NUM_OUTPUTS):
    """Counts ``[true, predicted]`` of integer class indices 0..``num_classes``-1."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels).astype(np.int64), np.asarray(predictions).astype(np.int64)), 1)
    return counts
