"""mxsoftmax.metrics: evaluate_accuracy, the moving loss, the confusion matrix, by hand."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import nd

from mxsoftmax.metrics import confusion_matrix, evaluate_accuracy, moving_average
from mxsoftmax.model import init_params, net


def test_evaluate_accuracy_on_hand_made_predictions():
    # 5 examples in two batches; predictions by hand: right, wrong, right | right, wrong -> 3/5.
    scores = [nd.array([[.9, .1, 0], [.2, .7, .1], [0, 0, 1]]), nd.array([[0, 1, 0], [1, 0, 0]])]
    labels = [nd.array([0, 2, 2]), nd.array([1, 2])]
    outputs = iter(scores)
    batches = [(nd.zeros((3, 784)), labels[0]), (nd.zeros((2, 784)), labels[1])]
    acc = evaluate_accuracy(batches, lambda X: next(outputs), mx.cpu())
    assert acc == pytest.approx(0.6)


def test_moving_average_by_hand():
    # first batch seeds: 2; then .99*2 + .01*4 = 2.02; then .99*2.02 + .01*0 = 1.9998
    assert moving_average([2., 4., 0.], 0., .01, first=True) == pytest.approx(1.9998)
    # continuing an average does not reseed
    assert moving_average([4.], 2., .01) == pytest.approx(2.02)


def test_confusion_matrix_counts_by_hand():
    counts = confusion_matrix([0, 0, 1, 9], [0, 1, 1, 0])
    assert counts[0, 0] == 1 and counts[0, 1] == 1 and counts[1, 1] == 1 and counts[9, 0] == 1
    assert counts.sum() == 4


def test_evaluate_accuracy_counts_labels_of_any_number_type_and_float64_models():
    params = init_params(mx.cpu())
    batch, labels = nd.zeros((2, 784)), nd.array([0, 1])
    int_labels = nd.array([0, 1], dtype="int32")  # labels of any number type count the same
    assert evaluate_accuracy([(batch, int_labels)], lambda X: net(X, params), mx.cpu()) == \
        evaluate_accuracy([(batch, labels)], lambda X: net(X, params), mx.cpu())
    params64 = [p.astype("float64") for p in params]  # and a float64 model counts them too
    want = (params[1].asnumpy().argmax() == np.array([0, 1])).mean()  # zero batch: b decides
    assert evaluate_accuracy([(batch.astype("float64"), labels)], lambda X: net(X, params64),
                             mx.cpu()) == pytest.approx(want)
    # Same params, same accuracy as numpy's argmax.
    X = nd.array(np.random.RandomState(0).rand(5, 784))
    want = (X.asnumpy() @ params[0].asnumpy() + params[1].asnumpy()).argmax(axis=1)
    got = evaluate_accuracy([(X, nd.array(want))], lambda Z: net(Z, params), mx.cpu())
    assert got == 1.0
