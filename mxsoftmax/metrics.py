"""Metrics: ``evaluate_accuracy``, the tutorial's moving average of the loss, a confusion matrix."""
import mxnet as mx
import numpy as np
from mxnet import nd

from .errors import InvalidInput, InvalidType
from .model import NUM_INPUTS, NUM_OUTPUTS


def correct(output, label, F=nd):
    """How many rows of ``output`` score their ``label`` highest: the tutorial's
    ``nd.sum(nd.argmax(output, axis=1) == label)``, written with ``F`` to compile too."""
    return F.sum(F.broadcast_equal(F.argmax(output, axis=1), label))


def evaluate_accuracy(data_iterator, net, ctx):
    """Fraction of examples whose argmax prediction equals the label, as the tutorial computes it.

    ``data_iterator`` yields (data, label) batches; ``net`` maps a (batch, 784) NDArray to class
    scores. The count accumulates on ``ctx`` and syncs to the host once, at the end.
    """
    _check_evaluation(data_iterator, net, ctx)
    numerator = 0.
    denominator = 0.
    for data, label in _batches(data_iterator):
        data = data.as_in_context(ctx).reshape((-1, NUM_INPUTS))
        label = label.as_in_context(ctx)
        output = _scores(net, data)
        numerator += correct(output, label.astype(output.dtype, copy=False))
        denominator += data.shape[0]
    if not denominator:
        raise InvalidInput("evaluate_accuracy was given no examples: the data iterator is empty.")
    return (numerator / denominator).asscalar()


def _check_evaluation(data_iterator, net, ctx):
    if not callable(net):
        raise InvalidType("evaluate_accuracy takes net as a function of a batch, not %s."
                          % type(net).__name__)
    if not isinstance(ctx, mx.Context):
        raise InvalidType("evaluate_accuracy takes an mx.Context such as mx.cpu(), not %s."
                          % type(ctx).__name__)
    if not hasattr(data_iterator, "__iter__"):
        raise InvalidType("evaluate_accuracy takes an iterable of (data, label) batches, not %s."
                          % type(data_iterator).__name__)


def _batches(data_iterator):
    """The (data, label) batches of ``data_iterator``, each checked to be two matching NDArrays."""
    for batch in data_iterator:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2
                and all(isinstance(a, nd.NDArray) for a in batch)):
            raise InvalidType("evaluate_accuracy takes batches that are (data, label) pairs of "
                              "NDArrays.")
        data, label = batch
        if data.ndim == 0 or not data.shape[0] or data.size != data.shape[0] * NUM_INPUTS:
            raise InvalidInput("evaluate_accuracy takes batches of images of %d pixels each, not "
                               "of shape %s." % (NUM_INPUTS, data.shape))
        if label.shape != (data.shape[0],):
            raise InvalidInput("evaluate_accuracy takes one label per example: a batch of shape "
                               "%s has labels of shape %s." % (data.shape, label.shape))
        yield data, label


def _scores(net, data):
    """``net(data)``, checked to be one row of class scores per example."""
    output = net(data)
    if not (isinstance(output, nd.NDArray) and output.ndim == 2
            and output.shape[0] == data.shape[0]):
        raise InvalidInput("evaluate_accuracy takes a net that gives one row of scores per "
                           "example: for a batch of %d it gave %s." % (
                               data.shape[0], getattr(output, "shape", type(output).__name__)))
    return output


def moving_average(losses, moving_loss, smoothing_constant, first=False):
    """Fold per-batch losses into the tutorial's exponential moving average, in order.

    ``first`` marks the run's very first batch, whose loss seeds the average as in the tutorial.
    """
    for i, curr_loss in enumerate(losses):
        moving_loss = (curr_loss if (i == 0 and first)
                       else (1 - smoothing_constant) * moving_loss + smoothing_constant * curr_loss)
    return moving_loss


def confusion_matrix(labels, predictions, num_classes=NUM_OUTPUTS):
    """Counts ``[true, predicted]`` of integer class indices 0..``num_classes``-1."""
    labels, predictions = _numbers(labels, "labels"), _numbers(predictions, "predictions")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes
                            or not np.all(np.isfinite(values)) or not np.all(values == np.round(values))):
            raise InvalidInput("confusion_matrix takes %s that are whole numbers 0-%d; got values "
                               "from %s to %s." % (name, num_classes - 1, values.min(), values.max()))
    if labels.shape != predictions.shape:
        raise InvalidInput("confusion_matrix takes as many labels as predictions, not %s and %s."
                           % (labels.shape, predictions.shape))
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels.astype(np.int64), predictions.astype(np.int64)), 1)
    return counts


def _numbers(values, name):
    """``values`` (array-like or NDArray) as a numeric numpy array; InvalidType if not numbers."""
    values = values.asnumpy() if isinstance(values, nd.NDArray) else np.asarray(values)
    if not np.issubdtype(values.dtype, np.number) or values.ndim != 1:
        raise InvalidType("confusion_matrix takes %s as a 1-D array of numbers, not %s of %s."
                          % (name, values.shape, values.dtype))
    return values
